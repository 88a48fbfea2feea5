"""Month-end settlement runs: plan → chunks of parties → close, driven step by step as the Step Functions
execution would (the e2e suite runs the real state machine). Re-runs and resumed runs post nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.domain.access import Principal, Role, Scope
from chalicelib.domain.ledger import Source, SourceType
from chalicelib.domain.settlement import Facts, PartyRole
from chalicelib.services.settlement import RuleDraft
from chalicelib.workers.settlement import RunStep, handle
from tests.fakes.clock import FrozenClock
from tests.fakes.dynamo import count_requests
from tests.fakes.workflows import FakeStarter
from tests.integration.conftest import Api, TenantKeys

FROM = "2026-11-01T00:00:00+08:00"
RULES: list[dict[str, Any]] = [
    {
        "id": "ticket-split",
        "kind": "split",
        "effective_from": FROM,
        "shares": [
            {"role": "store", "percent": "35"},
            {"role": "engineer", "percent": "45"},
            {"role": "platform", "percent": "20"},
        ],
    },
    {
        "id": "engineer-tiers",
        "kind": "tiered",
        "beneficiary": "engineer",
        "mode": "marginal",
        "effective_from": FROM,
        "tiers": [
            {"from_amount": "0", "rate_percent": "0"},
            {"from_amount": "300.00", "rate_percent": "2"},
            {"from_amount": "600.00", "rate_percent": "3.5"},
        ],
    },
    {
        "id": "store-bonus",
        "kind": "threshold_bonus",
        "beneficiary": "store",
        "threshold": "500.00",
        "rate_percent": "1",
        "effective_from": FROM,
    },
    {
        "id": "happy-customers",
        "kind": "satisfaction",
        "role": "engineer",
        "effective_from": FROM,
        "levels": [{"min_average": "4.5", "multiplier": "1.1"}],
    },
]


def _facts(n: int, engineer: str, store: str, amount: str, rating: int | None) -> Facts:
    return Facts(
        source=Source(type=SourceType.TICKET, id=f"tkt-{engineer}-{n}"),
        period="2026-11",
        amount=Decimal(amount),
        count=1,
        parties={PartyRole.STORE: store, PartyRole.ENGINEER: engineer, PartyRole.PLATFORM: "hq"},
        completed_at=datetime(2026, 11, 10 + n, 6, tzinfo=UTC),
        rating=rating,
    )


@pytest.fixture
def month(container: bootstrap.Container, api: Api, tenant: TenantKeys, clock: FrozenClock) -> None:
    for rule in RULES:
        resp = api.call(
            "POST", "/v1/settlement-rules", tenant, {"applies_to": "ticket", "rule": rule}, role="finance"
        )
        assert resp.status_code == 201, resp.body
    settle = container.settlement
    # E-1: 3 tickets (250 + 250 + 200 = 700), all rated 5; E-2: one ticket of 100, rated 3.
    for n, amount in enumerate(("250.00", "250.00", "200.00")):
        settle.settle_facts(tenant.tenant_id, _facts(n, "E-1", "SH-001", amount, 5), "ticket", None)
    settle.settle_facts(tenant.tenant_id, _facts(0, "E-2", "SH-002", "100.00", 3), "ticket", None)
    clock.at = datetime(2026, 12, 1, 2, tzinfo=UTC)  # December 1st, 10:00 in Shanghai


def _run(container: bootstrap.Container, api: Api, tenant: TenantKeys) -> dict[str, Any]:
    """Start the run and do its steps as the state machine would, answering each task token."""
    resp = api.call("POST", "/v1/settlements/runs", tenant, {"period": "2026-11"}, role="finance")
    assert resp.status_code == 202, resp.body
    run_id = resp.data["id"]
    starter: FakeStarter = container.workflow_starter  # type: ignore[assignment]
    assert any(
        v.get("run_id") == run_id and v["machine"] == "settlement_run" for v in starter.started.values()
    )
    base = {"tenant_id": tenant.tenant_id, "period": "2026-11", "run_id": run_id}
    handle(RunStep(kind="settlement.plan", task_token="t-plan", **base))
    chunks = starter.succeeded[-1][1]["chunks"]
    written = 0
    for n in chunks:
        handle(RunStep(kind="settlement.chunk", chunk=n, task_token=f"t-{n}", **base))
        written += starter.succeeded[-1][1]["written"]
    handle(RunStep(kind="settlement.close", task_token="t-close", **base))
    run = api.call("GET", "/v1/settlements/runs/2026-11", tenant, role="finance").data
    return {"run": run, "written": written}


def _statement(api: Api, tenant: TenantKeys, party: str) -> dict[str, Any]:
    resp = api.call("GET", f"/v1/settlements/statements?party={party}&period=2026-11", tenant, role="finance")
    assert resp.status_code == 200, resp.body
    return resp.data  # type: ignore[no-any-return]


def test_month_end_run_pays_tiers_bonuses_and_multipliers_once(
    month: None, container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    first = _run(container, api, tenant)
    assert first["run"]["status"] == "closed" and first["run"]["sources"] == 4
    # E-1: 700 → marginal 2 % of 300 (6.00) + 3.5 % of 100 (3.50) = 9.50, average rating 5 → × 1.1 = 10.45.
    # SH-001: 700 ≥ 500 → 1 % of 700 = 7.00. E-2 (100) and SH-002 (100) reach nothing.
    e1 = _statement(api, tenant, "engineer:E-1")
    bonus = [r for r in e1["rows"] if r["source_type"] == "settlement_run"]
    assert [(r["amount"], r["rule"]) for r in bonus] == [("10.45", "engineer-tiers v1")]
    assert "× 1.1" in bonus[0]["memo"] or "1.1" in bonus[0]["memo"]
    # Splits of 250, 250, 200 at 45 %: 112.50 + 112.50 + 90.00 = 315.00, plus the bonus.
    assert e1["closing_balance"] == "325.45"
    sh1 = _statement(api, tenant, "store:SH-001")
    assert [r["amount"] for r in sh1["rows"] if r["source_type"] == "settlement_run"] == ["7.00"]
    assert first["written"] == 2 and first["run"]["parties"] == 2

    # Statements reconcile: Σ party balances = what was split + what incentives cost.
    rec = api.call("GET", "/v1/settlements/reconciliation?period=2026-11", tenant, role="finance").data
    assert rec["settled"] == "800.00" and rec["incentives"] == "17.45"
    assert rec["parties_total"] == "817.45" and rec["balanced"] is True

    # Running the period again posts nothing new.
    with count_requests() as again:
        second = _run(container, api, tenant)
    assert second["written"] == 0 and "TransactWriteItems" not in again.calls
    assert _statement(api, tenant, "engineer:E-1")["closing_balance"] == "325.45"


def test_a_run_resumes_after_a_crash_without_posting_twice(
    month: None, container: bootstrap.Container, api: Api, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = container.settlement_runs._runs
    real = runs.finish_party
    calls = {"n": 0}

    def crash_once(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker lost after posting the first party")
        real(*args, **kwargs)

    monkeypatch.setattr(runs, "finish_party", crash_once)
    with pytest.raises(RuntimeError):
        _run(container, api, tenant)
    monkeypatch.setattr(runs, "finish_party", real)
    resumed = _run(container, api, tenant)  # a restart resumes
    assert resumed["run"]["status"] == "closed"
    assert resumed["written"] == 1  # the interrupted party's posting was already in; only the other one
    e1 = _statement(api, tenant, "engineer:E-1")
    assert [r["amount"] for r in e1["rows"] if r["source_type"] == "settlement_run"] == ["10.45"]


def test_a_refund_before_the_run_leaves_the_totals_and_the_run_waits_for_the_month(
    month: None, container: bootstrap.Container, api: Api, tenant: TenantKeys, clock: FrozenClock
) -> None:
    container.settlement.reverse_source(tenant.tenant_id, SourceType.TICKET, "tkt-E-1-2", "refunded")
    _run(container, api, tenant)
    # E-1 now 500: 2 % of 200 = 4.00 × 1.1 = 4.40; SH-001 500 ≥ 500 → 5.00.
    e1 = _statement(api, tenant, "engineer:E-1")
    assert [r["amount"] for r in e1["rows"] if r["source_type"] == "settlement_run"] == ["4.40"]
    clock.at = datetime(2026, 12, 15, tzinfo=UTC)
    early = api.call("POST", "/v1/settlements/runs", tenant, {"period": "2026-12"}, role="finance")
    assert early.status_code == 400 and early.data["error"]["details"][0]["field"] == "period"
    assert (
        api.call("POST", "/v1/settlements/runs", tenant, {"period": "2026-11"}, role="engineer").status_code
        == 403
    )


def test_a_rating_after_settlement_and_a_refund_change_what_the_month_end_reads(
    container: bootstrap.Container, tenant: TenantKeys
) -> None:
    finance = Principal(tenant_id=tenant.tenant_id, user_id="f", role=Role.FINANCE, scope=Scope.parse("all"))
    # The split only: enough to settle.
    container.settlement.publish_rule(principal=finance, draft=RuleDraft(applies_to="ticket", rule=RULES[0]))
    settle = container.settlement
    for n in range(2):
        settle.settle_facts(tenant.tenant_id, _facts(n, "E-9", "SH-009", "100.00", None), "ticket", None)
    ledger = container.ledger
    ledger.rate(tenant.tenant_id, "2026-11", Source(type=SourceType.TICKET, id="tkt-E-9-0"), 5)
    ledger.rate(tenant.tenant_id, "2026-11", Source(type=SourceType.TICKET, id="never-settled"), 1)  # no-op
    settle.reverse_source(tenant.tenant_id, SourceType.TICKET, "tkt-E-9-1", "refunded")
    read = list(ledger.settled_facts(tenant.tenant_id, "2026-11"))
    assert [(f.source.id, f.rating) for f in read] == [("tkt-E-9-0", 5)]


def test_a_refund_after_the_run_claws_the_bonus_back_when_the_period_is_run_again(
    month: None, container: bootstrap.Container, api: Api, tenant: TenantKeys, clock: FrozenClock
) -> None:
    _run(container, api, tenant)  # E-1: 10.45, SH-001: 7.00 (700 in November)
    clock.at = datetime(2026, 12, 5, 2, tzinfo=UTC)
    container.settlement.reverse_source(tenant.tenant_id, SourceType.TICKET, "tkt-E-1-2", "refunded")
    again = _run(container, api, tenant)
    # November now: E-1 500 → 2 % of 200 = 4.00 × 1.1 = 4.40; SH-001 500 ≥ 500 → 5.00. The differences are
    # posted in December; November's statements stay as they were.
    assert again["written"] == 2

    def december(party: str) -> list[str]:
        resp = api.call(
            "GET", f"/v1/settlements/statements?party={party}&period=2026-12", tenant, role="finance"
        )
        assert resp.status_code == 200, resp.body
        return [r["amount"] for r in resp.data["rows"] if r["source_type"] == "settlement_run"]

    assert december("engineer:E-1") == ["-6.05"]
    assert december("store:SH-001") == ["-2.00"]
    assert _statement(api, tenant, "engineer:E-1")["closing_balance"] == "325.45"  # November untouched
    with count_requests() as third:
        assert _run(container, api, tenant)["written"] == 0  # nothing changed since
    assert "TransactWriteItems" not in third.calls

    # E-1 refunds another ticket: 250 no longer reaches a tier, SH-001 250 no longer the threshold. The
    # rules pay them nothing for November now, so what is left of their bonuses is taken back.
    clock.at = datetime(2026, 12, 6, 2, tzinfo=UTC)
    container.settlement.reverse_source(tenant.tenant_id, SourceType.TICKET, "tkt-E-1-1", "refunded")
    _run(container, api, tenant)  # the plan step takes them back: neither has period postings any more
    assert december("engineer:E-1") == ["-6.05", "-4.40"]
    assert december("store:SH-001") == ["-2.00", "-5.00"]
    for period in ("2026-11", "2026-12"):
        rec = api.call("GET", f"/v1/settlements/reconciliation?period={period}", tenant, role="finance").data
        assert rec["balanced"] is True, rec
