"""On AWS a transaction that meets another one on the same item is cancelled with `TransactionConflict`;
moto never does that, so tests/fakes/dynamo_faults.py injects the cancellation into botocore. A ledger
posting, a stock change and a ticket transition each meet one, are retried and take effect once; a
contention that outlasts every retry is the documented 409, with nothing written; a failed condition is
never retried."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.domain.common import ContentionError
from chalicelib.domain.ledger import SourceType
from chalicelib.domain.orders import Order, OrderStatus
from chalicelib.store import transactions
from tests.fakes.dynamo_faults import transaction_conflicts
from tests.integration.conftest import Api, TenantKeys


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.body
    return resp.data


def _ticket(api: Api, tenant: TenantKeys) -> str:
    body = {"name": "李雷", "phone": "13900000001", "region": "华东", "store": "SH-001"}
    cid = _ok(api.call("POST", "/v1/customers", tenant, body), 201)["id"]
    body = {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "不制冷"}}
    return str(_ok(api.call("POST", "/v1/tickets", tenant, body, role="agent_all"), 201)["ticket"]["id"])


def _puts(items: list[dict[str, Any]]) -> list[str]:
    return [i["Put"]["Item"]["pk"]["S"] for i in items if "Put" in i]


def test_a_ticket_transition_meets_a_conflict_and_is_applied_once(api: Api, tenant: TenantKeys):
    tid = _ticket(api, tenant)
    with transaction_conflicts(1) as conflicts:
        resp = api.call(
            "POST", f"/v1/tickets/{tid}/transitions", tenant, {"action": "accept"}, role="agent_all"
        )
    assert resp.status_code == 200, resp.data
    assert len(conflicts.cancelled) == 1 and conflicts.sent == 1 and len(conflicts.slept) == 1
    view = _ok(api.call("GET", f"/v1/tickets/{tid}", tenant))
    assert view["ticket"]["version"] == 2 and view["ticket"]["state"]["active"] == ["dispatch"]
    assert [h["action"] for h in view["history"]].count("accept") == 1


def test_a_stock_change_meets_a_conflict_and_is_counted_once(api: Api, tenant: TenantKeys):
    part = {"sku": "CAP-35UF", "name": "启动电容", "unit_cost": "10.00", "price": "45.00"}
    _ok(api.call("PUT", "/v1/parts/CAP-35UF", tenant, part))
    _ok(api.call("POST", "/v1/parts/CAP-35UF/stock", tenant, {"warehouse": "SH-WH", "delta": 5}))
    with transaction_conflicts(1) as conflicts:
        view = _ok(api.call("POST", "/v1/parts/CAP-35UF/stock", tenant, {"warehouse": "SH-WH", "delta": 3}))
    assert len(conflicts.cancelled) == 1 and conflicts.sent == 1
    [stock] = _ok(api.call("GET", "/v1/parts/CAP-35UF", tenant))["stock"]
    assert view["stock"] == [stock]
    assert (stock["on_hand"], stock["version"]) == (8, 2)  # +5 then +3, once


def test_a_ledger_posting_meets_a_conflict_and_is_posted_once(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
):
    rule = {
        "id": "order-split",
        "kind": "split",
        "effective_from": "2026-11-01T00:00:00+08:00",
        "shares": [{"role": "store", "percent": "90"}, {"role": "platform", "percent": "10"}],
    }
    _ok(
        api.call(
            "POST", "/v1/settlement-rules", tenant, {"applies_to": "order", "rule": rule}, role="finance"
        ),
        201,
    )
    paid_at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    order = Order(
        tenant_id=tenant.tenant_id,
        platform="generic",
        shop_id="SH-001",
        order_id="O-1",
        status=OrderStatus.PAID,
        total_amount=Decimal("99.99"),
        paid_at=paid_at,
        updated_at=paid_at,
    )
    with transaction_conflicts(1) as conflicts:
        [posting] = container.settlement.order_changed(tenant.tenant_id, order)  # as the order worker does
    assert len(conflicts.cancelled) == 1 and conflicts.sent == 1
    assert f"T#{tenant.tenant_id}#POSTING#{posting.id}" in _puts(conflicts.cancelled[0])
    assert container.ledger.postings_for_source(tenant.tenant_id, SourceType.ORDER.value, "generic:O-1") == [
        posting
    ]
    query = "party=store:SH-001&period=2026-11"
    statement = _ok(api.call("GET", f"/v1/settlements/statements?{query}", tenant, role="finance"))
    assert [r["amount"] for r in statement["rows"]] == ["89.99"] and statement["closing_balance"] == "89.99"
    rec = _ok(api.call("GET", "/v1/settlements/reconciliation?period=2026-11", tenant, role="finance"))
    assert rec["balanced"] is True  # the month totals (ADDed in the same transaction) counted it once


def test_contention_past_every_retry_is_a_409_and_writes_nothing(api: Api, tenant: TenantKeys):
    tid = _ticket(api, tenant)
    with transaction_conflicts(100) as conflicts:
        resp = api.call(
            "POST", f"/v1/tickets/{tid}/transitions", tenant, {"action": "accept"}, role="agent_all"
        )
    assert resp.status_code == 409 and resp.data["error"]["code"] == "conflict"
    assert resp.data["error"]["details"][0]["reason"] == "TransactionConflict"
    attempts = transactions.Backoff().attempts
    assert len(conflicts.cancelled) == attempts and conflicts.sent == 0
    assert len(conflicts.slept) == attempts - 1
    view = _ok(api.call("GET", f"/v1/tickets/{tid}", tenant))
    assert view["ticket"]["version"] == 1 and "accept" not in [h["action"] for h in view["history"]]


def test_a_failed_condition_is_not_retried(api: Api, tenant: TenantKeys):
    tid = _ticket(api, tenant)
    with transaction_conflicts(1, reason="ConditionalCheckFailed") as conflicts:
        resp = api.call(
            "POST", f"/v1/tickets/{tid}/transitions", tenant, {"action": "accept"}, role="agent_all"
        )
    assert resp.status_code == 409  # the ticket's own "changed by someone else"
    assert resp.data["error"]["details"][0]["field"] == "version"
    assert len(conflicts.cancelled) == 1 and conflicts.sent == 0 and conflicts.slept == []


def test_an_import_that_stays_contended_is_run_again_not_failed(api: Api, tenant: TenantKeys, container):
    job = _ok(api.call("POST", "/v1/imports", tenant, {"kind": "customers", "filename": "legacy.csv"}), 201)
    rows = (
        (Path(__file__).resolve().parents[1] / "data" / "customers_legacy.csv").read_bytes().splitlines(True)
    )
    key = f"{tenant.tenant_id}/imports/{job['id']}.csv"
    boto3.client("s3").put_object(Bucket=container.settings.bucket_imports, Key=key, Body=b"".join(rows[:21]))
    _ok(api.call("POST", f"/v1/imports/{job['id']}/start", tenant), 202)
    with transaction_conflicts(10_000), pytest.raises(ContentionError):
        container.import_jobs.run(
            tenant.tenant_id, job["id"]
        )  # the ingest worker's call: the message comes back
    assert _ok(api.call("GET", f"/v1/imports/{job['id']}", tenant))["status"] == "running"  # not "failed"
    container.import_jobs.run(tenant.tenant_id, job["id"])  # the redelivery
    done = _ok(api.call("GET", f"/v1/imports/{job['id']}", tenant))
    assert done["status"] == "done" and done["summary"]["rows"] == 20
