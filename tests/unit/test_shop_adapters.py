"""Shop webhook adapters: signatures on raw bytes, parsing to OrderEvent, exact money, errors naming fields.

Fixtures are realistic platform payloads (tests/events/shops/); each test signs the file's bytes as the
platform would, so the signature code is exercised exactly as in production."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from chalicelib.domain.customers import Identity
from chalicelib.domain.orders import OrderEvent, OrderStatus
from chalicelib.integrations.shops import (
    ADAPTERS,
    DoudianCredentials,
    GenericCredentials,
    PayloadError,
    ShopifyCredentials,
    SignatureError,
    YouzanCredentials,
    get_adapter,
)
from chalicelib.integrations.shops.base import CHINA_TZ, Rejected, fen, load_json
from chalicelib.integrations.shops.generic import sign as generic_sign

EVENTS = Path(__file__).resolve().parent.parent / "events" / "shops"
NOW = datetime(2024, 5, 1, 4, 31, 10, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def tamper(body: bytes) -> bytes:
    """The same JSON with one digit changed: what an attacker editing an amount would send."""
    i = next(i for i, b in enumerate(body) if chr(b).isdigit())
    return body[:i] + (b"1" if body[i : i + 1] != b"1" else b"2") + body[i + 1 :]


def md5_hex(*parts: bytes) -> str:
    return hashlib.md5(b"".join(parts)).hexdigest()


# -- registry and credentials -------------------------------------------------------------------------------
def test_registry_lists_the_four_platforms():
    assert sorted(ADAPTERS) == ["doudian", "generic", "shopify", "youzan"]
    for name, adapter in ADAPTERS.items():
        assert adapter.platform == name
        assert get_adapter(name) is adapter
        status, content_type, _ = adapter.ack()
        assert status == 200 and content_type


def test_unknown_platform_is_a_key_error_naming_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown shop platform 'ebay'.*youzan"):
        get_adapter("ebay")


@pytest.mark.parametrize(
    ("model", "data", "secret_field"),
    [
        (
            YouzanCredentials,
            {"client_id": "cid", "client_secret": "s3cret", "kdt_id": 41566520},
            "client_secret",
        ),
        (DoudianCredentials, {"app_key": "7123", "app_secret": "s3cret"}, "app_secret"),
        (
            ShopifyCredentials,
            {"shop_domain": "Tea.myshopify.com", "webhook_secret": "s3cret"},
            "webhook_secret",
        ),
        (GenericCredentials, {"secret": "0123456789abcdef"}, "secret"),
    ],
)
def test_credentials_hide_their_secret(model, data, secret_field):
    creds = model.model_validate(data)
    assert isinstance(getattr(creds, secret_field), SecretStr)
    assert "s3cret" not in repr(creds) and "0123456789abcdef" not in repr(creds)


def test_credentials_are_validated():
    assert (
        YouzanCredentials.model_validate({"client_id": "c", "client_secret": "s", "kdt_id": 1}).kdt_id == "1"
    )
    assert ShopifyCredentials(shop_domain=" Tea.MyShopify.com ", webhook_secret="x").shop_domain == (
        "tea.myshopify.com"
    )
    with pytest.raises(ValidationError, match="at least 16 characters"):
        GenericCredentials.model_validate({"secret": "too-short"})
    with pytest.raises(ValidationError, match="shop_domain"):
        ShopifyCredentials.model_validate({"shop_domain": "tea.example.com", "webhook_secret": "x"})
    with pytest.raises(ValidationError, match="extra"):
        DoudianCredentials.model_validate({"app_key": "k", "app_secret": "s", "token": "t"})


def test_wrong_credentials_type_is_a_wiring_bug():
    with pytest.raises(TypeError, match="YouzanCredentials"):
        get_adapter("youzan").verify(
            headers={}, body=b"{}", credentials=GenericCredentials(secret="x" * 16), now=NOW
        )


# -- helpers ------------------------------------------------------------------------------------------------
def test_fen_is_exact_decimal_and_refuses_non_integers():
    assert fen(8990, field="x") == Decimal("89.90")
    assert fen(1, field="x") == Decimal("0.01")
    assert fen(99999999999999, field="x") == Decimal("999999999999.99")
    with pytest.raises(PayloadError, match=r"x: must be at most 999999999999\.99"):
        fen(12345678901234567, field="x")  # bounded like every amount (domain/money.py)
    for bad in (True, 12.5, "8990", Decimal("1.5")):
        with pytest.raises(PayloadError, match="x: an amount in fen"):
            fen(bad, field="x")


def test_json_numbers_become_decimal_and_nan_is_refused():
    assert load_json(b'{"a": 0.1}') == {"a": Decimal("0.1")}
    with pytest.raises(PayloadError, match="not valid JSON"):
        load_json(b'{"a": NaN}')
    with pytest.raises(PayloadError, match="not valid JSON"):
        load_json(b"\xff\xfe{")


# -- Youzan -------------------------------------------------------------------------------------------------
YZ = YouzanCredentials(client_id="d3ccc77bb8b5bf4e08", client_secret="yz-secret-0123")


def yz_headers(body: bytes, *, secret: str = "yz-secret-0123", event_type: str = "trade_TradePaid") -> dict:
    return {
        "event-sign": md5_hex(b"d3ccc77bb8b5bf4e08", body, secret.encode()),
        "event-type": event_type,
        "client-id": "d3ccc77bb8b5bf4e08",
    }


def yz_parse(name: str, creds: YouzanCredentials = YZ):
    adapter = get_adapter("youzan")
    body = fixture(name)
    headers = yz_headers(body)
    adapter.verify(headers=headers, body=body, credentials=creds, now=NOW)
    return adapter.parse(headers=headers, body=body, credentials=creds, received_at=NOW)


def test_youzan_paid_order():
    [event] = yz_parse("youzan_trade_paid.json")
    assert event.platform == "youzan"
    assert event.shop_id == "41566520"
    assert event.order_id == "E20240501123045012300001"
    assert event.status is OrderStatus.PAID
    assert event.dedupe_key == "youzan:59b2499c-59d7-4f94-8406-8b013318fac1"
    assert event.buyer == [
        Identity(type="phone", value="+8613812345678"),
        Identity(type="youzan_buyer_id", value="kmiyS3Qz660160349349089280"),
        Identity(type="openid", value="oDpvq0N1rr0NjE9FmeFXFDWEH9zs"),
    ]
    assert event.total_amount == Decimal("89.90")
    assert [(i.sku, i.name, i.quantity, i.unit_price) for i in event.items] == [
        ("TEA-LJ-250", "明前龙井 250g", 2, Decimal("44.95")),
        ("495112999", "试饮装（赠品）", 1, Decimal("0.00")),  # no SKU code, no SKU id: the item id
    ]
    assert event.currency == "CNY"
    # Beijing local times, `{}` for the unset ones (as Youzan sends them).
    assert event.created_at == datetime(2024, 5, 1, 12, 30, 45, tzinfo=CHINA_TZ)
    assert event.paid_at == event.occurred_at == datetime(2024, 5, 1, 4, 31, 2, tzinfo=UTC)
    assert event.raw_type == "trade_TradePaid"
    assert event.extra["kdt_name"] == "西湖茶舍"
    assert event.model_dump(mode="json")["total_amount"] == "89.90"


def test_youzan_close_without_msg_id_falls_back_to_shop_order_status():
    [event] = yz_parse("youzan_trade_close.json")
    assert event.status is OrderStatus.CLOSED
    assert event.dedupe_key == "youzan:41566520:E20240502080000012300002:closed"
    assert event.buyer == []
    assert event.occurred_at == datetime(2024, 5, 2, 8, 30, tzinfo=CHINA_TZ)
    assert event.extra["close_reason"] == "超时未付款"


def test_youzan_refund_success_with_object_msg():
    [event] = yz_parse("youzan_refund_success.json")
    assert event.status is OrderStatus.REFUNDED
    assert event.order_id == "E20240501123045012300001"
    assert event.total_amount is None  # a refund may be partial: its amount is kept apart
    assert event.refund_amount == Decimal("44.95")
    assert event.refund_id == "201905211153220000130001"


def test_youzan_test_push_and_unmapped_types_are_valid_but_not_events():
    assert yz_parse("youzan_test_push.json") == []
    body = json.loads(fixture("youzan_trade_close.json"))
    body["type"] = "trade_TradeMemoModified"
    raw = json.dumps(body).encode()
    assert (
        get_adapter("youzan").parse(headers=yz_headers(raw), body=raw, credentials=YZ, received_at=NOW) == []
    )


def test_youzan_legacy_trade_order_state_maps_by_status():
    body = json.loads(fixture("youzan_trade_close.json"))
    body.update(type="TRADE_ORDER_STATE", status="WAIT_BUYER_CONFIRM_GOODS")
    raw = json.dumps(body).encode()
    [event] = get_adapter("youzan").parse(headers=yz_headers(raw), body=raw, credentials=YZ, received_at=NOW)
    assert event.status is OrderStatus.SHIPPED


def test_youzan_signature_errors():
    adapter = get_adapter("youzan")
    body = fixture("youzan_trade_paid.json")
    with pytest.raises(SignatureError, match="Event-Sign"):
        adapter.verify(headers=yz_headers(body, secret="not-the-secret"), body=body, credentials=YZ, now=NOW)
    with pytest.raises(SignatureError, match="Event-Sign"):
        adapter.verify(headers=yz_headers(body), body=tamper(body), credentials=YZ, now=NOW)
    with pytest.raises(SignatureError, match="missing header event-sign"):
        adapter.verify(headers={}, body=body, credentials=YZ, now=NOW)
    # Hex case does not matter.
    adapter.verify(
        headers={"event-sign": yz_headers(body)["event-sign"].upper()}, body=body, credentials=YZ, now=NOW
    )


def test_youzan_malformed_after_a_valid_signature():
    """Not JSON or not the envelope: the delivery is refused. A message whose content is not as documented
    is kept with the reason (Rejected) and acknowledged: a refusal would be resent."""
    adapter = get_adapter("youzan")
    for raw, field in [
        (b'{"type": "trade_TradePaid", "kdt_id": 1', "not valid JSON"),
        (b'{"type": "trade_TradePaid"}', "kdt_id"),
        (b"[]", "expected a JSON object"),
    ]:
        with pytest.raises(PayloadError, match=field):
            adapter.parse(headers=yz_headers(raw), body=raw, credentials=YZ, received_at=NOW)
    for raw, field in [
        (
            b'{"type": "trade_TradePaid", "kdt_id": 1, "msg": "%7B%22full_order_info%22%3A%7B%7D%7D"}',
            "order_info",
        ),
        (b'{"type": "trade_TradePaid", "kdt_id": 1, "msg": "not-json"}', "msg is not valid JSON"),
    ]:
        [kept] = adapter.parse(headers=yz_headers(raw), body=raw, credentials=YZ, received_at=NOW)
        assert isinstance(kept, Rejected) and field in kept.reason and kept.raw["kdt_id"] == 1


def test_youzan_bad_amount_names_the_field():
    body = json.loads(fixture("youzan_refund_success.json"))
    body["msg"]["refunded_fee"] = "12.3.4"
    raw = json.dumps(body).encode()
    [kept] = get_adapter("youzan").parse(headers=yz_headers(raw), body=raw, credentials=YZ, received_at=NOW)
    assert isinstance(kept, Rejected) and kept.reason.startswith("msg.refunded_fee")
    assert kept.key == "youzan:6dc15f0b-8682-4812-b635-ab66e199f330"  # its msg_id


def test_youzan_other_app_is_refused_and_the_shop_is_left_to_the_intake():
    pinned = YouzanCredentials(client_id="d3ccc77bb8b5bf4e08", client_secret="yz-secret-0123", kdt_id="999")
    [event] = yz_parse("youzan_trade_paid.json", pinned)  # which shops are taken in: intake.py
    assert event.shop_id == "41566520"
    body = json.loads(fixture("youzan_trade_close.json"))
    body["client_id"] = "someone-else"
    raw = json.dumps(body).encode()
    with pytest.raises(PayloadError, match="client_id"):
        get_adapter("youzan").parse(headers=yz_headers(raw), body=raw, credentials=YZ, received_at=NOW)


def test_youzan_unusable_phone_is_dropped_not_fatal():
    body = json.loads(fixture("youzan_trade_paid.json"))
    body["msg"] = body["msg"].replace("13812345678", "12345")
    raw = json.dumps(body).encode()
    [event] = get_adapter("youzan").parse(headers=yz_headers(raw), body=raw, credentials=YZ, received_at=NOW)
    assert [i.type for i in event.buyer] == ["youzan_buyer_id", "openid"]
    assert event.extra["ignored_identities"] == ["phone"]


# -- 抖店 ---------------------------------------------------------------------------------------------------
DD = DoudianCredentials(app_key="7123456789012345678", app_secret="dd-secret-abcdef")


def dd_headers(
    body: bytes, *, app_key: str = "7123456789012345678", secret: str = "dd-secret-abcdef"
) -> dict:
    return {"app-id": app_key, "event-sign": md5_hex(app_key.encode(), body, secret.encode())}


def test_doudian_batch_maps_trade_and_after_sale_messages():
    adapter = get_adapter("doudian")
    body = fixture("doudian_batch.json")
    adapter.verify(headers=dd_headers(body), body=body, credentials=DD, now=NOW)
    events = adapter.parse(headers=dd_headers(body), body=body, credentials=DD, received_at=NOW)
    # tag 105 is a *receiver address* change: valid, not a status.
    assert [(e.raw_type, e.status) for e in events] == [
        ("100", OrderStatus.CREATED),
        ("101", OrderStatus.PAID),
        ("200", OrderStatus.REFUND_REQUESTED),
        ("206", OrderStatus.REFUNDED),
    ]
    created, paid, requested, refunded = events
    assert {e.order_id for e in events} == {"6928372837492837492"}  # > 2**53, kept exact
    assert {e.shop_id for e in events} == {"4463798"}
    assert paid.dedupe_key == "doudian:7364019487766217001:0:101:6928372837492837492"
    assert paid.total_amount == Decimal("89.90")  # 8990 fen
    assert paid.paid_at == paid.occurred_at == datetime.fromtimestamp(1714537862, UTC)
    assert created.created_at == datetime.fromtimestamp(1714537845, UTC) and created.total_amount is None
    assert requested.extra["requested_amount"] == "44.95" and requested.refund_amount is None  # asked for
    assert requested.refund_id == requested.extra["aftersale_id"] == "7123456789012345678"
    assert refunded.refund_amount == Decimal("44.95")  # 206: this much reached the buyer
    assert requested.occurred_at == datetime.fromtimestamp(1714624262, UTC)
    assert refunded.occurred_at == datetime.fromtimestamp(1714710662, UTC)
    assert all(e.buyer == [] for e in events)  # 抖店 pushes carry no buyer identity


def test_doudian_signature_errors():
    adapter = get_adapter("doudian")
    body = fixture("doudian_batch.json")
    with pytest.raises(SignatureError, match="app-id"):
        adapter.verify(
            headers=dd_headers(body, app_key="7000000000000000000"), body=body, credentials=DD, now=NOW
        )
    with pytest.raises(SignatureError, match="event-sign"):
        adapter.verify(headers=dd_headers(body, secret="wrong"), body=body, credentials=DD, now=NOW)
    with pytest.raises(SignatureError, match="event-sign"):
        adapter.verify(headers=dd_headers(body), body=tamper(body), credentials=DD, now=NOW)
    with pytest.raises(SignatureError, match="missing header app-id"):
        adapter.verify(headers={"event-sign": "x"}, body=body, credentials=DD, now=NOW)
    with pytest.raises(SignatureError, match="sign-method"):
        headers = {**dd_headers(body), "sign-method": "hmac-sha256"}
        adapter.verify(headers=headers, body=body, credentials=DD, now=NOW)


def test_doudian_malformed_after_a_valid_signature():
    """A body that is not a JSON array is refused; a malformed element is kept with the reason naming the
    field (Rejected), and the other elements of the batch are used."""
    adapter = get_adapter("doudian")
    for raw, field in [(b'{"tag": "101"}', "JSON array"), (b"[{", "not valid JSON")]:
        with pytest.raises(PayloadError, match=field):
            adapter.parse(headers=dd_headers(raw), body=raw, credentials=DD, received_at=NOW)
    good = {"tag": "106", "msg_id": "9", "data": '{"p_id": 7, "shop_id": 2, "cancel_time": 1714537845}'}
    cases = [
        ({"tag": "101", "msg_id": "1", "data": "{"}, "[1].data is not valid JSON"),
        (
            # pay_amount is fen: a fractional number is a malformed message, not something to round
            {"tag": "101", "msg_id": "1", "data": '{"p_id": 1, "shop_id": 2, "pay_amount": 89.9}'},
            "[1].data.pay_amount",
        ),
        ({"tag": "101", "msg_id": "1", "data": '{"shop_id": 2}'}, "[1].data.p_id"),
        ({"msg_id": "1", "data": "{}"}, "[1].tag"),
        (
            {"tag": "206", "data": '{"p_id": 1, "shop_id": 2, "success_time": "soon"}'},
            "[1].data.success_time",
        ),
        ("not an object", "[1]"),
    ]
    for element, field in cases:
        raw = json.dumps([good, element]).encode()
        event, kept = adapter.parse(headers=dd_headers(raw), body=raw, credentials=DD, received_at=NOW)
        assert isinstance(event, OrderEvent) and event.order_id == "7"
        assert isinstance(kept, Rejected) and kept.reason.startswith(field) and kept.raw == element
        assert kept.key.startswith("doudian:")


def test_doudian_after_sale_update_time_is_a_date_time_and_trade_times_are_seconds():
    """zsmhub/doudian-sdk types after-sale `update_time` as time.Time (a string) and trade times as int64:
    both are read, whichever a message carries."""
    adapter = get_adapter("doudian")
    data = {"p_id": 1, "shop_id": 2, "aftersale_id": 3, "refund_amount": 500, "apply_time": 1714624262}
    elements = [
        {"tag": "200", "msg_id": "a", "data": json.dumps({**data, "update_time": "2024-05-02 12:31:02"})},
        {"tag": "201", "msg_id": "b", "data": json.dumps({**data, "agree_time": "1714628000"})},
        {
            "tag": "207",
            "msg_id": "c",
            "data": json.dumps({**data, "close_time": "2024-05-03T10:00:00+08:00"}),
        },
        {
            "tag": "108",
            "msg_id": "d",
            "data": json.dumps({"p_id": 1, "shop_id": 2, "update_time": 1714540000}),
        },
    ]
    raw = json.dumps(elements).encode()
    requested, agreed, closed, partly = adapter.parse(
        headers=dd_headers(raw), body=raw, credentials=DD, received_at=NOW
    )
    assert requested.status is OrderStatus.REFUND_REQUESTED
    assert requested.occurred_at == datetime.fromtimestamp(1714624262, UTC)
    assert agreed.status is OrderStatus.REFUND_AGREED
    assert agreed.occurred_at == datetime.fromtimestamp(1714628000, UTC)
    assert closed.status is OrderStatus.REFUND_CLOSED and closed.refund_id == "3"
    assert closed.occurred_at == datetime(2024, 5, 3, 2, tzinfo=UTC)
    assert partly.status is OrderStatus.PARTIALLY_SHIPPED
    assert all(e.refund_amount is None for e in (requested, agreed, closed))  # no money went back


def test_doudian_pinned_shop_and_fallback_dedupe():
    adapter = get_adapter("doudian")
    raw = json.dumps([{"tag": 106, "data": {"p_id": 55, "shop_id": 4463798, "cancel_time": 0}}]).encode()
    [event] = adapter.parse(headers=dd_headers(raw), body=raw, credentials=DD, received_at=NOW)
    assert event.status is OrderStatus.CLOSED
    assert event.dedupe_key == "doudian:4463798:55:closed"
    assert event.occurred_at == NOW  # a 0 timestamp means "not given"
    # Refund messages without msg_id: what identifies the refund (id, amount, time), not the status.
    data = {
        "p_id": 55,
        "shop_id": 4463798,
        "aftersale_id": 8,
        "refund_amount": 500,
        "success_time": 1714710662,
    }
    raw = json.dumps([{"tag": 206, "data": data}]).encode()
    [event] = adapter.parse(headers=dd_headers(raw), body=raw, credentials=DD, received_at=NOW)
    assert event.dedupe_key == "doudian:4463798:55:refunded:8:5.00:20240503T043102Z"


# -- Shopify ------------------------------------------------------------------------------------------------
SH = ShopifyCredentials(shop_domain="west-lake-tea.myshopify.com", webhook_secret="shpss_0123456789abcdef")


def sh_headers(body: bytes, topic: str, *, secret: str = "shpss_0123456789abcdef", shop: str = "") -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "x-shopify-hmac-sha256": base64.b64encode(digest).decode(),
        "x-shopify-topic": topic,
        "x-shopify-shop-domain": shop or "west-lake-tea.myshopify.com",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "x-shopify-api-version": "2024-04",
    }


def sh_parse(name: str, topic: str):
    adapter = get_adapter("shopify")
    body = fixture(name)
    headers = sh_headers(body, topic)
    adapter.verify(headers=headers, body=body, credentials=SH, now=NOW)
    return adapter.parse(headers=headers, body=body, credentials=SH, received_at=NOW)


def test_shopify_paid_order():
    [event] = sh_parse("shopify_order_paid.json", "orders/paid")
    assert (event.platform, event.shop_id, event.order_id) == (
        "shopify",
        "west-lake-tea.myshopify.com",
        "5807354347612",
    )
    assert event.status is OrderStatus.PAID
    assert event.dedupe_key == "shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert event.buyer == [
        Identity(type="shopify_buyer_id", value="7390217502812"),
        Identity(type="phone", value="+8613912345678"),
    ]
    assert event.total_amount == Decimal("398.00")
    assert [(i.sku, i.quantity, i.unit_price) for i in event.items] == [
        ("TEA-LJ-250", 2, Decimal("199.00")),
        ("variant:45012345678999", 1, Decimal("40.00")),
    ]
    assert [(c.code, c.discount) for c in event.coupons] == [("SPRING40", Decimal("40.00"))]
    assert event.paid_at == event.occurred_at == datetime(2024, 5, 1, 4, 31, 2, tzinfo=UTC)
    assert event.created_at == datetime(2024, 5, 1, 4, 30, 45, tzinfo=UTC)
    assert event.extra["name"] == "#1042"


@pytest.mark.parametrize(
    ("topic", "status"),
    [
        ("orders/create", OrderStatus.CREATED),
        ("orders/fulfilled", OrderStatus.SHIPPED),
        ("orders/cancelled", OrderStatus.CLOSED),
    ],
)
def test_shopify_order_topics(topic, status):
    [event] = sh_parse("shopify_order_paid.json", topic)
    assert event.status is status and event.raw_type == topic


def test_shopify_refund_sums_successful_refund_transactions():
    [event] = sh_parse("shopify_refund_create.json", "refunds/create")
    assert event.status is OrderStatus.PARTIALLY_REFUNDED  # its own amount: the order adds refunds up
    assert event.order_id == "5807354347612"
    assert (event.refund_id, event.refund_amount) == ("929361467", Decimal("179.00"))  # failed 20.00 left out
    assert event.total_amount is None
    assert event.occurred_at == datetime(2024, 5, 3, 2, 0, 5, tzinfo=UTC)


def test_shopify_unmapped_topic():
    assert sh_parse("shopify_order_paid.json", "orders/updated") == []


def test_shopify_signature_errors():
    adapter = get_adapter("shopify")
    body = fixture("shopify_order_paid.json")
    with pytest.raises(SignatureError, match="Hmac"):
        adapter.verify(
            headers=sh_headers(body, "orders/paid", secret="other"), body=body, credentials=SH, now=NOW
        )
    with pytest.raises(SignatureError, match="Hmac"):
        adapter.verify(headers=sh_headers(body, "orders/paid"), body=tamper(body), credentials=SH, now=NOW)
    with pytest.raises(SignatureError, match="Shop-Domain"):
        headers = sh_headers(body, "orders/paid", shop="someone-else.myshopify.com")
        adapter.verify(headers=headers, body=body, credentials=SH, now=NOW)


def test_shopify_malformed_after_a_valid_signature():
    adapter = get_adapter("shopify")
    for raw, topic, field in [
        (b'{"id": 1, "line_items": [', "orders/paid", "not valid JSON"),
        (b'{"id": 1, "line_items": [{"quantity": "two"}]}', "orders/paid", r"line_items\[0\]\.quantity"),
        (b'{"id": 1, "total_price": "abc"}', "orders/paid", "total_price"),
        (b'{"id": 1, "updated_at": "yesterday"}', "orders/paid", "updated_at"),
        (b'{"id": 1}', "refunds/create", "order_id"),
    ]:
        with pytest.raises(PayloadError, match=field):
            adapter.parse(headers=sh_headers(raw, topic), body=raw, credentials=SH, received_at=NOW)
    with pytest.raises(PayloadError, match="X-Shopify-Topic"):
        adapter.parse(headers={}, body=b"{}", credentials=SH, received_at=NOW)


# -- generic ------------------------------------------------------------------------------------------------
GEN = GenericCredentials(secret="gen-secret-0123456789")


def gen_headers(body: bytes, *, ts: int | None = None, secret: str = "gen-secret-0123456789") -> dict:
    stamp = int(NOW.timestamp()) if ts is None else ts
    return {"x-scrm-timestamp": str(stamp), "x-scrm-signature": generic_sign(secret, stamp, body)}


def gen_parse(body: bytes):
    adapter = get_adapter("generic")
    headers = gen_headers(body)
    adapter.verify(headers=headers, body=body, credentials=GEN, now=NOW)
    return adapter.parse(headers=headers, body=body, credentials=GEN, received_at=NOW)


def test_generic_signature_matches_the_documented_recipe():
    body = b'{"a":1}'
    expected = hmac.new(b"gen-secret-0123456789", b"1714537870." + body, hashlib.sha256).hexdigest()
    assert generic_sign("gen-secret-0123456789", 1714537870, body) == f"sha256={expected}"


# The worked example of docs/integrations.md, byte for byte: if this fails, fix the doc too.
DOC_EXAMPLE_BODY = (
    '{"event_id":"evt_20240501_000123","type":"order.paid","order":{"order_id":"SO-2024-000123",'
    '"shop_id":"flagship","buyer":{"phone":"+8613812345678","unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL"},'
    '"items":[{"sku":"TEA-LJ-250","name":"明前龙井 250g","quantity":2,"unit_price":"17.50"}],'
    '"total_amount":"25.00","currency":"CNY","coupons":[{"code":"NEW10","name":"新客立减","discount":"10.00"}],'
    '"created_at":"2024-05-01T12:30:45+08:00","paid_at":"2024-05-01T12:31:02+08:00"}}'
).encode()
DOC_EXAMPLE_SIGNATURE = "sha256=39bdffe26eb80d4bf98f55a781c34c64cf79ea42b88bf431870101b12f78fd5e"


def test_generic_documented_example():
    secret = "whsec_5f2b9c8e7d6a41b3a0c9e8f7d6c5b4a3"
    assert generic_sign(secret, 1714537870, DOC_EXAMPLE_BODY) == DOC_EXAMPLE_SIGNATURE
    headers = {"x-scrm-timestamp": "1714537870", "x-scrm-signature": DOC_EXAMPLE_SIGNATURE}
    creds = GenericCredentials(secret=secret)
    received = datetime.fromtimestamp(1714537900, UTC)
    adapter = get_adapter("generic")
    adapter.verify(headers=headers, body=DOC_EXAMPLE_BODY, credentials=creds, now=received)
    [event] = adapter.parse(headers=headers, body=DOC_EXAMPLE_BODY, credentials=creds, received_at=received)
    assert (event.status, event.total_amount, event.dedupe_key) == (
        OrderStatus.PAID,
        Decimal("25.00"),
        "generic:evt_20240501_000123",
    )


def test_generic_paid_order():
    [event] = gen_parse(fixture("generic_order_paid.json"))
    assert (event.platform, event.shop_id, event.order_id) == ("generic", "flagship", "SO-2024-000123")
    assert event.status is OrderStatus.PAID
    assert event.dedupe_key == "generic:evt_01HXW3J6Y2V8R7K5T4S3Q2P1N0"
    assert event.buyer == [
        Identity(type="phone", value="+8613812345678"),
        Identity(type="unionid", value="o6_bmasdasdsad6_2sgVt7hMZOPfL"),
    ]
    assert [i.unit_price for i in event.items] == [Decimal("12.50"), Decimal("0.10")]
    assert event.total_amount == Decimal("25.10")
    assert sum(i.unit_price * i.quantity for i in event.items) == event.total_amount
    assert event.occurred_at == datetime(2024, 5, 1, 4, 31, 2, tzinfo=UTC)
    assert event.coupons[0].code == "NEW10"


def test_generic_relay_names_the_source_platform():
    [event] = gen_parse(fixture("generic_tmall_relay.json"))
    assert event.platform == "tmall"
    assert event.status is OrderStatus.REFUNDED
    assert event.buyer == [Identity(type="tmall_buyer_id", value="AAHk5d-EAAeGwJedwSFu0XXX")]
    assert event.occurred_at == NOW  # no occurred_at: the time we received it


@pytest.mark.parametrize("skew", [301, -301, 3600])
def test_generic_timestamp_outside_five_minutes_is_refused(skew):
    body = fixture("generic_order_paid.json")
    headers = gen_headers(body, ts=int(NOW.timestamp()) - skew)
    with pytest.raises(SignatureError, match="5 minutes"):
        get_adapter("generic").verify(headers=headers, body=body, credentials=GEN, now=NOW)


def test_generic_timestamp_at_the_edge_is_accepted():
    body = fixture("generic_order_paid.json")
    for skew in (300, -300):
        headers = gen_headers(body, ts=int(NOW.timestamp()) - skew)
        get_adapter("generic").verify(headers=headers, body=body, credentials=GEN, now=NOW)


def test_generic_signature_errors():
    adapter = get_adapter("generic")
    body = fixture("generic_order_paid.json")
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(
            headers=gen_headers(body, secret="another-secret-0123"), body=body, credentials=GEN, now=NOW
        )
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(headers=gen_headers(body), body=tamper(body), credentials=GEN, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):  # the timestamp is signed too
        headers = {**gen_headers(body), "x-scrm-timestamp": str(int(NOW.timestamp()) - 1)}
        adapter.verify(headers=headers, body=body, credentials=GEN, now=NOW)
    for headers, message in [
        ({**gen_headers(body), "x-scrm-timestamp": "2024-05-01T00:00:00Z"}, "unix seconds"),
        ({**gen_headers(body), "x-scrm-signature": gen_headers(body)["x-scrm-signature"][7:]}, "sha256="),
        ({"x-scrm-timestamp": str(int(NOW.timestamp()))}, "missing header x-scrm-signature"),
        ({}, "missing header x-scrm-timestamp"),
    ]:
        with pytest.raises(SignatureError, match=message):
            adapter.verify(headers=headers, body=body, credentials=GEN, now=NOW)


def _generic_with(**changes) -> bytes:
    body = json.loads(fixture("generic_order_paid.json"))
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for key in parents:
            target = target[key]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_generic_with(order__buyer={}), "order.buyer: Value error, give at least one of phone"),
        (_generic_with(order__buyer={"phone": "12345"}), "order.buyer.phone"),
        (_generic_with(order__buyer__email="li@example.com"), "order.buyer.email: Extra inputs"),
        (_generic_with(order__discount="1.00"), "order.discount: Extra inputs"),
        (_generic_with(type="order.lost"), "type: Input should be"),
        (_generic_with(event_id=...), "event_id: Field required"),
        (_generic_with(order__total_amount="abc"), "order.total_amount"),
        (_generic_with(order__currency="rmb"), "order.currency"),
        (_generic_with(order__paid_at="2024-05-01T12:31:02"), "order.paid_at: Input should have timezone"),
        (_generic_with(order__platform="Tmall!"), "order.platform"),
        (_generic_with(refund_amount="5.00"), "refund_amount: Value error, only an order.refunded"),
        (_generic_with(type="order.refunded", refund_amount="0"), "refund_amount: Value error, must be more"),
        (b'{"event_id": "x", "type": "order.paid", "order": ', "not valid JSON"),
    ],
)
def test_generic_malformed_after_a_valid_signature(body, field):
    with pytest.raises(PayloadError, match=field.replace(".", r"\.").replace("[", r"\[")):
        gen_parse(body)


def test_generic_items_quantity_and_price_are_checked_by_path():
    body = _generic_with(order__items=[{"sku": "A", "name": "a", "quantity": -1, "unit_price": "1.00"}])
    with pytest.raises(PayloadError, match=r"order\.items\[0\]\.quantity"):
        gen_parse(body)


def test_generic_json_number_amounts_stay_exact():
    # A bare JSON number is read as Decimal, never through a float.
    body = fixture("generic_order_paid.json").replace(b'"total_amount": "25.10"', b'"total_amount": 25.10')
    assert b'"total_amount": 25.10' in body
    [event] = gen_parse(body)
    assert event.total_amount == Decimal("25.10")


def test_verify_uses_the_raw_bytes_not_the_parsed_json():
    """Re-serialising a body (key order, spaces) changes the bytes: a signature over the original must then
    fail, which proves nothing is parsed before checking."""
    body = fixture("generic_order_paid.json")
    reserialised = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    assert reserialised != body
    with pytest.raises(SignatureError):
        get_adapter("generic").verify(headers=gen_headers(body), body=reserialised, credentials=GEN, now=NOW)


def test_generic_partial_refund_carries_its_amount():
    body = _generic_with(type="order.refunded", refund_amount="12.5")
    [event] = gen_parse(body)
    assert event.status is OrderStatus.REFUNDED and event.extra == {"refund_amount": "12.50"}
    [whole] = gen_parse(_generic_with(type="order.refunded"))
    assert whole.extra == {}  # no amount: the whole order was refunded
