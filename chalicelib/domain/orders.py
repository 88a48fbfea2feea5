"""Orders from e-commerce platforms, normalised to one model whatever the shop."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.customers import Identity
from chalicelib.domain.money import Money, parse_money


class OrderStatus(StrEnum):
    """What an event reports about an order; an order's own status is derived from all its events
    (`Order.apply`)."""

    CREATED = "created"
    PAID = "paid"
    PARTIALLY_SHIPPED = "partially_shipped"  # some lines shipped (抖店 108, Youzan TradePartlySellerShip)
    SHIPPED = "shipped"
    COMPLETED = "completed"
    REFUND_REQUESTED = "refund_requested"
    REFUND_AGREED = "refund_agreed"  # the shop agreed; the money has not reached the buyer yet
    # A request ended without money going back (withdrawn, refused, closed). Only events report it: the order
    # goes back to what it was before the request.
    REFUND_CLOSED = "refund_closed"
    # Money went back. An event of either kind carries its own amount (`refund_amount`; None on a
    # `refunded` event: the whole order); the order is `refunded` once the amounts reach its total, else
    # `partially_refunded` (some money went back; the rest of the order stands).
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CLOSED = "closed"


# How far along an order is (also the order of same-instant events in its history).
STATUS_RANK: dict[OrderStatus, int] = {
    OrderStatus.CREATED: 0,
    OrderStatus.PAID: 1,
    OrderStatus.PARTIALLY_SHIPPED: 2,
    OrderStatus.SHIPPED: 3,
    OrderStatus.COMPLETED: 4,
    OrderStatus.REFUND_REQUESTED: 5,
    OrderStatus.REFUND_AGREED: 6,
    OrderStatus.REFUND_CLOSED: 6,
    OrderStatus.PARTIALLY_REFUNDED: 7,
    OrderStatus.REFUNDED: 8,
    OrderStatus.CLOSED: 8,
}
# An order's progress, which never goes back (webhooks are unordered: a late `paid` must not undo `shipped`).
_FLOW = (
    OrderStatus.CREATED,
    OrderStatus.PAID,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
    OrderStatus.COMPLETED,
)
_REQUESTS = (OrderStatus.REFUND_REQUESTED, OrderStatus.REFUND_AGREED)
MONEY_BACK = (OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
_REQUEST_ENDS = (OrderStatus.REFUND_CLOSED, *MONEY_BACK)


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    name: str
    quantity: int = Field(ge=0)
    unit_price: Money


class Coupon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str | None = None
    discount: Money | None = None


class OrderEvent(BaseModel):
    """One platform notification about one order, after its signature was verified.

    `dedupe_key` is what makes a redelivery a no-op: the platform's message id where it has one, else
    (platform, shop, order, status)."""

    model_config = ConfigDict(extra="forbid")

    platform: str  # youzan, doudian, shopify, generic, or the relayed platform name (tmall, jd, …)
    shop_id: str
    order_id: str
    status: OrderStatus
    dedupe_key: str
    buyer: list[Identity]  # phone (E.164), openid, unionid, <platform>_buyer_id
    items: list[OrderItem] = Field(default_factory=list)
    total_amount: Money | None = None
    currency: str = "CNY"
    coupons: list[Coupon] = Field(default_factory=list)
    created_at: datetime | None = None
    paid_at: datetime | None = None
    occurred_at: datetime  # when the platform says this status happened (or when we received it)
    raw_type: str  # the platform's own event/topic name, for the timeline and debugging
    # Refund events: the platform's refund (after-sale) id, and what this refund gave back (None: unknown,
    # which a `refunded` event takes as the whole order). Adapters written before these fields put the
    # amount in extra["refund_amount"] (a "12.50" string), which is still read.
    refund_id: str | None = None
    refund_amount: Money | None = None
    extra: dict[str, Any] = Field(default_factory=dict)  # platform fields worth keeping (store, nick, …)

    def refunded(self) -> Money | None:
        """What this event says went back to the buyer (None: no amount given)."""
        if self.refund_amount is not None:
            return self.refund_amount
        legacy = self.extra.get("refund_amount")
        return parse_money(legacy) if legacy is not None else None


class StatusChange(BaseModel):
    status: OrderStatus
    at: datetime
    dedupe_key: str
    raw_type: str
    refund_id: str | None = None
    refund_amount: Money | None = None


class Order(BaseModel):
    """An order as we keep it: the latest known state plus every status change received (in any order)."""

    tenant_id: str
    platform: str
    shop_id: str
    order_id: str
    status: OrderStatus
    customer_id: str | None = None  # None until a buyer identity is known (抖店 pushes carry none)
    buyer_types: list[str] = Field(
        default_factory=list
    )  # which identities the buyer came with (no values: PII)
    items: list[OrderItem] = Field(default_factory=list)
    total_amount: Money | None = None
    refunded_amount: Money | None = None
    currency: str = "CNY"
    coupons: list[Coupon] = Field(default_factory=list)
    created_at: datetime | None = None
    paid_at: datetime | None = None
    updated_at: datetime
    history: list[StatusChange] = Field(default_factory=list)
    version: int = 0

    @classmethod
    def start(cls, tenant_id: str, event: OrderEvent) -> Order:
        return cls(
            tenant_id=tenant_id,
            platform=event.platform,
            shop_id=event.shop_id,
            order_id=event.order_id,
            status=event.status,
            updated_at=event.occurred_at,
        )

    def apply(self, event: OrderEvent, customer_id: str | None) -> bool:
        """Fold one event in. Idempotent (a seen dedupe key, or a refund id already paid back, changes
        nothing) and order-insensitive: the status is derived from every event received (`_derive`), so a
        late `paid` never undoes `completed`."""
        if any(h.dedupe_key == event.dedupe_key for h in self.history):
            return False
        refund = event.refunded() if event.status in MONEY_BACK else None
        if (
            event.status in MONEY_BACK
            and event.refund_id
            and any(h.refund_id == event.refund_id and h.status in MONEY_BACK for h in self.history)
        ):
            return False  # the same refund told twice (Youzan's two message families): counted once
        self.history.append(
            StatusChange(
                status=event.status,
                at=event.occurred_at,
                dedupe_key=event.dedupe_key,
                raw_type=event.raw_type,
                refund_id=event.refund_id,
                refund_amount=refund,
            )
        )
        self.history.sort(key=lambda h: (h.at, STATUS_RANK[h.status]))
        if event.items:
            self.items = event.items
        if event.total_amount is not None:
            self.total_amount = event.total_amount
        if refund is not None:
            self.refunded_amount = (self.refunded_amount or 0) + refund
        self.status = self._derive()
        self.coupons = event.coupons or self.coupons
        self.currency = event.currency
        self.created_at = self.created_at or event.created_at
        self.paid_at = self.paid_at or event.paid_at
        self.customer_id = self.customer_id or customer_id
        self.buyer_types = sorted(set(self.buyer_types) | {i.type for i in event.buyer})
        self.updated_at = max(self.updated_at, event.occurred_at)
        self.version += 1
        return True

    def refund_status(self) -> OrderStatus | None:
        """REFUNDED once the money back covers the order (or a refund of unknown amount came), else
        PARTIALLY_REFUNDED when some came back, else None. What settlement reverses."""
        backs = [h for h in self.history if h.status in MONEY_BACK]
        if not backs:
            return None
        whole = any(h.status is OrderStatus.REFUNDED and h.refund_amount is None for h in backs)
        total, refunded = self.total_amount, self.refunded_amount
        if whole or (total is not None and refunded is not None and refunded >= total):
            return OrderStatus.REFUNDED
        return OrderStatus.PARTIALLY_REFUNDED

    def open_refund_requests(self) -> dict[str | None, OrderStatus]:
        """Refund requests not yet ended (refund id → requested or agreed; None: a request without an id).
        A request ends when its refund is paid or closed; an ending event without an id ends every request
        made before it, and one with an id also ends a request that came without one."""
        open_: dict[str | None, OrderStatus] = {}
        ended: set[str] = set()
        for h in self.history:  # in time order
            if h.status in _REQUESTS and (h.refund_id is None or h.refund_id not in ended):
                if open_.get(h.refund_id) is not OrderStatus.REFUND_AGREED:
                    open_[h.refund_id] = h.status
            elif h.status in _REQUEST_ENDS:
                if h.refund_id is None:
                    open_.clear()
                else:
                    ended.add(h.refund_id)
                    open_.pop(h.refund_id, None)
                    open_.pop(None, None)
        return open_

    def _derive(self) -> OrderStatus:
        """Closed or fully refunded (the later of the two) ends an order; else an open refund request shows;
        else a partial refund; else how far the order went (a refund alone implies it was paid)."""
        money = self.refund_status()
        last_back = max((h.at for h in self.history if h.status in MONEY_BACK), default=None)
        closed = max((h.at for h in self.history if h.status is OrderStatus.CLOSED), default=None)
        if money is OrderStatus.REFUNDED and last_back is not None:
            return OrderStatus.CLOSED if closed is not None and closed > last_back else OrderStatus.REFUNDED
        if closed is not None:
            return OrderStatus.CLOSED
        requests = self.open_refund_requests()
        if requests:
            agreed = OrderStatus.REFUND_AGREED in requests.values()
            return OrderStatus.REFUND_AGREED if agreed else OrderStatus.REFUND_REQUESTED
        if money is not None:
            return money
        flow = [h.status for h in self.history if h.status in _FLOW]
        return max(flow, key=lambda s: STATUS_RANK[s]) if flow else OrderStatus.PAID

    def summary(self) -> OrderSummary:
        return OrderSummary(
            platform=self.platform,
            order_id=self.order_id,
            status=self.status,
            total_amount=self.total_amount,
            at=self.paid_at or self.created_at or self.updated_at,
        )


class OrderSummary(BaseModel):
    """What the 360 view shows of a recent order (kept on the profile: no extra read)."""

    platform: str
    order_id: str
    status: OrderStatus
    total_amount: Money | None
    at: datetime


RECENT_ORDERS = 10


def remember_order(recent: list[OrderSummary], summary: OrderSummary) -> list[OrderSummary]:
    kept = [s for s in recent if (s.platform, s.order_id) != (summary.platform, summary.order_id)]
    return sorted([*kept, summary], key=lambda s: s.at, reverse=True)[:RECENT_ORDERS]
