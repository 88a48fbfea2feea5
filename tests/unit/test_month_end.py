"""The month-end schedule: which tenants are due for an instant (their 1st, 02:00 local), and the tick that
starts their runs once — with in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.domain.month_end import SCHEDULE_STARTER, due_tenants, month_end_period
from chalicelib.domain.settlement_runs import RunStatus, SettlementRun
from chalicelib.domain.tenants import RegisteredTenant
from chalicelib.services.month_end import MonthEndSchedule
from chalicelib.services.settlement_runs import SettlementRunService
from chalicelib.services.tenants import TenantService
from tests.fakes.clock import FrozenClock
from tests.fakes.settlement_runs import FakeSettlementRuns
from tests.fakes.tenants import FakeTenantRepository
from tests.fakes.workflows import FakeStarter


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "at", "period"),
    [
        # UTC+8: 02:00 on December 1st is 18:00Z on November 30th.
        ("Asia/Shanghai", _utc(2026, 11, 30, 17), None),  # 01:00 local: not yet
        ("Asia/Shanghai", _utc(2026, 11, 30, 18), "2026-11"),
        ("Asia/Shanghai", _utc(2026, 12, 1, 15, 59), "2026-11"),  # 23:59 local: still the 1st, catching up
        ("Asia/Shanghai", _utc(2026, 12, 1, 16), None),  # the 2nd: a missed day is an admin's to run
        ("Asia/Shanghai", _utc(2026, 12, 31, 18), "2026-12"),  # over the year's end
        # UTC-5 (New York in winter) and UTC-4 (in summer): 07:00Z, 06:00Z.
        ("America/New_York", _utc(2026, 11, 30, 18), None),  # 13:00 on the 30th there
        ("America/New_York", _utc(2026, 12, 1, 6), None),
        ("America/New_York", _utc(2026, 12, 1, 7), "2026-11"),
        ("America/New_York", _utc(2026, 7, 1, 6), "2026-06"),
        # UTC+5:45 and UTC+5:30: no tick falls on 02:00; the first one after it acts.
        ("Asia/Kathmandu", _utc(2026, 11, 30, 20), None),  # 01:45 there
        ("Asia/Kathmandu", _utc(2026, 11, 30, 21), "2026-11"),  # 02:45
        ("Asia/Kolkata", _utc(2026, 11, 30, 20), None),  # 01:30
        ("Asia/Kolkata", _utc(2026, 11, 30, 21), "2026-11"),  # 02:30
        # UTC+11 (Sydney in summer): 02:00 there is before midnight in Shanghai, where periods end.
        ("Australia/Sydney", _utc(2026, 11, 30, 15), None),
        ("Australia/Sydney", _utc(2026, 11, 30, 16), "2026-11"),  # 03:00 there, 00:00 in Shanghai
        ("UTC", _utc(2026, 12, 1, 2), "2026-11"),
    ],
)
def test_a_tenants_month_end_is_its_1st_at_2_local(zone: str, at: datetime, period: str | None) -> None:
    assert month_end_period(zone, at) == period


def test_only_the_tenants_whose_month_end_came_are_due() -> None:
    tenants = [
        RegisteredTenant(id="ten_sh", timezone="Asia/Shanghai"),
        RegisteredTenant(id="ten_sg", timezone="Asia/Singapore"),  # UTC+8 as well
        RegisteredTenant(id="ten_ny", timezone="America/New_York"),
        RegisteredTenant(id="ten_ktm", timezone="Asia/Kathmandu"),
    ]
    at = _utc(2026, 11, 30, 18)
    assert [(t.id, p) for t, p in due_tenants(tenants, at)] == [("ten_sh", "2026-11"), ("ten_sg", "2026-11")]
    assert due_tenants(tenants, _utc(2026, 11, 30, 21)) == [
        (tenants[0], "2026-11"),
        (tenants[1], "2026-11"),
        (tenants[3], "2026-11"),
    ]


# -- the tick ----------------------------------------------------------------------------------------------
class World:
    def __init__(self) -> None:
        self.clock = FrozenClock(_utc(2026, 11, 30, 18))
        self.repo = FakeTenantRepository()
        self.tenants = TenantService(tenants=self.repo, tags=_NoTags(), clock=self.clock)  # type: ignore[arg-type]
        self.runs = FakeSettlementRuns()
        self.starter = FakeStarter()
        service = SettlementRunService(
            ledger=None,  # type: ignore[arg-type]  # a start reads no ledger
            runs=self.runs,
            settlement=None,  # type: ignore[arg-type]
            regions=dict,
            starter=self.starter,
            clock=self.clock,
        )
        self.schedule = MonthEndSchedule(tenants=self.repo, runs=service)

    def tenant(self, zone: str) -> str:
        return self.tenants.create_tenant(name=zone, timezone=zone).tenant_id


class _NoTags:
    def save_group(self, *_: Any, **__: Any) -> None:
        pass


@pytest.fixture
def world() -> World:
    return World()


def test_a_tick_starts_last_months_run_for_due_tenants_once(world: World) -> None:
    shanghai, new_york = world.tenant("Asia/Shanghai"), world.tenant("America/New_York")

    first = world.schedule.tick(_utc(2026, 11, 30, 18))

    assert (first.tenants, first.due) == (2, 1)
    [run] = first.started
    assert (run.tenant_id, run.period, run.started_by) == (shanghai, "2026-11", SCHEDULE_STARTER)
    assert world.runs.get(shanghai, "2026-11") == run
    assert world.starter.started == {
        f"settle-2026-11-{run.id}": {
            "machine": "settlement_run",
            "tenant_id": shanghai,
            "period": "2026-11",
            "run_id": run.id,
        }
    }
    assert world.runs.get(new_york, "2026-11") is None

    again = world.schedule.tick(_utc(2026, 11, 30, 18))  # a duplicate delivery
    later = world.schedule.tick(_utc(2026, 11, 30, 19))  # the next hour, still the 1st in Shanghai
    assert again.started == later.started == []
    assert world.runs.get(shanghai, "2026-11") == run  # the same record, not restarted
    assert len(world.starter.started) == 1

    # New York's 02:00 comes eleven hours later (UTC-5), and starts its run only.
    ny = world.schedule.tick(_utc(2026, 12, 1, 7))
    assert [(r.tenant_id, r.period) for r in ny.started] == [(new_york, "2026-11")]
    assert len(world.starter.started) == 2


def test_a_period_an_admin_ran_already_is_left_alone(world: World) -> None:
    shanghai = world.tenant("Asia/Shanghai")
    manual = SettlementRun(
        id="run_manual",
        tenant_id=shanghai,
        period="2026-11",
        started_at=_utc(2026, 11, 30, 16, 30),
        started_by="usr_finance",
        status=RunStatus.CLOSED,
    )
    world.runs.save(manual, expected_version=None)

    tick = world.schedule.tick(_utc(2026, 11, 30, 18))

    assert (tick.due, tick.started) == (1, [])
    assert world.runs.get(shanghai, "2026-11") == manual
    assert world.starter.started == {}


def test_a_tick_that_failed_after_writing_the_run_starts_its_execution_on_the_retry(world: World) -> None:
    shanghai = world.tenant("Asia/Shanghai")
    calls = 0

    def flaky_start(machine: str, name: str, payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("Step Functions did not answer")
        FakeStarter.start(world.starter, machine, name, payload)

    world.starter.start = flaky_start  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        world.schedule.tick(_utc(2026, 11, 30, 18))
    run = world.runs.get(shanghai, "2026-11")
    assert run is not None and world.starter.started == {}

    retry = world.schedule.tick(_utc(2026, 11, 30, 18))  # Lambda retries the asynchronous invocation

    assert retry.started == []  # the run was this tick's already
    assert list(world.starter.started) == [f"settle-2026-11-{run.id}"]  # under the same name: once


def test_tenants_not_reached_in_time_are_left_to_the_next_tick(world: World) -> None:
    first, second = world.tenant("Asia/Shanghai"), world.tenant("Asia/Shanghai")
    left = iter([60.0, 1.0])  # seconds the invocation has left, asked before each tenant

    tick = world.schedule.tick(_utc(2026, 11, 30, 18), time_left=lambda: next(left))

    assert (len(tick.started), tick.deferred) == (1, 1)
    nxt = world.schedule.tick(_utc(2026, 11, 30, 19))
    assert {r.tenant_id for r in tick.started + nxt.started} == {first, second}


def test_a_tenant_created_before_the_registry_is_found_after_the_backfill(world: World) -> None:
    old, new = world.tenant("Asia/Shanghai"), world.tenant("Asia/Shanghai")
    del world.repo.registry[old]  # as a restored snapshot from before the registry holds it

    assert [r.tenant_id for r in world.schedule.tick(_utc(2026, 11, 30, 18)).started] == [new]
    assert world.tenants.backfill_registry() == 1
    assert world.tenants.backfill_registry() == 0  # idempotent
    assert [r.tenant_id for r in world.schedule.tick(_utc(2026, 11, 30, 19)).started] == [old]


def test_a_tenants_time_zone_is_an_iana_zone(world: World) -> None:
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        world.tenants.create_tenant(name="x", timezone="Mars/Olympus")
    tid = world.tenant("Asia/Kathmandu")
    assert world.repo.registry[tid] == RegisteredTenant(id=tid, timezone="Asia/Kathmandu")
