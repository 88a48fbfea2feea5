"""A configuration change the API acknowledged applies to everything after it, in every process: the API
and a worker are two containers (two sets of per-process caches) over one table. A source settled while no
rule was in force is kept unsettled, listed by reconciliation, and settled when a rule covering it comes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.domain.orders import Order, OrderStatus
from chalicelib.domain.ticket_templates import SkillRequirement
from tests.fakes.clock import FrozenClock
from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys, drain


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.body
    return resp.data


def _split(version_from: str, store: str, platform: str) -> dict[str, Any]:
    return {
        "applies_to": "order",
        "rule": {
            "id": "order-split",
            "kind": "split",
            "effective_from": version_from,
            "shares": [{"role": "store", "percent": store}, {"role": "platform", "percent": platform}],
        },
    }


NOVEMBER = "2026-11-01T00:00:00+08:00"


def _publish(api: Api, tenant: TenantKeys, body: dict[str, Any]) -> None:
    """Finance publishes a commission rule; the API has acknowledged it when this returns."""
    _ok(api.call("POST", "/v1/settlement-rules", tenant, body, role="finance"), 201)


def _order(tenant: TenantKeys, order_id: str, total: str, paid_at: datetime, **kw: Any) -> Order:
    return Order(
        tenant_id=tenant.tenant_id,
        platform="generic",
        shop_id="SH-001",
        order_id=order_id,
        status=kw.pop("status", OrderStatus.PAID),
        total_amount=Decimal(total),
        paid_at=paid_at,
        updated_at=paid_at,
        **kw,
    )


@pytest.fixture
def worker(container: bootstrap.Container, clock: FrozenClock) -> bootstrap.Container:
    """Another process: its own services and caches, the same table."""
    return bootstrap.Container(clock=clock)


def _reconcile(api: Api, tenant: TenantKeys, period: str = "2026-11") -> Any:
    return _ok(api.call("GET", f"/v1/settlements/reconciliation?period={period}", tenant, role="finance"))


def _store_credit(postings: list[Any]) -> Decimal:
    return sum((leg.credit for p in postings for leg in p.legs if ":store:" in leg.account), Decimal(0))


def test_orders_paid_before_the_first_rule_wait_and_are_settled_when_it_comes(
    container: bootstrap.Container, worker: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    paid = datetime(2026, 11, 20, 10, tzinfo=UTC)
    # GIVEN a worker that settled two paid orders while the tenant had no split rule
    assert worker.settlement.order_changed(tenant.tenant_id, _order(tenant, "A-1", "200.00", paid)) == []
    assert worker.settlement.order_changed(tenant.tenant_id, _order(tenant, "A-2", "100.00", paid)) == []
    rec = _reconcile(api, tenant)
    assert [(u["source_id"], u["amount"]) for u in rec["unsettled"]] == [
        ("generic:A-1", "200.00"),
        ("generic:A-2", "100.00"),
    ]
    assert "no order split rule in effect" in rec["unsettled"][0]["reason"]
    # ... and one of them was partly refunded meanwhile
    refunded = _order(tenant, "A-2", "100.00", paid, refunded_amount=Decimal("30.00"))
    assert worker.settlement.order_changed(tenant.tenant_id, refunded) == []

    # WHEN the first rule, in force from November 1st, is published
    _publish(api, tenant, _split(NOVEMBER, "90", "10"))
    drain("scrm-events")

    # THEN both are settled by it, the refund's share taken back, and nothing waits
    rec = _reconcile(api, tenant)
    assert rec["unsettled"] == []
    assert rec["settled"] == "270.00" and rec["balanced"] is True
    parties = {p["party"]: p["balance"] for p in rec["parties"]}
    assert parties["store:SH-001"] == "243.00"  # 90 % of 200 + 90 % of (100 − 30)
    # a redelivered paid order posts nothing more
    assert worker.settlement.order_changed(tenant.tenant_id, _order(tenant, "A-1", "200.00", paid)) == []


def test_a_new_rule_version_applies_to_the_very_next_order_in_another_process(
    container: bootstrap.Container,
    worker: bootstrap.Container,
    api: Api,
    tenant: TenantKeys,
    clock: FrozenClock,
) -> None:
    _publish(api, tenant, _split(NOVEMBER, "90", "10"))
    first = worker.settlement.order_changed(tenant.tenant_id, _order(tenant, "B-1", "100.00", clock.now()))
    assert _store_credit(first) == Decimal("90.00")  # the worker now holds version 1 in its cache
    clock.advance(seconds=1)

    # WHEN the API acknowledges version 2 (80/20 from now on)
    now = clock.now().isoformat()
    _publish(api, tenant, _split(now, "80", "20"))

    # THEN the worker's next order, a second later, is split by it
    clock.advance(seconds=1)
    second = worker.settlement.order_changed(tenant.tenant_id, _order(tenant, "B-2", "100.00", clock.now()))
    assert _store_credit(second) == Decimal("80.00")


def test_the_counters_are_read_once_per_batch_not_per_event(
    container: bootstrap.Container,
    worker: bootstrap.Container,
    api: Api,
    tenant: TenantKeys,
    clock: FrozenClock,
) -> None:
    from chalicelib.services.cache import config_scope

    _publish(api, tenant, _split(NOVEMBER, "90", "10"))
    with count_requests() as counted, config_scope():
        for n in range(5):
            worker.settlement.order_changed(tenant.tenant_id, _order(tenant, f"C-{n}", "10.00", clock.now()))
    versions_reads = counted.calls["GetItem"]
    assert versions_reads == 1  # the configuration counters; the rules themselves: one Query
    assert counted.calls["Query"] >= 1


def test_a_template_edit_reaches_the_next_assignment_in_another_process(
    container: bootstrap.Container, worker: bootstrap.Container, tenant: TenantKeys
) -> None:
    from chalicelib.domain.access import Principal, Role, Scope

    admin = Principal(
        tenant_id=tenant.tenant_id,
        user_id=tenant.user_ids["admin"],
        role=Role.ADMIN,
        scope=Scope.parse("all"),
    )
    catalog = worker.assignment._template_of  # the worker's per-process template cache
    before = catalog(tenant.tenant_id, "repair")
    assert before is not None and [s.skill for s in before.required_skills] == ["appliance_repair"]

    # WHEN the API stores the template with another required skill
    edited = before.model_copy(
        update={"required_skills": [SkillRequirement(skill="refrigeration", min_level=2)]}
    )
    container.tickets.put_template(principal=admin, template=edited)

    # THEN the worker's next lookup sees it, although its cache held the old one a moment ago
    after = catalog(tenant.tenant_id, "repair")
    assert after is not None and [s.skill for s in after.required_skills] == ["refrigeration"]
    assert after.version == before.version + 1


def test_reconciliation_lists_a_ticket_rule_naming_a_party_the_source_lacks(
    container: bootstrap.Container,
    worker: bootstrap.Container,
    api: Api,
    tenant: TenantKeys,
    clock: FrozenClock,
) -> None:
    body = {
        "applies_to": "order",
        "rule": {
            "id": "order-split",
            "kind": "split",
            "effective_from": NOVEMBER,
            "shares": [{"role": "partner", "percent": "50"}, {"role": "platform", "percent": "50"}],
        },
    }
    _publish(api, tenant, body)
    paid = clock.now() - timedelta(hours=1)
    assert worker.settlement.order_changed(tenant.tenant_id, _order(tenant, "D-1", "50.00", paid)) == []
    [waiting] = _reconcile(api, tenant)["unsettled"]
    assert waiting["source_id"] == "generic:D-1" and "partner" in waiting["reason"]
