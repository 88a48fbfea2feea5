"""SLA clocks of tickets: deadlines computed in business time and stored on the ticket, one Step Functions
timer per ticket (functions/ticket_sla.asl.json) that sleeps until the next milestone and asks the
`evaluate` step what is due, and idempotent escalations (one yellow, one red, one call).

Why a timer per ticket and not a sweep: see docs/architecture.md ("SLA timers")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.calendars import BusinessCalendar, china_public_holidays
from chalicelib.domain.common import Clock, ConflictError, InvalidInputError
from chalicelib.domain.configuration import ConfigKind
from chalicelib.domain.notifications import NotificationRequest, RecipientKind
from chalicelib.domain.sla import (
    Escalation,
    Recipient,
    SlaClock,
    SlaPolicy,
    deadlines,
    due_escalations,
    next_wakeup,
    preset_calendars,
    preset_policies,
)
from chalicelib.domain.tickets import HistoryEntry, Ticket, TicketSla, TicketStatus
from chalicelib.services.cache import PROCESS_VERSIONS, ConfigCache
from chalicelib.services.events import envelope
from chalicelib.services.ports import (
    ConfigVersions,
    Notifier,
    PeopleDirectory,
    Publisher,
    SlaConfigRepository,
    TicketRepository,
    WorkflowStarter,
)

TIMER = "ticket_sla"  # the state machine's logical id (chalicelib/resources.py)
MAX_ATTEMPTS = 5
DEFAULT_POLICY = "standard"


class SlaService:
    def __init__(
        self,
        *,
        config: SlaConfigRepository,
        tickets: TicketRepository,
        starter: WorkflowStarter,
        notifier: Notifier,
        people: PeopleDirectory,
        publisher: Publisher,
        clock: Clock,
        config_versions: ConfigVersions = PROCESS_VERSIONS,
    ) -> None:
        self._publisher = publisher
        self._config = config
        self._tickets = tickets
        self._starter = starter
        self._notifier = notifier
        self._people = people
        self._clock = clock
        self._cache: ConfigCache[str, tuple[dict[str, SlaPolicy], dict[str, BusinessCalendar]]] = ConfigCache(
            ConfigKind.SLA, config_versions
        )

    # -- configuration ---------------------------------------------------------------------------
    def policies(self, *, principal: Principal) -> list[SlaPolicy]:
        principal.require(Permission.TICKETS_READ)
        return sorted(self._load(principal.tenant_id)[0].values(), key=lambda p: p.id)

    def calendars(self, *, principal: Principal) -> list[BusinessCalendar]:
        principal.require(Permission.TICKETS_READ)
        return sorted(self._load(principal.tenant_id)[1].values(), key=lambda c: c.id)

    def put_policy(self, *, principal: Principal, policy: SlaPolicy) -> SlaPolicy:
        principal.require(Permission.WORKFLOWS_MANAGE)
        if policy.calendar_id not in self._load(principal.tenant_id)[1]:
            raise InvalidInputError(
                f"no calendar {policy.calendar_id}", details=[{"field": "calendar_id", "message": "unknown"}]
            )
        self._config.put_policy(principal.tenant_id, policy)
        self._cache.changed(principal.tenant_id, principal.tenant_id)
        return policy

    def put_calendar(self, *, principal: Principal, calendar: BusinessCalendar) -> BusinessCalendar:
        """Open tickets on this calendar get their deadlines recomputed by the events worker
        (`recompute`), so a holiday added today moves the deadlines of tickets already running."""
        principal.require(Permission.WORKFLOWS_MANAGE)
        self._config.put_calendar(principal.tenant_id, calendar)
        self._cache.changed(principal.tenant_id, principal.tenant_id)
        self._publisher.publish(
            [
                envelope(
                    "sla.calendar_changed",
                    principal.tenant_id,
                    f"calendar:{calendar.id}:{self._clock.now().isoformat()}",
                    {"calendar_id": calendar.id},
                )
            ]
        )
        return calendar

    def recompute_open(self, tenant_id: str, calendar_id: str) -> int:
        """The events worker's step after a calendar edit: every open ticket on it. Returns how many."""
        n = 0
        for ticket in self._tickets.open_tickets(tenant_id):
            if ticket.sla is not None and ticket.sla.calendar_id == calendar_id:
                self.recompute(tenant_id, ticket.id)
                n += 1
        return n

    def _load(self, tenant_id: str) -> tuple[dict[str, SlaPolicy], dict[str, BusinessCalendar]]:
        """Presets overlaid by the tenant's own, cached per process while the tenant's SLA counter stands
        (every ticket step would otherwise read it)."""
        return self._cache.get(tenant_id, tenant_id, lambda: self._read_config(tenant_id))

    def _read_config(self, tenant_id: str) -> tuple[dict[str, SlaPolicy], dict[str, BusinessCalendar]]:
        own_policies, own_calendars = self._config.config(tenant_id)
        policies = {p.id: p for p in preset_policies()} | {p.id: p for p in own_policies}
        calendars = {c.id: c for c in _preset_calendars()} | {c.id: c for c in own_calendars}
        return policies, calendars

    def _rules(self, ticket: Ticket) -> tuple[SlaPolicy, BusinessCalendar]:
        assert ticket.sla is not None
        policies, calendars = self._load(ticket.tenant_id)
        policy = policies.get(ticket.sla.policy_id) or policies[DEFAULT_POLICY]
        return policy, calendars.get(policy.calendar_id) or calendars[preset_calendars()[0].id]

    # -- a ticket's clock ------------------------------------------------------------------------
    def attach(self, ticket: Ticket, policy_id: str | None) -> Ticket:
        """A new ticket's SLA: the clock starts at creation (deadlines stored on the ticket)."""
        policies, _ = self._load(ticket.tenant_id)
        policy = policies.get(policy_id or DEFAULT_POLICY) or policies[DEFAULT_POLICY]
        after = ticket.model_copy(deep=True)
        after.sla = TicketSla(
            policy_id=policy.id, calendar_id=policy.calendar_id, clock=SlaClock(started_at=ticket.created_at)
        )
        return self._recompute(after)

    def follow(self, before: Ticket, after: Ticket, *, by_staff: bool, at: datetime) -> tuple[Ticket, bool]:
        """The clock after a ticket step: a staff action is a response; closing resolves; reopening
        restarts the clock's resolution and the timer. Returns (ticket, whether a new timer must start)."""
        if after.sla is None:
            return after, False
        sla = after.sla
        clock = sla.clock
        if by_staff:
            clock = clock.agent_response(at)
        restart = False
        if after.status is TicketStatus.CLOSED and clock.resolved_at is None:
            clock = clock.resolve(at)
        elif after.status is TicketStatus.OPEN and before.status is TicketStatus.CLOSED:
            clock = clock.model_copy(update={"resolved_at": None})
            sla.generation += 1
            restart = True
        sla.clock = clock
        return self._recompute(after), restart

    def clock_event(self, ticket: Ticket, action: str, at: datetime) -> tuple[Ticket, bool]:
        """pause / resume (waiting on the customer), customer_message, agent_response."""
        if ticket.sla is None:
            raise InvalidInputError("this ticket has no SLA")
        after = ticket.model_copy(deep=True)
        assert after.sla is not None
        clock = after.sla.clock
        restart = False
        if action == "pause":
            clock = clock.pause(at)
        elif action == "resume":
            clock = clock.resume(at)
            after.sla.generation += 1  # deadlines moved: a fresh timer (the old one ends when it wakes)
            restart = True
        elif action == "customer_message":
            clock = clock.customer_message(at)
            if ticket.sla.next_wakeup is None:  # no timer runs: the next-response wait needs one
                after.sla.generation += 1
                restart = True
        elif action == "agent_response":
            clock = clock.agent_response(at)
        else:
            raise InvalidInputError(
                f"unknown SLA action {action}",
                details=[
                    {"field": "action", "message": "pause | resume | customer_message | agent_response"}
                ],
            )
        after.sla.clock = clock
        return self._recompute(after), restart

    def _recompute(self, ticket: Ticket) -> Ticket:
        assert ticket.sla is not None
        policy, calendar = self._rules(ticket)
        clock = ticket.sla.clock
        ticket.sla.deadlines = deadlines(policy, calendar, ticket.priority, clock)
        ticket.sla.next_wakeup = (
            None
            if ticket.status is TicketStatus.CLOSED
            else next_wakeup(policy, calendar, ticket.priority, clock, self._clock.now())
        )
        return ticket

    def start_timer(self, ticket: Ticket) -> None:
        """One execution per ticket and generation (its name): starting twice is harmless."""
        if ticket.sla is None or ticket.sla.next_wakeup is None:
            return
        self._starter.start(
            TIMER,
            f"{ticket.id}-{ticket.sla.generation}",
            {
                "tenant_id": ticket.tenant_id,
                "ticket_id": ticket.id,
                "generation": ticket.sla.generation,
                "wake_at": _iso(ticket.sla.next_wakeup),
                "done": False,
            },
        )

    def recompute(self, tenant_id: str, ticket_id: str) -> None:
        """Deadlines after a calendar or policy change (events worker); a new timer if they moved."""
        for _ in range(MAX_ATTEMPTS):
            ticket = self._tickets.get(tenant_id, ticket_id)
            if ticket is None or ticket.sla is None or ticket.status is TicketStatus.CLOSED:
                return
            after = self._recompute(ticket.model_copy(deep=True))
            assert after.sla is not None and ticket.sla is not None
            if after.sla.deadlines == ticket.sla.deadlines:
                return
            after.sla.generation += 1
            after.version = ticket.version + 1
            entry = _entry(after, "sla.recomputed", self._clock.now())
            try:
                self._tickets.save(after, expected_version=ticket.version, entry=entry, event=None)
            except ConflictError:
                continue
            self.start_timer(after)
            return

    # -- the timer's step ------------------------------------------------------------------------
    def evaluate(self, tenant_id: str, ticket_id: str, generation: int) -> dict[str, Any]:
        """What the timer does when it wakes: send what is due (each escalation once: notifications are
        idempotent on their key, and the fired keys are stored with a conditional write), then say when to
        wake next, or that this timer is done (ticket closed, paused, or a newer generation runs)."""
        for _ in range(MAX_ATTEMPTS):
            ticket = self._tickets.get(tenant_id, ticket_id)
            if ticket is None or ticket.sla is None or ticket.sla.generation != generation:
                return {"wake_at": None, "done": True}
            if ticket.status is TicketStatus.CLOSED:
                return {"wake_at": None, "done": True}
            policy, calendar = self._rules(ticket)
            now = self._clock.now()
            due = due_escalations(policy, calendar, ticket.priority, ticket.sla.clock, now)
            if due:
                self._notifier.notify(self._requests(ticket, due))
                after = ticket.model_copy(deep=True)
                assert after.sla is not None
                after.sla.clock = after.sla.clock.model_copy(
                    update={"fired": after.sla.clock.fired | {e.key for e in due}}
                )
                after.version = ticket.version + 1
                self._recompute(after)
                entry = _entry(after, "sla." + "+".join(sorted({str(e.level) for e in due})), now)
                entry.comment = ", ".join(e.key for e in due)
                try:
                    self._tickets.save(after, expected_version=ticket.version, entry=entry, event=None)
                except ConflictError:
                    continue  # the ticket moved meanwhile: evaluate again on the fresh copy
                ticket = after
            wake = (
                next_wakeup(policy, calendar, ticket.priority, ticket.sla.clock, now) if ticket.sla else None
            )
            return {"wake_at": _iso(wake) if wake else None, "done": wake is None}
        raise ConflictError(f"ticket {ticket_id} keeps changing; the timer will retry")

    def _requests(self, ticket: Ticket, due: Sequence[Escalation]) -> list[NotificationRequest]:
        assignee = ticket.assignment.assignee_id if ticket.assignment else None
        managers = self._people.managers_for(ticket.tenant_id, region=ticket.region, store=ticket.store)
        out: list[NotificationRequest] = []
        for e in due:
            for action in e.actions:
                # Nobody assigned yet: the warning goes to the managers, who must dispatch it.
                to = (
                    [assignee]
                    if action.to is Recipient.ASSIGNEE and assignee
                    else managers
                    if action.to in (Recipient.MANAGER, Recipient.ASSIGNEE)
                    else []
                )
                for user_id in to:
                    key = f"sla:{ticket.id}:{e.key}:{user_id}:{action.channel}"
                    if any(r.idempotency_key == key for r in out):
                        continue  # unassigned: "assignee" and "manager" both reached the manager
                    out.append(
                        NotificationRequest(
                            tenant_id=ticket.tenant_id,
                            event=f"sla.{e.level}",
                            recipient_kind=RecipientKind.USER,
                            recipient_id=user_id,
                            channel=action.channel,
                            fallback=action.fallback,
                            data={
                                "ticket_id": ticket.id,
                                "title": ticket.title,
                                "target": str(e.target),
                                "percent": e.at_percent,
                                "deadline": _iso(e.deadline) if e.deadline else "",
                            },
                            idempotency_key=key,
                            ticket_id=ticket.id,
                            urgent=e.at_percent >= 100,
                        )
                    )
        return out


def _entry(ticket: Ticket, action: str, at: datetime) -> HistoryEntry:
    return HistoryEntry(seq=ticket.version, at=at, actor_id="sla-timer", actor_role="system", action=action)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _preset_calendars() -> list[BusinessCalendar]:
    years = range(2025, 2028)
    try:
        holidays, workdays = china_public_holidays(years)
    except InvalidInputError:  # the package does not know a year yet: use the years it knows
        holidays, workdays = set(), set()
        for year in years:
            try:
                h, w = china_public_holidays([year])
            except InvalidInputError:
                continue
            holidays |= h
            workdays |= w
    return preset_calendars(holidays, workdays)
