"""抖店 (Doudian, Douyin e-commerce) push messages → OrderEvent.

What the platform documents (op.jinritemai.com 消息推送服务接入指南 guide-docs/153/99 and 215/1977; the
per-message pages message-docs/30/* for trades and 31/* for after-sales). The official site renders in
the browser only, so field lists were cross-checked against two SDKs that transcribe those pages
(zsmhub/doudian-sdk `message/`, fudiwei/DotNetCore.SKIT.FlurlHttpClient.ByteDance `DouyinShop/Events`):

- POST, the body is a JSON *array*: `[{"tag": "101", "msg_id": "…", "data": "<JSON string>"}, …]`, one
  delivery may batch several messages.
- Header `event-sign` = hex MD5(app_key + raw body + app_secret); header `app-id` = the app key.
- Amounts are integers in fen; times are unix seconds; ids (p_id, shop_id) are integers that can exceed
  2^53 — Python's json keeps them exact, and we turn them into strings at once.
- Order messages carry no buyer identity at all (no open_id, no phone: receiver data, when present, is
  encrypted); the ingest worker fetches the buyer with the order-detail API (`doudian_api.py`).
- Success answer: {"code":0,"msg":"success"}.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

from chalicelib.domain.orders import OrderEvent, OrderStatus
from chalicelib.integrations.shops.base import (
    PayloadError,
    SignatureError,
    expect_credentials,
    fallback_dedupe_key,
    fen,
    from_epoch,
    load_json,
    require_header,
    same,
    validate,
)

PLATFORM = "doudian"


class DoudianCredentials(BaseModel):
    """PUT /v1/integrations/shop/doudian. `shop_id`, when set, pins the integration to one shop (a tool
    app receives the messages of every shop that authorised it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)

    app_key: str = Field(min_length=1, max_length=64)
    app_secret: SecretStr = Field(min_length=1, max_length=128)
    shop_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")


# tag → (our status, the data field holding when it happened). Everything else is valid but unmapped:
# 104 logistics changed, 105 *receiver address* changed (not "buyer received"), 108 partly shipped,
# 110 paid-and-pending (101 already said paid), 113 memo, 201 refund agreed (not yet paid back),
# 202-205 return/refusal steps, 207 after-sale closed (the buyer withdrew: the order does not go back),
# 208 after-sale modified, 21x arbitration…
_TAGS: dict[str, tuple[OrderStatus, str]] = {
    "100": (OrderStatus.CREATED, "create_time"),  # doudian_trade_TradeCreate
    "101": (OrderStatus.PAID, "pay_time"),  # TradePaid: paid online, or a cash-on-delivery order confirmed
    "102": (OrderStatus.SHIPPED, "update_time"),  # TradeSellerShip: every item shipped
    "103": (OrderStatus.COMPLETED, "complete_time"),  # TradeSuccess: received (or auto-confirmed)
    "106": (OrderStatus.CLOSED, "cancel_time"),  # TradeCanceled
    "200": (OrderStatus.REFUND_REQUESTED, "apply_time"),  # doudian_refund_RefundCreated
    "206": (OrderStatus.REFUNDED, "success_time"),  # RefundSuccess: the money reached the buyer
}


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    tag: str = Field(min_length=1)
    # `msg_id` in the docs and in most SDKs; one SDK models it as `msgId`, so both are read.
    msg_id: str | None = Field(default=None, validation_alias=AliasChoices("msg_id", "msgId"))
    data: str | dict[str, Any]


class _Data(BaseModel):
    """The fields of trade (p_id, s_ids, times, pay_amount) and after-sale (s_id, aftersale_*,
    refund_amount) messages that we read; all messages carry p_id and shop_id."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    p_id: str = Field(min_length=1)  # the parent (whole) order id
    shop_id: str = Field(min_length=1)
    order_status: int | None = None
    pay_amount: int | None = None  # fen
    cancel_reason: str | None = None
    s_id: str | None = None  # after-sale: the sub-order (line) concerned
    aftersale_id: str | None = None
    aftersale_type: int | None = None
    refund_amount: int | None = None  # fen, freight included
    create_time: int | None = None
    pay_time: int | None = None
    update_time: int | None = None
    complete_time: int | None = None
    cancel_time: int | None = None
    apply_time: int | None = None
    success_time: int | None = None


class DoudianAdapter:
    platform = PLATFORM
    credentials_model: type[BaseModel] = DoudianCredentials

    def verify(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, now: datetime
    ) -> None:
        creds = expect_credentials(credentials, DoudianCredentials)
        if not same(creds.app_key, require_header(headers, "app-id")):
            raise SignatureError("app-id is not this integration's app key")
        # Only MD5 is documented for push signatures. Should 抖店 announce another algorithm in a
        # `sign-method` header, refuse loudly rather than accept a signature we did not check.
        method = headers.get("sign-method", "md5").strip().lower()
        if method != "md5":
            raise SignatureError(f"unsupported sign-method '{method}'")
        given = require_header(headers, "event-sign").lower()
        secret = creds.app_secret.get_secret_value().encode()
        expected = hashlib.md5(creds.app_key.encode() + body + secret).hexdigest()
        if not same(expected, given):
            raise SignatureError("event-sign does not match MD5(app_key + body + app_secret)")

    def parse(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, received_at: datetime
    ) -> list[OrderEvent]:
        creds = expect_credentials(credentials, DoudianCredentials)
        batch = load_json(body)
        if not isinstance(batch, list):
            raise PayloadError("body: expected a JSON array of messages")
        events: list[OrderEvent] = []
        for i, raw in enumerate(batch):
            message = validate(_Message, raw, where=f"[{i}]")
            mapped = _TAGS.get(message.tag)
            if mapped is None:
                continue
            payload = (
                load_json(message.data, where=f"[{i}].data")
                if isinstance(message.data, str)
                else message.data
            )
            data = validate(_Data, payload, where=f"[{i}].data")
            if creds.shop_id and data.shop_id != creds.shop_id:
                raise PayloadError(f"[{i}].data.shop_id: shop {data.shop_id} is not the configured shop")
            events.append(_event(message, data, *mapped, where=f"[{i}].data", received_at=received_at))
        return events

    def ack(self) -> tuple[int, str, str]:
        return 200, "application/json", '{"code":0,"msg":"success"}'


def _event(
    message: _Message, data: _Data, status: OrderStatus, time_field: str, *, where: str, received_at: datetime
) -> OrderEvent:
    when = from_epoch(getattr(data, time_field), field=f"{where}.{time_field}")
    extra: dict[str, Any] = {"tag": message.tag}
    if data.order_status is not None:
        extra["doudian_order_status"] = data.order_status
    if data.cancel_reason:
        extra["cancel_reason"] = data.cancel_reason
    if data.aftersale_id:
        extra["aftersale_id"] = data.aftersale_id
        extra["sub_order_id"] = data.s_id
        extra["aftersale_type"] = data.aftersale_type
    if data.refund_amount is not None:
        # Kept apart from total_amount: an after-sale concerns one line, not the order total.
        refund: Decimal = fen(data.refund_amount, field=f"{where}.refund_amount")
        extra["refund_amount"] = f"{refund:.2f}"
    total = fen(data.pay_amount, field=f"{where}.pay_amount") if data.pay_amount is not None else None
    dedupe = (
        f"{PLATFORM}:{message.msg_id}"
        if message.msg_id
        else fallback_dedupe_key(PLATFORM, data.shop_id, data.p_id, status)
    )
    return OrderEvent(
        platform=PLATFORM,
        shop_id=data.shop_id,
        order_id=data.p_id,
        status=status,
        dedupe_key=dedupe,
        buyer=[],  # 抖店 pushes name no buyer: the worker asks order.orderDetail (see the module docstring)
        total_amount=total,
        currency="CNY",
        created_at=when if status is OrderStatus.CREATED else None,
        paid_at=when if status is OrderStatus.PAID else None,
        occurred_at=when or received_at,
        raw_type=message.tag,
        extra=extra,
    )
