"""Shopify webhooks → OrderEvent.

As documented on shopify.dev (apps/build/webhooks/verify-deliveries, delivery-structure, the Order and
Refund REST resources):

- `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app client secret, raw body)).
- `X-Shopify-Webhook-Id` identifies a delivery and is the same on retries: our dedupe key. (Shopify's
  older page names `X-Shopify-Event-Id` instead, same across several subscriptions to one event; with one
  subscription per topic either works.)
- `X-Shopify-Topic`: orders/create, orders/paid, orders/fulfilled, orders/cancelled, refunds/create, …;
  `X-Shopify-Shop-Domain`: the shop, e.g. example.myshopify.com.
- Prices are decimal strings in the shop currency; timestamps are ISO-8601 with an offset.
- Success: any 2xx within 5 s; Shopify retries 8 times over 4 hours otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from chalicelib.domain.orders import Coupon, OrderEvent, OrderItem, OrderStatus
from chalicelib.integrations.shops.base import (
    OptionalAmount,
    PayloadError,
    SignatureError,
    expect_credentials,
    fallback_dedupe_key,
    from_iso,
    identities,
    load_json,
    require_header,
    same,
    validate,
)

PLATFORM = "shopify"


class ShopifyCredentials(BaseModel):
    """PUT /v1/integrations/shop/shopify: the shop and the app's client secret that signs its webhooks."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    shop_domain: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$", max_length=255)
    webhook_secret: SecretStr = Field(min_length=1, max_length=256)

    @field_validator("shop_domain", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v


# topic → (status, the order field saying when it happened). Shopify has no "completed" (delivery is
# tracked per fulfillment) and no refund request on orders (returns have their own topics): not mapped,
# like orders/updated, orders/partially_fulfilled, orders/edited.
_TOPICS: dict[str, tuple[OrderStatus, str]] = {
    "orders/create": (OrderStatus.CREATED, "created_at"),
    "orders/paid": (OrderStatus.PAID, "updated_at"),
    "orders/fulfilled": (OrderStatus.SHIPPED, "updated_at"),  # every line item fulfilled
    "orders/cancelled": (OrderStatus.CLOSED, "cancelled_at"),
    "refunds/create": (OrderStatus.REFUNDED, "processed_at"),  # a refund, possibly partial (see extra)
}


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class _Customer(_Loose):
    id: str | None = None
    phone: str | None = None


class _LineItem(_Loose):
    id: str | None = None
    sku: str | None = None
    variant_id: str | None = None
    name: str | None = None
    title: str | None = None
    quantity: int = Field(ge=0)
    price: OptionalAmount = None


class _DiscountCode(_Loose):
    code: str = Field(min_length=1)
    amount: OptionalAmount = None  # the money deducted, whatever the code's type


class _Order(_Loose):
    id: str = Field(min_length=1)
    name: str | None = None  # "#1001", what merchants and buyers see
    phone: str | None = None
    customer: _Customer | None = None
    line_items: list[_LineItem] = Field(default_factory=list)
    total_price: OptionalAmount = None
    currency: str | None = None
    discount_codes: list[_DiscountCode] = Field(default_factory=list)
    financial_status: str | None = None
    fulfillment_status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    cancelled_at: str | None = None
    cancel_reason: str | None = None
    processed_at: str | None = None


class _Transaction(_Loose):
    kind: str | None = None
    status: str | None = None
    amount: OptionalAmount = None
    currency: str | None = None


class _Refund(_Loose):
    id: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    created_at: str | None = None
    processed_at: str | None = None
    transactions: list[_Transaction] = Field(default_factory=list)


class ShopifyAdapter:
    platform = PLATFORM
    credentials_model: type[BaseModel] = ShopifyCredentials

    def verify(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, now: datetime
    ) -> None:
        creds = expect_credentials(credentials, ShopifyCredentials)
        given = require_header(headers, "x-shopify-hmac-sha256")
        digest = hmac.new(creds.webhook_secret.get_secret_value().encode(), body, hashlib.sha256).digest()
        if not same(base64.b64encode(digest).decode(), given):
            raise SignatureError("X-Shopify-Hmac-Sha256 does not match the body")
        # The app secret may be shared by every shop that installed the app: a valid signature for another
        # shop must not land in this tenant.
        if require_header(headers, "x-shopify-shop-domain").lower() != creds.shop_domain:
            raise SignatureError("X-Shopify-Shop-Domain is not this integration's shop")

    def parse(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, received_at: datetime
    ) -> list[OrderEvent]:
        creds = expect_credentials(credentials, ShopifyCredentials)
        topic = headers.get("x-shopify-topic", "").strip()
        if not topic:
            raise PayloadError("X-Shopify-Topic: missing")
        mapped = _TOPICS.get(topic)
        data = load_json(body)
        if mapped is None:
            return []
        status, time_field = mapped
        webhook_id = headers.get("x-shopify-webhook-id", "").strip()
        if topic == "refunds/create":
            refund = validate(_Refund, data)
            return [_from_refund(refund, creds.shop_domain, topic, webhook_id, received_at)]
        order = validate(_Order, data)
        return [_from_order(order, creds.shop_domain, topic, status, time_field, webhook_id, received_at)]

    def ack(self) -> tuple[int, str, str]:
        return 200, "text/plain", "ok"


def _dedupe(webhook_id: str, shop: str, order_id: str, status: OrderStatus) -> str:
    return f"{PLATFORM}:{webhook_id}" if webhook_id else fallback_dedupe_key(PLATFORM, shop, order_id, status)


def _from_order(
    order: _Order,
    shop: str,
    topic: str,
    status: OrderStatus,
    time_field: str,
    webhook_id: str,
    received_at: datetime,
) -> OrderEvent:
    happened = from_iso(getattr(order, time_field), field=time_field)
    customer = order.customer or _Customer()
    buyer, ignored = identities(
        [
            ("shopify_buyer_id", customer.id),
            # The customer's phone, else the one given at checkout; Shopify stores E.164. The e-mail is
            # not an identity type here (see docs/integrations.md).
            ("phone", customer.phone or order.phone),
        ]
    )
    items = [
        OrderItem(
            # A line without a SKU (custom items, products without codes) still needs a stable key.
            sku=line.sku or (f"variant:{line.variant_id}" if line.variant_id else f"line:{line.id}"),
            name=line.name or line.title or "",
            quantity=line.quantity,
            unit_price=line.price if line.price is not None else Decimal(0),
        )
        for line in order.line_items
    ]
    coupons = [Coupon(code=c.code, discount=c.amount) for c in order.discount_codes]
    extra: dict[str, Any] = {
        k: v
        for k, v in {
            "name": order.name,
            "financial_status": order.financial_status,
            "fulfillment_status": order.fulfillment_status,
            "cancel_reason": order.cancel_reason,
        }.items()
        if v
    }
    if ignored:
        extra["ignored_identities"] = ignored
    return OrderEvent(
        platform=PLATFORM,
        shop_id=shop,
        order_id=order.id,
        status=status,
        dedupe_key=_dedupe(webhook_id, shop, order.id, status),
        buyer=buyer,
        items=items,
        total_amount=order.total_price,
        currency=(order.currency or "CNY").upper(),
        coupons=coupons,
        created_at=from_iso(order.created_at, field="created_at"),
        # The order has no "paid at" field; the orders/paid delivery is the moment it became paid.
        paid_at=happened if status is OrderStatus.PAID else None,
        occurred_at=happened or from_iso(order.updated_at, field="updated_at") or received_at,
        raw_type=topic,
        extra=extra,
    )


def _from_refund(
    refund: _Refund, shop: str, topic: str, webhook_id: str, received_at: datetime
) -> OrderEvent:
    # Only successful refund transactions moved money; the sum is exact Decimal arithmetic.
    paid_back = [t for t in refund.transactions if t.kind == "refund" and t.status == "success"]
    amount = sum((t.amount for t in paid_back if t.amount is not None), Decimal("0.00"))
    currency = next((t.currency for t in paid_back if t.currency), None)
    happened = from_iso(refund.processed_at, field="processed_at") or from_iso(
        refund.created_at, field="created_at"
    )
    status = OrderStatus.REFUNDED
    return OrderEvent(
        platform=PLATFORM,
        shop_id=shop,
        order_id=refund.order_id,
        status=status,
        dedupe_key=_dedupe(webhook_id, shop, refund.order_id, status),
        buyer=[],  # a refund names its order only
        currency=(currency or "CNY").upper(),
        occurred_at=happened or received_at,
        raw_type=topic,
        # total_amount stays the order's: a refund may be partial, its amount is kept apart.
        extra={"refund_id": refund.id, "refund_amount": f"{amount:.2f}"},
    )
