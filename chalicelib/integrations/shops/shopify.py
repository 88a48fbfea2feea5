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

Refunds (shopify.dev REST Admin API, Refund resource; Webhooks reference, `refunds/create`): one delivery
per refund, `{id, order_id, processed_at, refund_line_items, transactions, order_adjustments}`. Money moved
only by the refund's `transactions` of `kind` "refund" with `status` "success" (a refund may be created for
restocking alone, with none). The order's `financial_status` becomes "partially_refunded" or "refunded"
(Order resource), which `orders/updated` repeats with the same `refunds`: that topic stays unmapped so no
refund is counted twice. We send the refund's own amount and id; the order model adds them up and decides
partially refunded or refunded against the order total (domain/orders.py).

Customers (REST Customer resource; Webhooks reference `customers/create`, `customers/update`): `{id,
email, first_name, last_name, phone (E.164), tags, updated_at, …}`. Since API version 2025-01 the customer
payload has no `tags` (shopify.dev changelog "New customer's webhook and changes to existing customer's
webhooks payload": they come by `customer.tags_added` / `customer.tags_removed`), so tags are taken when
sent and left alone when not.

Privacy and lifecycle (shopify.dev apps/build/privacy-law-compliance, "Mandatory compliance webhooks";
payload shapes as in Shopify's app template `web/privacy.js`), HMAC-verified like every topic (an invalid
HMAC must get 401):
- `customers/data_request` `{shop_id, shop_domain, orders_requested: [ids], customer: {id, email, phone},
  data_request: {id}}`: the merchant must be given the customer's data.
- `customers/redact` `{shop_id, shop_domain, customer: {id, email, phone}, orders_to_redact: [ids]}`: sent
  10 days after the request when the customer placed no order in the last 6 months, else held until then;
  the data must be erased within 30 days.
- `shop/redact` `{shop_id, shop_domain}`: 48 hours after the app was uninstalled; erase the shop's data.
- `app/uninstalled` (the Shop resource): the app no longer has access; the privacy topics still follow.
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
from chalicelib.domain.shop_notices import (
    CustomerDataRequested,
    CustomerRedactionRequested,
    PrivacySubject,
    ShopAppUninstalled,
    ShopCustomerChanged,
    ShopNotice,
    ShopRedactionRequested,
    normalize_email,
)
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
    # A refund of its own amount; the order adds refunds up (partially_refunded, then refunded).
    "refunds/create": (OrderStatus.PARTIALLY_REFUNDED, "processed_at"),
}
_CUSTOMER_TOPICS = ("customers/create", "customers/update")
_PRIVACY_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
UNINSTALLED = "app/uninstalled"


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


class _ShopCustomer(_Loose):
    """The REST Customer resource, as customers/create and customers/update send it."""

    id: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    tags: str | None = None  # comma-separated; absent from API version 2025-01 on
    created_at: str | None = None
    updated_at: str | None = None


class _PrivacyCustomer(_Loose):
    id: str | None = None
    email: str | None = None
    phone: str | None = None


class _DataRequest(_Loose):
    id: str | None = None


class _Privacy(_Loose):
    """The body of the three mandatory compliance topics (shop/redact has only the shop)."""

    shop_id: str | None = None
    shop_domain: str | None = None
    customer: _PrivacyCustomer | None = None
    orders_requested: list[str] = Field(default_factory=list)
    orders_to_redact: list[str] = Field(default_factory=list)
    data_request: _DataRequest | None = None


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
    ) -> list[OrderEvent | ShopNotice]:
        creds = expect_credentials(credentials, ShopifyCredentials)
        topic = headers.get("x-shopify-topic", "").strip()
        if not topic:
            raise PayloadError("X-Shopify-Topic: missing")
        data = load_json(body)
        webhook_id = headers.get("x-shopify-webhook-id", "").strip()
        shop = creds.shop_domain
        if topic in _CUSTOMER_TOPICS:
            customer = validate(_ShopCustomer, data)
            return [_from_customer(customer, shop, topic, webhook_id, body, received_at)]
        if topic in _PRIVACY_TOPICS:
            return [_from_privacy(validate(_Privacy, data), shop, topic, webhook_id, body, received_at)]
        if topic == UNINSTALLED:
            key = _notice_key(webhook_id, shop, topic, body)
            return [
                ShopAppUninstalled(
                    platform=PLATFORM, shop_id=shop, dedupe_key=key, raw_type=topic, occurred_at=received_at
                )
            ]
        mapped = _TOPICS.get(topic)
        if mapped is None:
            return []
        status, time_field = mapped
        if topic == "refunds/create":
            refund = validate(_Refund, data)
            return _from_refund(refund, shop, topic, webhook_id, received_at)
        order = validate(_Order, data)
        return [_from_order(order, shop, topic, status, time_field, webhook_id, received_at)]

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
) -> list[OrderEvent | ShopNotice]:
    """The refund's own amount and id: the order adds its refunds up (two partial refunds of one order are
    two events, never one). A refund that moved no money (restocking only, or every transaction failed or
    pending) changes nothing on the order: [] (the delivery is kept raw)."""
    # Only successful refund transactions moved money; the sum is exact Decimal arithmetic.
    paid_back = [t for t in refund.transactions if t.kind == "refund" and t.status == "success"]
    amount = sum((t.amount for t in paid_back if t.amount is not None), Decimal("0.00"))
    if amount <= 0:
        return []
    currency = next((t.currency for t in paid_back if t.currency), None)
    happened = from_iso(refund.processed_at, field="processed_at") or from_iso(
        refund.created_at, field="created_at"
    )
    status = OrderStatus.PARTIALLY_REFUNDED
    # Without a webhook id, the refund's id (not the order status) tells two refunds of one order apart.
    fallback = f"{fallback_dedupe_key(PLATFORM, shop, refund.order_id, status)}:{refund.id}"
    return [
        OrderEvent(
            platform=PLATFORM,
            shop_id=shop,
            order_id=refund.order_id,
            status=status,
            dedupe_key=f"{PLATFORM}:{webhook_id}" if webhook_id else fallback,
            buyer=[],  # a refund names its order only
            currency=(currency or "CNY").upper(),
            occurred_at=happened or received_at,
            raw_type=topic,
            # total_amount stays the order's: the refund's own amount is kept apart.
            refund_id=refund.id,
            refund_amount=amount,
        )
    ]


def _notice_key(webhook_id: str, shop: str, topic: str, body: bytes) -> str:
    """The webhook id (the same on retries); without one, the body's digest (a retry sends the same body)."""
    if webhook_id:
        return f"{PLATFORM}:{webhook_id}"
    return f"{PLATFORM}:{shop}:{topic}:{hashlib.sha256(body).hexdigest()[:32]}"


def _full_name(first: str | None, last: str | None) -> str | None:
    """Chinese names read family name first, without a space (王小明); others "first last"."""
    parts = [p.strip() for p in (first, last) if p and p.strip()]
    if not parts:
        return None
    if len(parts) == 2 and all(_cjk(p) for p in parts):
        return (parts[1] + parts[0])[:64]
    return " ".join(parts)[:64]


def _cjk(text: str) -> bool:
    return all("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in text)


def _from_customer(
    customer: _ShopCustomer, shop: str, topic: str, webhook_id: str, raw: bytes, received_at: datetime
) -> ShopCustomerChanged:
    found, _ignored = identities([("shopify_buyer_id", customer.id), ("phone", customer.phone)])
    updated = from_iso(customer.updated_at, field="updated_at")
    tags = None
    if customer.tags is not None:  # "vip, wholesale" (Shopify trims and de-duplicates them)
        tags = list(dict.fromkeys(t.strip()[:64] for t in customer.tags.split(",") if t.strip()))[:50]
    return ShopCustomerChanged(
        platform=PLATFORM,
        shop_id=shop,
        dedupe_key=_notice_key(webhook_id, shop, topic, raw),
        raw_type=topic,
        occurred_at=updated or received_at,
        created=topic == "customers/create",
        shop_customer_id=customer.id,
        identities=found,
        name=_full_name(customer.first_name, customer.last_name),
        email=normalize_email(customer.email),
        tags=tags,
        updated_at=updated,
    )


def _from_privacy(
    body: _Privacy, shop: str, topic: str, webhook_id: str, raw: bytes, received_at: datetime
) -> ShopNotice:
    # The body names its shop too; it must be the one the signed header named (checked in `verify`).
    if body.shop_domain is not None and body.shop_domain.strip().lower() != shop:
        raise PayloadError(f"shop_domain: {body.shop_domain!r} is not the shop of X-Shopify-Shop-Domain")
    key = _notice_key(webhook_id, shop, topic, raw)
    common = {"platform": PLATFORM, "shop_id": shop, "dedupe_key": key, "raw_type": topic}
    if topic == "shop/redact":
        return ShopRedactionRequested(**common, occurred_at=received_at)
    if body.customer is None:
        raise PayloadError("customer: required")
    who = body.customer
    found, _ignored = identities([("shopify_buyer_id", who.id), ("phone", who.phone)])
    subject = PrivacySubject(shop_customer_id=who.id, identities=found, email=normalize_email(who.email))
    if topic == "customers/data_request":
        return CustomerDataRequested(
            **common,
            occurred_at=received_at,
            request_ref=body.data_request.id if body.data_request else None,
            subject=subject,
            orders=body.orders_requested,
        )
    return CustomerRedactionRequested(
        **common, occurred_at=received_at, subject=subject, orders=body.orders_to_redact
    )
