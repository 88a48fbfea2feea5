"""The rules behind "a permission is checked on the effect": who acts on a ticket, who may change which
customers (whatever brought the change), where a staff member's new customer lands, and the dispatch step
that waits for an engineer. Pure: no AWS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.access import (
    KeyKind,
    Ownership,
    Permission,
    Principal,
    Role,
    Scope,
    authorize_customer_change,
    can_act_on_ticket,
    new_customer_defaults,
)
from chalicelib.domain.common import ConflictError, ForbiddenError
from chalicelib.domain.ticket_templates import Priority, preset_templates
from chalicelib.domain.tickets import Assignment, Ticket, open_ticket, transition
from chalicelib.domain.workflows import Performer, WorkflowDefinition, preset_workflows

AT = datetime(2026, 11, 23, 9, tzinfo=UTC)


def who(
    role: str, scope: str = "all", user: str = "u1", grants: frozenset[Permission] = frozenset()
) -> Principal:
    return Principal(tenant_id="t", user_id=user, role=Role(role), scope=Scope.parse(scope), grants=grants)


IN_SCOPE = frozenset({Permission.TICKETS_ACT_IN_SCOPE})


@pytest.mark.parametrize(
    ("principal", "ticket", "may"),
    [
        (who("engineer", user="e1"), Ownership(store="S1", owner_id="e1"), True),  # assigned to them
        (who("engineer", user="e1"), Ownership(store="S1", owner_id="e2"), False),  # a colleague's
        (who("engineer", user="e1"), Ownership(store="S1"), False),  # nobody's yet
        (who("engineer", "store:S1", "e1", IN_SCOPE), Ownership(store="S1", owner_id="e2"), True),  # granted
        (
            who("engineer", "store:S1", "e1", IN_SCOPE),
            Ownership(store="S2", owner_id="e2"),
            False,
        ),  # not there
        (who("agent", "store:S1"), Ownership(store="S1", owner_id="e2"), True),  # agents dispatch in scope
        (who("manager", "region:华东"), Ownership(region="华东"), True),
        (who("finance"), Ownership(), True),  # refund reviews are nobody's in particular
    ],
)
def test_who_acts_on_a_ticket(principal: Principal, ticket: Ownership, may: bool) -> None:
    assert can_act_on_ticket(principal, ticket) is may


def test_a_grant_adds_to_the_role() -> None:
    assert not who("engineer").has(Permission.TICKETS_ACT_IN_SCOPE)
    assert who("engineer", grants=IN_SCOPE).has(Permission.TICKETS_ACT_IN_SCOPE)
    assert not who("engineer", grants=IN_SCOPE).has(Permission.CUSTOMERS_WRITE)


def test_customer_changes_are_checked_against_the_bringer() -> None:
    mine, theirs = Ownership(owner_id="a1"), Ownership(owner_id="a2")
    own_agent = who("agent", "own", user="a1")
    authorize_customer_change(own_agent, changed=[mine], result=mine, creates=False)
    with pytest.raises(ForbiddenError, match="outside your data scope"):  # e.g. a merge with theirs
        authorize_customer_change(own_agent, changed=[mine, theirs], result=mine, creates=False)
    with pytest.raises(ForbiddenError, match="would be outside"):
        authorize_customer_change(own_agent, changed=[], result=theirs, creates=True)
    for role in ("engineer", "finance"):
        with pytest.raises(ForbiddenError, match="may not create customers"):
            authorize_customer_change(who(role), changed=[], result=Ownership(), creates=True)
    integration = Principal(
        tenant_id="t",
        user_id="key_1",
        role=Role.INTEGRATION,
        scope=Scope.parse("all"),
        kind=KeyKind.INTEGRATION,
    )
    authorize_customer_change(integration, changed=[mine, theirs], result=mine, creates=False)


def test_a_staff_members_new_customer_lands_in_their_scope() -> None:
    assert new_customer_defaults(who("agent", "own", user="a1")) == Ownership(owner_id="a1")
    assert new_customer_defaults(who("manager", "store:S1")) == Ownership(store="S1")
    assert new_customer_defaults(who("manager", "region:华东")) == Ownership(region="华东")
    assert new_customer_defaults(who("admin")) == Ownership()


def _flow(workflow_id: str) -> WorkflowDefinition:
    return next(w for w in preset_workflows() if w.id == workflow_id)


def _ticket(template_id: str, workflow_id: str, fields: dict[str, Any]) -> Ticket:
    template = next(t for t in preset_templates() if t.id == template_id)
    ticket, _, _ = open_ticket(
        tenant_id="t",
        template=template,
        workflow=_flow(workflow_id),
        fields=fields,
        priority=Priority.URGENT,  # a repair skips triage: straight to 派单
        urgent_keywords=[],
        creator=Performer.of(who("agent")),
        at=AT,
    )
    return ticket


def _do(ticket: Ticket, workflow_id: str, action: str, role: str = "agent") -> Ticket:
    after, _, _ = transition(
        ticket,
        template=None,
        workflow=_flow(workflow_id),
        action=action,
        performer=Performer.of(who(role)),
        at=AT,
    )
    return after


def test_the_dispatch_step_is_completed_only_once_an_engineer_holds_the_ticket() -> None:
    ticket = _ticket("repair", "wf_repair", {"fault_description": "漏水"})
    assert ticket.state.active == ["dispatch"]
    with pytest.raises(ConflictError) as refused:
        _do(ticket, "wf_repair", "assign")
    assert refused.value.details[0]["field"] == "assignee"
    assert _do(ticket, "wf_repair", "cancel").status == "closed"  # cancelling needs no engineer
    held = ticket.model_copy(update={"assignment": Assignment(assignee_id="e1", by="engine", at=AT)})
    assert _do(held, "wf_repair", "assign").state.active == ["on_site"]


def test_a_flow_without_an_engineer_step_closes_as_before() -> None:
    ticket = _ticket("complaint", "wf_complaint", {"details": "服务态度差"})
    assert _do(ticket, "wf_complaint", "resolve").status == "closed"
