"""Our own documented order webhook (docs/integrations.md, "generic"): for shops we have no adapter for,
and for the relays that bridge Taobao/Tmall TMC and JD JOS messages (`order.platform` = tmall, jd, …).

Signature: `X-SCRM-Timestamp: <unix seconds>` and
`X-SCRM-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`. Signing the timestamp
with the body and refusing timestamps more than 5 minutes away from our clock bounds replays to that
window; the event_id dedupe key covers the rest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.customers import MAX_IDENTITY_VALUE
from chalicelib.domain.orders import Coupon, OrderEvent, OrderItem, OrderStatus
from chalicelib.domain.phones import normalize_phone
from chalicelib.integrations.shops.base import (
    PlatformAmount,
    SignatureError,
    expect_credentials,
    identities,
    load_json,
    require_header,
    same,
    validate,
)

PLATFORM = "generic"
MAX_CLOCK_SKEW_SECONDS = 300
_SIGNATURE_PREFIX = "sha256="


class GenericCredentials(BaseModel):
    """PUT /v1/integrations/shop/generic: the shared secret the sender signs with."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr = Field(max_length=256)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, v: SecretStr) -> SecretStr:
        # 16 characters is the floor for an HMAC key someone typed; generate 32 random bytes in practice.
        if len(v.get_secret_value()) < 16:
            raise ValueError("the secret must have at least 16 characters")
        return v


_TYPES: dict[str, OrderStatus] = {
    "order.created": OrderStatus.CREATED,
    "order.paid": OrderStatus.PAID,
    "order.shipped": OrderStatus.SHIPPED,
    "order.completed": OrderStatus.COMPLETED,
    "order.refund_requested": OrderStatus.REFUND_REQUESTED,
    "order.refunded": OrderStatus.REFUNDED,
    "order.closed": OrderStatus.CLOSED,
}
EventType = Literal[
    "order.created",
    "order.paid",
    "order.shipped",
    "order.completed",
    "order.refund_requested",
    "order.refunded",
    "order.closed",
]

Text = Annotated[str, Field(min_length=1, max_length=128)]
IdentityValue = Annotated[str, Field(min_length=1, max_length=MAX_IDENTITY_VALUE)]


class GenericBuyer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phone: IdentityValue | None = None
    unionid: IdentityValue | None = None
    openid: IdentityValue | None = None
    buyer_id: IdentityValue | None = None  # the platform's buyer id → `<platform>_buyer_id`

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return normalize_phone(v)
        except InvalidInputError as e:
            raise ValueError(e.message) from None

    @model_validator(mode="after")
    def _at_least_one(self) -> GenericBuyer:
        if not (self.phone or self.unionid or self.openid or self.buyer_id):
            raise ValueError("give at least one of phone, unionid, openid, buyer_id")
        return self


class GenericItem(BaseModel):
    """`OrderItem` with the platform amount format (a JSON number is read exactly, see shops/base.py)."""

    model_config = ConfigDict(extra="forbid")

    sku: str
    name: str
    quantity: int = Field(ge=0)
    unit_price: PlatformAmount


class GenericCoupon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str | None = None
    discount: PlatformAmount | None = None


class GenericOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    order_id: Text
    shop_id: Text | None = None
    # For relays: the platform the order really comes from. It names the buyer id type (tmall_buyer_id),
    # hence the same shape as identity types allow.
    platform: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9]{1,23}$")
    buyer: GenericBuyer
    items: list[GenericItem] = Field(default_factory=list, max_length=500)
    total_amount: PlatformAmount | None = None
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    coupons: list[GenericCoupon] = Field(default_factory=list, max_length=50)
    created_at: AwareDatetime | None = None
    paid_at: AwareDatetime | None = None


class GenericEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: Text
    type: EventType
    order: GenericOrder
    # Optional: when the status changed at the source (relays know it: TMC pub_time). Default: receipt.
    occurred_at: AwareDatetime | None = None
    # order.refunded only: what this refund paid back (a part of the order); absent = the whole order.
    refund_amount: PlatformAmount | None = None

    @field_validator("refund_amount")
    @classmethod
    def _refunds_only(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is not None and info.data.get("type") != "order.refunded":
            raise ValueError("only an order.refunded event carries one")
        if value is not None and value <= 0:
            raise ValueError("must be more than 0")
        return value


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-SCRM-Signature value for `body` (what senders and our tests compute)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return _SIGNATURE_PREFIX + mac.hexdigest()


class GenericAdapter:
    platform = PLATFORM
    credentials_model: type[BaseModel] = GenericCredentials

    def verify(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, now: datetime
    ) -> None:
        creds = expect_credentials(credentials, GenericCredentials)
        raw_ts = require_header(headers, "x-scrm-timestamp")
        if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= 12):
            raise SignatureError("X-SCRM-Timestamp must be unix seconds")
        if abs(now.timestamp() - int(raw_ts)) > MAX_CLOCK_SKEW_SECONDS:
            raise SignatureError("X-SCRM-Timestamp is more than 5 minutes away from our clock")
        given = require_header(headers, "x-scrm-signature")
        if not given.startswith(_SIGNATURE_PREFIX):
            raise SignatureError("X-SCRM-Signature must be 'sha256=<hex>'")
        expected = sign(creds.secret.get_secret_value(), raw_ts, body)
        if not same(expected, _SIGNATURE_PREFIX + given[len(_SIGNATURE_PREFIX) :].lower()):
            raise SignatureError("X-SCRM-Signature does not match HMAC-SHA256(secret, timestamp.body)")

    def parse(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, received_at: datetime
    ) -> list[OrderEvent]:
        expect_credentials(credentials, GenericCredentials)
        event = validate(GenericEvent, load_json(body))
        order = event.order
        source = order.platform or PLATFORM
        buyer, _ = identities(  # already validated above, so nothing is ignored here
            [
                ("phone", order.buyer.phone),
                ("unionid", order.buyer.unionid),
                ("openid", order.buyer.openid),
                (f"{source}_buyer_id", order.buyer.buyer_id),
            ]
        )
        return [
            OrderEvent(
                platform=source,
                shop_id=order.shop_id or "default",
                order_id=order.order_id,
                status=_TYPES[event.type],
                # Our own format always has an id: the sender's event id, namespaced so it cannot collide
                # with another platform's message ids.
                dedupe_key=f"{PLATFORM}:{event.event_id}",
                buyer=buyer,
                items=[OrderItem.model_validate(i, from_attributes=True) for i in order.items],
                total_amount=order.total_amount,
                currency=order.currency,
                coupons=[Coupon.model_validate(c, from_attributes=True) for c in order.coupons],
                created_at=order.created_at,
                paid_at=order.paid_at,
                occurred_at=event.occurred_at or received_at,
                raw_type=event.type,
                extra={} if event.refund_amount is None else {"refund_amount": f"{event.refund_amount:.2f}"},
            )
        ]

    def ack(self) -> tuple[int, str, str]:
        return 200, "application/json", '{"ok":true}'
