"""Work-order tickets (工单): a ticket runs one pinned version of a workflow over a template's fields.

The ticket keeps what the workflow engine returns (`WorkflowState`), the field values (validated by the
template), its priority, who it is assigned to and why, and a history entry per step. Pure: callers pass
the definitions, the performer and the time."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.access import Ownership, Role
from chalicelib.domain.common import ConflictError, InvalidInputError, new_id
from chalicelib.domain.sla import SlaClock
from chalicelib.domain.ticket_templates import (
    DEFAULT_URGENCY_KEYWORDS,
    Priority,
    Slug,
    TicketTemplate,
    detect_urgency,
    guess_template,
    render_title,
    validate_fields,
)
from chalicelib.domain.workflows import (
    NodeActionType,
    NodeKind,
    Performer,
    Step,
    WorkflowDefinition,
    WorkflowState,
    allowed_actions,
    apply,
    start,
)

MAX_TITLE = 200


class TicketStatus(StrEnum):
    OPEN = "open"  # some step other than an end is active
    CLOSED = "closed"  # only end steps are active (a reopen moves it back to open)


class TicketSource(StrEnum):
    API = "api"
    WECOM = "wecom"  # a customer's or staff member's WeCom message
    H5 = "h5"  # the customer's own form
    ORDER = "order"  # an order event (refund requested → a return ticket)
    FOLLOW_UP = "follow_up"  # opened by the system after a low rating


class Assignment(BaseModel):
    """Who the ticket went to and why (the score breakdown makes the choice explainable)."""

    assignee_id: str
    by: str  # "engine", or the user who assigned or claimed it
    at: datetime
    score: dict[str, Any] | None = None


class TicketSla(BaseModel):
    """The ticket's SLA: the policy and calendar it runs on, its clock, the deadlines computed from them
    (stored, so lists can sort and filter by them), and the timer's generation: a timer whose generation is
    not the ticket's any more stops at its next wake-up (a calendar change restarts the timer)."""

    policy_id: str
    calendar_id: str
    clock: SlaClock
    deadlines: dict[str, datetime | None] = Field(default_factory=dict)
    next_wakeup: datetime | None = None
    generation: int = 1


class Rating(BaseModel):
    """The customer's satisfaction with a closed ticket (through the signed link, or recorded by staff)."""

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)
    at: datetime
    by: str  # "customer", or the staff user who recorded it


FOLLOW_UP_AT_OR_BELOW = 2  # a rating this low opens a follow-up ticket


class IntakeRule(BaseModel):
    """Which template a customer's message opens a ticket from: a word in it (安装 → install_ac), or the
    category (template type) its words hint at (repair → my_repair, for a tenant whose skills are not the
    preset repair template's). Exactly one of `keyword` and `category`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    keyword: str | None = Field(default=None, min_length=1, max_length=20)
    category: Slug | None = None
    template_id: Slug

    @model_validator(mode="after")
    def _one(self) -> IntakeRule:
        if (self.keyword is None) == (self.category is None):
            raise ValueError("a rule has either a keyword or a category")
        return self


class TicketSettings(BaseModel):
    """A tenant's one keyword table: the words that make a ticket urgent (and skip triage: the workflows'
    `priority == "urgent"` guards), e.g. 漏水, 冒烟, 投诉 for an appliance chain, and the intake rules that
    pick the template a customer's message opens a ticket from (see `intake_template`)."""

    model_config = ConfigDict(extra="forbid")

    urgency_keywords: list[str] = Field(
        default_factory=lambda: list(DEFAULT_URGENCY_KEYWORDS), max_length=200
    )
    intake_rules: list[IntakeRule] = Field(default_factory=list, max_length=200)
    # A message with only an urgency keyword opens this template (none set: the preset repair template).
    default_template_id: Slug | None = None
    # A workflow step whose drop-off rate is above this raises an alert (GET /v1/workflows/{id}/stats).
    dropoff_threshold: Decimal = Field(default=Decimal("0.15"), ge=0, le=1)

    @field_validator("urgency_keywords")
    @classmethod
    def _clean(cls, v: list[str]) -> list[str]:
        words = list(dict.fromkeys(w.strip() for w in v if w.strip()))
        if any(len(w) > 20 for w in words):
            raise ValueError("a keyword has at most 20 characters")
        return words


def intake_template(
    text: str, settings: TicketSettings, templates: list[TicketTemplate]
) -> TicketTemplate | None:
    """The template a customer's message opens a ticket from; None: it does not read like a request.

    In order: the first keyword rule whose word occurs (ignoring case and width); else the template the
    words hint at (`guess_template`), or the template a category rule names for that template's type;
    else, when an urgency keyword occurs, the tenant's default template (the preset repair one if unset).
    A rule naming an inactive or deleted template is skipped rather than opening nothing."""
    active = {t.id: t for t in templates if t.active}
    keyword_rules = [r for r in settings.intake_rules if r.keyword is not None]
    for rule in keyword_rules:
        if rule.template_id in active and detect_urgency(text, [rule.keyword or ""]):
            return active[rule.template_id]
    guessed = guess_template(text, templates)
    if guessed is not None:
        by_category = next(
            (r for r in settings.intake_rules if r.category == guessed.type and r.template_id in active), None
        )
        return active[by_category.template_id] if by_category else guessed
    if detect_urgency(text, settings.urgency_keywords):
        return active.get(settings.default_template_id or "repair")
    return None


def check_intake(settings: TicketSettings, templates: list[TicketTemplate]) -> None:
    """Every template the settings name is one of the tenant's active templates (a 400 names each)."""
    active = {t.id for t in templates if t.active}
    named = [(f"intake_rules[{i}].template_id", r.template_id) for i, r in enumerate(settings.intake_rules)]
    if settings.default_template_id is not None:
        named.append(("default_template_id", settings.default_template_id))
    unknown = [{"field": f, "message": f"no active ticket template {t}"} for f, t in named if t not in active]
    if unknown:
        fields = ", ".join(d["field"] for d in unknown)
        raise InvalidInputError(f"unknown ticket templates in {fields}", details=unknown)


class HistoryEntry(BaseModel):
    """One step of a ticket: what was done, by whom, from which steps to which, and what changed."""

    seq: int  # the ticket version this entry produced
    at: datetime
    actor_id: str
    actor_role: str
    action: str  # "create", a workflow action, "assign", "update"
    node: str | None = None
    entered: list[str] = Field(default_factory=list)
    exited: list[str] = Field(default_factory=list)
    comment: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)  # the field values this step changed


class Ticket(BaseModel):
    id: str
    tenant_id: str
    template_id: str
    template_version: int
    type: str
    title: str
    priority: Priority
    urgent_keywords: list[str] = Field(default_factory=list)
    customer_id: str | None = None
    region: str | None = None
    store: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    workflow_id: str
    workflow_version: int  # pinned: publishing a new version does not move running tickets
    state: WorkflowState
    status: TicketStatus = TicketStatus.OPEN
    assignment: Assignment | None = None
    sla: TicketSla | None = None
    rating: Rating | None = None
    entered_at: dict[str, datetime] = Field(default_factory=dict)  # active steps → when entered
    last_exits: dict[str, float] = Field(default_factory=dict)  # steps the last step left → seconds spent
    source: TicketSource = TicketSource.API
    source_ref: str | None = None  # the order, message or ticket it came from
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    version: int = 1

    @property
    def ownership(self) -> Ownership:
        owner = self.assignment.assignee_id if self.assignment else None
        return Ownership(region=self.region, store=self.store, owner_id=owner)

    def guard_values(self) -> dict[str, Any]:
        """What workflow guards read: the fields plus the built-ins (priority, cross_region)."""
        return {
            **self.fields,
            "priority": str(self.priority),
            "cross_region": bool(self.fields.get("cross_region")),
        }


def new_ticket_id() -> str:
    return new_id("tkt")


def ticket_id_for(source: TicketSource, ref: str, at: datetime) -> str:
    """The same id for the same source record (an order, a message): opening it twice is one ticket."""
    digest = hashlib.sha256(f"{source}:{ref}".encode()).digest()
    return new_id("tkt", now_ms=int(at.timestamp() * 1000), entropy=digest[:10])


def open_ticket(
    *,
    tenant_id: str,
    template: TicketTemplate,
    workflow: WorkflowDefinition,
    fields: dict[str, Any],
    priority: Priority,
    urgent_keywords: list[str],
    creator: Performer,
    at: datetime,
    customer_id: str | None = None,
    region: str | None = None,
    store: str | None = None,
    title: str | None = None,
    description: str | None = None,
    source: TicketSource = TicketSource.API,
    source_ref: str | None = None,
    ticket_id: str | None = None,
    complete: bool = True,
) -> tuple[Ticket, Step, HistoryEntry]:
    """A new ticket with its fields validated and its workflow started (automatic first moves taken, e.g.
    an urgent ticket skipping triage). `complete=False` accepts missing required fields: a ticket opened
    from a message or an order is completed by the agent at triage."""
    values = {
        k: v for k, v in validate_fields(template, fields, partial=not complete).items() if v is not None
    }
    ticket = Ticket(
        id=ticket_id or new_ticket_id(),
        tenant_id=tenant_id,
        template_id=template.id,
        template_version=template.version,
        type=template.type,
        title=(title or render_title(template, values) or template.name)[:MAX_TITLE],
        priority=priority,
        urgent_keywords=urgent_keywords,
        customer_id=customer_id,
        region=region,
        store=store,
        fields=values,
        description=description,
        workflow_id=workflow.id,
        workflow_version=workflow.version,
        state=WorkflowState(),
        source=source,
        source_ref=source_ref,
        created_by=creator.user_id,
        created_at=at,
        updated_at=at,
    )
    step = start(workflow, ticket.guard_values())
    _follow(ticket, step, at)
    entry = HistoryEntry(
        seq=ticket.version,
        at=at,
        actor_id=creator.user_id,
        actor_role=str(creator.role),
        action="create",
        entered=step.entered,
        exited=step.exited,
        fields=values,
    )
    return ticket, step, entry


def transition(
    ticket: Ticket,
    *,
    template: TicketTemplate | None,
    workflow: WorkflowDefinition,
    action: str,
    performer: Performer,
    at: datetime,
    fields: dict[str, Any] | None = None,
    comment: str | None = None,
    node: str | None = None,
) -> tuple[Ticket, Step, HistoryEntry]:
    """The ticket after `action`: field changes validated against the template first (guards read the new
    values, e.g. a compensation amount entered with the submit), then the workflow step."""
    if fields and template is None:
        raise ValueError("changing fields needs the ticket's template to validate them")
    changed = validate_fields(template, fields, partial=True) if fields and template else {}
    after = ticket.model_copy(deep=True)
    after.fields = {k: v for k, v in {**after.fields, **changed}.items() if v is not None}
    step = apply(
        workflow,
        ticket.state,
        action,
        performer=performer,
        fields=after.guard_values(),
        at=at,
        node=node,
        comment=comment,
    )
    _check_dispatched(ticket, workflow, step)
    after.version = ticket.version + 1
    _follow(after, step, at)
    entry = HistoryEntry(
        seq=after.version,
        at=at,
        actor_id=performer.user_id,
        actor_role=str(performer.role),
        action=action,
        node=node,
        entered=step.entered,
        exited=step.exited,
        comment=comment,
        fields=changed,
    )
    return after, step, entry


def _check_dispatched(ticket: Ticket, workflow: WorkflowDefinition, step: Step) -> None:
    """A step that dispatches to an engineer (its `assign` action names the engineer role) is completed only
    once an engineer holds the ticket: otherwise the work, and the engineer's share of the bill, would
    belong to nobody. Leaving it for an end step (cancelling) needs no one."""
    if ticket.assignment is not None:
        return
    nodes = {n.id: n for n in workflow.nodes}
    if all(nodes[n].kind is NodeKind.END for n in step.entered if n in nodes):
        return
    for node_id in step.exited:
        node = nodes.get(node_id)
        if node is not None and any(
            a.type is NodeActionType.ASSIGN and a.params.get("role") == Role.ENGINEER for a in node.on_enter
        ):
            raise ConflictError(
                f"'{node.name}' dispatches to an engineer: assign one before completing it",
                details=[
                    {
                        "field": "assignee",
                        "message": "no engineer is assigned (POST /v1/tickets/{id}/assign, or claim it)",
                    }
                ],
            )


def actions_for(ticket: Ticket, workflow: WorkflowDefinition, performer: Performer) -> list[dict[str, Any]]:
    return [
        a.model_dump()
        for a in allowed_actions(workflow, ticket.state, performer=performer, fields=ticket.guard_values())
    ]


def _follow(ticket: Ticket, step: Step, at: datetime) -> None:
    # Time in each step, for the workflow's per-step statistics: the exits of this step are measured
    # against when their steps were entered.
    ticket.last_exits = {
        n: (at - ticket.entered_at[n]).total_seconds() for n in step.exited if n in ticket.entered_at
    }
    for n in step.exited:
        ticket.entered_at.pop(n, None)
    for n in step.entered:
        ticket.entered_at[n] = at
    ticket.state = step.state
    ticket.updated_at = at
    was = ticket.status
    ticket.status = TicketStatus.CLOSED if step.done else TicketStatus.OPEN
    if ticket.status is TicketStatus.CLOSED and was is not TicketStatus.CLOSED:
        ticket.closed_at = at
    elif ticket.status is TicketStatus.OPEN:
        ticket.closed_at = None
