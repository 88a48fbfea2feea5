"""Behaviour events: validated at the edge, resolved by the worker, counted per customer."""

from __future__ import annotations

from datetime import date

from chalicelib.domain.behaviour import window_total
from chalicelib.resources import INGEST_QUEUE
from tests.integration.conftest import Api, TenantKeys, drain


def ev(i: int, type_: str = "product_view", day: str = "2026-11-20", **props) -> dict:
    return {
        "event_id": f"ev-{i}",
        "type": type_,
        "occurred_at": f"{day}T10:00:00+08:00",
        "identities": [{"type": "openid", "value": "o-mini-1"}, {"type": "phone", "value": "13900009999"}],
        "properties": props,
    }


def test_events_land_on_one_customer_with_counters(api: Api, tenant: TenantKeys, container):
    batch = [ev(i, category="奶粉") for i in range(3)] + [ev(3, "add_to_cart", sku="MILK-3")]
    resp = api.call("POST", "/v1/events", tenant, {"events": batch}, role="integration")
    assert resp.status_code == 202 and resp.data == {"accepted": 4}
    again = api.call("POST", "/v1/events", tenant, {"events": batch[:2]}, role="integration")  # a resend
    assert again.status_code == 202
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    [customer] = api.call("GET", "/v1/customers", tenant).data["items"]
    assert {"type": "openid", "value": "o-mini-1"} in customer["identities"]
    view = api.call("GET", f"/v1/customers/{customer['id']}", tenant).data
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.count("behaviour.product_view") == 3 and kinds.count("behaviour.add_to_cart") == 1
    stored = container.customer_repo.get(tenant.tenant_id, customer["id"])
    assert window_total(stored, "product_view:category=奶粉", days=7, today=date(2026, 11, 23)) == 3
    assert window_total(stored, "product_view:category=奶粉", days=2, today=date(2026, 11, 23)) == 0


def test_bad_batches_are_400_and_nothing_is_queued(api: Api, tenant: TenantKeys):
    too_many = {"events": [ev(i) for i in range(501)]}
    assert api.call("POST", "/v1/events", tenant, too_many, role="integration").status_code == 400
    bad = api.call(
        "POST",
        "/v1/events",
        tenant,
        {"events": [dict(ev(1), type="teleport", occurred_at="yesterday", identities=[])]},
        role="integration",
    )
    assert bad.status_code == 400
    fields = {d["field"] for d in bad.data["error"]["details"]}
    assert {"events.0.type", "events.0.occurred_at", "events.0.identities"} <= fields
    assert drain(INGEST_QUEUE.name) == {"delivered": 0, "failed": 0}
    for staff in ("engineer", "admin"):  # staff keys never feed ingestion
        assert api.call("POST", "/v1/events", tenant, {"events": [ev(1)]}, role=staff).status_code == 403
