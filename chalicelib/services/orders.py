"""Order events from shops (webhooks, relays, imports): the buyer resolved to a customer, the order kept,
the status change on the customer's timeline. Every step is idempotent, so a redelivery has one effect."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import ConflictError, NotFoundError
from chalicelib.domain.customers import Customer
from chalicelib.domain.orders import Order, OrderEvent, OrderSummary, remember_order
from chalicelib.domain.timeline import Actor, ActorType
from chalicelib.services.ports import OrderRepository, Page
from chalicelib.services.resolver import IdentityResolver, Touch

MAX_ATTEMPTS = 5


class OrderService:
    def __init__(self, *, orders: OrderRepository, resolver: IdentityResolver) -> None:
        self._orders = orders
        self._resolver = resolver
        self._local = threading.local()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """A queue batch: `prefetch` may read its orders together; the reads are dropped at the end."""
        self._local.read = {}
        try:
            yield
        finally:
            self._local.read = None

    def prefetch(self, tenant_id: str, events: Sequence[OrderEvent]) -> None:
        """Inside `batch()`: the batch's orders in one BatchGetItem instead of a GetItem each. An order that
        appears twice in the batch is left out (the first event changes it); a stale read is still safe, as
        every save is conditional on the version read. Each read is used once."""
        read: dict[tuple[str, str, str], Order | None] | None = getattr(self._local, "read", None)
        if read is None:
            return
        counts = Counter((e.platform, e.order_id) for e in events)
        refs = [ref for ref, n in counts.items() if n == 1]
        if not refs:
            return
        found = self._orders.get_many(tenant_id, refs)
        for platform, order_id in refs:
            read[(tenant_id, platform, order_id)] = found.get((platform, order_id))

    def _current(self, tenant_id: str, event: OrderEvent) -> Order | None:
        read: dict[tuple[str, str, str], Order | None] | None = getattr(self._local, "read", None)
        ref = (tenant_id, event.platform, event.order_id)
        if read is not None and ref in read:
            return read.pop(ref)
        return self._orders.get(tenant_id, event.platform, event.order_id)

    def ingest(self, tenant_id: str, event: OrderEvent, *, principal: Principal | None = None) -> Order:
        """Also links an order stored earlier without a buyer, when the same event comes back with one
        (抖店: the buyer fetched later); the customer's touch has the event's own key, so it counts once.
        `principal`: who brought it (an import); ForbiddenError, nothing stored, when its buyer is not theirs
        to change."""
        current = self._current(tenant_id, event)
        customer_id = (self._touch(tenant_id, event, current, principal) or None) if event.buyer else None
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                current = self._orders.get(tenant_id, event.platform, event.order_id)
            order = current or Order.start(tenant_id, event)
            expected = order.version
            if not order.apply(event, customer_id) and not _link(order, event, customer_id):
                return order  # seen before, and already linked: nothing to do
            try:
                self._orders.save(order, expected_version=expected)
                return order
            except ConflictError:
                continue  # another status of this order landed first: fold ours into the fresh copy
        raise ConflictError(f"order {event.platform}/{event.order_id} keeps changing; it will be retried")

    def _touch(
        self, tenant_id: str, event: OrderEvent, stored: Order | None, principal: Principal | None
    ) -> str:
        def update(customer: Customer) -> None:
            # From the stored order when there is one: a late event (a buyer fetched later) must not show
            # the order back at an older status in recent_orders.
            summary = stored.model_copy(deep=True) if stored else Order.start(tenant_id, event)
            summary.apply(event, customer.id)
            recent = [OrderSummary.model_validate(s) for s in customer.recent_orders]
            customer.recent_orders = [
                s.model_dump(mode="json") for s in remember_order(recent, summary.summary())
            ]

        data: dict[str, object] = {
            "platform": event.platform,
            "shop_id": event.shop_id,
            "order_id": event.order_id,
            "status": event.status.value,
            "platform_event": event.raw_type,
        }
        if event.total_amount is not None:
            data["total_amount"] = f"{event.total_amount:.2f}"
        touch = Touch(
            tenant_id=tenant_id,
            identities=event.buyer,
            kind=f"order.{event.status.value}",
            source=f"shop:{event.platform}",
            at=event.occurred_at,
            actor=Actor(type=ActorType.INTEGRATION, id=f"shop:{event.platform}"),
            data=data,
            idempotency_key=touch_key(event),
            name_hint=event.extra.get("buyer_name")
            if isinstance(event.extra.get("buyer_name"), str)
            else None,
            update=update,
            principal=principal,
        )
        return self._resolver.touch(touch).customer_id

    def for_customer(
        self, *, principal: Principal, customer_id: str, limit: int, cursor: str | None
    ) -> Page[Order]:
        principal.require(Permission.CUSTOMERS_READ)
        return self._orders.for_customer(principal.tenant_id, customer_id, limit=limit, cursor=cursor)

    def get(self, *, principal: Principal, platform: str, order_id: str) -> Order:
        principal.require(Permission.CUSTOMERS_READ)
        order = self._orders.get(principal.tenant_id, platform, order_id)
        if order is None:
            raise NotFoundError(f"order {platform}/{order_id} not found")
        return order


def _link(order: Order, event: OrderEvent, customer_id: str | None) -> bool:
    """An order seen before without a buyer gets its customer (idempotent: a linked order is left as it
    is). Bumps the version as `Order.apply` does, for the conditional save."""
    if customer_id is None or order.customer_id is not None:
        return False
    order.customer_id = customer_id
    order.buyer_types = sorted(set(order.buyer_types) | {i.type for i in event.buyer})
    order.version += 1
    return True


def touch_key(event: OrderEvent) -> str:
    """The idempotency key of an order event's touch on its buyer (also what the ingest worker prefetches)."""
    return f"shop:{event.dedupe_key}"
