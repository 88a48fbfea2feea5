"""抖店 (Doudian, Douyin e-commerce) push messages → OrderEvent.

What the platform documents (op.jinritemai.com 消息推送服务接入指南 guide-docs/153/99 and 215/1977; the
per-message pages message-docs/30/* for trades and 31/* for after-sales). The official site renders in
the browser only, so field lists were cross-checked against two SDKs that transcribe those pages
(zsmhub/doudian-sdk `message/`, fudiwei/DotNetCore.SKIT.FlurlHttpClient.ByteDance `DouyinShop/Events`):

- POST, the body is a JSON *array*: `[{"tag": "101", "msg_id": "…", "data": "<JSON string>"}, …]`, one
  delivery may batch several messages.
- Header `event-sign` = hex MD5(app_key + raw body + app_secret); header `app-id` = the app key.
- Amounts are integers in fen; ids (p_id, shop_id, aftersale_id) are integers that can exceed 2^53 —
  Python's json keeps them exact, and we turn them into strings at once.
- Times: trade messages (30/*) carry unix seconds (create_time, pay_time, update_time, complete_time,
  cancel_time); after-sale messages (31/*) carry unix seconds in their own field (apply_time 200,
  agree_time 201, success_time 206, close_time 207) but `update_time` as a date-time — zsmhub/doudian-sdk
  types it `time.Time` (a JSON string) in 200/201/202/203/204/207/208, where the trade messages have
  `int64`. So every time field is read as either (`_when`): unix seconds, or a date-time string, Beijing
  time unless it carries an offset.
- One delivery batches messages of any shop that authorised the app: each element is used or kept on its
  own (`Rejected`, with the reason); one bad element never refuses the batch, which 抖店 would resend whole.
- Order messages carry no buyer identity at all (no open_id, no phone: receiver data, when present, is
  encrypted); the ingest worker fetches the buyer with the order-detail API (`doudian_api.py`).
- Success answer: {"code":0,"msg":"success"}.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

from chalicelib.domain.orders import OrderEvent, OrderStatus
from chalicelib.integrations.shops.base import (
    PayloadError,
    Rejected,
    SignatureError,
    digest,
    expect_credentials,
    fallback_dedupe_key,
    fen,
    from_china_local,
    from_epoch,
    load_json,
    refund_dedupe_key,
    require_header,
    same,
    validate,
)

PLATFORM = "doudian"


class DoudianCredentials(BaseModel):
    """PUT /v1/integrations/shop/doudian (or …/doudian/shops/{shop_id}, one per shop). `shop_id`, when set,
    pins the settings to one shop: a tool app receives the messages of every shop that authorised it, and
    those of other shops are kept, not taken in (integrations/shops/intake.py)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)

    app_key: str = Field(min_length=1, max_length=64)
    app_secret: SecretStr = Field(min_length=1, max_length=128)
    shop_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")


# tag → (our status, the data field holding when it happened). Everything else is valid but unmapped:
# 104 logistics changed, 105 *receiver address* changed (not "buyer received"), 110 paid-and-pending
# (101 already said paid), 113 memo, 202-205 return steps and refusals (a refusal does not end the
# after-sale: the buyer may re-apply or ask 抖店 to arbitrate; 207 ends it), 208 after-sale modified,
# 21x arbitration…
_TAGS: dict[str, tuple[OrderStatus, str]] = {
    "100": (OrderStatus.CREATED, "create_time"),  # doudian_trade_TradeCreate
    "101": (OrderStatus.PAID, "pay_time"),  # TradePaid: paid online, or a cash-on-delivery order confirmed
    "102": (OrderStatus.SHIPPED, "update_time"),  # TradeSellerShip: every item shipped
    "103": (OrderStatus.COMPLETED, "complete_time"),  # TradeSuccess: received (or auto-confirmed)
    "106": (OrderStatus.CLOSED, "cancel_time"),  # TradeCanceled
    "108": (OrderStatus.PARTIALLY_SHIPPED, "update_time"),  # TradePartlySellerShip (message-docs/30/208)
    "200": (OrderStatus.REFUND_REQUESTED, "apply_time"),  # doudian_refund_RefundCreated
    "201": (OrderStatus.REFUND_AGREED, "agree_time"),  # RefundAgreed: agreed, the money not yet back
    "206": (OrderStatus.REFUNDED, "success_time"),  # RefundSuccess: refund_amount reached the buyer
    "207": (OrderStatus.REFUND_CLOSED, "close_time"),  # RefundClosed: withdrawn or closed, nothing back
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
    # Times: unix seconds or a date-time string (see the module docstring), read by `_when`.
    create_time: Any = None
    pay_time: Any = None
    update_time: Any = None
    complete_time: Any = None
    cancel_time: Any = None
    apply_time: Any = None
    agree_time: Any = None
    success_time: Any = None
    close_time: Any = None


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
    ) -> list[OrderEvent | Rejected]:
        expect_credentials(credentials, DoudianCredentials)
        batch = load_json(body)
        if not isinstance(batch, list):
            raise PayloadError("body: expected a JSON array of messages")
        out: list[OrderEvent | Rejected] = []
        for i, raw in enumerate(batch):
            try:
                event = _parse_one(raw, where=f"[{i}]", received_at=received_at)
            except PayloadError as e:
                msg_id = raw.get("msg_id") if isinstance(raw, dict) else None
                key = str(msg_id) if isinstance(msg_id, str | int) and msg_id else digest(raw)
                out.append(Rejected(reason=str(e), raw=raw, key=f"{PLATFORM}:{key}"))
                continue
            if event is not None:
                out.append(event)
        return out

    def ack(self) -> tuple[int, str, str]:
        return 200, "application/json", '{"code":0,"msg":"success"}'


def _parse_one(raw: Any, *, where: str, received_at: datetime) -> OrderEvent | None:
    """One batch element → its event; None for a valid message of a tag we do not map."""
    message = validate(_Message, raw, where=where)
    mapped = _TAGS.get(message.tag)
    if mapped is None:
        return None
    payload = (
        load_json(message.data, where=f"{where}.data") if isinstance(message.data, str) else message.data
    )
    data = validate(_Data, payload, where=f"{where}.data")
    return _event(message, data, *mapped, where=f"{where}.data", received_at=received_at)


def _when(value: object, *, field: str) -> datetime | None:
    """Unix seconds (int or digits) or a date-time string (after-sale `update_time`); 0/""/None → None."""
    if isinstance(value, str) and value.strip() and not value.strip().isdigit():
        return from_china_local(value, field=field)
    return from_epoch(value, field=field)


def _event(
    message: _Message, data: _Data, status: OrderStatus, time_field: str, *, where: str, received_at: datetime
) -> OrderEvent:
    when = _when(getattr(data, time_field), field=f"{where}.{time_field}")
    extra: dict[str, Any] = {"tag": message.tag}
    if data.order_status is not None:
        extra["doudian_order_status"] = data.order_status
    if data.cancel_reason:
        extra["cancel_reason"] = data.cancel_reason
    if data.aftersale_id:
        extra["aftersale_id"] = data.aftersale_id
        extra["sub_order_id"] = data.s_id  # an after-sale concerns one line, not the order total
        extra["aftersale_type"] = data.aftersale_type
    amount = (
        fen(data.refund_amount, field=f"{where}.refund_amount") if data.refund_amount is not None else None
    )
    refunded = amount if status is OrderStatus.REFUNDED else None  # 206: this amount reached the buyer
    if amount is not None and refunded is None:
        extra["requested_amount"] = f"{amount:.2f}"  # asked for, agreed or withdrawn: not money back
    total = fen(data.pay_amount, field=f"{where}.pay_amount") if data.pay_amount is not None else None
    if message.msg_id:
        dedupe = f"{PLATFORM}:{message.msg_id}"
    elif data.aftersale_id:
        dedupe = refund_dedupe_key(
            PLATFORM, data.shop_id, data.p_id, status, refund_id=data.aftersale_id, amount=amount, at=when
        )
    else:
        dedupe = fallback_dedupe_key(PLATFORM, data.shop_id, data.p_id, status)
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
        refund_id=data.aftersale_id,
        refund_amount=refunded,
        extra=extra,
    )
