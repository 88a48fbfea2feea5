"""Shopify's customer, privacy, uninstall and refund topics, parsed from payloads shaped as shopify.dev
documents them (tests/events/shops/shopify_*.json)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.customers import Identity
from chalicelib.domain.orders import Order, OrderEvent, OrderStatus
from chalicelib.domain.shop_notices import (
    CustomerDataRequested,
    CustomerRedactionRequested,
    ShopAppUninstalled,
    ShopCustomerChanged,
    ShopRedactionRequested,
    normalize_email,
    parse_notice,
)
from chalicelib.integrations.shops import PayloadError, get_adapter
from chalicelib.integrations.shops.shopify import ShopifyCredentials

SHOPS = Path(__file__).resolve().parents[1] / "events" / "shops"
NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
SECRET = "shpss_0123456789abcdef"
SHOP = "west-lake-tea.myshopify.com"
CREDS = ShopifyCredentials(shop_domain=SHOP, webhook_secret=SECRET)
BUYER = Identity(type="shopify_buyer_id", value="7390217502812")
PHONE = Identity(type="phone", value="+8613912345678")


def headers(body: bytes, topic: str, *, webhook_id: str = "wh-1") -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    out = {
        "x-shopify-hmac-sha256": base64.b64encode(digest).decode(),
        "x-shopify-topic": topic,
        "x-shopify-shop-domain": SHOP,
        "x-shopify-api-version": "2025-01",
    }
    if webhook_id:
        out["x-shopify-webhook-id"] = webhook_id
    return out


def parse(body: bytes, topic: str, *, webhook_id: str = "wh-1") -> list[object]:
    adapter = get_adapter("shopify")
    h = headers(body, topic, webhook_id=webhook_id)
    adapter.verify(headers=h, body=body, credentials=CREDS, now=NOW)
    return list(adapter.parse(headers=h, body=body, credentials=CREDS, received_at=NOW))


def fixture(name: str) -> bytes:
    return (SHOPS / name).read_bytes()


def test_customers_create_feeds_the_profile_fields_and_identities():
    [notice] = parse(fixture("shopify_customer_create.json"), "customers/create")
    assert isinstance(notice, ShopCustomerChanged)
    assert notice.created and notice.timeline_kind == "shop.customer_created"
    assert notice.identities == [BUYER, PHONE]
    assert (notice.name, notice.email) == ("Na Li", "Li.Na@example.com")  # the domain lower-cased only
    assert notice.tags == ["vip", "tea-club"]
    assert notice.updated_at == datetime(2024, 4, 30, 1, 12, tzinfo=UTC)
    assert notice.dedupe_key == "shopify:wh-1"
    assert parse_notice(notice.model_dump(mode="json")) == notice  # the queue form reads back


def test_customers_update_of_api_2025_01_has_no_tags_and_a_chinese_name_reads_family_name_first():
    [notice] = parse(fixture("shopify_customer_update_2025.json"), "customers/update")
    assert isinstance(notice, ShopCustomerChanged)
    assert not notice.created and notice.tags is None  # not sent: leave the profile's as they are
    assert notice.name == "李娜"


def test_an_unusable_phone_or_email_is_dropped_not_a_reason_to_lose_the_record():
    body = b'{"id": 42, "phone": "12", "email": "not an email", "first_name": " "}'
    [notice] = parse(body, "customers/create")
    assert isinstance(notice, ShopCustomerChanged)
    assert notice.identities == [Identity(type="shopify_buyer_id", value="42")]
    assert (notice.email, notice.name) == (None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" a.b@EXAMPLE.com ", "a.b@example.com"),
        ("no-at-sign", None),
        ("a@localhost", None),
        ("a b@example.com", None),
        (None, None),
        (7, None),
    ],
)
def test_normalize_email(value, expected):
    assert normalize_email(value) == expected


def test_privacy_topics():
    [data] = parse(fixture("shopify_customers_data_request.json"), "customers/data_request")
    assert isinstance(data, CustomerDataRequested) and data.is_privacy
    assert data.request_ref == "9999" and data.orders == ["5807354347612"]
    assert data.subject.shop_customer_id == "7390217502812"
    assert data.subject.identities == [BUYER, PHONE] and data.subject.email == "li.na@example.com"
    [redact] = parse(fixture("shopify_customers_redact.json"), "customers/redact")
    assert isinstance(redact, CustomerRedactionRequested) and redact.orders == ["5807354347612"]
    [shop] = parse(fixture("shopify_shop_redact.json"), "shop/redact")
    assert isinstance(shop, ShopRedactionRequested) and (shop.shop_id, shop.part) == (SHOP, 0)
    [gone] = parse(fixture("shopify_app_uninstalled.json"), "app/uninstalled")
    assert isinstance(gone, ShopAppUninstalled) and not gone.is_privacy


def test_a_privacy_request_for_another_shop_or_without_its_customer_is_malformed():
    other = fixture("shopify_customers_redact.json").replace(SHOP.encode(), b"other.myshopify.com")
    with pytest.raises(PayloadError, match="shop_domain"):
        parse(other, "customers/redact")
    with pytest.raises(PayloadError, match="customer: required"):
        parse(fixture("shopify_shop_redact.json"), "customers/redact")


def test_without_a_webhook_id_a_notice_is_keyed_by_its_body():
    body = fixture("shopify_shop_redact.json")
    [a] = parse(body, "shop/redact", webhook_id="")
    [b] = parse(body, "shop/redact", webhook_id="")
    assert a.dedupe_key == b.dedupe_key and a.dedupe_key.startswith(f"shopify:{SHOP}:shop/redact:")


def test_a_refund_carries_its_own_amount_and_id_not_the_whole_order():
    [event] = parse(fixture("shopify_refund_create.json"), "refunds/create")
    assert isinstance(event, OrderEvent)
    assert event.status is OrderStatus.PARTIALLY_REFUNDED
    assert (event.refund_id, event.refund_amount) == ("929361467", Decimal("179.00"))  # failed 20.00 left out
    assert event.total_amount is None and event.order_id == "5807354347612"


def test_two_refunds_of_one_order_without_webhook_ids_are_two_events():
    first = fixture("shopify_refund_create.json")
    second = first.replace(b'"id": 929361467', b'"id": 929361999')
    [a] = parse(first, "refunds/create", webhook_id="")
    [b] = parse(second, "refunds/create", webhook_id="")
    assert isinstance(a, OrderEvent) and isinstance(b, OrderEvent)
    assert a.dedupe_key != b.dedupe_key and a.dedupe_key.endswith(":929361467")


def test_a_refund_that_moved_no_money_changes_nothing():
    assert parse(fixture("shopify_refund_restock_only.json"), "refunds/create") == []


def test_the_order_adds_refunds_up_to_partially_refunded_then_refunded():
    [paid] = parse(fixture("shopify_order_paid.json"), "orders/paid", webhook_id="wh-paid")  # 398.00
    [refund] = parse(fixture("shopify_refund_create.json"), "refunds/create", webhook_id="wh-r1")  # 179.00
    assert isinstance(paid, OrderEvent) and isinstance(refund, OrderEvent)
    order = Order.start("t1", paid)
    order.apply(paid, None)
    order.apply(refund, None)
    assert order.status is OrderStatus.PARTIALLY_REFUNDED and order.refunded_amount == Decimal("179.00")
    rest = refund.model_copy(
        update={"dedupe_key": "shopify:wh-r2", "refund_id": "929362000", "refund_amount": Decimal("219.00")}
    )
    order.apply(rest, None)
    assert order.status is OrderStatus.REFUNDED and order.refunded_amount == Decimal("398.00")
