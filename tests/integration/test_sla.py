"""SLA clocks on tickets: deadlines in business time, the timer's steps, idempotent escalations (one
yellow, one red, one call), responses and resolution stopping them, pauses, calendar changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.access import Principal
from chalicelib.services.tickets import TicketDraft, TransitionCommand
from tests.fakes.workflows import FakeStarter, RecordingNotifier
from tests.integration.conftest import Api, TenantKeys, drain

FRIDAY_1630_SHANGHAI = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


@pytest.fixture
def timers(container) -> tuple[FakeStarter, RecordingNotifier]:
    starter, notifier = container.workflow_starter, RecordingNotifier()
    container.notifier = notifier
    return starter, notifier


def who(container, tenant: TenantKeys, role: str) -> Principal:
    return container.tenants.authenticate(f"Bearer {tenant.keys[role]}")


def new_ticket(container, tenant: TenantKeys, **fields: Any) -> str:
    draft = TicketDraft(
        template_id="repair",
        fields={"fault_description": "不制冷", **fields},
        region="华东",
        store="SH-001",
    )
    return container.tickets.create(principal=who(container, tenant, "agent_all"), draft=draft).ticket.id


def sla_of(container, tenant: TenantKeys, ticket_id: str) -> Any:
    ticket = container.ticket_repo.get(tenant.tenant_id, ticket_id)
    assert ticket is not None and ticket.sla is not None
    return ticket.sla


def test_friday_afternoon_deadlines_skip_the_weekend_and_the_timer_starts(
    container, tenant: TenantKeys, clock, timers
):
    starter, _ = timers
    clock.at = FRIDAY_1630_SHANGHAI
    tid = new_ticket(container, tenant)
    sla = sla_of(container, tenant, tid)
    assert sla.policy_id == "standard" and sla.calendar_id == "default"
    # normal priority: first response 4 business hours from Friday 16:30 (closing 17:00) → Monday 12:30
    assert sla.deadlines["first_response"] == datetime(2026, 11, 23, 4, 30, tzinfo=UTC)
    # 75 % of it (3 h): Friday 16:30–17:00 + Monday 09:00–11:30
    assert sla.next_wakeup == datetime(2026, 11, 23, 3, 30, tzinfo=UTC)
    [(name, execution)] = [(n, e) for n, e in starter.started.items() if e["machine"] == "ticket_sla"]
    assert name == f"{tid}-1" and execution["machine"] == "ticket_sla"
    assert execution["wake_at"] == "2026-11-23T03:30:00Z" and execution["generation"] == 1


def test_escalations_fire_once_each_and_a_response_stops_them(container, tenant: TenantKeys, clock, timers):
    _, notifier = timers
    clock.at = FRIDAY_1630_SHANGHAI
    tid = new_ticket(container, tenant)
    sla = container.sla
    clock.at = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # Monday 11:30: 75 % of the first response
    step = sla.evaluate(tenant.tenant_id, tid, 1)
    assert step == {"wake_at": "2026-11-23T04:30:00Z", "done": False}
    yellow = [r for r in notifier.requests if r.event == "sla.yellow"]
    # nobody is assigned yet: the store's manager hears it
    assert [r.recipient_id for r in yellow] == [tenant.user_ids["store_mgr"]]
    assert sla.evaluate(tenant.tenant_id, tid, 1)["done"] is False
    assert len(notifier.requests) == 1  # evaluated twice, sent once

    clock.at = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # 100 %: red
    sla.evaluate(tenant.tenant_id, tid, 1)
    assert [r.event for r in notifier.requests].count("sla.red") == 1
    assert all(r.urgent for r in notifier.requests if r.event == "sla.red")

    agent = who(container, tenant, "agent_all")
    container.tickets.transition(principal=agent, ticket_id=tid, command=TransitionCommand(action="accept"))
    clock.at = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 150 % of the first response: but it was met
    sla.evaluate(tenant.tenant_id, tid, 1)
    assert [r.event for r in notifier.requests].count("sla.call") == 0
    history = container.tickets.get(principal=agent, ticket_id=tid).history
    assert {h.action for h in history} >= {"sla.yellow", "sla.red", "accept"}


def test_closing_ends_the_timer_and_a_stale_generation_is_told_to_stop(
    container, tenant: TenantKeys, clock, timers, api: Api
):
    starter, _ = timers
    clock.at = FRIDAY_1630_SHANGHAI
    tid = new_ticket(container, tenant, fault_description="冒烟了")  # urgent: triage skipped
    agent, engineer = who(container, tenant, "agent_all"), who(container, tenant, "engineer")
    # the dispatch step completes only with an engineer assigned: a manager's assignment, as an agent would
    profile = {"region": "华东", "skills": {"appliance_repair": 3}, "shifts": {"4": [["08:00", "20:00"]]}}
    assert api.call("PUT", f"/v1/staff/{engineer.user_id}", tenant, profile).status_code == 200
    body = {"user_id": engineer.user_id, "reason": "on shift"}
    assert api.call("POST", f"/v1/tickets/{tid}/assign", tenant, body).status_code == 200
    for principal, action in ((agent, "assign"), (engineer, "resolve"), (agent, "confirm")):
        container.tickets.transition(
            principal=principal, ticket_id=tid, command=TransitionCommand(action=action)
        )
    sla = sla_of(container, tenant, tid)
    assert sla.clock.resolved_at is not None and sla.next_wakeup is None
    assert container.sla.evaluate(tenant.tenant_id, tid, 1) == {"wake_at": None, "done": True}

    container.tickets.transition(principal=agent, ticket_id=tid, command=TransitionCommand(action="reopen"))
    sla = sla_of(container, tenant, tid)
    assert sla.generation == 2 and sla.clock.resolved_at is None and sla.next_wakeup is not None
    assert f"{tid}-2" in starter.started  # a fresh timer
    assert container.sla.evaluate(tenant.tenant_id, tid, 1)["done"] is True  # the old one stops


def test_time_waiting_on_the_customer_is_not_counted(container, tenant: TenantKeys, clock, timers, api: Api):
    starter, _ = timers
    clock.at = FRIDAY_1630_SHANGHAI
    tid = new_ticket(container, tenant)
    before = sla_of(container, tenant, tid).deadlines["resolution"]
    resp = api.call("POST", f"/v1/tickets/{tid}/sla", tenant, {"action": "pause"}, role="agent_all")
    assert resp.status_code == 200, resp.data
    assert sla_of(container, tenant, tid).next_wakeup is None
    assert container.sla.evaluate(tenant.tenant_id, tid, 1)["done"] is True  # paused: the timer ends
    clock.at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # resumed Monday 11:00: 2.5 business hours paused
    resp = api.call("POST", f"/v1/tickets/{tid}/sla", tenant, {"action": "resume"}, role="agent_all")
    assert resp.status_code == 200, resp.data
    after = sla_of(container, tenant, tid)
    # Wednesday 16:30 + 2.5 business hours: Wednesday 17:00, then Thursday 09:00–11:00
    assert before == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert after.deadlines["resolution"] == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert after.generation == 2 and f"{tid}-2" in starter.started
    bad = api.call("POST", f"/v1/tickets/{tid}/sla", tenant, {"action": "snooze"}, role="agent_all")
    assert bad.status_code == 400


def test_a_tenant_policy_and_a_calendar_change_move_open_deadlines(
    container, tenant: TenantKeys, clock, timers, api: Api
):
    starter, _ = timers
    policy = {
        "id": "standard",
        "name": "快速",
        "calendar_id": "default",
        "targets": {"normal": {"first_response": "PT1H", "resolution": "PT8H"}},
    }
    assert api.call("PUT", "/v1/sla-policies/standard", tenant, policy).status_code == 200
    clock.at = FRIDAY_1630_SHANGHAI
    tid = new_ticket(container, tenant)
    # the named case: Friday 16:30 + 1 business hour → Monday 09:30
    assert sla_of(container, tenant, tid).deadlines["first_response"] == datetime(
        2026, 11, 23, 1, 30, tzinfo=UTC
    )

    calendars = api.call("GET", "/v1/calendars", tenant).data["items"]
    default = next(c for c in calendars if c["id"] == "default")
    default["holidays"] = [*default["holidays"], "2026-11-23"]  # Monday becomes a holiday
    assert api.call("PUT", "/v1/calendars/default", tenant, default).status_code == 200
    drain("scrm-events")  # the calendar change fans out to open tickets on it
    sla = sla_of(container, tenant, tid)
    assert sla.deadlines["first_response"] == datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # Tuesday 09:30
    assert sla.generation == 2 and f"{tid}-2" in starter.started
