"""Assigning work-order tickets to staff: the scored engine (domain/assignment.py) applied to stored
tickets, staff loads and a waiting queue.

Every assignment is one transactional write (store/assignments.py): the ticket at the version read with
its `assignment` (score breakdown included), an "assign" history entry, a load marker on the ticket (who
holds its unit of open_load), the assignee's `open_load` + 1 (conditional on free capacity unless a
manager overrides), the previous holder's − 1, and the ticket's queue entry removed. So a ticket is
assigned once however many workers race for it, and loads always equal the open tickets held: a retried
release or assignment finds the marker already changed and does nothing twice.

A ticket nobody can take waits in the queue (oldest first). `release` (a ticket closed or cancelled) frees
the assignee's load and drains the queue with `drain_queue` semantics: what nobody can take is skipped,
not head-of-line blocking."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.domain.access import Ownership, Permission, Principal, Role, ScopeKind, in_scope
from chalicelib.domain.assignment import (
    DEFAULT_TIMEZONE,
    AssignmentWeights,
    Decision,
    IneligibleReason,
    Location,
    QueueReason,
    ScoreBreakdown,
    SkillLevel,
    StaffProfile,
    TicketNeeds,
    Weekday,
    can_claim,
    choose,
    drain_queue,
    score,
)
from chalicelib.domain.common import Clock, ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from chalicelib.domain.configuration import ConfigKind
from chalicelib.domain.customers import Customer
from chalicelib.domain.notifications import Channel
from chalicelib.domain.phones import mask_phone, normalize_phone
from chalicelib.domain.ticket_templates import TicketTemplate, preset_templates
from chalicelib.domain.tickets import Assignment, HistoryEntry, Ticket, TicketStatus
from chalicelib.services.cache import PROCESS_VERSIONS, ConfigCache
from chalicelib.services.ports import (
    AssignmentStore,
    AssignmentWrite,
    ConfigVersions,
    CustomerLookup,
    QueuedTicket,
    Roster,
    StaffRecord,
    StaffRepository,
    TemplateSource,
    TicketSnapshot,
    UserDirectory,
)

ENGINE = "engine"  # Assignment.by / HistoryEntry.actor_id of automatic assignments
ATTEMPTS = 4  # re-reads after a conflicting write (ticket changed, staff filled up) before giving up
QUEUE_BATCH = 200  # oldest queued tickets offered per drain pass
_MANAGERS = (Role.ADMIN, Role.MANAGER)

R = TypeVar("R")


# -- models ---------------------------------------------------------------------------------------------
class StaffProfileDraft(BaseModel):
    """PUT /v1/staff/{user_id}: the profile an admin or manager edits. The counters (open_load, rating,
    ratings_count, last_assigned_at) are kept by the system and never written from here."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=100, description="default: the user's name")
    region: str | None = Field(default=None, max_length=64)
    store: str | None = Field(default=None, max_length=64)
    skills: dict[str, SkillLevel] = Field(default_factory=dict, max_length=50)
    senior: bool = False
    capacity: int = Field(default=10, ge=0, le=1000)
    shifts: dict[Weekday, list[tuple[time, time]]] = Field(
        default_factory=dict, description='weekday (Monday = 0) → [["09:00", "18:00"], …] local times'
    )
    off_dates: list[date] = Field(default_factory=list, max_length=366)
    timezone: str = DEFAULT_TIMEZONE
    location: Location | None = None
    active: bool = True
    manager_id: str | None = Field(default=None, max_length=64)
    wecom_userid: str | None = Field(
        default=None, max_length=64, description="the WeCom member id (userid) for app messages"
    )
    phone: str | None = Field(
        default=None,
        max_length=32,
        description="for SMS and voice calls; stored encrypted and shown masked. Omitted or the masked "
        "number shown: unchanged; null or empty: removed",
    )
    version: int = Field(default=0, ge=0, description="the version read; 0 for a new profile")

    @field_validator("wecom_userid")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if not v or "*" in v:  # removed, or the masked number a GET showed (checked against the stored one)
            return v or None
        try:
            return normalize_phone(v)
        except InvalidInputError as e:
            raise ValueError(e.message) from None

    @property
    def keeps_phone(self) -> bool:
        """The stored phone stays: the draft has none (the API never shows it) or the masked one shown."""
        return "phone" not in self.model_fields_set or (self.phone is not None and "*" in self.phone)

    @model_validator(mode="after")
    def _valid_profile(self) -> StaffProfileDraft:
        try:
            self.profile("validation")  # the engine's own validators (times, timezone) decide
        except ValidationError as e:
            raise ValueError("; ".join(str(err["msg"]) for err in e.errors())) from None
        return self

    def profile(
        self, user_id: str, default_name: str = "", *, current_phone: str | None = None
    ) -> StaffProfile:
        data = self.model_dump(exclude={"version", "phone"})
        data["name"] = data["name"] or default_name
        data["phone"] = current_phone if self.keeps_phone else self.phone
        return StaffProfile.model_validate({"user_id": user_id, **data})


class StaffList(BaseModel):
    items: list[StaffRecord]


class QueueList(BaseModel):
    items: list[QueuedTicket]


class OutcomeStatus(StrEnum):
    ASSIGNED = "assigned"
    QUEUED = "queued"
    UNCHANGED = "unchanged"  # already assigned (and holding its load): nothing to do
    CLOSED = "closed"  # a closed ticket is not assigned


class AssignmentOutcome(BaseModel):
    ticket_id: str
    status: OutcomeStatus
    assignee_id: str | None = None
    queue_reason: QueueReason | None = None
    decision: Decision | None = None  # the engine's explanation, when it decided


class ReleaseOutcome(BaseModel):
    ticket_id: str
    released_from: str | None  # whose load went down (None: nobody held the ticket)
    drained: list[AssignmentOutcome] = Field(default_factory=list)


TemplateOf = Callable[[str, str], TicketTemplate | None]


class TemplateCatalog:
    """`template_of` for the service: the presets overlaid by the tenant's own templates, kept per process
    while the tenant's templates counter stands (this keeps a Query off every assignment; an edit the API
    acknowledged applies to the next assignment)."""

    def __init__(self, source: TemplateSource, *, config_versions: ConfigVersions = PROCESS_VERSIONS) -> None:
        self._source = source
        self._cache: ConfigCache[str, dict[str, TicketTemplate]] = ConfigCache(
            ConfigKind.TICKET_TEMPLATES, config_versions
        )

    def __call__(self, tenant_id: str, template_id: str) -> TicketTemplate | None:
        return self._cache.get(tenant_id, tenant_id, lambda: self._load(tenant_id)).get(template_id)

    def _load(self, tenant_id: str) -> dict[str, TicketTemplate]:
        templates = {t.id: t for t in preset_templates()}
        templates.update((t.id, t) for t in self._source.templates(tenant_id))
        return templates


class StaffDirectoryContacts:
    """The notification service's `StaffContacts` port over the staff profiles (one GetItem a lookup): WeCom
    app messages to the profile's `wecom_userid`, SMS and voice calls to its phone (decrypted by the store).
    A user without a profile, or without these details, has no address for those channels."""

    def __init__(self, staff: StaffRepository) -> None:
        self._staff = staff

    def contacts(self, tenant_id: str, user_id: str) -> dict[Channel, str]:
        record = self._staff.get(tenant_id, user_id)
        if record is None:
            return {}
        found: dict[Channel, str] = {}
        if record.profile.wecom_userid:
            found[Channel.WECOM] = record.profile.wecom_userid
        if record.profile.phone:
            found[Channel.SMS] = found[Channel.VOICE] = record.profile.phone
        return found


def is_vip(customer: Customer) -> bool:
    """A tag named VIP, or a truthy `vip` attribute."""
    if any(name.strip().upper() == "VIP" for name in customer.tags.values()):
        return True
    flag = customer.attributes.get("vip")
    if isinstance(flag, str):
        return flag.strip().lower() in {"1", "true", "yes", "y", "是"}
    return bool(flag)


def _score_doc(breakdown: ScoreBreakdown, decision: Decision | None) -> dict[str, Any]:
    """JSON-safe (Decimals as strings) for Ticket.assignment.score and the history entry."""
    doc = breakdown.model_dump(mode="json")
    if decision is not None:
        doc["eligible_count"] = decision.eligible_count
        doc["ranking"] = [{"user_id": r.user_id, "total": str(r.total)} for r in decision.ranking]
    return doc


def _reasons_details(reasons: Sequence[IneligibleReason], name: str) -> list[dict[str, Any]]:
    return [{"field": name, "message": str(r)} for r in reasons]


# -- the service ------------------------------------------------------------------------------------------
class AssignmentService:
    def __init__(
        self,
        *,
        staff: StaffRepository,
        store: AssignmentStore,
        customers: CustomerLookup,
        users: UserDirectory,
        template_of: TemplateOf,
        clock: Clock,
        default_weights: AssignmentWeights | None = None,
    ) -> None:
        self._staff = staff
        self._store = store
        self._customers = customers
        self._users = users
        self._template_of = template_of
        self._clock = clock
        self._default_weights = default_weights or AssignmentWeights()

    # -- automatic -------------------------------------------------------------------------------
    def auto_assign(self, tenant_id: str, ticket_id: str) -> AssignmentOutcome:
        """Assign the ticket to the best eligible staff, or queue it. Idempotent: an assigned ticket whose
        assignee holds its load is left alone. A reopened ticket (its load was released on close) keeps its
        assignee if they are still eligible, else is chosen afresh under the same filters."""
        customers: dict[str, Customer | None] = {}

        def attempt() -> AssignmentOutcome:
            snap = self._snapshot(tenant_id, ticket_id)
            ticket = snap.ticket
            if ticket.status is TicketStatus.CLOSED:
                return AssignmentOutcome(ticket_id=ticket_id, status=OutcomeStatus.CLOSED)
            current = ticket.assignment.assignee_id if ticket.assignment else None
            if current is not None and snap.holder == current:
                return AssignmentOutcome(
                    ticket_id=ticket_id, status=OutcomeStatus.UNCHANGED, assignee_id=current
                )
            needs = self._needs(ticket, customers)
            roster = self._staff.roster(tenant_id)
            return self._decide(snap, needs, roster, self._clock.now())

        return self._retry(attempt)

    def _decide(
        self, snap: TicketSnapshot, needs: TicketNeeds, roster: Roster, now: datetime
    ) -> AssignmentOutcome:
        weights = roster.weights or self._default_weights
        ticket = snap.ticket
        current = roster.get(ticket.assignment.assignee_id) if ticket.assignment else None
        if current is not None and not can_claim(needs, current, now, weights=weights):  # no reasons
            # Reopened and the assignee can still take it: continuity wins, they take its load again.
            breakdown = score(needs, current, weights, now)
            self._write(snap, roster, current.user_id, _score_doc(breakdown, None), now, comment="reopened")
            return AssignmentOutcome(
                ticket_id=ticket.id, status=OutcomeStatus.ASSIGNED, assignee_id=current.user_id
            )
        decision = choose(needs, roster.staff, weights, now)
        if decision.assignee_id is None or decision.breakdown is None:
            self._store.enqueue(ticket, self._queued(ticket, needs, decision.queue_reason, now))
            return AssignmentOutcome(
                ticket_id=ticket.id,
                status=OutcomeStatus.QUEUED,
                queue_reason=decision.queue_reason,
                decision=decision,
            )
        doc = _score_doc(decision.breakdown, decision)
        self._write(snap, roster, decision.assignee_id, doc, now, comment=f"score {decision.breakdown.total}")
        return AssignmentOutcome(
            ticket_id=ticket.id,
            status=OutcomeStatus.ASSIGNED,
            assignee_id=decision.assignee_id,
            decision=decision,
        )

    # -- release and the queue -------------------------------------------------------------------
    def release(self, tenant_id: str, ticket_id: str) -> ReleaseOutcome:
        """The ticket closed or was cancelled: its holder's load − 1 (once, however often this runs), its
        queue entry removed, then the queue drained into the room that opened."""
        decrement = True
        for _ in range(ATTEMPTS):
            holder = self._snapshot(tenant_id, ticket_id).holder
            if holder is None:
                self._store.dequeue(tenant_id, ticket_id)
                return ReleaseOutcome(ticket_id=ticket_id, released_from=None)
            if self._store.release(tenant_id, ticket_id, holder, decrement=decrement):
                return ReleaseOutcome(
                    ticket_id=ticket_id, released_from=holder, drained=self.drain(tenant_id)
                )
            # Someone moved the marker first, or the holder's load is already 0 (or their profile is
            # gone): re-read both; never decrement below zero.
            record = self._staff.get(tenant_id, holder)
            decrement = record is not None and record.profile.open_load > 0
        raise ConflictError(f"ticket {ticket_id} kept changing while its load was released: retry")

    def drain(self, tenant_id: str) -> list[AssignmentOutcome]:
        """Offer the queued tickets, oldest first, to the staff (`drain_queue`: a ticket nobody can take is
        skipped). A conflicting write (a slot taken meanwhile) starts a new pass on fresh loads."""
        out: list[AssignmentOutcome] = []
        for _ in range(ATTEMPTS):
            waiting = self._store.queue(tenant_id, QUEUE_BATCH)
            if not waiting:
                return out
            roster = self._staff.roster(tenant_id, consistent=True)
            weights = roster.weights or self._default_weights
            now = self._clock.now()
            plan = drain_queue([q.waiting() for q in waiting], roster.staff, weights, now)
            try:
                for ticket_id, decision in plan:
                    if decision.assignee_id is not None:
                        out.append(self._assign_queued(tenant_id, ticket_id, decision, roster, now))
                return out
            except ConflictError:
                continue
        return out

    def _assign_queued(
        self, tenant_id: str, ticket_id: str, decision: Decision, roster: Roster, now: datetime
    ) -> AssignmentOutcome:
        snap = self._store.snapshot(tenant_id, ticket_id)
        if snap is None or snap.ticket.status is TicketStatus.CLOSED:
            self._store.dequeue(tenant_id, ticket_id)  # a stale entry: nothing to assign
            return AssignmentOutcome(ticket_id=ticket_id, status=OutcomeStatus.CLOSED)
        ticket = snap.ticket
        if ticket.assignment is not None and snap.holder == ticket.assignment.assignee_id:
            self._store.dequeue(tenant_id, ticket_id)
            return AssignmentOutcome(
                ticket_id=ticket_id, status=OutcomeStatus.UNCHANGED, assignee_id=snap.holder
            )
        assert decision.assignee_id is not None and decision.breakdown is not None
        doc = _score_doc(decision.breakdown, decision)
        self._write(snap, roster, decision.assignee_id, doc, now, comment="from the queue")
        return AssignmentOutcome(
            ticket_id=ticket_id, status=OutcomeStatus.ASSIGNED, assignee_id=decision.assignee_id
        )

    def queue(self, *, principal: Principal) -> list[QueuedTicket]:
        """The waiting tickets in the caller's scope, oldest first (`own` scopes see them all: a queued
        ticket has no owner yet, and claiming is how it gets one)."""
        principal.require(Permission.TICKETS_READ)
        items = self._store.queue(principal.tenant_id, QUEUE_BATCH)
        if principal.scope.kind is ScopeKind.OWN:
            return items
        return [
            q for q in items if in_scope(principal, Ownership(region=q.needs.region, store=q.needs.store))
        ]

    # -- people ----------------------------------------------------------------------------------
    def reassign(
        self, *, principal: Principal, ticket_id: str, user_id: str, reason: str
    ) -> AssignmentOutcome:
        """A manager or admin moves the ticket to `user_id`: the same filters as the engine, except that
        they may push someone over capacity."""
        if principal.role not in _MANAGERS:
            raise ForbiddenError("only managers and admins reassign tickets")
        customers: dict[str, Customer | None] = {}

        def attempt() -> AssignmentOutcome:
            snap = self._visible(principal, ticket_id)
            ticket = snap.ticket
            if ticket.assignment is not None and ticket.assignment.assignee_id == user_id == snap.holder:
                raise InvalidInputError(
                    f"ticket {ticket_id} is already assigned to {user_id}",
                    details=[{"field": "user_id", "message": "already the assignee"}],
                )
            needs = self._needs(ticket, customers)
            roster = self._staff.roster(principal.tenant_id)
            target = roster.get(user_id)
            if target is None:
                raise NotFoundError(f"no staff profile for {user_id}")
            weights = roster.weights or self._default_weights
            now = self._clock.now()
            reasons = can_claim(needs, target, now, weights=weights, override_capacity=True)
            if reasons:
                raise InvalidInputError(
                    f"{user_id} cannot take ticket {ticket_id}: {', '.join(reasons)}",
                    details=_reasons_details(reasons, "user_id"),
                )
            doc = _score_doc(score(needs, target, weights, now), None)
            self._write(snap, roster, user_id, doc, now, comment=reason, by=principal, enforce_capacity=False)
            return AssignmentOutcome(ticket_id=ticket_id, status=OutcomeStatus.ASSIGNED, assignee_id=user_id)

        return self._retry(attempt)

    def claim(self, *, principal: Principal, ticket_id: str) -> AssignmentOutcome:
        """An engineer takes a queued ticket themselves, if they pass every filter (capacity included)."""
        principal.require(Permission.TICKETS_WRITE)
        if principal.role is not Role.ENGINEER:
            raise ForbiddenError("only engineers claim tickets from the queue")
        if self._store.queued(principal.tenant_id, ticket_id) is None:
            raise ConflictError(f"ticket {ticket_id} is not waiting in the queue")
        customers: dict[str, Customer | None] = {}

        def attempt() -> AssignmentOutcome:
            snap = self._visible(principal, ticket_id)
            roster = self._staff.roster(principal.tenant_id)
            me = roster.get(principal.user_id)
            if me is None:
                raise ForbiddenError("only staff with a profile can claim tickets")
            needs = self._needs(snap.ticket, customers)
            weights = roster.weights or self._default_weights
            now = self._clock.now()
            reasons = can_claim(needs, me, now, weights=weights)
            if reasons:
                raise ForbiddenError(
                    f"you cannot take ticket {ticket_id}: {', '.join(reasons)}",
                    details=_reasons_details(reasons, "ticket"),
                )
            doc = _score_doc(score(needs, me, weights, now), None)
            self._write(snap, roster, me.user_id, doc, now, comment="claimed from the queue", by=principal)
            return AssignmentOutcome(
                ticket_id=ticket_id, status=OutcomeStatus.ASSIGNED, assignee_id=me.user_id
            )

        return self._retry(attempt)

    # -- staff profiles and weights --------------------------------------------------------------
    def list_staff(self, *, principal: Principal) -> list[StaffRecord]:
        principal.require(Permission.TICKETS_READ)
        return [r for r in self._staff.list(principal.tenant_id) if self._sees(principal, r.profile)]

    def put_staff(self, *, principal: Principal, user_id: str, draft: StaffProfileDraft) -> StaffRecord:
        """Create or edit a profile (admins; managers within their scope). `draft.version` is the version
        read (0 for a new one): a stale version is a ConflictError."""
        if principal.role not in _MANAGERS:
            raise ForbiddenError("only managers and admins edit staff profiles")
        user = next((u for u in self._users.list_users(principal.tenant_id) if u.id == user_id), None)
        if user is None or user.disabled:
            raise NotFoundError(f"no user {user_id}")
        existing = None
        if principal.role is Role.MANAGER or draft.keeps_phone:
            existing = self._staff.get(principal.tenant_id, user_id)
        current_phone = existing.profile.phone if existing else None
        if (
            draft.keeps_phone
            and draft.phone
            and (not current_phone or mask_phone(current_phone) != draft.phone)
        ):
            raise InvalidInputError(
                "phone: the masked number does not match the stored one: send the full number to change it"
            )
        profile = draft.profile(user_id, default_name=user.name, current_phone=current_phone)
        if principal.role is Role.MANAGER and (
            not self._sees(principal, profile) or (existing and not self._sees(principal, existing.profile))
        ):
            raise ForbiddenError("managers edit staff profiles within their own scope")
        return self._staff.put(principal.tenant_id, profile, expected_version=draft.version)

    def weights(self, *, principal: Principal) -> AssignmentWeights:
        principal.require(Permission.TICKETS_READ)
        return self._staff.roster(principal.tenant_id).weights or self._default_weights

    def put_weights(self, *, principal: Principal, weights: AssignmentWeights) -> AssignmentWeights:
        principal.require(Permission.USERS_MANAGE)
        self._staff.put_weights(principal.tenant_id, weights)
        return weights

    def record_rating(
        self, tenant_id: str, user_id: str, rating: Decimal, *, once: str | None = None
    ) -> None:
        """A customer's satisfaction score (1..5) for the staff's running average (`once`: counted once)."""
        if not Decimal(1) <= rating <= Decimal(5):
            raise InvalidInputError("a rating is between 1 and 5")
        self._staff.record_rating(tenant_id, user_id, rating, once=once)

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _sees(principal: Principal, profile: StaffProfile) -> bool:
        if principal.scope.kind is ScopeKind.OWN:
            return profile.user_id == principal.user_id
        return in_scope(principal, Ownership(region=profile.region, store=profile.store))

    @staticmethod
    def _retry(attempt: Callable[[], R]) -> R:
        last: ConflictError | None = None
        for _ in range(ATTEMPTS):
            try:
                return attempt()
            except ConflictError as e:  # re-read and decide again
                last = e
        assert last is not None
        raise last

    def _snapshot(self, tenant_id: str, ticket_id: str) -> TicketSnapshot:
        snap = self._store.snapshot(tenant_id, ticket_id)
        if snap is None:
            raise NotFoundError(f"no ticket {ticket_id}")
        return snap

    def _visible(self, principal: Principal, ticket_id: str) -> TicketSnapshot:
        snap = self._store.snapshot(principal.tenant_id, ticket_id)
        if snap is None or not in_scope(principal, snap.ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        if snap.ticket.status is TicketStatus.CLOSED:
            raise ConflictError(f"ticket {ticket_id} is closed")
        return snap

    def _needs(self, ticket: Ticket, customers: dict[str, Customer | None]) -> TicketNeeds:
        template = self._template_of(ticket.tenant_id, ticket.template_id)
        skills = {r.skill: r.min_level for r in template.required_skills} if template else {}
        customer = None
        if ticket.customer_id:
            if ticket.customer_id not in customers:
                customers[ticket.customer_id] = self._customers.get(ticket.tenant_id, ticket.customer_id)
            customer = customers[ticket.customer_id]
        return TicketNeeds(
            ticket_id=ticket.id,
            created_at=ticket.created_at,
            region=ticket.region,
            store=ticket.store,
            required_skills=skills,
            vip=customer is not None and is_vip(customer),
            previous_owner_id=customer.owner_id if customer else None,
        )

    @staticmethod
    def _queued(
        ticket: Ticket, needs: TicketNeeds, reason: QueueReason | None, now: datetime
    ) -> QueuedTicket:
        return QueuedTicket(
            ticket_id=ticket.id,
            enqueued_at=now,
            needs=needs,
            reason=reason or QueueReason.NO_ELIGIBLE_STAFF,
            title=ticket.title,
            priority=str(ticket.priority),
        )

    def _write(
        self,
        snap: TicketSnapshot,
        roster: Roster,
        assignee: str,
        score_doc: dict[str, Any],
        now: datetime,
        *,
        comment: str,
        by: Principal | None = None,
        enforce_capacity: bool = True,
    ) -> None:
        ticket = snap.ticket
        previous = ticket.assignment.assignee_id if ticket.assignment else None
        after = ticket.model_copy(deep=True)
        after.assignment = Assignment(
            assignee_id=assignee, by=by.user_id if by else ENGINE, at=now, score=score_doc
        )
        after.version = ticket.version + 1
        after.updated_at = now
        entry = HistoryEntry(
            seq=after.version,
            at=now,
            actor_id=by.user_id if by else ENGINE,
            actor_role=str(by.role) if by else "system",
            action="assign",
            comment=comment,
            fields={"assignee_id": assignee, "previous_assignee_id": previous, "score": score_doc},
        )
        holder = snap.holder
        self._store.assign(
            AssignmentWrite(
                ticket=after,
                expected_version=ticket.version,
                entry=entry,
                holder=holder,
                release_holder=holder is not None and holder != assignee and roster.load_of(holder) > 0,
                enforce_capacity=enforce_capacity,
            )
        )
