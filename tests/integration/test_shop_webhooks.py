"""Shop order webhooks through the routes, the ingest queue and the worker: orders stored and linked,
shown on the 360 view; wrong signatures rejected with nothing stored; redeliveries have one effect."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from chalicelib.integrations.shops.generic import sign
from chalicelib.resources import INGEST_QUEUE
from tests.integration.conftest import Api, TenantKeys, drain

SHOPS = Path(__file__).resolve().parents[1] / "events" / "shops"
GENERIC_SECRET = "generic-secret-0123456789"


@pytest.fixture
def shops(api: Api, tenant: TenantKeys, clock) -> TenantKeys:
    clock.at = datetime.now(UTC)  # the generic format's 5-minute window is checked against our clock
    assert (
        api.call("PUT", "/v1/integrations/shop/generic", tenant, {"secret": GENERIC_SECRET}).status_code
        == 200
    )
    yz = {"client_id": "d3ccc77bb8b5bf4e08", "client_secret": "yz-secret-0123"}
    resp = api.call("PUT", "/v1/integrations/shop/youzan", tenant, yz)
    assert resp.status_code == 200 and "yz-secret-0123" not in json.dumps(resp.data)
    return tenant


def generic(api: Api, tenant_id: str, body: bytes, *, secret: str = GENERIC_SECRET, ts: int | None = None):
    ts = ts or int(time.time())
    headers = {"X-SCRM-Timestamp": str(ts), "X-SCRM-Signature": sign(secret, ts, body)}
    return api.call("POST", f"/webhooks/shop/generic/{tenant_id}", None, raw=body, headers=headers)


def youzan(api: Api, tenant_id: str, body: bytes, event_type: str):
    sig = hashlib.md5(b"d3ccc77bb8b5bf4e08" + body + b"yz-secret-0123").hexdigest()
    headers = {"Event-Sign": sig, "Event-Type": event_type, "Client-Id": "d3ccc77bb8b5bf4e08"}
    return api.call("POST", f"/webhooks/shop/youzan/{tenant_id}", None, raw=body, headers=headers)


def test_generic_order_is_stored_linked_and_on_the_360(api: Api, shops: TenantKeys):
    body = (SHOPS / "generic_order_paid.json").read_bytes()
    for _ in range(2):  # a redelivery
        resp = generic(api, shops.tenant_id, body)
        assert resp.status_code == 200, resp.data
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    [customer] = api.call("GET", "/v1/customers", shops).data["items"]
    view = api.call("GET", f"/v1/customers/{customer['id']}", shops).data
    assert [e["kind"] for e in view["timeline"]] == ["order.paid"]
    assert view["recent_orders"][0]["order_id"] == "SO-2024-000123"
    assert view["recent_orders"][0]["total_amount"] == "25.10"
    orders = api.call("GET", f"/v1/customers/{customer['id']}/orders", shops).data["items"]
    assert [o["order_id"] for o in orders] == ["SO-2024-000123"]
    order = api.call("GET", "/v1/orders/generic/SO-2024-000123", shops).data
    assert order["status"] == "paid" and len(order["history"]) == 1 and order["customer_id"] == customer["id"]


def test_wrong_signature_or_stale_timestamp_is_401_and_nothing_is_queued(api: Api, shops: TenantKeys):
    body = (SHOPS / "generic_order_paid.json").read_bytes()
    assert generic(api, shops.tenant_id, body, secret="x" * 20).status_code == 401
    assert generic(api, shops.tenant_id, body, ts=int(time.time()) - 3600).status_code == 401
    assert drain(INGEST_QUEUE.name) == {"delivered": 0, "failed": 0}


def test_tampered_body_is_rejected(api: Api, shops: TenantKeys):
    body = (SHOPS / "generic_order_paid.json").read_bytes()
    ts = int(time.time())
    headers = {"X-SCRM-Timestamp": str(ts), "X-SCRM-Signature": sign(GENERIC_SECRET, ts, body)}
    resp = api.call(
        "POST",
        f"/webhooks/shop/generic/{shops.tenant_id}",
        None,
        raw=body.replace(b"25.10", b"2.51"),
        headers=headers,
    )
    assert resp.status_code == 401
    assert drain(INGEST_QUEUE.name) == {"delivered": 0, "failed": 0}


def test_youzan_deliveries_become_orders_and_a_test_push_is_kept_raw(api: Api, shops: TenantKeys):
    paid = (SHOPS / "youzan_trade_paid.json").read_bytes()
    close = (SHOPS / "youzan_trade_close.json").read_bytes()
    test_push = (SHOPS / "youzan_test_push.json").read_bytes()
    for body, kind in (
        (close, "trade_TradeClose"),
        (paid, "trade_TradePaid"),
        (paid, "trade_TradePaid"),
        (test_push, "trade_TradePaid"),
    ):
        resp = youzan(api, shops.tenant_id, body, kind)
        assert resp.status_code == 200, resp.data
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    paid_order = api.call("GET", "/v1/orders/youzan/E20240501123045012300001", shops).data
    assert paid_order["status"] == "paid" and len(paid_order["history"]) == 1 and paid_order["customer_id"]
    closed = api.call("GET", "/v1/orders/youzan/E20240502080000012300002", shops).data
    assert closed["status"] == "closed"
    month = datetime.now(UTC).strftime("%Y-%m")
    assert any(i["kind"] == "shop" for i in api.call("GET", f"/v1/inbox?month={month}", shops).data["items"])


def test_unknown_platform_and_unconfigured_tenant_are_404(api: Api, tenant: TenantKeys):
    body = b"{}"
    assert api.call("POST", f"/webhooks/shop/nosuch/{tenant.tenant_id}", None, raw=body).status_code == 404
    assert api.call("POST", f"/webhooks/shop/generic/{tenant.tenant_id}", None, raw=body).status_code == 404


def test_shop_settings_are_validated_and_admin_only(api: Api, tenant: TenantKeys):
    assert api.call("PUT", "/v1/integrations/shop/generic", tenant, {"secret": "short"}).status_code == 400
    assert (
        api.call(
            "PUT", "/v1/integrations/shop/generic", tenant, {"secret": "x" * 20}, role="agent_all"
        ).status_code
        == 403
    )
    assert api.call("PUT", "/v1/integrations/shop/nosuch", tenant, {"secret": "x" * 20}).status_code == 404


def test_a_batch_looks_up_its_buyers_together_and_a_repeated_buyer_is_still_one_customer(
    api: Api, shops: TenantKeys
):
    """The ingest worker reads a whole batch's buyers and orders together (`IdentityResolver.prefetch`,
    `OrderService.prefetch`);
    two orders of the same new buyer in one batch still make one customer (the second is looked up after
    the first, not from the batch's early read)."""
    from tests.fakes.dynamo import count_requests

    template = json.loads((SHOPS / "generic_order_paid.json").read_bytes())
    phones = [f"1390000{n:04d}" for n in range(8)] + ["13900000000"]  # the last repeats the first buyer
    for n, phone in enumerate(phones):
        body = {**template, "event_id": f"ev-batch-{n}"}
        body["order"] = {**template["order"], "order_id": f"SO-B-{n}", "buyer": {"phone": phone}}
        assert generic(api, shops.tenant_id, json.dumps(body).encode()).status_code == 200
    with count_requests() as counted:
        assert drain(INGEST_QUEUE.name)["failed"] == 0
    customers = api.call("GET", "/v1/customers?limit=50", shops).data["items"]
    assert len(customers) == 8
    # One shared lookup of the buyers (plus the repeated buyer's own) and one of the orders, instead of a
    # lookup and a GetItem per order; the one GetItem is the tenant's configuration counters, per batch.
    assert counted.calls["BatchGetItem"] <= 4 and counted.calls["GetItem"] <= 1, counted.calls


def test_partial_refunds_from_the_webhook_take_back_their_share_even_out_of_order(
    container, api: Api, shops: TenantKeys
):
    rule = {
        "id": "order-split",
        "kind": "split",
        "effective_from": "2020-01-01T00:00:00+08:00",
        "shares": [{"role": "store", "percent": "90"}, {"role": "platform", "percent": "10"}],
    }
    body = {"applies_to": "order", "rule": rule}
    assert api.call("POST", "/v1/settlement-rules", shops, body, role="finance").status_code == 201
    paid = json.loads((SHOPS / "generic_order_paid.json").read_bytes())  # 25.10, shop "flagship"

    def deliver(event_id: str, kind: str, **extra: object) -> None:
        msg = {**paid, "event_id": event_id, "type": kind, **extra}
        assert generic(api, shops.tenant_id, json.dumps(msg).encode()).status_code == 200
        assert drain(INGEST_QUEUE.name)["failed"] == 0

    def store_balance() -> list[str]:
        source = f"generic:{paid['order']['order_id']}"
        postings = container.ledger.postings_for_source(shops.tenant_id, "order", source)
        return sorted(
            f"{leg.net:.2f}"
            for p in postings
            for leg in p.legs
            if leg.account == "party:store:flagship:payable"
        )

    deliver("evt-refund-1", "order.refunded", refund_amount="5.02")  # the refund overtook the payment
    deliver("evt-paid", "order.paid")  # settles 22.59 to the store, then the refund takes back 4.52
    assert store_balance() == ["-22.59", "4.52"]  # credits are negative nets
    deliver("evt-refund-1", "order.refunded", refund_amount="5.02")  # redelivered: nothing more
    deliver("evt-refund-2", "order.refunded", refund_amount="20.08")  # the rest: 25.10 in all
    assert store_balance() == ["-22.59", "18.07", "4.52"]
    assert sum(D(x) for x in store_balance()) == 0
