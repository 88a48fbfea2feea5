"""Acceptance: a WeCom add-contact, an order with the same unionid and a behaviour event with the same phone,
each delivered twice and in any order → one customer with all three on its timeline."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from chalicelib.integrations.shops.generic import sign
from chalicelib.integrations.wecom.crypto import WeComCrypto
from chalicelib.resources import INGEST_QUEUE
from tests.integration.conftest import Api, TenantKeys, drain

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "wecom_callback_vectors.json").read_text()
)
UNIONID, PHONE, EXTERNAL = "oUnionScenario001", "13700001111", "wmScenarioCustomer01"
SECRET = "scenario-generic-secret-01"


def wecom_add(api: Api, tenant_id: str, now: datetime) -> None:
    crypto = WeComCrypto(VECTORS["token"], VECTORS["encoding_aes_key"], VECTORS["corp_id"])
    ts = str(int(now.timestamp()))
    plaintext = (
        f"<xml><ToUserName><![CDATA[{VECTORS['corp_id']}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]>"
        "</Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[staff7]]></UserID>"
        f"<ExternalUserID><![CDATA[{EXTERNAL}]]></ExternalUserID><State><![CDATA[store_SH-001]]></State></xml>"
    )
    encrypted, signature = crypto.encrypt(plaintext, nonce="42", timestamp=ts)
    to_user = f"<ToUserName><![CDATA[{VECTORS['corp_id']}]]></ToUserName>"
    body = f"<xml>{to_user}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    query = urlencode({"msg_signature": signature, "timestamp": ts, "nonce": "42"})
    assert (
        api.call("POST", f"/webhooks/wecom/{tenant_id}?{query}", None, raw=body.encode()).status_code == 200
    )


def order_paid(api: Api, tenant_id: str, now: datetime) -> None:
    body = json.dumps(
        {
            "event_id": "scenario-order-1",
            "type": "order.paid",
            "order": {
                "order_id": "SC-1",
                "buyer": {"unionid": UNIONID, "phone": PHONE},
                "items": [{"sku": "TEA", "name": "奶茶", "quantity": 2, "unit_price": "9.50"}],
                "total_amount": "19.00",
                "currency": "CNY",
                "created_at": now.isoformat(),
                "paid_at": now.isoformat(),
            },
        }
    ).encode()
    ts = int(now.timestamp())
    headers = {"X-SCRM-Timestamp": str(ts), "X-SCRM-Signature": sign(SECRET, ts, body)}
    assert (
        api.call("POST", f"/webhooks/shop/generic/{tenant_id}", None, raw=body, headers=headers).status_code
        == 200
    )


def page_view(api: Api, tenant: TenantKeys, now: datetime) -> None:
    event = {
        "event_id": "scenario-pv-1",
        "type": "page_view",
        "occurred_at": now.isoformat(),
        "identities": [{"type": "phone", "value": PHONE}],
        "properties": {"path": "/menu"},
    }
    assert api.call("POST", "/v1/events", tenant, {"events": [event]}, role="integration").status_code == 202


@pytest.mark.parametrize(
    "order",
    [
        ("behaviour", "order", "wecom", "order", "behaviour", "wecom"),
        ("wecom", "wecom", "behaviour", "order", "behaviour", "order"),
        ("order", "behaviour", "wecom", "wecom", "order", "behaviour"),
    ],
)
def test_three_sources_twice_out_of_order_make_one_customer(
    api: Api, tenant: TenantKeys, clock, wecom_api, order
):
    clock.at = datetime.fromtimestamp(int(time.time()), tz=UTC)
    settings = {
        "corp_id": VECTORS["corp_id"],
        "token": VECTORS["token"],
        "encoding_aes_key": VECTORS["encoding_aes_key"],
        "secret": "app-secret-0123456789",
    }
    assert api.call("PUT", "/v1/integrations/wecom", tenant, settings).status_code == 200
    assert api.call("PUT", "/v1/integrations/shop/generic", tenant, {"secret": SECRET}).status_code == 200
    wecom_api.contacts[EXTERNAL] = {"name": "李雷", "unionid": UNIONID, "gender": 1}
    t0 = clock.now()  # a redelivery carries the same payload as the first delivery
    send = {
        "wecom": lambda: wecom_add(api, tenant.tenant_id, t0),
        "order": lambda: order_paid(api, tenant.tenant_id, t0),
        "behaviour": lambda: page_view(api, tenant, t0),
    }
    for source in order:
        send[source]()
        drain(INGEST_QUEUE.name)  # deliveries interleave with processing, as in production
        clock.advance(seconds=1)
    [customer] = api.call("GET", "/v1/customers", tenant).data["items"]
    view = api.call("GET", f"/v1/customers/{customer['id']}", tenant).data
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.count("wecom.contact_added") == 1
    assert kinds.count("order.paid") == 1
    assert kinds.count("behaviour.page_view") == 1
    identities = {(i["type"], i["value"]) for i in view["identities"]}
    assert {("wecom_external_userid", EXTERNAL), ("unionid", UNIONID), ("phone", "+86" + PHONE)} <= identities
    assert view["recent_orders"][0]["order_id"] == "SC-1"
    assert view["name"] == "李雷"
    for old_id in view["merged_from"]:  # an absorbed id still resolves to the survivor
        assert api.call("GET", f"/v1/customers/{old_id}", tenant).data["id"] == customer["id"]


def test_archived_chat_messages_land_on_the_customer_timeline(api: Api, tenant: TenantKeys):
    msgs = [
        {
            "msgid": "m1",
            "from": "wmChat01",
            "tolist": ["zhangsan"],
            "msgtime": 1763856000000,
            "msgtype": "text",
            "text": "空调漏水了",
        },
        {
            "msgid": "m2",
            "from": "zhangsan",
            "tolist": ["wmChat01"],
            "msgtime": 1763856060000,
            "msgtype": "text",
            "text": "马上安排师傅",
        },
        {
            "msgid": "m3",
            "from": "zhangsan",
            "tolist": ["lisi"],
            "msgtime": 1763856070000,
            "msgtype": "text",
            "text": "internal",
        },
    ]
    resp = api.call("POST", "/v1/conversations/messages", tenant, {"messages": msgs})
    assert resp.status_code == 202 and resp.data == {"accepted": 3, "for_customers": 2}
    api.call("POST", "/v1/conversations/messages", tenant, {"messages": msgs[:1]})  # a re-push
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    [customer] = api.call("GET", "/v1/customers", tenant).data["items"]
    view = api.call("GET", f"/v1/customers/{customer['id']}", tenant).data
    chat = [e for e in view["timeline"] if e["kind"] == "conversation.message"]
    assert [(e["data"]["direction"], e["data"]["text"]) for e in chat] == [
        ("out", "马上安排师傅"),
        ("in", "空调漏水了"),
    ]
    # the customer's message reads like an urgent repair: one ticket, even though it was pushed twice
    [ticket] = view["tickets"]
    assert ticket["type"] == "repair" and ticket["priority"] == "urgent"
    assert (
        api.call("POST", "/v1/conversations/messages", tenant, {"messages": [{"msgid": "x"}]}).status_code
        == 400
    )
