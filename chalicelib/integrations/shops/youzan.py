"""有赞 (Youzan) push messages → OrderEvent.

What Youzan documents (doc.youzanyun.com, 消息推送 — develop-guide 41536 and the per-message pages; see
docs/integrations.md for the list of sources and the points where the docs disagree):

- POST, JSON body; header `Event-Sign` = hex MD5(client_id + raw body + client_secret), plain MD5 (no
  HMAC, no timestamp, so no replay window: the dedupe key is the only replay protection).
  Headers `Event-Type` (= body.type) and `Client-Id` are also sent.
- Body: client_id, kdt_id (shop), kdt_name, id (the *business* id: the order number `tid` for trade
  messages — NOT a message id), type (trade_TradeCreate, …), status, msg, msg_id (unique message id; the
  docs say only V3 messages carry it), version (ordering only, "not unique"), sendCount, sign, test, mode.
- `msg` is URL-encoded (UTF-8) JSON for trade_* messages and a plain JSON object for the newer
  youzan_trade_Refund* messages. Youzan encodes with Java's URLEncoder (spaces become `+`, see the
  `2018-10-16+21%3A41%3A01` in their samples), hence unquote_plus.
- The body's own `sign` field is documented differently per message type; Youzan itself recommends the
  `Event-Sign` header, which is all we check.
- Success answer: HTTP 200 with a body containing "success" ({"code":0,"msg":"success"}); anything else is
  retried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chalicelib.domain.orders import OrderEvent, OrderItem, OrderStatus
from chalicelib.integrations.shops.base import (
    OptionalAmount,
    PayloadError,
    Rejected,
    SignatureError,
    digest,
    expect_credentials,
    fallback_dedupe_key,
    from_china_local,
    identities,
    load_json,
    refund_dedupe_key,
    require_header,
    same,
    validate,
)

PLATFORM = "youzan"


class YouzanCredentials(BaseModel):
    """PUT /v1/integrations/shop/youzan (or …/youzan/shops/{kdt_id}, one per shop). `kdt_id`, when set,
    pins the settings to one shop: pushes for any other shop authorised on the same app are kept, not taken
    in (integrations/shops/intake.py)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)

    client_id: str = Field(min_length=1, max_length=64)
    client_secret: SecretStr = Field(min_length=1, max_length=128)
    kdt_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")


# Push type → our status. Types not listed (memo/address changes, items, customers, points…) are valid but
# not order-status events: parse() returns []. Message names and the msg fields read are Youzan's message
# pages (doc.youzanyun.com MSG "20-交易消息" / "20-交易退款"), cross-checked with SDKs that transcribe them:
# the older trade_refund_* msg is URL-encoded JSON with tid, oids, refund_id, refunded_fee (yuan),
# refund_type, refund_reason and update_time; the newer youzan_trade_Refund* msg is an object with the same
# refund_id/refunded_fee plus its own version. Older messages carry no msg_id ("only V3" messages do).
_TYPE_STATUS: dict[str, OrderStatus] = {
    "trade_TradeCreate": OrderStatus.CREATED,
    # TradePaid = "paid at least once" (may still wait for a group or a balance); TradeBuyerPay = "waiting
    # for the seller to ship" (never sent for virtual goods). Both mean paid for us; the dedupe key and the
    # order's own status make the second one a no-op.
    "trade_TradePaid": OrderStatus.PAID,
    "trade_TradeBuyerPay": OrderStatus.PAID,
    "trade_TradePartlySellerShip": OrderStatus.PARTIALLY_SHIPPED,  # msg: tid, oids, express_id
    "trade_TradeSellerShip": OrderStatus.SHIPPED,  # everything shipped
    "trade_TradeSuccess": OrderStatus.COMPLETED,
    "trade_TradeClose": OrderStatus.CLOSED,  # cancelled, unpaid timeout, or fully refunded
    # Refunds: two families coexist (the older trade_refund_* and the newer youzan_trade_Refund*); a shop may
    # receive both, and the order counts one refund id once (domain/orders.py).
    "trade_refund_BuyerCreated": OrderStatus.REFUND_REQUESTED,
    "youzan_trade_RefundCreated": OrderStatus.REFUND_REQUESTED,
    "trade_refund_RefundSellerAgree": OrderStatus.REFUND_AGREED,
    "youzan_trade_RefundSellerAgree": OrderStatus.REFUND_AGREED,
    "trade_refund_RefundClosed": OrderStatus.REFUND_CLOSED,  # the buyer withdrew, or it was closed
    "youzan_trade_RefundClosed": OrderStatus.REFUND_CLOSED,
    "trade_refund_RefundSuccess": OrderStatus.REFUNDED,
    # "一键退款/系统退款": the docs describe it as the system refunding, i.e. money returned — mapped as
    # refunded; the exact moment the money moves is not documented.
    "trade_refund_SysRefund": OrderStatus.REFUNDED,
    "youzan_trade_RefundSuccess": OrderStatus.REFUNDED,
}

# The legacy (push V1) TRADE_ORDER_STATE message carries the order state in `status` instead of the type.
_LEGACY_STATE: dict[str, OrderStatus] = {
    "WAIT_BUYER_PAY": OrderStatus.CREATED,
    "TRADE_PAID": OrderStatus.PAID,
    "WAIT_CONFIRM": OrderStatus.PAID,  # paid, waiting for a group to form / the shop to accept
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_SUCCESS": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.CLOSED,
}


# -- the message shapes we read (extra fields ignored: they are Youzan's to add) -------------------------
class _Loose(BaseModel):
    # Youzan sends ids sometimes as numbers, sometimes as strings; we keep them as strings.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class _Push(_Loose):
    type: str = Field(min_length=1)
    kdt_id: str = Field(min_length=1)
    kdt_name: str | None = None
    id: str | None = None
    msg_id: str | None = None
    status: str | None = None
    client_id: str | None = None
    version: str | None = None
    msg: str | dict[str, Any] | None = None


class _OrderInfo(_Loose):
    tid: str = Field(min_length=1)
    status: str | None = None
    # Dates are "yyyy-MM-dd HH:mm:ss" Beijing time, or {} when unset (sic, in Youzan's own samples).
    created: Any = None
    pay_time: Any = None
    consign_time: Any = None
    success_time: Any = None
    update_time: Any = None


class _BuyerInfo(_Loose):
    buyer_phone: str | None = None  # only when the buyer bound a phone in their Youzan account
    yz_open_id: str | None = None  # "有赞用户id, 用户在有赞的唯一id, 推荐使用"
    buyer_id: str | None = None  # the older numeric id, superseded by yz_open_id
    outer_user_id: str | None = None  # WeChat openid for WeChat H5/mini-program orders, else an app user id


class _PayInfo(_Loose):
    payment: OptionalAmount = None  # what the buyer paid, yuan string
    total_fee: OptionalAmount = None


class _Item(_Loose):
    outer_sku_id: str | None = None  # the merchant's SKU code
    sku_id: str | None = None  # Youzan's SKU id, "0" for products without SKUs
    item_id: str | None = None
    title: str = ""
    num: int = Field(default=0, ge=0)
    price: OptionalAmount = None  # list price per unit
    discount_price: OptionalAmount = None  # per unit after item discounts


class _Source(_Loose):
    platform: str | None = None  # "wx" for WeChat


class _SourceInfo(_Loose):
    source: _Source | None = None


class _FullOrder(_Loose):
    order_info: _OrderInfo
    buyer_info: _BuyerInfo | None = None
    pay_info: _PayInfo | None = None
    orders: list[_Item] = Field(default_factory=list)
    source_info: _SourceInfo | None = None


class _OrderMsg(_Loose):
    full_order_info: _FullOrder


class _BriefMsg(_Loose):
    """Close, ship, success and refund messages carry a few fields only (tid, times, refund data)."""

    tid: str | None = None
    update_time: Any = None
    modified: Any = None
    refund_id: str | None = None
    refunded_fee: OptionalAmount = None  # newer refund messages: yuan string
    refund_fee: OptionalAmount = None  # older ones
    close_reason: str | None = None


class YouzanAdapter:
    platform = PLATFORM
    credentials_model: type[BaseModel] = YouzanCredentials

    def verify(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, now: datetime
    ) -> None:
        creds = expect_credentials(credentials, YouzanCredentials)
        given = require_header(headers, "event-sign").lower()
        secret = creds.client_secret.get_secret_value().encode()
        expected = hashlib.md5(creds.client_id.encode() + body + secret).hexdigest()
        if not same(expected, given):
            raise SignatureError("Event-Sign does not match MD5(client_id + body + client_secret)")

    def parse(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, received_at: datetime
    ) -> list[OrderEvent | Rejected]:
        creds = expect_credentials(credentials, YouzanCredentials)
        data = load_json(body)
        if not isinstance(data, dict):
            raise PayloadError("body: expected a JSON object")
        # The test push ("PUSH 服务会定期通过发送测试消息检查开发者服务是否正常") only checks we answer.
        if data.get("test") is True:
            return []
        push = validate(_Push, data)
        if push.client_id and push.client_id != creds.client_id:
            raise PayloadError(f"client_id: '{push.client_id}' is not this integration's client_id")
        status = _status(push)
        if status is None:
            return []
        try:
            msg = _decode_msg(push.msg)
            if "full_order_info" in msg:
                return [_from_full_order(push, validate(_OrderMsg, msg, where="msg"), status, received_at)]
            return [_from_brief(push, validate(_BriefMsg, msg, where="msg"), status, received_at)]
        except PayloadError as e:
            # Authentic, but its content is not as documented: kept with the reason and acknowledged (a
            # refusal would be resent and count towards Youzan's circuit breaker, which delays every push).
            key = push.msg_id or digest(body.decode("utf-8", "replace"))
            return [Rejected(reason=str(e), raw=data, key=f"{PLATFORM}:{key}")]

    def ack(self) -> tuple[int, str, str]:
        return 200, "application/json", '{"code":0,"msg":"success"}'


def _status(push: _Push) -> OrderStatus | None:
    if push.type == "TRADE_ORDER_STATE":
        return _LEGACY_STATE.get(push.status or "")
    return _TYPE_STATUS.get(push.type)


def _decode_msg(msg: str | dict[str, Any] | None) -> dict[str, Any]:
    if msg is None or msg == "":
        return {}
    decoded = load_json(unquote_plus(msg), where="msg") if isinstance(msg, str) else msg
    if not isinstance(decoded, dict):
        raise PayloadError("msg: expected a JSON object")
    return decoded


def _dedupe_key(push: _Push, order_id: str, status: OrderStatus) -> str:
    if push.msg_id:
        return f"{PLATFORM}:{push.msg_id}"
    # `version` is explicitly not unique per message, and `id` is the order number: fall back.
    return fallback_dedupe_key(PLATFORM, push.kdt_id, order_id, status)


_REFUND_STATUSES = (
    OrderStatus.REFUND_REQUESTED,
    OrderStatus.REFUND_AGREED,
    OrderStatus.REFUND_CLOSED,
    OrderStatus.REFUNDED,
)


def _extra(push: _Push, **more: str | None) -> dict[str, Any]:
    values = {"kdt_name": push.kdt_name, "status": push.status, "version": push.version, **more}
    return {k: v for k, v in values.items() if v}


def _from_full_order(push: _Push, msg: _OrderMsg, status: OrderStatus, received_at: datetime) -> OrderEvent:
    full = msg.full_order_info
    info = full.order_info
    where = "msg.full_order_info.order_info"
    created = from_china_local(info.created, field=f"{where}.created")
    paid = from_china_local(info.pay_time, field=f"{where}.pay_time")
    when_by_status = {
        OrderStatus.CREATED: created,
        OrderStatus.PAID: paid,
        OrderStatus.SHIPPED: from_china_local(info.consign_time, field=f"{where}.consign_time"),
        OrderStatus.COMPLETED: from_china_local(info.success_time, field=f"{where}.success_time"),
    }
    occurred = (
        when_by_status.get(status)
        or from_china_local(info.update_time, field=f"{where}.update_time")
        or received_at
    )

    buyer = full.buyer_info or _BuyerInfo()
    on_wechat = bool(
        full.source_info and full.source_info.source and full.source_info.source.platform == "wx"
    )
    buyer_ids, ignored = identities(
        [
            ("phone", buyer.buyer_phone),
            # yz_open_id is the id Youzan recommends; the numeric buyer_id only when it is missing, so one
            # buyer does not get two youzan_buyer_id values from the same message.
            ("youzan_buyer_id", buyer.yz_open_id or buyer.buyer_id),
            # outer_user_id is an openid only for orders placed inside WeChat (the shop's own official
            # account / mini program); elsewhere it is some app's user id and must not pose as an openid.
            ("openid", buyer.outer_user_id if on_wechat else None),
        ]
    )
    items = [
        OrderItem(
            sku=_sku(item),
            name=item.title,
            quantity=item.num,
            unit_price=item.discount_price if item.discount_price is not None else (item.price or 0),
        )
        for item in full.orders
    ]
    extra = _extra(push, youzan_status=info.status)
    if ignored:
        extra["ignored_identities"] = ignored
    return OrderEvent(
        platform=PLATFORM,
        shop_id=push.kdt_id,
        order_id=info.tid,
        status=status,
        dedupe_key=_dedupe_key(push, info.tid, status),
        buyer=buyer_ids,
        items=items,
        total_amount=full.pay_info.payment if full.pay_info else None,
        currency="CNY",  # Youzan trades are in CNY; the payload carries no currency
        created_at=created,
        paid_at=paid,
        occurred_at=occurred,
        raw_type=push.type,
        extra=extra,
    )


def _sku(item: _Item) -> str:
    # The merchant's code is what other systems know; Youzan's ids are the fallback ("0" = no SKU).
    for candidate in (item.outer_sku_id, item.sku_id, item.item_id):
        if candidate and candidate != "0":
            return candidate
    return "unknown"


def _from_brief(push: _Push, msg: _BriefMsg, status: OrderStatus, received_at: datetime) -> OrderEvent:
    order_id = msg.tid or push.id
    if not order_id:
        raise PayloadError("msg.tid: missing (and no order number in `id` either)")
    happened = from_china_local(msg.update_time, field="msg.update_time") or from_china_local(
        msg.modified, field="msg.modified"
    )
    amount = msg.refunded_fee if msg.refunded_fee is not None else msg.refund_fee
    refunded = amount if status is OrderStatus.REFUNDED else None
    extra = _extra(
        push,
        # asked for, agreed or withdrawn: not money back
        requested_amount=f"{amount:.2f}" if amount is not None and refunded is None else None,
        close_reason=msg.close_reason,
    )
    if push.msg_id or status not in _REFUND_STATUSES:
        dedupe = _dedupe_key(push, order_id, status)
    else:  # the older trade_refund_* carry no msg_id: what identifies the refund, not the order status
        dedupe = refund_dedupe_key(
            PLATFORM, push.kdt_id, order_id, status, refund_id=msg.refund_id, amount=amount, at=happened
        )
    return OrderEvent(
        platform=PLATFORM,
        shop_id=push.kdt_id,
        order_id=order_id,
        status=status,
        dedupe_key=dedupe,
        buyer=[],  # these messages name the order only; the buyer came with its create/pay message
        occurred_at=happened or received_at,
        raw_type=push.type,
        refund_id=msg.refund_id,
        refund_amount=refunded,
        extra=extra,
    )
