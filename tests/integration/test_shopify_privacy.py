"""Shopify through the webhook route and the ingest worker: partial refunds, customer records feeding the
data pool, the mandatory privacy topics acted on, and app/uninstalled disabling the shop's settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal as D
from itertools import count
from pathlib import Path
from urllib.parse import quote

import pytest

from chalicelib.resources import INGEST_QUEUE
from tests.integration.conftest import Api, TenantKeys, drain

SHOPS = Path(__file__).resolve().parents[1] / "events" / "shops"
SHOP = "west-lake-tea.myshopify.com"
SECRET = "shpss_0123456789abcdef"
PHONE = "+8613912345678"
_ids = count(1)


@pytest.fixture
def shopify(api: Api, tenant: TenantKeys) -> TenantKeys:
    settings = {"shop_domain": SHOP, "webhook_secret": SECRET}
    assert api.call("PUT", "/v1/integrations/shop/shopify", tenant, settings).status_code == 200
    return tenant


def deliver(
    api: Api,
    tenant: TenantKeys,
    topic: str,
    body: bytes | dict,
    *,
    secret: str = SECRET,
    webhook_id: str = "",
) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
    headers = {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": webhook_id or f"wh-{next(_ids)}",  # the same on Shopify's own retries
        "X-Shopify-API-Version": "2025-01",
    }
    resp = api.call("POST", f"/webhooks/shop/shopify/{tenant.tenant_id}", None, raw=raw, headers=headers)
    return int(resp.status_code)


def fixture(name: str) -> dict:
    return json.loads((SHOPS / name).read_bytes())


def settle(api: Api, tenant: TenantKeys) -> None:
    assert drain(INGEST_QUEUE.name)["failed"] == 0


def by_identity(api: Api, tenant: TenantKeys, id_type: str, value: str):
    return api.call("GET", f"/v1/customers/by-identity/{id_type}/{quote(value)}", tenant)


def test_a_partial_refund_leaves_the_order_partially_refunded_and_takes_back_only_its_share(
    container, api: Api, shopify: TenantKeys
):
    rule = {
        "id": "order-split",
        "kind": "split",
        "effective_from": "2020-01-01T00:00:00+08:00",
        "shares": [{"role": "store", "percent": "90"}, {"role": "platform", "percent": "10"}],
    }
    body = {"applies_to": "order", "rule": rule}
    assert api.call("POST", "/v1/settlement-rules", shopify, body, role="finance").status_code == 201

    def store_nets() -> list[str]:
        postings = container.ledger.postings_for_source(shopify.tenant_id, "order", "shopify:5807354347612")
        account = f"party:store:{SHOP}:payable"
        return sorted(f"{leg.net:.2f}" for p in postings for leg in p.legs if leg.account == account)

    assert deliver(api, shopify, "orders/paid", fixture("shopify_order_paid.json")) == 200  # 398.00
    settle(api, shopify)
    assert store_nets() == ["-358.20"]  # 90% of 398.00 to the store

    refund = fixture("shopify_refund_create.json")  # 179.00 back (a failed 20.00 is not counted)
    assert deliver(api, shopify, "refunds/create", refund) == 200
    settle(api, shopify)
    order = api.call("GET", "/v1/orders/shopify/5807354347612", shopify).data
    assert order["status"] == "partially_refunded"
    assert (order["total_amount"], order["refunded_amount"]) == ("398.00", "179.00")
    assert store_nets() == ["-358.20", "161.10"]  # 179/398 of the store's 358.20, not all of it

    rest = {**refund, "id": 929361999, "transactions": [{**refund["transactions"][0], "amount": "219.00"}]}
    assert deliver(api, shopify, "refunds/create", rest) == 200
    settle(api, shopify)
    order = api.call("GET", "/v1/orders/shopify/5807354347612", shopify).data
    assert (order["status"], order["refunded_amount"]) == ("refunded", "398.00")
    assert sum(D(x) for x in store_nets()) == 0  # all of it taken back, in two exact shares


def test_customer_records_feed_the_profile_and_an_older_update_never_overwrites_a_newer(
    api: Api, shopify: TenantKeys
):
    assert deliver(api, shopify, "customers/create", fixture("shopify_customer_create.json")) == 200
    settle(api, shopify)
    found = by_identity(api, shopify, "shopify_buyer_id", "7390217502812")
    assert found.status_code == 200, found.data
    customer = found.data
    assert (customer["name"], customer["phone"], customer["email"]) == ("Na Li", PHONE, "Li.Na@example.com")
    assert customer["attributes"]["shopify_tags"] == ["vip", "tea-club"]
    assert by_identity(api, shopify, "phone", PHONE).data["id"] == customer["id"]  # one person

    update = fixture("shopify_customer_update_2025.json")  # 李娜, a new e-mail, no tags (API 2025-01)
    stale = {**update, "first_name": "Old", "last_name": "Name", "updated_at": "2024-05-01T00:00:00+08:00"}
    for body in (update, stale):
        assert deliver(api, shopify, "customers/update", body) == 200
    settle(api, shopify)
    view = api.call("GET", f"/v1/customers/{customer['id']}", shopify).data
    assert (view["name"], view["email"]) == ("李娜", "li.na@newmail.example.com")
    assert view["attributes"]["shopify_tags"] == ["vip", "tea-club"]  # not sent: left as they were
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.count("shop.customer_updated") == 2 and "shop.customer_created" in kinds
    assert all("email" not in json.dumps(e["data"]) for e in view["timeline"])  # PII stays on the profile
    masked = api.call("GET", f"/v1/customers/{customer['id']}", shopify, role="engineer").data
    assert (masked["email"], masked["phone"]) == ("l***@newmail.example.com", "139****5678")


def test_a_data_request_is_recorded_with_an_export_for_the_admin(api: Api, shopify: TenantKeys):
    assert deliver(api, shopify, "customers/create", fixture("shopify_customer_create.json")) == 200
    assert deliver(api, shopify, "orders/paid", fixture("shopify_order_paid.json")) == 200
    settle(api, shopify)
    request = fixture("shopify_customers_data_request.json")
    assert deliver(api, shopify, "customers/data_request", request) == 200
    settle(api, shopify)
    [item] = api.call("GET", "/v1/privacy-requests", shopify).data["items"]
    assert item["kind"] == "data_request" and item["request_ref"] == "9999" and item["has_export"]
    assert item["counts"]["customers"] == 1 and item["counts"]["orders"] == 1
    assert PHONE not in json.dumps(item)  # the record itself holds no personal data
    export = api.call("GET", f"/v1/privacy-requests/{item['id']}/export", shopify).data["export"]
    assert export["orders_requested"] == []  # the one order it names is the customer's, listed with them
    [held] = export["customers"]
    assert held["profile"]["phone"] == PHONE and held["profile"]["email"] == "Li.Na@example.com"
    assert [o["order_id"] for o in held["orders"]] == ["5807354347612"]
    assert {e["kind"] for e in held["timeline"]} >= {"shop.customer_created", "order.paid"}
    for role in ("agent_all", "manager_east"):
        assert (
            api.call("GET", f"/v1/privacy-requests/{item['id']}/export", shopify, role=role).status_code
            == 403
        )
    assert api.call("GET", "/v1/privacy-requests/prq_nosuch", shopify).status_code == 404


def test_customers_redact_erases_the_person_but_keeps_the_order_totals(api: Api, shopify: TenantKeys):
    assert deliver(api, shopify, "customers/create", fixture("shopify_customer_create.json")) == 200
    assert deliver(api, shopify, "orders/paid", fixture("shopify_order_paid.json")) == 200
    settle(api, shopify)
    customer_id = by_identity(api, shopify, "phone", PHONE).data["id"]
    redact = fixture("shopify_customers_redact.json")
    for _ in range(2):  # a retry (the same webhook id): one effect, one record
        assert deliver(api, shopify, "customers/redact", redact, webhook_id="wh-redact") == 200
    settle(api, shopify)

    view = api.call("GET", f"/v1/customers/{customer_id}", shopify).data
    assert view["name"] == "已删除的客户" and view["phone"] is None and view["email"] is None
    assert view["identities"] == [] and view["attributes"] == {}
    for id_type, value in (("phone", PHONE), ("shopify_buyer_id", "7390217502812")):
        assert by_identity(api, shopify, id_type, value).status_code == 404  # the claims are released
    timeline = view["timeline"]
    assert timeline[0]["kind"] == "customer.redacted"
    paid = next(e for e in timeline if e["kind"] == "order.paid")
    assert paid["data"]["total_amount"] == "398.00" and paid["data"]["redacted"] is True
    order = api.call("GET", "/v1/orders/shopify/5807354347612", shopify).data
    assert (order["total_amount"], order["customer_id"]) == ("398.00", customer_id)  # accounting stands
    requests = api.call("GET", "/v1/privacy-requests", shopify).data["items"]
    assert [(r["kind"], r["erased"]) for r in requests] == [("customer_redaction", [customer_id])]

    # The same person coming back later is a new customer: nothing links them to the erased profile.
    assert deliver(api, shopify, "customers/create", fixture("shopify_customer_create.json")) == 200
    settle(api, shopify)
    assert by_identity(api, shopify, "phone", PHONE).data["id"] != customer_id


def test_a_privacy_webhook_with_a_wrong_hmac_is_401_and_nothing_happens(api: Api, shopify: TenantKeys):
    redact = fixture("shopify_customers_redact.json")
    assert deliver(api, shopify, "customers/redact", redact, secret="not-the-secret") == 401
    assert drain(INGEST_QUEUE.name) == {"delivered": 0, "failed": 0}


def test_uninstall_disables_the_shop_later_pushes_are_kept_and_privacy_requests_still_act(
    api: Api, shopify: TenantKeys, clock
):
    assert deliver(api, shopify, "customers/create", fixture("shopify_customer_create.json")) == 200
    settle(api, shopify)
    assert deliver(api, shopify, "app/uninstalled", fixture("shopify_app_uninstalled.json")) == 200
    settle(api, shopify)
    settings = api.call("GET", "/v1/integrations/shop/shopify", shopify).data["settings"]
    assert settings["disabled_reason"] == "app/uninstalled" and settings["disabled_at"]

    assert deliver(api, shopify, "orders/paid", fixture("shopify_order_paid.json")) == 200  # verified, kept
    settle(api, shopify)
    assert api.call("GET", "/v1/orders/shopify/5807354347612", shopify).status_code == 404  # not processed
    month = clock.now().strftime("%Y-%m")
    kinds = [i["kind"] for i in api.call("GET", f"/v1/inbox?month={month}", shopify).data["items"]]
    assert "shop:integration_disabled" in kinds

    assert deliver(api, shopify, "customers/redact", fixture("shopify_customers_redact.json")) == 200
    settle(api, shopify)
    assert by_identity(api, shopify, "phone", PHONE).status_code == 404  # erased all the same

    # Installing again (saving the settings) enables the shop.
    body = {"shop_domain": SHOP, "webhook_secret": SECRET}
    assert api.call("PUT", "/v1/integrations/shop/shopify", shopify, body).status_code == 200
    assert deliver(api, shopify, "orders/paid", fixture("shopify_order_paid.json")) == 200
    settle(api, shopify)
    assert api.call("GET", "/v1/orders/shopify/5807354347612", shopify).data["status"] == "paid"


@pytest.mark.parametrize("batch", [200, 1])  # 1: each customer in a message of its own, sent on in turn
def test_shop_redact_erases_what_only_the_shop_knew_and_detaches_the_rest(
    api: Api, shopify: TenantKeys, monkeypatch: pytest.MonkeyPatch, batch: int
):
    monkeypatch.setattr("chalicelib.services.privacy.SHOP_BATCH", batch)
    assert deliver(api, shopify, "customers/create", fixture("shopify_customer_create.json")) == 200
    other = {
        "id": 555,
        "phone": "+8613700000001",
        "first_name": "Wei",
        "last_name": "Zhang",
        "email": "w@x.cn",
    }
    assert deliver(api, shopify, "customers/create", other) == 200
    settle(api, shopify)
    # The second person is also a WeCom contact: the shop is not all we know of them.
    both = by_identity(api, shopify, "shopify_buyer_id", "555").data
    patch = {"identities": [*both["identities"], {"type": "wecom_external_userid", "value": "wmZhangWei"}]}
    patch = {
        "identities": [i for i in patch["identities"] if i["type"] != "phone"],
        "version": both["version"],
    }
    assert api.call("PATCH", f"/v1/customers/{both['id']}", shopify, patch).status_code == 200
    only_shop = by_identity(api, shopify, "shopify_buyer_id", "7390217502812").data

    assert deliver(api, shopify, "app/uninstalled", fixture("shopify_app_uninstalled.json")) == 200
    assert deliver(api, shopify, "shop/redact", fixture("shopify_shop_redact.json")) == 200
    settle(api, shopify)

    erased = api.call("GET", f"/v1/customers/{only_shop['id']}", shopify).data
    assert erased["name"] == "已删除的客户" and erased["phone"] is None and erased["identities"] == []
    kept = api.call("GET", f"/v1/customers/{both['id']}", shopify).data
    assert kept["identities"] == [
        {"type": "wecom_external_userid", "value": "wmZhangWei"},
        {"type": "phone", "value": "+8613700000001"},
    ]
    assert kept["email"] is None and kept["name"] == "Wei Zhang"
    [request] = api.call("GET", "/v1/privacy-requests", shopify).data["items"]
    assert request["kind"] == "shop_redaction"
    assert request["counts"] == {"customers_erased": 1, "customers_detached": 1}
