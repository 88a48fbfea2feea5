"""Orders from e-commerce platforms, normalised to one model whatever the shop."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.customers import Identity
from chalicelib.domain.money import Amount


class OrderStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    REFUND_REQUESTED = "refund_requested"
    REFUNDED = "refunded"
    CLOSED = "closed"


# How far along an order is: an older status arriving late (webhooks are unordered) must not move it back.
STATUS_RANK: dict[OrderStatus, int] = {
    OrderStatus.CREATED: 0,
    OrderStatus.PAID: 1,
    OrderStatus.SHIPPED: 2,
    OrderStatus.COMPLETED: 3,
    OrderStatus.REFUND_REQUESTED: 4,
    OrderStatus.REFUNDED: 5,
    OrderStatus.CLOSED: 5,
}


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    name: str
    quantity: int = Field(ge=0)
    unit_price: Amount


class Coupon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str | None = None
    discount: Amount | None = None


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
    total_amount: Amount | None = None
    currency: str = "CNY"
    coupons: list[Coupon] = Field(default_factory=list)
    created_at: datetime | None = None
    paid_at: datetime | None = None
    occurred_at: datetime  # when the platform says this status happened (or when we received it)
    raw_type: str  # the platform's own event/topic name, for the timeline and debugging
    extra: dict[str, Any] = Field(default_factory=dict)  # platform fields worth keeping (store, nick, …)
