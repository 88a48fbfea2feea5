"""Bad input found by fuzzing gets a 400 (or 404) naming what is wrong, never a 500, and stores nothing:
deep JSON, settlement periods outside the calendar, control characters, unknown customers. And a payload no
handler maps is kept in the inbox with its personal data encrypted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.api.http import MAX_JSON_DEPTH
from chalicelib.resources import INGEST_QUEUE
from tests.integration.conftest import Api, TenantKeys, drain

SHOPS = Path(__file__).resolve().parents[1] / "events" / "shops"


def _items(container: bootstrap.Container, kind: str) -> list[dict[str, Any]]:
    table = container.settings.table_name
    return [i for i in boto3.client("dynamodb").scan(TableName=table)["Items"] if i["type"]["S"] == kind]


def _nested(depth: int) -> str:
    """`depth` arrays inside one another."""
    return "[" * depth + "]" * depth


def _body_error(resp: Any) -> str:
    assert resp.status_code == 400, resp.body
    assert resp.data["error"]["details"][0]["field"] == "body"
    return str(resp.data["error"]["message"])


def test_json_nested_too_deep_is_a_400_naming_the_body(api: Api, tenant: TenantKeys, container):
    for depth in (500, 5000):  # pydantic gave up past ~255 levels, json.loads past ~1,000: both were 500s
        raw = f'{{"name": "深", "attributes": {{"a": {_nested(depth)}}}}}'.encode()
        assert "levels deep" in _body_error(api.call("POST", "/v1/customers", tenant, raw=raw))
    # the body object, `attributes` and `a` are 3 levels: MAX_JSON_DEPTH in all passes the parser
    deepest = f'{{"name": "深", "attributes": {{"a": {_nested(MAX_JSON_DEPTH - 2)}}}}}'.encode()
    assert api.call("POST", "/v1/customers", tenant, raw=deepest).status_code == 201
    too_deep = f'{{"name": "深", "attributes": {{"a": {_nested(MAX_JSON_DEPTH - 1)}}}}}'.encode()
    assert "levels deep" in _body_error(api.call("POST", "/v1/customers", tenant, raw=too_deep))
    assert len(_items(container, "customer")) == 1


@pytest.mark.parametrize("period", ["0000-01", "0001-01", "9999-12", "1899-12", "3000-01"])
def test_a_settlement_period_outside_the_calendar_is_a_400_naming_it(api: Api, tenant: TenantKeys, period):
    resp = api.call("POST", "/v1/settlements/runs", tenant, {"period": period})
    assert resp.status_code == 400, resp.body
    assert [d["field"] for d in resp.data["error"]["details"]] == ["period"]
    query = f"/v1/settlements/statements?party=store:SH-001&period={period}"
    assert api.call("GET", query, tenant, role="finance").status_code == 400


def test_control_characters_are_stripped_before_lengths_are_checked(api: Api, tenant: TenantKeys, container):
    only_controls = api.call("POST", "/v1/customers", tenant, {"name": "\x00\x01\x1f\x7f\x9b"})
    assert only_controls.status_code == 400
    assert [d["field"] for d in only_controls.data["error"]["details"]] == ["name"]  # min_length=1
    assert _items(container, "customer") == []
    name = "王" * 64  # the longest name; with control characters inside it, still within max_length
    resp = api.call("POST", "/v1/customers", tenant, {"name": "\x00" + "\x07".join(name) + "\x1b"})
    assert resp.status_code == 201, resp.body
    stored = api.call("GET", f"/v1/customers/{resp.data['id']}", tenant).data
    assert stored["name"] == name  # what is stored is what was checked
    kept = api.call(
        "POST", "/v1/customers", tenant, {"name": "李\t雷", "attributes": {"备\x00注": "a\nb\x00"}}
    )
    assert kept.data["name"] == "李\t雷" and kept.data["attributes"] == {"备注": "a\nb"}  # tab, LF stay
    listed = api.call("GET", "/v1/customers?q=%E7%8E%8B%00", tenant)  # the query string too
    assert listed.status_code == 200 and [c["name"] for c in listed.data["items"]] == [name]


def test_an_unknown_customer_is_a_404_for_subscriptions_and_ticket_lists(
    api: Api, tenant: TenantKeys, container
):
    body = {"name": "李雷", "phone": "13900000001", "region": "华东", "store": "SH-001"}
    cid = api.call("POST", "/v1/customers", tenant, body).data["id"]
    ticket = {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "不制冷"}}
    tid = api.call("POST", "/v1/tickets", tenant, ticket, role="agent_all").data["ticket"]["id"]
    path = f"/v1/tickets/{tid}/subscriptions"
    resp = api.call("POST", path, tenant, {"customer_id": "cus_nope"}, role="agent_all")
    assert resp.status_code == 404 and resp.data["error"]["details"][0]["field"] == "customer_id"
    assert _items(container, "subscription") == []
    assert (
        api.call("POST", "/v1/tickets/tk_nope/subscriptions", tenant, {}, role="agent_all").status_code == 404
    )
    ok = api.call("POST", path, tenant, {"channels": ["sms"]}, role="agent_all")  # the ticket's own customer
    assert ok.status_code == 200 and ok.data["customer_id"] == cid
    assert len(_items(container, "subscription")) == 1
    assert api.call("GET", "/v1/customers/cus_nope/tickets", tenant).status_code == 404
    assert [t["id"] for t in api.call("GET", f"/v1/customers/{cid}/tickets", tenant).data["items"]] == [tid]
    body = {"name": "韩梅梅", "region": "华北", "store": "BJ-002"}
    elsewhere = api.call("POST", "/v1/customers", tenant, body).data["id"]
    assert api.call("GET", f"/v1/customers/{elsewhere}/tickets", tenant).data["items"] == []
    # a manager of another store does not see that customer: 404, as if missing
    assert api.call("GET", f"/v1/customers/{elsewhere}/tickets", tenant, role="store_mgr").status_code == 404


def test_an_unmapped_shop_payload_is_kept_with_its_personal_data_encrypted(
    api: Api, tenant: TenantKeys, container, clock
):
    secret = "shpss_0123456789abcdef"
    creds = {"shop_domain": "west-lake-tea.myshopify.com", "webhook_secret": secret}
    assert api.call("PUT", "/v1/integrations/shop/shopify", tenant, creds).status_code == 200
    body = (SHOPS / "shopify_order_paid.json").read_bytes()
    headers = {
        "X-Shopify-Hmac-Sha256": base64.b64encode(
            hmac.new(secret.encode(), body, hashlib.sha256).digest()
        ).decode(),
        "X-Shopify-Topic": "orders/updated",  # valid, signed, and mapped by no handler
        "X-Shopify-Shop-Domain": "west-lake-tea.myshopify.com",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd099",
    }
    resp = api.call("POST", f"/webhooks/shop/shopify/{tenant.tenant_id}", None, raw=body, headers=headers)
    assert resp.status_code == 200, resp.body
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    [kept] = _items(container, "inbox")
    stored = json.dumps(kept, ensure_ascii=False)
    for personal in ("13912345678", "li.na@example.com", "Longjing Tea"):
        assert personal not in stored
    month = clock.now().strftime("%Y-%m")
    [item] = api.call("GET", f"/v1/inbox?month={month}", tenant).data["items"]
    assert item["kind"] == "shop" and item["platform"] == "shopify"
    assert json.loads(item["payload"]["body"])["customer"]["phone"] == "+8613912345678"  # admins read it
