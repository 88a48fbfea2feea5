"""Orders: one item per (platform, order), version-checked; GSI1 lists a customer's orders newest first."""

from __future__ import annotations

from pynamodb.exceptions import PutError

from chalicelib.domain.common import ConflictError
from chalicelib.domain.orders import Order
from chalicelib.services.ports import Page
from chalicelib.store import keys
from chalicelib.store.cursor import CursorCodec
from chalicelib.store.table import OrderRecordItem


class DynamoOrderRepository:
    def __init__(self, *, cursors: CursorCodec) -> None:
        self._cursors = cursors

    def get(self, tenant_id: str, platform: str, order_id: str) -> Order | None:
        try:
            item = OrderRecordItem.get(keys.order_pk(tenant_id, platform, order_id), keys.ORDER_SK)
        except OrderRecordItem.DoesNotExist:
            return None
        return Order.model_validate_json(item.doc or "")

    @staticmethod
    def _item(order: Order) -> OrderRecordItem:
        item = OrderRecordItem(
            keys.order_pk(order.tenant_id, order.platform, order.order_id),
            keys.ORDER_SK,
            doc=order.model_dump_json(),
            version=order.version,
        )
        if order.customer_id:
            at = order.created_at or order.paid_at or order.updated_at
            item.gsi1pk = keys.customer_orders_pk(order.tenant_id, order.customer_id)
            item.gsi1sk = keys.customer_orders_sk(at, order.platform, order.order_id)
        return item

    def save(self, order: Order, *, expected_version: int) -> None:
        item = self._item(order)
        condition = (
            OrderRecordItem.pk.does_not_exist()
            if expected_version == 0
            else OrderRecordItem.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as e:
            raise ConflictError(f"order {order.platform}/{order.order_id} changed concurrently") from e

    def get_many(self, tenant_id: str, refs: list[tuple[str, str]]) -> dict[tuple[str, str], Order]:
        pairs = [
            (keys.order_pk(tenant_id, platform, oid), keys.ORDER_SK) for platform, oid in sorted(set(refs))
        ]
        found: dict[tuple[str, str], Order] = {}
        for start in range(0, len(pairs), 100):
            for item in OrderRecordItem.batch_get(pairs[start : start + 100]):
                order = Order.model_validate_json(item.doc or "")
                found[(order.platform, order.order_id)] = order
        return found

    def put_many(self, orders: list[Order]) -> None:
        """BatchWriteItem for imports (orders are folded with what exists first; see ImportService)."""
        with OrderRecordItem.batch_write() as batch:
            for order in orders:
                batch.save(self._item(order))

    def for_customer(
        self, tenant_id: str, customer_id: str, *, limit: int, cursor: str | None
    ) -> Page[Order]:
        results = OrderRecordItem.gsi1.query(
            keys.customer_orders_pk(tenant_id, customer_id),
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        orders = [Order.model_validate_json(i.doc or "") for i in results]
        return Page(orders, self._cursors.encode(tenant_id, results.last_evaluated_key))
