"""Work-order tickets: templates (presets a tenant may edit), workflow versions, tickets and their steps.

Every ticket step is one conditional transactional write (the ticket at the version read, its history
entry, the customer's timeline event); the effects the workflow reports for the steps entered (notify,
assign, timers) are published as domain events for the workers that carry them out."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.access import (
    Permission,
    Principal,
    Role,
    Scope,
    ScopeKind,
    can_act_on_ticket,
    can_read,
    in_scope,
)
from chalicelib.domain.common import Clock, ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from chalicelib.domain.configuration import ConfigKind
from chalicelib.domain.customers import IdentityIn
from chalicelib.domain.notifications import NotificationRequest, RecipientKind
from chalicelib.domain.orders import Order
from chalicelib.domain.ticket_templates import (
    PLATFORMS,
    FieldType,
    Priority,
    TicketTemplate,
    detect_urgency,
    effective_priority,
    preset_templates,
    validate_fields,
)
from chalicelib.domain.tickets import (
    FOLLOW_UP_AT_OR_BELOW,
    HistoryEntry,
    Rating,
    Ticket,
    TicketSettings,
    TicketSource,
    TicketStatus,
    actions_for,
    check_intake,
    intake_template,
    open_ticket,
    ticket_id_for,
    transition,
)
from chalicelib.domain.timeline import Actor, ActorType, TimelineEvent
from chalicelib.domain.workflows import (
    Node,
    NodeActionType,
    NodeKind,
    Performer,
    Step,
    WorkflowDefinition,
    preset_workflows,
    publish,
)
from chalicelib.services.cache import PROCESS_VERSIONS, ConfigCache, config_changed
from chalicelib.services.events import envelope
from chalicelib.services.ports import (
    ConfigVersions,
    CustomerRepository,
    Notifier,
    Page,
    PeopleDirectory,
    Publisher,
    TicketRepository,
    WorkflowStarter,
)
from chalicelib.services.resolver import IdentityResolver, Touch

if TYPE_CHECKING:
    from chalicelib.services.sla import SlaService

HISTORY_SHOWN = 50
MAX_CACHED_VERSIONS = 2000


class TicketDraft(BaseModel):
    """POST /v1/tickets."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    template_id: str = Field(min_length=1, max_length=64)
    customer_id: str | None = Field(default=None, max_length=64)
    fields: dict[str, Any] = Field(default_factory=dict)
    priority: Priority | None = None
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    region: str | None = Field(default=None, max_length=64)
    store: str | None = Field(default=None, max_length=64)


class TransitionCommand(BaseModel):
    """POST /v1/tickets/{id}/transitions."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=2000)
    fields: dict[str, Any] = Field(default_factory=dict)
    node: str | None = Field(
        default=None, max_length=64, description="the step, when several offer the action"
    )


class H5TicketRequest(BaseModel):
    """POST /v1/h5/tickets: the customer's own form (H5 page or mini program), sent by the tenant's H5
    backend with its API key. `request_id` makes a resubmitted form one ticket."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    request_id: str = Field(min_length=8, max_length=64)
    identities: list[IdentityIn] = Field(min_length=1, max_length=5, description="who fills in the form")
    name: str | None = Field(default=None, max_length=64)
    template_id: str = Field(min_length=1, max_length=64)
    fields: dict[str, Any] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=5000)


class TicketView(BaseModel):
    ticket: Ticket
    history: list[HistoryEntry] = Field(default_factory=list)
    allowed_actions: list[dict[str, Any]] = Field(default_factory=list)


class TicketService:
    def __init__(
        self,
        *,
        tickets: TicketRepository,
        customers: CustomerRepository,
        publisher: Publisher,
        clock: Clock,
        sla: SlaService | None = None,
        link_key: bytes = b"",
        starter: WorkflowStarter | None = None,
        notifier: Notifier | None = None,
        people: PeopleDirectory | None = None,
        resolver: IdentityResolver | None = None,
        config_versions: ConfigVersions = PROCESS_VERSIONS,
    ) -> None:
        self._resolver = resolver
        self._config_versions = config_versions
        self._starter = starter
        self._notifier = notifier
        self._people = people
        self._sla = sla
        self._link_key = link_key  # signs the customers' rating links
        self._tickets = tickets
        self._customers = customers
        self._publisher = publisher
        self._clock = clock
        # A published workflow version never changes: kept per process, so a transition reads only the
        # ticket (bounded: a tenant has a handful of workflows with a few versions each).
        self._versions: dict[tuple[str, str, int], WorkflowDefinition] = {}
        self._settings_cache: ConfigCache[str, TicketSettings] = ConfigCache(
            ConfigKind.TICKET_SETTINGS, config_versions
        )

    # -- templates -------------------------------------------------------------------------------
    def templates(self, *, principal: Principal) -> list[TicketTemplate]:
        """The preset library overlaid by the tenant's own templates (an edit of a preset replaces it)."""
        principal.require(Permission.TICKETS_READ)
        mine = {t.id: t for t in self._tickets.templates(principal.tenant_id)}
        presets = [mine.pop(t.id, t) for t in preset_templates()]
        return presets + sorted(mine.values(), key=lambda t: t.id)

    def template(self, *, principal: Principal, template_id: str) -> TicketTemplate:
        found = next((t for t in self.templates(principal=principal) if t.id == template_id), None)
        if found is None:
            raise NotFoundError(f"no ticket template {template_id}")
        return found

    def put_template(self, *, principal: Principal, template: TicketTemplate) -> TicketTemplate:
        """Create or edit a template; `template.version` is the version the editor read (0 for a new one)."""
        principal.require(Permission.WORKFLOWS_MANAGE)
        current = next((t for t in self.templates(principal=principal) if t.id == template.id), None)
        stored = {t.id for t in self._tickets.templates(principal.tenant_id)}
        self._workflow(principal.tenant_id, template.workflow_id, None)  # it must exist
        read = template.version
        if current is not None and read != current.version:
            raise InvalidInputError(
                f"template {template.id} is at version {current.version}: edit that version",
                details=[{"field": "version", "message": f"expected {current.version}"}],
            )
        saved = template.model_copy(update={"version": (current.version if current else 0) + 1})
        self._tickets.put_template(
            principal.tenant_id, saved, expected_version=read if template.id in stored else None
        )
        # Assignment (another process) caches templates: the next ticket is assigned by this version.
        config_changed(self._config_versions, principal.tenant_id, ConfigKind.TICKET_TEMPLATES)
        return saved

    # -- settings --------------------------------------------------------------------------------
    def settings(self, *, principal: Principal) -> TicketSettings:
        principal.require(Permission.TICKETS_READ)
        return self._settings(principal.tenant_id)

    def put_settings(self, *, principal: Principal, settings: TicketSettings) -> TicketSettings:
        principal.require(Permission.WORKFLOWS_MANAGE)
        check_intake(settings, self.templates(principal=principal))  # before anything is written
        self._tickets.put_settings(principal.tenant_id, settings)
        self._settings_cache.changed(principal.tenant_id, principal.tenant_id)
        return settings

    def _settings(self, tenant_id: str) -> TicketSettings:
        """Read on every ticket opened: cached per process while the tenant's settings counter stands."""
        return self._settings_cache.get(
            tenant_id, tenant_id, lambda: self._tickets.settings(tenant_id) or TicketSettings()
        )

    # -- workflows -------------------------------------------------------------------------------
    def workflows(self, *, principal: Principal) -> list[WorkflowDefinition]:
        principal.require(Permission.TICKETS_READ)
        latest: dict[str, WorkflowDefinition] = {w.id: w for w in preset_workflows()}
        for w in self._tickets.workflows(principal.tenant_id):
            if w.id not in latest or w.version > latest[w.id].version:
                latest[w.id] = w
        return sorted(latest.values(), key=lambda w: w.id)

    def workflow(self, *, principal: Principal, workflow_id: str, version: int | None) -> WorkflowDefinition:
        principal.require(Permission.TICKETS_READ)
        return self._workflow(principal.tenant_id, workflow_id, version)

    def publish_workflow(self, *, principal: Principal, draft: WorkflowDefinition) -> WorkflowDefinition:
        """Validate (every problem listed) and store as the next version; running tickets keep theirs."""
        principal.require(Permission.WORKFLOWS_MANAGE)
        checked = publish(draft)
        try:
            latest = self._workflow(principal.tenant_id, draft.id, None).version
        except NotFoundError:
            latest = 0
        published = checked.model_copy(update={"version": latest + 1})
        self._tickets.add_workflow_version(principal.tenant_id, published)
        return published

    def _workflow(self, tenant_id: str, workflow_id: str, version: int | None) -> WorkflowDefinition:
        if version is not None and (cached := self._versions.get((tenant_id, workflow_id, version))):
            return cached
        found = self._tickets.workflow(tenant_id, workflow_id, version)
        if found is None:
            # A preset is version 1 and a tenant's first publish is version 2, so a stored version never
            # shadows the preset's: both are immutable and cacheable alike.
            preset = next((w for w in preset_workflows() if w.id == workflow_id), None)
            found = preset if preset is not None and version in (None, preset.version) else None
        if found is None:
            raise NotFoundError(f"no workflow {workflow_id}" + (f" version {version}" if version else ""))
        if len(self._versions) < MAX_CACHED_VERSIONS:
            self._versions[(tenant_id, workflow_id, found.version)] = found
        return found

    # -- tickets ---------------------------------------------------------------------------------
    def create(
        self,
        *,
        principal: Principal,
        draft: TicketDraft,
        source: TicketSource = TicketSource.API,
        source_ref: str | None = None,
        ticket_id: str | None = None,
        complete: bool = True,
    ) -> TicketView:
        principal.require(Permission.TICKETS_WRITE)
        tid = principal.tenant_id
        template = self.template(principal=principal, template_id=draft.template_id)
        if not template.active:
            raise InvalidInputError(
                f"template {template.id} is not active",
                details=[{"field": "template_id", "message": "inactive"}],
            )
        region, store = draft.region, draft.store
        if draft.customer_id:
            customer = self._customers.get(tid, draft.customer_id)
            if customer is None or not in_scope(principal, customer.ownership):
                raise NotFoundError(f"no customer {draft.customer_id}")
            region, store = region or customer.region, store or customer.store
        text = " ".join(
            str(v) for v in (draft.title, draft.description, *draft.fields.values()) if isinstance(v, str)
        )
        matched = detect_urgency(text, self._settings(tid).urgency_keywords)
        workflow = self._workflow(tid, template.workflow_id, None)
        now = self._clock.now()
        ticket, step, entry = open_ticket(
            tenant_id=tid,
            template=template,
            workflow=workflow,
            fields=draft.fields,
            priority=effective_priority(template, draft.priority, matched),
            urgent_keywords=matched,
            creator=Performer.of(principal),
            at=now,
            customer_id=draft.customer_id,
            region=region,
            store=store,
            title=draft.title,
            description=draft.description,
            source=source,
            source_ref=source_ref,
            ticket_id=ticket_id,
            complete=complete,
        )
        if self._sla is not None:
            ticket = self._sla.attach(ticket, template.sla_policy_id)
        self._tickets.create(ticket, entry, self._timeline(ticket, entry, principal))
        if self._sla is not None:
            self._sla.start_timer(ticket)
        self._waits(ticket, step, workflow)
        self._announce(ticket, step, "ticket.created")
        return self._view(principal, ticket, [entry])

    # -- tickets opened by the system -------------------------------------------------------------
    def from_h5(self, *, principal: Principal, request: H5TicketRequest) -> TicketView:
        """The customer's own form: the customer is resolved from the identities the form carries (created
        if new, like any touchpoint), the fields are validated by the template (a 400 names each), and a
        resubmission with the same request id returns the same ticket. Integration keys only (ingestion)."""
        principal.require(Permission.INGEST)
        if self._resolver is None:
            raise InvalidInputError("H5 tickets are not configured")
        template = self.template(principal=_system(principal.tenant_id), template_id=request.template_id)
        validate_fields(template, request.fields)  # before anything is written
        now = self._clock.now()
        resolved = self._resolver.touch(
            Touch(
                tenant_id=principal.tenant_id,
                identities=[i.to_identity() for i in request.identities],
                kind="h5.ticket_requested",
                source="h5",
                at=now,
                actor=Actor(type=ActorType.INTEGRATION, id="h5"),
                data={"template_id": template.id, "request_id": request.request_id},
                idempotency_key=f"h5:{request.request_id}",
                name_hint=request.name,
                principal=principal,  # creating or merging customers is checked on the effect itself
            )
        )
        ticket_id = ticket_id_for(TicketSource.H5, request.request_id, datetime(2000, 1, 1, tzinfo=UTC))
        existing = self._tickets.get(principal.tenant_id, ticket_id)
        if existing is not None:
            return self._view(principal, existing, [])
        draft = TicketDraft(
            template_id=template.id,
            customer_id=resolved.customer_id,
            fields=request.fields,
            description=request.description,
        )
        try:
            return self.create(
                principal=_system(principal.tenant_id),
                draft=draft,
                source=TicketSource.H5,
                source_ref=request.request_id,
                ticket_id=ticket_id,
            )
        except ConflictError:  # the same form twice at once
            found = self._tickets.get(principal.tenant_id, ticket_id)
            if found is None:
                raise
            return self._view(principal, found, [])

    def from_customer_message(
        self, *, tenant_id: str, customer_id: str, text: str, at: datetime, source: TicketSource, ref: str
    ) -> Ticket | None:
        """A customer's message (WeCom chat, customer service, H5). Added to their open ticket as a customer
        message (the SLA's next-response clock); otherwise, when it reads like a request (a template's
        hints or an urgency keyword: 空调漏水 → an urgent repair), it opens a ticket the agent completes at
        triage. The ticket id derives from the message, so a redelivery opens nothing twice."""
        system = _system(tenant_id)
        open_now = [
            t
            for t in self._tickets.for_customer(tenant_id, customer_id, limit=10, cursor=None).items
            if t.status is TicketStatus.OPEN
        ]
        if open_now:
            if self._sla is not None and open_now[0].created_at < at:
                self.sla_event(principal=system, ticket_id=open_now[0].id, action="customer_message")
            return open_now[0]
        draft = self._draft_from_text(system, text, customer_id=customer_id, description=text[:5000])
        return self._open_from(system, draft, source, ref, at) if draft else None

    def from_staff_message(
        self, *, tenant_id: str, staff_userid: str, text: str, at: datetime, ref: str
    ) -> Ticket | None:
        """A staff member texts the tenant's WeCom app (e.g. "3号店 空调漏水 需要维修"): when it reads like a
        request (a template's hints or an urgency keyword), a ticket opens for the agents to complete at
        triage; no customer yet. One per message (the id derives from it)."""
        system = _system(tenant_id)
        description = f"{text[:4900]}\n（企业微信 {staff_userid} 报单）"
        draft = self._draft_from_text(system, text, customer_id=None, description=description)
        return self._open_from(system, draft, TicketSource.WECOM, ref, at) if draft else None

    def _draft_from_text(
        self, system: Principal, text: str, *, customer_id: str | None, description: str
    ) -> TicketDraft | None:
        """A message that reads like a request: the template the tenant's intake rules pick, the text in
        the template's first required text field. None: not a request."""
        template = intake_template(text, self._settings(system.tenant_id), self.templates(principal=system))
        if template is None:
            return None
        first_text = next((f.key for f in template.fields if f.required and f.type is FieldType.TEXT), None)
        return TicketDraft(
            template_id=template.id,
            customer_id=customer_id,
            fields={first_text: text[:2000]} if first_text else {},
            description=description,
        )

    def from_order(self, *, tenant_id: str, order: Order, requested_at: datetime) -> Ticket | None:
        """A refund requested on a shop order opens one return ticket, linked to the order and routed to the
        warehouse and finance (the return workflow's parallel steps)."""
        system = _system(tenant_id)
        draft = TicketDraft(
            template_id="return_exchange",
            customer_id=order.customer_id,
            fields={
                "order_id": order.order_id,
                "platform": order.platform if order.platform in PLATFORMS else "generic",
                **({"refund_amount": f"{order.total_amount:.2f}"} if order.total_amount is not None else {}),
            },
            title=f"{order.platform} 订单 {order.order_id} 退款",
        )
        return self._open_from(
            system, draft, TicketSource.ORDER, f"{order.platform}:{order.order_id}", requested_at
        )

    def _open_from(
        self, system: Principal, draft: TicketDraft, source: TicketSource, ref: str, at: datetime
    ) -> Ticket | None:
        ticket_id = ticket_id_for(source, ref, at)
        existing = self._tickets.get(system.tenant_id, ticket_id)
        if existing is not None and existing.customer_id is None and draft.customer_id:
            return self._link_customer(system, existing, draft.customer_id)
        if existing is not None:
            return existing
        try:
            return self.create(
                principal=system,
                draft=draft,
                source=source,
                source_ref=ref,
                ticket_id=ticket_id,
                complete=False,
            ).ticket
        except ConflictError:  # a concurrent delivery of the same record opened it first
            return self._tickets.get(system.tenant_id, ticket_id)

    # -- satisfaction ------------------------------------------------------------------------------
    def rating_link_token(self, ticket: Ticket) -> str:
        """What the rating request carries: the tenant and ticket, signed (the customer has no API key)."""
        body = f"{ticket.tenant_id}.{ticket.id}"
        return f"{body}.{self._sign(body)}"

    def rate_by_token(self, *, token: str, score: int, comment: str | None) -> Ticket:
        tenant_id, ticket_id = self._rating_link(token)
        return self._rate(_system(tenant_id), ticket_id, score, comment, by="customer")

    def ticket_by_rating_link(self, *, token: str) -> Ticket:
        """The ticket a rating link names, for the customer's rating page (NotFound for a forged link)."""
        tenant_id, ticket_id = self._rating_link(token)
        ticket = self._tickets.get(tenant_id, ticket_id)
        if ticket is None:
            raise NotFoundError("no such rating link")
        return ticket

    def _rating_link(self, token: str) -> tuple[str, str]:
        tenant_id, _, rest = token.partition(".")
        ticket_id, _, sig = rest.partition(".")
        if not (tenant_id and ticket_id and hmac.compare_digest(sig, self._sign(f"{tenant_id}.{ticket_id}"))):
            raise NotFoundError("no such rating link")
        return tenant_id, ticket_id

    def rate(self, *, principal: Principal, ticket_id: str, score: int, comment: str | None) -> TicketView:
        """Staff record a rating the customer gave them (by phone, in the shop)."""
        principal.require(Permission.TICKETS_WRITE)
        ticket = self._rate(principal, ticket_id, score, comment, by=principal.user_id)
        return self._view(principal, ticket, [])

    def _rate(
        self, principal: Principal, ticket_id: str, score: int, comment: str | None, *, by: str
    ) -> Ticket:
        ticket = self._tickets.get(principal.tenant_id, ticket_id)
        if ticket is None or not in_scope(principal, ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        if ticket.status is not TicketStatus.CLOSED:
            raise ConflictError("only a closed ticket can be rated")
        if ticket.rating is not None:
            raise ConflictError(
                "this ticket was rated already", details=[{"field": "score", "message": "rated"}]
            )
        now = self._clock.now()
        after = ticket.model_copy(
            update={
                "rating": Rating(score=score, comment=comment, at=now, by=by),
                "version": ticket.version + 1,
                "updated_at": now,
            }
        )
        entry = HistoryEntry(
            seq=after.version,
            at=now,
            actor_id=by,
            actor_role="customer" if by == "customer" else str(principal.role),
            action="rate",
            comment=comment,
            fields={"score": score},
        )
        self._tickets.save(
            after, expected_version=ticket.version, entry=entry, event=self._timeline(after, entry, principal)
        )
        self._publisher.publish(
            [
                envelope(
                    "ticket.rated",
                    after.tenant_id,
                    f"{after.id}:rated",
                    {"ticket_id": after.id, "score": score, "status": str(after.status)},
                )
            ]
        )
        return after

    def follow_up(self, *, tenant_id: str, ticket_id: str) -> Ticket | None:
        """A low rating (≤ 2) opens one follow-up ticket for the customer: a complaint, high priority,
        pointing at the rated ticket (events worker; a redelivery opens nothing twice)."""
        ticket = self._tickets.get(tenant_id, ticket_id)
        if ticket is None or ticket.rating is None or ticket.rating.score > FOLLOW_UP_AT_OR_BELOW:
            return None
        comment = f"：{ticket.rating.comment}" if ticket.rating.comment else ""
        draft = TicketDraft(
            template_id="complaint",
            customer_id=ticket.customer_id,
            fields={"details": f"工单 {ticket.id}（{ticket.title}）客户评分 {ticket.rating.score}{comment}"},
            priority=Priority.HIGH,
            title=f"回访：{ticket.title}"[:200],
            region=ticket.region,
            store=ticket.store,
        )
        return self._open_from(_system(tenant_id), draft, TicketSource.FOLLOW_UP, ticket.id, ticket.rating.at)

    def _sign(self, body: str) -> str:
        return hmac.new(self._link_key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def _link_customer(self, system: Principal, ticket: Ticket, customer_id: str) -> Ticket:
        """A ticket opened before its customer was known (an order whose buyer came later) gets linked."""
        after = ticket.model_copy(update={"customer_id": customer_id, "version": ticket.version + 1})
        customer = self._customers.get(ticket.tenant_id, customer_id)
        if customer is not None:
            after.region, after.store = after.region or customer.region, after.store or customer.store
        entry = HistoryEntry(
            seq=after.version,
            at=self._clock.now(),
            actor_id=system.user_id,
            actor_role=str(system.role),
            action="link_customer",
            fields={"customer_id": customer_id},
        )
        try:
            self._tickets.save(
                after,
                expected_version=ticket.version,
                entry=entry,
                event=self._timeline(after, entry, system),
            )
        except ConflictError:
            return self._tickets.get(ticket.tenant_id, ticket.id) or ticket
        return after

    def get(self, *, principal: Principal, ticket_id: str) -> TicketView:
        principal.require(Permission.TICKETS_READ)
        found = self._tickets.get_with_history(principal.tenant_id, ticket_id, HISTORY_SHOWN)
        if found is None or not in_scope(principal, found[0].ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        ticket, history = found
        return self._view(principal, ticket, history)

    def transition(self, *, principal: Principal, ticket_id: str, command: TransitionCommand) -> TicketView:
        """One step of the ticket's workflow. 409 with the allowed actions when the action is not possible
        now (or someone else moved the ticket first), 403 naming who may act when it is not the caller's."""
        principal.require(Permission.TICKETS_WRITE)
        ticket = self._tickets.get(principal.tenant_id, ticket_id)
        if ticket is None or not in_scope(principal, ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        # The template is read only to validate changed fields (its field specs); the step itself needs
        # only the ticket and its pinned workflow version.
        template = (
            self.template(principal=principal, template_id=ticket.template_id) if command.fields else None
        )
        workflow = self._workflow(principal.tenant_id, ticket.workflow_id, ticket.workflow_version)
        now = self._clock.now()
        after, step, entry = transition(
            ticket,
            template=template,
            workflow=workflow,
            action=command.action,
            performer=Performer.of(principal),
            at=now,
            fields=command.fields,
            comment=command.comment,
            node=command.node,
        )
        _check_may_act(principal, ticket)  # after the workflow's own answer (who may act in the step)
        restart = False
        if self._sla is not None:  # a staff step is a response; closing resolves; reopening re-arms
            after, restart = self._sla.follow(ticket, after, by_staff=True, at=now)
        self._tickets.save(
            after, expected_version=ticket.version, entry=entry, event=self._timeline(after, entry, principal)
        )
        if restart and self._sla is not None:
            self._sla.start_timer(after)
        self._waits(after, step, workflow)
        self._announce(after, step, f"ticket.{command.action}")
        return self._view(principal, after, [entry])

    def sla_event(self, *, principal: Principal, ticket_id: str, action: str) -> TicketView:
        """pause / resume (waiting on the customer), customer_message, agent_response."""
        principal.require(Permission.TICKETS_WRITE)
        if self._sla is None:
            raise InvalidInputError("SLAs are not configured")
        ticket = self._tickets.get(principal.tenant_id, ticket_id)
        if ticket is None or not in_scope(principal, ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        _check_may_act(principal, ticket)
        now = self._clock.now()
        after, restart = self._sla.clock_event(ticket, action, now)
        after.version = ticket.version + 1
        after.updated_at = now
        entry = HistoryEntry(
            seq=after.version,
            at=now,
            actor_id=principal.user_id,
            actor_role=str(principal.role),
            action=f"sla.{action}",
        )
        self._tickets.save(after, expected_version=ticket.version, entry=entry, event=None)
        if restart:
            self._sla.start_timer(after)
        return self._view(principal, after, [entry])

    def open_tickets(
        self, *, principal: Principal, assignee: str | None, limit: int, cursor: str | None
    ) -> Page[Ticket]:
        """The work queue: open tickets in the caller's data scope, nearest resolution deadline first.
        `assignee`: "me", "unassigned" or a user id; None for all of them."""
        principal.require(Permission.TICKETS_READ)
        unassigned = assignee == "unassigned"
        if assignee == "me":
            assignee = principal.user_id
        page = self._tickets.open_page(
            principal.tenant_id,
            assignee=None if unassigned else assignee,
            unassigned=unassigned,
            limit=limit,
            cursor=cursor,
        )
        return Page([t for t in page.items if in_scope(principal, t.ownership)], page.next_cursor)

    def for_customer(
        self, *, principal: Principal, customer_id: str, limit: int, cursor: str | None
    ) -> Page[Ticket]:
        principal.require(Permission.TICKETS_READ)
        customer = self._customers.get(principal.tenant_id, customer_id)  # an unknown one is a 404, not []
        if customer is None or not can_read(principal, customer.ownership):
            raise NotFoundError(f"no customer {customer_id}")
        page = self._tickets.for_customer(principal.tenant_id, customer_id, limit=limit, cursor=cursor)
        return Page([t for t in page.items if in_scope(principal, t.ownership)], page.next_cursor)

    # -- helpers ---------------------------------------------------------------------------------
    def _view(self, principal: Principal, ticket: Ticket, history: list[HistoryEntry]) -> TicketView:
        """The ticket with the actions the caller may take in its pinned workflow version (cached)."""
        workflow = self._workflow(ticket.tenant_id, ticket.workflow_id, ticket.workflow_version)
        try:
            mine = can_act_on_ticket(principal, ticket.ownership)
            allowed = actions_for(ticket, workflow, Performer.of(principal)) if mine else []
        except ForbiddenError:
            allowed = []
        return TicketView(ticket=ticket, history=history, allowed_actions=allowed)

    @staticmethod
    def _timeline(ticket: Ticket, entry: HistoryEntry, principal: Principal) -> TimelineEvent | None:
        if not ticket.customer_id:
            return None
        return TimelineEvent.record(
            tenant_id=ticket.tenant_id,
            customer_id=ticket.customer_id,
            kind="ticket.created" if entry.action == "create" else f"ticket.{entry.action}",
            at=entry.at,
            actor=Actor(type=ActorType.USER, id=principal.user_id),
            source="tickets",
            seq=entry.seq,
            data={
                "ticket_id": ticket.id,
                "title": ticket.title,
                "type": ticket.type,
                "status": str(ticket.status),
                "steps": entry.entered,
            },
        )

    def _waits(self, ticket: Ticket, step: Step, workflow: WorkflowDefinition) -> None:
        """Approval steps wait on Step Functions (functions/ticket_approval.asl.json): entering one starts
        an execution that holds a task token until the approvers decide (or escalates when they are late);
        leaving one returns the token. Both after the ticket's write committed."""
        if self._starter is None:
            return
        kinds = {n.id: n for n in workflow.nodes}
        for node_id in step.exited:
            if node_id in kinds and kinds[node_id].kind is NodeKind.APPROVAL:
                token = self._tickets.pop_wait_token(ticket.tenant_id, ticket.id, node_id)
                if token:
                    self._starter.succeed(token, {"decision": "decided", "version": ticket.version})
        for effect in step.effects:  # the designer's timers (auto-close after 72 h, reminders)
            if effect.type is NodeActionType.START_TIMER and effect.node in kinds:
                entered = ticket.entered_at.get(effect.node)
                name = str(effect.params.get("name", "timer"))
                self._starter.start(
                    NODE_TIMER,
                    f"{ticket.id}-{effect.node}-{name}-{ticket.version}",
                    {
                        "tenant_id": ticket.tenant_id,
                        "ticket_id": ticket.id,
                        "node": effect.node,
                        "timer": name,
                        "action": str(effect.params.get("action") or ""),
                        "entered_at": entered.isoformat() if entered else "",
                        "seconds": _timer_seconds(effect.params, DEFAULT_APPROVAL_TIMEOUT),
                    },
                )
        for node_id in step.entered:
            node = kinds.get(node_id)
            if node is None or node.kind is not NodeKind.APPROVAL:
                continue
            self._starter.start(
                APPROVAL_WAIT,
                f"{ticket.id}-{node_id}-{ticket.version}",
                {
                    "tenant_id": ticket.tenant_id,
                    "ticket_id": ticket.id,
                    "node": node_id,
                    "timeout_seconds": _approval_timeout(node),
                },
            )

    def rearm(self, ticket: Ticket) -> None:
        """Start again the waits an open ticket should have running (its SLA timer, its approval steps):
        for an environment whose Step Functions executions were lost (the local stack after a restart).
        Execution names make it harmless where they still run."""
        if ticket.status is TicketStatus.CLOSED:
            return
        if self._sla is not None:
            self._sla.start_timer(ticket)
        workflow = self._workflow(ticket.tenant_id, ticket.workflow_id, ticket.workflow_version)
        self._waits(ticket, Step(state=ticket.state, entered=list(ticket.state.active)), workflow)

    def timer_fired(
        self, tenant_id: str, ticket_id: str, node: str, timer: str, action: str, entered_at: str
    ) -> None:
        """A step's timer ran out. Only if the ticket is still in the step it was started in (same entry):
        its action is taken by the system (e.g. `confirm`: auto-close), or, without an action, the managers
        are reminded. A step left meanwhile makes the timer a no-op."""
        ticket = self._tickets.get(tenant_id, ticket_id)
        entered = ticket.entered_at.get(node) if ticket else None
        if ticket is None or entered is None or entered.isoformat() != entered_at:
            return
        system = _system(tenant_id)
        if action:
            try:
                self.transition(
                    principal=system,
                    ticket_id=ticket_id,
                    command=TransitionCommand(action=action, node=node, comment=f"定时器 {timer}"),
                )
            except ConflictError:
                return  # no longer possible (moved meanwhile, or a redelivery already did it)
            return
        if self._notifier is not None and self._people is not None:
            managers = self._people.managers_for(tenant_id, region=ticket.region, store=ticket.store)
            assignee = [ticket.assignment.assignee_id] if ticket.assignment else []
            self._notifier.notify(
                [
                    NotificationRequest(
                        tenant_id=tenant_id,
                        event="ticket.status_changed",
                        recipient_kind=RecipientKind.USER,
                        recipient_id=user,
                        data={"ticket_id": ticket.id, "title": ticket.title, "status": f"超时提醒：{node}"},
                        idempotency_key=f"timer:{ticket.id}:{node}:{timer}:{entered_at}:{user}",
                        ticket_id=ticket.id,
                    )
                    for user in dict.fromkeys(assignee + managers)
                ]
            )

    def approval_waiting(self, tenant_id: str, ticket_id: str, node: str, token: str) -> None:
        """The approval execution's token arrived (SLA/timers queue): keep it for the decision, or answer at
        once when the approvers were quicker than the queue."""
        assert self._starter is not None
        ticket = self._tickets.get(tenant_id, ticket_id)
        if ticket is None or node not in ticket.state.active:
            self._starter.succeed(token, {"decision": "decided"})
            return
        self._tickets.put_wait_token(tenant_id, ticket_id, node, token)

    def approval_overdue(self, tenant_id: str, ticket_id: str, node: str) -> None:
        """Nobody decided in time: the approvers' managers are told (once per approval step entered)."""
        ticket = self._tickets.get(tenant_id, ticket_id)
        if (
            ticket is None
            or node not in ticket.state.active
            or self._notifier is None
            or self._people is None
        ):
            return
        managers = self._people.managers_for(tenant_id, region=ticket.region, store=ticket.store)
        entered = ticket.entered_at.get(node)
        key = f"approval-overdue:{ticket.id}:{node}:{entered.isoformat() if entered else ''}"
        self._notifier.notify(
            [
                NotificationRequest(
                    tenant_id=tenant_id,
                    event="ticket.status_changed",
                    recipient_kind=RecipientKind.USER,
                    recipient_id=manager,
                    data={"ticket_id": ticket.id, "title": ticket.title, "status": f"审批超时：{node}"},
                    idempotency_key=f"{key}:{manager}",
                    ticket_id=ticket.id,
                    urgent=True,
                )
                for manager in managers
            ]
        )

    def _announce(self, ticket: Ticket, step: Step, kind: str) -> None:
        """The step and the effects of the steps entered, for the workers (assignment, notifications,
        timers) to carry out."""
        self._publisher.publish(
            [
                envelope(
                    kind,
                    ticket.tenant_id,
                    f"{ticket.id}:{ticket.version}",
                    {
                        "ticket_id": ticket.id,
                        "version": ticket.version,
                        "status": str(ticket.status),
                        "workflow_id": ticket.workflow_id,
                        "workflow_version": ticket.workflow_version,
                        "entered": step.entered,
                        "exited": ticket.last_exits,  # step → seconds spent in it
                        "effects": [e.model_dump(mode="json") for e in step.effects],
                    },
                )
            ]
        )


APPROVAL_WAIT = "ticket_approval"  # the state machine's logical id (chalicelib/resources.py)
DEFAULT_APPROVAL_TIMEOUT = 24 * 3600


NODE_TIMER = "ticket_timer"


def _timer_seconds(params: dict[str, Any], default: int) -> int:
    seconds = (
        int(params.get("hours", 0)) * 3600
        + int(params.get("minutes", 0)) * 60
        + int(params.get("seconds", 0))
    )
    return seconds if seconds > 0 else default


def _approval_timeout(node: Node) -> int:
    """Seconds the approvers have: the step's own timer (hours/minutes/seconds) if the designer set one."""
    for action in node.on_enter:
        if action.type is NodeActionType.START_TIMER:
            return _timer_seconds(action.params, DEFAULT_APPROVAL_TIMEOUT)
    return DEFAULT_APPROVAL_TIMEOUT


def _check_may_act(principal: Principal, ticket: Ticket) -> None:
    if not can_act_on_ticket(principal, ticket.ownership):
        held = "assigned to someone else" if ticket.assignment else "not assigned to you"
        raise ForbiddenError(
            f"ticket {ticket.id} is {held}: you act on tickets assigned to you "
            f"(acting on any ticket in your scope needs {Permission.TICKETS_ACT_IN_SCOPE.value})",
            details=[{"field": "assignee", "message": held}],
        )


def _system(tenant_id: str) -> Principal:
    """Who opens tickets from messages and orders: the system, with an admin's reach in its tenant."""
    return Principal(tenant_id=tenant_id, user_id="system", role=Role.ADMIN, scope=Scope(kind=ScopeKind.ALL))
