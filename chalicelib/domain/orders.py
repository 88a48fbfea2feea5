"""Orders from e-commerce platforms, normalised to one model whatever the shop."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.customers import Identity
from chalicelib.domain.money import Money, parse_money


class OrderStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    REFUND_REQUESTED = "refund_requested"
    PARTIALLY_REFUNDED = "partially_refunded"  # some money went back; the rest of the order stands
    REFUNDED = "refunded"
    CLOSED = "closed"


# How far along an order is: an older status arriving late (webhooks are unordered) must not move it back.
STATUS_RANK: dict[OrderStatus, int] = {
    OrderStatus.CREATED: 0,
    OrderStatus.PAID: 1,
    OrderStatus.SHIPPED: 2,
    OrderStatus.COMPLETED: 3,
    OrderStatus.REFUND_REQUESTED: 4,
    OrderStatus.PARTIALLY_REFUNDED: 4,  # level with a request: the later of the two is the status
    OrderStatus.REFUNDED: 5,
    OrderStatus.CLOSED: 5,
}


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
    extra: dict[str, Any] = Field(default_factory=dict)  # platform fields worth keeping (store, nick, …)


class StatusChange(BaseModel):
    status: OrderStatus
    at: datetime
    dedupe_key: str
    raw_type: str


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
        """Fold one event in. Idempotent (a seen dedupe key changes nothing) and order-insensitive: the
        status only moves forward by STATUS_RANK, so a late `paid` never undoes `completed`."""
        if any(h.dedupe_key == event.dedupe_key for h in self.history):
            return False
        self.history.append(
            StatusChange(
                status=event.status,
                at=event.occurred_at,
                dedupe_key=event.dedupe_key,
                raw_type=event.raw_type,
            )
        )
        self.history.sort(key=lambda h: (h.at, STATUS_RANK[h.status]))
        latest = max(self.history, key=lambda h: (STATUS_RANK[h.status], h.at))
        self.status = latest.status
        if event.items:
            self.items = event.items
        if event.total_amount is not None:
            self.total_amount = event.total_amount
        refund = event.extra.get("refund_amount")
        if refund is not None:
            # The adapters' own "12.50": the API's money format.
            self.refunded_amount = (self.refunded_amount or 0) + parse_money(refund)
        self.coupons = event.coupons or self.coupons
        self.currency = event.currency
        self.created_at = self.created_at or event.created_at
        self.paid_at = self.paid_at or event.paid_at
        self.customer_id = self.customer_id or customer_id
        self.buyer_types = sorted(set(self.buyer_types) | {i.type for i in event.buyer})
        self.updated_at = max(self.updated_at, event.occurred_at)
        self.version += 1
        return True

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
