"""Parts catalogue, stock per warehouse and ticket reservations in the single table.

Every stock change is conditional on the version read (optimistic locking), inside a TransactWrite with
whatever it pairs with (the reservation, the other warehouse), so counts never go negative and a reservation
exists exactly when its units are held."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.billing import Part
from chalicelib.domain.common import ConflictError
from chalicelib.domain.inventory import (
    AlreadyDone,
    LowStock,
    Reservation,
    ReservationStatus,
    StaleStock,
    Stock,
)
from chalicelib.services.ports import Page
from chalicelib.store import keys
from chalicelib.store.cursor import CursorCodec
from chalicelib.store.table import (
    Item,
    LowStockItem,
    PartItem,
    ReservationItem,
    StockItem,
)
from chalicelib.store.transactions import write_transaction


def _reasons(e: TransactWriteError) -> list[str | None]:
    return [r.code if r is not None else None for r in e.cancellation_reasons]


class DynamoInventory:
    def __init__(self, *, cursors: CursorCodec) -> None:
        self._cursors = cursors

    # -- catalogue -------------------------------------------------------------------------------
    def put_part(self, tenant_id: str, part: Part, *, expected_version: int) -> int:
        """Create (expected_version 0) or edit a part, conditional on the version read; the new version."""
        item = PartItem(
            keys.part_pk(tenant_id, part.sku),
            keys.PART_SK,
            doc=part.model_dump_json(exclude_defaults=True),
            version=expected_version + 1,
            gsi1pk=keys.parts_pk(tenant_id),
            gsi1sk=part.sku,
        )
        condition = (
            PartItem.pk.does_not_exist() if expected_version == 0 else PartItem.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                raise ConflictError(f"part {part.sku} was changed meanwhile: reload it") from e
            raise
        return expected_version + 1

    def part(self, tenant_id: str, sku: str) -> tuple[Part | None, int, list[Stock]]:
        """The part, its version and its stock in every warehouse: one Query."""
        part: Part | None = None
        version = 0
        stocks: list[Stock] = []
        for item in Item.query(keys.part_pk(tenant_id, sku)):
            if isinstance(item, PartItem):
                part, version = Part.model_validate_json(item.doc or ""), int(item.version)
            elif isinstance(item, StockItem):
                stocks.append(_stock(sku, item))
        return part, version, stocks

    def list_parts(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Part]:
        results = Item.gsi1.query(
            keys.parts_pk(tenant_id),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        parts = [Part.model_validate_json(i.doc or "") for i in results]
        return Page(parts, self._cursors.encode(tenant_id, results.last_evaluated_key))

    # -- stock ------------------------------------------------------------------------------------
    def _stock_update(
        self, tx: TransactWrite, tenant_id: str, stock: Stock, on_hand: int, reserved: int
    ) -> None:
        item = StockItem(keys.part_pk(tenant_id, stock.sku), keys.stock_sk(stock.warehouse))
        # ADD on both counts (by 0 too): the first movement creates the row with both counts set.
        actions: list[Any] = [
            StockItem.version.add(1),
            StockItem.type.set(StockItem),  # UpdateItem writes no discriminator of its own
            StockItem.warehouse.set(stock.warehouse),
            StockItem.on_hand.add(on_hand),
            StockItem.reserved.add(reserved),
        ]
        condition: Any = (
            StockItem.pk.does_not_exist() if stock.version == 0 else StockItem.version == stock.version
        )
        tx.update(item, actions=actions, condition=condition)

    def move(self, tenant_id: str, changes: list[tuple[Stock, int, int]]) -> None:
        """Apply (stock read, Δ on hand, Δ reserved) to one or more rows in one transaction; StaleStock if
        any row changed since it was read. The caller has checked the result is never negative."""

        def build(tx: TransactWrite) -> None:
            for stock, on_hand, reserved in changes:
                self._stock_update(tx, tenant_id, stock, on_hand, reserved)

        try:
            write_transaction(build, what="stock of " + ", ".join(sorted({s.sku for s, _, _ in changes})))
        except TransactWriteError as e:
            if "ConditionalCheckFailed" in _reasons(e):
                raise StaleStock from e
            raise

    def reserve(self, tenant_id: str, stock: Stock, reservation: Reservation) -> None:
        """Hold units for a ticket: the stock (at the version read) and the reservation (new) together."""

        def build(tx: TransactWrite) -> None:
            self._stock_update(tx, tenant_id, stock, 0, reservation.quantity)
            # New, or replacing one released earlier (a cancelled ticket reopened): held again.
            tx.save(
                self._reservation_item(tenant_id, reservation),
                condition=ReservationItem.pk.does_not_exist()
                | (ReservationItem.status == ReservationStatus.RELEASED.value),
            )

        try:
            write_transaction(build, what=f"stock of {stock.sku}")
        except TransactWriteError as e:
            self._why_cancelled(e, tenant_id, reservation, None)

    def settle_reservation(
        self, tenant_id: str, stock: Stock, reservation: Reservation, status: ReservationStatus
    ) -> None:
        """Consume (on hand and reserved drop) or release (reserved drops) a held reservation, once."""
        consumed = status is ReservationStatus.CONSUMED

        def build(tx: TransactWrite) -> None:
            self._stock_update(
                tx, tenant_id, stock, -reservation.quantity if consumed else 0, -reservation.quantity
            )
            tx.update(
                ReservationItem(
                    keys.ticket_pk(tenant_id, reservation.ticket_id),
                    keys.reservation_sk(reservation.sku, reservation.warehouse),
                ),
                actions=[
                    ReservationItem.status.set(status.value),
                    ReservationItem.doc.set(
                        reservation.model_copy(update={"status": status}).model_dump_json()
                    ),
                ],
                condition=ReservationItem.status == ReservationStatus.RESERVED.value,
            )

        try:
            write_transaction(build, what=f"stock of {stock.sku}")
        except TransactWriteError as e:
            self._why_cancelled(e, tenant_id, reservation, status)

    @staticmethod
    def _why_cancelled(
        e: TransactWriteError, tenant_id: str, reservation: Reservation, status: ReservationStatus | None
    ) -> None:
        """Which condition failed. pynamodb orders a transaction's items by kind (puts before updates), so
        the reasons' positions are not ours: read the reservation instead (only on this rare path)."""
        if "ConditionalCheckFailed" not in _reasons(e):
            raise e
        try:
            item = ReservationItem.get(
                keys.ticket_pk(tenant_id, reservation.ticket_id),
                keys.reservation_sk(reservation.sku, reservation.warehouse),
                consistent_read=True,
            )
        except ReservationItem.DoesNotExist:
            raise StaleStock from e
        if status is None:  # reserving: held or used already → a retry; released → the stock moved
            if item.status == ReservationStatus.RELEASED.value:
                raise StaleStock from e
            raise AlreadyDone from e
        if item.status != ReservationStatus.RESERVED.value:
            raise AlreadyDone from e  # settled by an earlier delivery
        raise StaleStock from e

    @staticmethod
    def _reservation_item(tenant_id: str, reservation: Reservation) -> ReservationItem:
        return ReservationItem(
            keys.ticket_pk(tenant_id, reservation.ticket_id),
            keys.reservation_sk(reservation.sku, reservation.warehouse),
            doc=reservation.model_dump_json(),
            status=reservation.status.value,
        )

    def reservations(self, tenant_id: str, ticket_id: str) -> list[Reservation]:
        return [
            Reservation.model_validate_json(i.doc or "")
            for i in ReservationItem.query(
                keys.ticket_pk(tenant_id, ticket_id), ReservationItem.sk.startswith("RES#")
            )
        ]

    # -- low stock --------------------------------------------------------------------------------
    def mark_low(self, tenant_id: str, request: LowStock) -> bool:
        """Put the part on the replenishment list; False when it is already there (one alert per episode)."""
        item = LowStockItem(
            keys.low_stock_pk(tenant_id),
            f"{request.sku}#{request.warehouse}",
            doc=request.model_dump_json(),
        )
        try:
            item.save(condition=LowStockItem.pk.does_not_exist())
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def clear_low(self, tenant_id: str, sku: str, warehouse: str) -> None:
        LowStockItem(keys.low_stock_pk(tenant_id), f"{sku}#{warehouse}").delete()

    def low_stock(self, tenant_id: str) -> list[LowStock]:
        return [
            LowStock.model_validate_json(i.doc or "")
            for i in LowStockItem.query(keys.low_stock_pk(tenant_id))
        ]


def _stock(sku: str, item: StockItem) -> Stock:
    return Stock(
        sku=sku,
        warehouse=str(item.warehouse),
        on_hand=int(item.on_hand),
        reserved=int(item.reserved),
        version=int(item.version),
    )
