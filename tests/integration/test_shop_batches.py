"""Through the webhook route and the ingest worker: nothing valid in a 抖店 batch is lost to one bad element,
pushes for shops the tenant has not configured are kept and acknowledged, several shops per platform, and
money from partial refunds counted once each (Youzan's older refund messages carry no msg_id)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chalicelib import bootstrap
from chalicelib.resources import INGEST_QUEUE
from tests.fakes.wecom_api import FakeWeComApi
from tests.integration.conftest import Api, TenantKeys, drain
from tests.integration.doudian_fake import APP_KEY, APP_SECRET, FakeDoudianApi, routed

SHOPS = Path(__file__).resolve().parents[1] / "events" / "shops"
MIXED = (SHOPS / "doudian_batch_mixed.json").read_bytes()
VALID = [f"69283728374928375{n:02d}" for n in range(8)]  # the 8 usable messages, one order each
MALFORMED, FOREIGN = "6928372837492837508", "6928372837492837509"
YZ_APP = {"client_id": "d3ccc77bb8b5bf4e08", "client_secret": "yz-secret-0123"}
YZ_ORDER = "E20240501123045012300001"  # paid 89.90 in shop 41566520


@pytest.fixture
def doudian(api: Api, tenant: TenantKeys, container: bootstrap.Container, wecom_api: FakeWeComApi, clock):
    clock.at = datetime.now(UTC)
    fake = FakeDoudianApi()
    for n, order_id in enumerate(VALID):
        fake.buyers[order_id] = f"1@#open-id-{n}"
    container.http = httpx.Client(
        transport=routed(
            ("openapi-fxg.jinritemai.com", fake.transport()), ("qyapi.weixin.qq.com", wecom_api.transport())
        )
    )
    settings = {"app_key": APP_KEY, "app_secret": APP_SECRET, "shop_id": "4463798"}  # the original way
    assert api.call("PUT", "/v1/integrations/shop/doudian", tenant, settings).status_code == 200
    return tenant


def push_doudian(api: Api, tenant_id: str, body: bytes) -> Any:
    sig = hashlib.md5(APP_KEY.encode() + body + APP_SECRET.encode()).hexdigest()
    headers = {"app-id": APP_KEY, "event-sign": sig}
    return api.call("POST", f"/webhooks/shop/doudian/{tenant_id}", None, raw=body, headers=headers)


def push_youzan(api: Api, tenant_id: str, body: bytes, app: dict[str, str] = YZ_APP) -> Any:
    sig = hashlib.md5(app["client_id"].encode() + body + app["client_secret"].encode()).hexdigest()
    headers = {"Event-Sign": sig, "Client-Id": app["client_id"]}
    return api.call("POST", f"/webhooks/shop/youzan/{tenant_id}", None, raw=body, headers=headers)


def inbox(api: Api, who: TenantKeys, clock) -> list[dict[str, Any]]:
    month = clock.at.strftime("%Y-%m")
    items: list[dict[str, Any]] = api.call("GET", f"/v1/inbox?month={month}&limit=100", who).data["items"]
    return items


def test_a_doudian_batch_with_a_bad_element_and_another_shop_loses_nothing_valid(
    api: Api, doudian: TenantKeys, clock
):
    resp = push_doudian(api, doudian.tenant_id, MIXED)
    assert resp.status_code == 200 and resp.data == {"code": 0, "msg": "success"}
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    for order_id in VALID:
        order = api.call("GET", f"/v1/orders/doudian/{order_id}", doudian)
        assert order.status_code == 200 and len(order.data["history"]) == 1, order_id
        assert order.data["customer_id"], order_id  # the buyer was fetched and linked
    statuses = {api.call("GET", f"/v1/orders/doudian/{o}", doudian).data["status"] for o in VALID}
    # the after-sale message whose update_time is a date-time string was read, not refused
    assert statuses == {"paid", "refund_requested", "partially_shipped"}
    for order_id in (MALFORMED, FOREIGN):
        assert api.call("GET", f"/v1/orders/doudian/{order_id}", doudian).status_code == 404
    kept = {item["kind"]: item for item in inbox(api, doudian, clock)}
    assert set(kept) == {"shop:malformed", "shop:unknown_shop"}
    assert kept["shop:malformed"]["reason"].startswith("[8].data.pay_amount")
    assert kept["shop:malformed"]["payload"]["msg_id"].endswith(MALFORMED)  # the element as received
    assert kept["shop:unknown_shop"]["reason"] == "shop 5550001 is not configured for doudian"
    assert kept["shop:unknown_shop"]["payload"]["order_id"] == FOREIGN

    # 抖店 resending the same batch changes no order: each was taken in once
    assert push_doudian(api, doudian.tenant_id, MIXED).status_code == 200
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    for order_id in VALID:
        assert len(api.call("GET", f"/v1/orders/doudian/{order_id}", doudian).data["history"]) == 1


@pytest.fixture
def youzan(api: Api, tenant: TenantKeys, clock) -> TenantKeys:
    clock.at = datetime.now(UTC)
    assert api.call("PUT", "/v1/integrations/shop/youzan", tenant, YZ_APP).status_code == 200
    return tenant


def test_two_partial_youzan_refunds_without_msg_id_are_both_counted_and_settled(
    container: bootstrap.Container, api: Api, youzan: TenantKeys
):
    rule = {
        "id": "order-split",
        "kind": "split",
        "effective_from": "2020-01-01T00:00:00+08:00",
        "shares": [{"role": "store", "percent": "90"}, {"role": "platform", "percent": "10"}],
    }
    body = {"applies_to": "order", "rule": rule}
    assert api.call("POST", "/v1/settlement-rules", youzan, body, role="finance").status_code == 201

    def deliver(name: str) -> None:
        assert push_youzan(api, youzan.tenant_id, (SHOPS / name).read_bytes()).status_code == 200
        assert drain(INGEST_QUEUE.name)["failed"] == 0

    def store() -> list[str]:
        postings = container.ledger.postings_for_source(youzan.tenant_id, "order", f"youzan:{YZ_ORDER}")
        account = "party:store:41566520:payable"
        return sorted(f"{leg.net:.2f}" for p in postings for leg in p.legs if leg.account == account)

    deliver("youzan_trade_paid.json")  # 89.90: 80.91 to the store
    assert store() == ["-80.91"]
    deliver("youzan_refund_success_legacy_1.json")  # 20.00 back
    deliver("youzan_refund_success_legacy_2.json")  # 30.50 back: same order, status and type, no msg_id
    deliver("youzan_refund_success_legacy_1.json")  # Youzan resends the first: nothing more
    order = api.call("GET", f"/v1/orders/youzan/{YZ_ORDER}", youzan).data
    assert order["status"] == "partially_refunded" and order["refunded_amount"] == "50.50"
    assert len(order["history"]) == 3
    # 90% of each refund comes back from the store: 18.00 of 20.00, then 27.45 of 30.50
    assert store() == ["-80.91", "18.00", "27.45"]

    # The newer message family tells the first refund again, with a msg_id: still counted once.
    newer = json.loads((SHOPS / "youzan_refund_success.json").read_bytes())
    newer["msg"].update(refund_id="201905211153220000130101", refunded_fee="20.00")
    assert push_youzan(api, youzan.tenant_id, json.dumps(newer).encode()).status_code == 200
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    order = api.call("GET", f"/v1/orders/youzan/{YZ_ORDER}", youzan).data
    assert order["refunded_amount"] == "50.50" and store() == ["-80.91", "18.00", "27.45"]


def _refund_push(kind: str, refund_id: str, at: str, *, msg_id: str | None = None) -> bytes:
    body = json.loads((SHOPS / "youzan_refund_success.json").read_bytes())
    body.update(type=kind, msg_id=msg_id or f"{kind}-{refund_id}")
    body["msg"].update(refund_id=refund_id, update_time=at)
    return json.dumps(body).encode()


def test_a_closed_refund_request_clears_it_and_partial_shipping_shows(api: Api, youzan: TenantKeys):
    for body in (
        (SHOPS / "youzan_trade_paid.json").read_bytes(),
        _refund_push("youzan_trade_RefundCreated", "R1", "2024-05-02 09:00:00"),
    ):
        assert push_youzan(api, youzan.tenant_id, body).status_code == 200
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    assert api.call("GET", f"/v1/orders/youzan/{YZ_ORDER}", youzan).data["status"] == "refund_requested"

    partly = json.loads((SHOPS / "youzan_trade_close.json").read_bytes())
    partly.update(type="trade_TradePartlySellerShip", id=YZ_ORDER, msg_id="ship-1")
    partly["msg"] = f"%7B%22tid%22%3A%22{YZ_ORDER}%22%2C%22oids%22%3A%221533766114261606211%22%7D"
    for body in (
        _refund_push("youzan_trade_RefundClosed", "R1", "2024-05-02 10:00:00"),
        json.dumps(partly).encode(),
    ):
        assert push_youzan(api, youzan.tenant_id, body).status_code == 200
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    order = api.call("GET", f"/v1/orders/youzan/{YZ_ORDER}", youzan).data
    assert order["status"] == "partially_shipped" and order["refunded_amount"] is None


def test_several_youzan_shops_each_with_its_own_app_and_unknown_shops_kept(
    api: Api, tenant: TenantKeys, clock
):
    clock.at = datetime.now(UTC)
    other_app = {"client_id": "aa11bb22cc33dd44ee", "client_secret": "other-secret-0123"}
    assert api.call("PUT", "/v1/integrations/shop/youzan/shops/41566520", tenant, YZ_APP).status_code == 200
    resp = api.call("PUT", "/v1/integrations/shop/youzan/shops/777", tenant, other_app)
    assert resp.status_code == 200 and resp.data["settings"]["kdt_id"] == "777"
    assert "other-secret-0123" not in json.dumps(resp.data)
    mismatch = api.call("PUT", "/v1/integrations/shop/youzan/shops/777", tenant, {**other_app, "kdt_id": "1"})
    assert mismatch.status_code == 400 and mismatch.data["error"]["details"][0]["field"] == "kdt_id"
    assert (
        api.call("PUT", "/v1/integrations/shop/generic/shops/1", tenant, {"secret": "x" * 20}).status_code
        == 404
    )
    listed = api.call("GET", "/v1/integrations/shop/youzan/shops", tenant).data["items"]
    assert [s["settings"]["kdt_id"] for s in listed] == ["41566520", "777"]

    paid = (SHOPS / "youzan_trade_paid.json").read_bytes()  # shop 41566520, signed by its own app
    assert push_youzan(api, tenant.tenant_id, paid).status_code == 200
    second = json.loads(paid.replace(YZ_ORDER.encode(), b"E20240501999999012300777"))
    second.update(kdt_id=777, client_id=other_app["client_id"], msg_id="second-shop-paid")
    assert push_youzan(api, tenant.tenant_id, json.dumps(second).encode(), other_app).status_code == 200
    stranger = {**json.loads(paid), "kdt_id": 888, "msg_id": "stranger-paid"}  # YZ_APP, a shop not set up
    resp = push_youzan(api, tenant.tenant_id, json.dumps(stranger).encode())
    assert resp.status_code == 200 and resp.data == {"code": 0, "msg": "success"}  # kept, not refused
    forged = push_youzan(api, tenant.tenant_id, paid, {**YZ_APP, "client_secret": "forged"})
    assert forged.status_code == 401
    assert drain(INGEST_QUEUE.name)["failed"] == 0

    for order_id, shop in ((YZ_ORDER, "41566520"), ("E20240501999999012300777", "777")):
        order = api.call("GET", f"/v1/orders/youzan/{order_id}", tenant).data
        assert order["shop_id"] == shop and order["status"] == "paid"
    [kept] = inbox(api, tenant, clock)
    assert kept["kind"] == "shop:unknown_shop" and kept["reason"] == "shop 888 is not configured for youzan"


def test_a_push_before_any_youzan_settings_is_404(api: Api, tenant: TenantKeys):
    body = (SHOPS / "youzan_trade_paid.json").read_bytes()
    assert push_youzan(api, tenant.tenant_id, body).status_code == 404
    assert drain(INGEST_QUEUE.name) == {"delivered": 0, "failed": 0}
