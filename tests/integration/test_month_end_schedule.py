"""The month-end schedule on moto: the app's hourly handler, given EventBridge's scheduled event for
2026-11-30T18:00Z (02:00 on December 1st in Shanghai), starts November's run for the Shanghai tenant once and
leaves a New York tenant alone; the local event runner fires it from the app's declaration."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.domain.month_end import SCHEDULE_STARTER
from chalicelib.local.runner import EventRunner, FakeLambdaContext, resolve_handler
from chalicelib.store import keys
from chalicelib.store.ledger import DynamoSettlementRuns
from chalicelib.store.table import TenantRegistryItem
from tests.fakes.clock import FrozenClock
from tests.fakes.dynamo import count_requests
from tests.fakes.workflows import FakeStarter
from tests.integration.conftest import Api, TenantKeys

EVENT: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "events" / "eventbridge" / "scheduled_month_end.json").read_text()
)
TICK = datetime(2026, 11, 30, 18, tzinfo=UTC)


@pytest.fixture
def new_york(container: bootstrap.Container) -> str:
    return container.tenants.create_tenant(name="NY Repairs", timezone="America/New_York").tenant_id


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    """As Lambda calls it: the wrapped handler, the event, a context (30 s left, the stage's timeout)."""
    from app import app

    [source] = [s for s in EventRunner(app, sqs=None).schedules if s.name == "on_month_end_tick"]
    payload: dict[str, Any] = resolve_handler(app, source)(event, FakeLambdaContext(source.name))
    return payload


def _settlement_executions(container: bootstrap.Container) -> list[dict[str, Any]]:
    starter: FakeStarter = container.workflow_starter  # type: ignore[assignment]
    return [v for v in starter.started.values() if v["machine"] == "settlement_run"]


def test_the_tick_at_2_in_shanghai_starts_its_run_once_and_leaves_new_york_alone(
    container: bootstrap.Container, clock: FrozenClock, api: Api, tenant: TenantKeys, new_york: str
) -> None:
    clock.at = TICK  # the clock says when the run started; the event says which hour is acted for

    with count_requests() as requests:
        first = _invoke(EVENT)

    assert first["at"] == "2026-11-30T18:00:00+00:00"
    assert (first["tenants"], first["due"]) == (2, 1)
    [started] = first["started"]
    assert (started["tenant_id"], started["period"]) == (tenant.tenant_id, "2026-11")
    # One Query of the registry; for the due tenant a GetItem of its run record and the record's PutItem.
    assert dict(requests.calls) == {"Query": 1, "GetItem": 1, "PutItem": 1}
    [execution] = _settlement_executions(container)
    assert execution == {"machine": "settlement_run", **started}
    run = api.call("GET", "/v1/settlements/runs/2026-11", tenant, role="finance")
    assert run.status_code == 200, run.body
    assert (run.data["id"], run.data["status"], run.data["started_by"]) == (
        started["run_id"],
        "planning",
        SCHEDULE_STARTER,
    )
    assert DynamoSettlementRuns().get(new_york, "2026-11") is None

    again = _invoke(EVENT)  # EventBridge → Lambda may deliver an event twice

    assert (again["due"], again["started"]) == (1, [])
    assert len(_settlement_executions(container)) == 1
    same = api.call("GET", "/v1/settlements/runs/2026-11", tenant, role="finance")
    assert (same.data["id"], same.data["version"]) == (run.data["id"], run.data["version"])
    assert DynamoSettlementRuns().get(new_york, "2026-11") is None


def test_a_bad_scheduled_event_is_refused_and_starts_nothing(
    container: bootstrap.Container, tenant: TenantKeys
) -> None:
    with pytest.raises(ValueError, match="time"):
        _invoke({**EVENT, "time": "yesterday"})
    assert _settlement_executions(container) == []


def test_a_tenants_registry_row_is_written_with_it_and_backfilled_for_older_tenants(
    container: bootstrap.Container, new_york: str
) -> None:
    row = TenantRegistryItem.get(keys.TENANT_REGISTRY_PK, keys.tenant_registry_sk(new_york))
    assert json.loads(row.doc or "") == {"id": new_york, "timezone": "America/New_York"}
    row.delete()  # as in a snapshot taken before the registry existed
    assert [t.id for t in container.tenant_repo.registered_tenants()] == []

    assert container.tenants.backfill_registry() == 1
    assert container.tenants.backfill_registry() == 0  # idempotent
    assert [(t.id, t.timezone) for t in container.tenant_repo.registered_tenants()] == [
        (new_york, "America/New_York")
    ]


def test_the_local_scheduler_fires_the_tick_from_the_apps_declaration(
    container: bootstrap.Container, tenant: TenantKeys, new_york: str
) -> None:
    from app import app

    runner = EventRunner(app, sqs=None)
    [schedule] = [s for s in runner.schedules if s.name == "on_month_end_tick"]
    assert schedule.schedule_expression.to_string() == "cron(0 * * * ? *)"  # type: ignore[union-attr]

    assert runner.tick(datetime(2026, 11, 30, 17, 59, 30, tzinfo=UTC)) == []  # not on the hour
    assert runner.tick(datetime(2026, 11, 30, 18, 0, 1, tzinfo=UTC)) == ["on_month_end_tick"]
    assert runner.tick(datetime(2026, 11, 30, 18, 0, 31, tzinfo=UTC)) == []  # once per matching minute

    [execution] = _settlement_executions(container)
    assert (execution["tenant_id"], execution["period"]) == (tenant.tenant_id, "2026-11")
    run = DynamoSettlementRuns().get(tenant.tenant_id, "2026-11")
    assert run is not None and run.started_by == SCHEDULE_STARTER
    assert DynamoSettlementRuns().get(new_york, "2026-11") is None
