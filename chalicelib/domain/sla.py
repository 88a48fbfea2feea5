"""SLA policies for work-order tickets and their milestone escalations (like Salesforce entitlements).

Each target (first response, next response, resolution) runs on business time of the tenant's calendar.
A milestone fires at a percentage of a target (75 % warning, 100 % violation, 150 % call the manager);
firing is idempotent: the caller stores each returned key in `SlaClock.fired` in the same conditional
write that records the notification, so a re-evaluation never sends it twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.calendars import BusinessCalendar, add_business_time, business_time_between
from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.ticket_templates import Priority


def _utc(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidInputError(f"{what} must be timezone-aware")
    return dt.astimezone(UTC)


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class EscalationLevel(StrEnum):
    WARNING = "yellow"
    VIOLATION = "red"
    CALL = "call"


class Channel(StrEnum):
    WECOM = "wecom"
    SMS = "sms"
    VOICE = "voice"
    WECHAT = "wechat"


class Recipient(StrEnum):
    ASSIGNEE = "assignee"
    MANAGER = "manager"
    CUSTOMER = "customer"
    OWNER = "owner"


class SlaTargets(BaseModel):
    """Business-time targets of one priority; None means the target is not tracked."""

    model_config = ConfigDict(extra="forbid")

    first_response: timedelta | None = None
    next_response: timedelta | None = None
    resolution: timedelta | None = None

    @field_validator("first_response", "next_response", "resolution")
    @classmethod
    def _positive(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v <= timedelta(0):
            raise ValueError("an SLA target must be positive")
        return v

    def of(self, target: SlaTarget) -> timedelta | None:
        value: timedelta | None = getattr(self, target.value)
        return value


class EscalationAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    to: Recipient
    # Channels tried in order when `channel` cannot reach them or refuses (a call over the callee's limits).
    fallback: list[Channel] = Field(default_factory=list, max_length=3)


class Milestone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_percent: int = Field(gt=0)
    level: EscalationLevel
    actions: list[EscalationAction] = Field(default_factory=list)


def default_milestones() -> list[Milestone]:
    """75 % warn the assignee, 100 % tell assignee and manager, 150 % phone the manager (a WeCom message
    instead when the call is refused, e.g. over Aliyun's per-callee call limits)."""
    return [
        Milestone(
            at_percent=75,
            level=EscalationLevel.WARNING,
            actions=[EscalationAction(channel=Channel.WECOM, to=Recipient.ASSIGNEE)],
        ),
        Milestone(
            at_percent=100,
            level=EscalationLevel.VIOLATION,
            actions=[
                EscalationAction(channel=Channel.WECOM, to=Recipient.ASSIGNEE),
                EscalationAction(channel=Channel.WECOM, to=Recipient.MANAGER),
            ],
        ),
        Milestone(
            at_percent=150,
            level=EscalationLevel.CALL,
            actions=[EscalationAction(channel=Channel.VOICE, to=Recipient.MANAGER, fallback=[Channel.WECOM])],
        ),
    ]


class SlaPolicy(BaseModel):
    """Targets per priority on one business calendar, and the milestones applied to every target."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    calendar_id: str
    targets: dict[Priority, SlaTargets] = Field(default_factory=dict)
    milestones: list[Milestone] = Field(default_factory=default_milestones)

    @field_validator("milestones")
    @classmethod
    def _ascending(cls, v: list[Milestone]) -> list[Milestone]:
        percents = [m.at_percent for m in v]
        if any(a >= b for a, b in pairwise(percents)):
            raise ValueError("milestone percentages must be unique and ascending")
        return v

    def targets_for(self, priority: Priority) -> SlaTargets:
        return self.targets.get(priority, SlaTargets())


class SlaClock(BaseModel):
    """The SLA state stored on a ticket. Helpers return an updated copy (the model itself stays pure).

    `awaiting_reply_since` is the oldest customer message not yet answered: next-response time counts
    from it so follow-up messages from the customer do not push the deadline out. When it is unset, the
    last customer message counts if no agent reply came after it."""

    model_config = ConfigDict(extra="forbid")

    started_at: AwareDatetime
    pauses: list[tuple[AwareDatetime, AwareDatetime | None]] = Field(default_factory=list)
    first_responded_at: AwareDatetime | None = None
    last_customer_message_at: AwareDatetime | None = None
    last_agent_response_at: AwareDatetime | None = None
    awaiting_reply_since: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    fired: set[str] = Field(default_factory=set)

    @property
    def paused(self) -> bool:
        return any(end is None for _, end in self.pauses)

    def pause(self, at: datetime) -> SlaClock:
        """Stop the clock (e.g. waiting on the customer)."""
        if self.paused:
            raise InvalidInputError("the SLA clock is already paused")
        return self.model_copy(update={"pauses": [*self.pauses, (_utc(at, "at"), None)]})

    def resume(self, at: datetime) -> SlaClock:
        if not self.paused:
            raise InvalidInputError("the SLA clock is not paused")
        at = _utc(at, "at")
        pauses = [(s, at if e is None else e) for s, e in self.pauses]
        if at < pauses[-1][0]:
            raise InvalidInputError("cannot resume before the pause started")
        return self.model_copy(update={"pauses": pauses})

    def customer_message(self, at: datetime) -> SlaClock:
        at = _utc(at, "at")
        return self.model_copy(
            update={"last_customer_message_at": at, "awaiting_reply_since": self.awaiting_reply_since or at}
        )

    def agent_response(self, at: datetime) -> SlaClock:
        """An agent replied: meets the first response and the pending next response."""
        at = _utc(at, "at")
        # Keys of the answered next-response cycle can never be due again: drop them to keep `fired` small.
        fired = {k for k in self.fired if not k.startswith(SlaTarget.NEXT_RESPONSE.value)}
        return self.model_copy(
            update={
                "first_responded_at": self.first_responded_at or at,
                "last_agent_response_at": at,
                "awaiting_reply_since": None,
                "fired": fired,
            }
        )

    def resolve(self, at: datetime) -> SlaClock:
        return self.model_copy(update={"resolved_at": _utc(at, "at")})


class Escalation(BaseModel):
    """A milestone that is due: notify through `actions`, then add `key` to `SlaClock.fired`."""

    key: str
    target: SlaTarget
    at_percent: int
    level: EscalationLevel
    actions: list[EscalationAction]
    due_at: datetime
    deadline: datetime | None  # the 100 % instant (None if the clock stops before reaching it)


def _next_response_anchor(clock: SlaClock) -> datetime | None:
    """When the pending next-response cycle started; None if nothing is waiting for an agent reply."""
    if clock.first_responded_at is None:
        return None  # the first-response target covers the conversation until the first reply
    if clock.awaiting_reply_since is not None:
        return clock.awaiting_reply_since
    last_in, last_out = clock.last_customer_message_at, clock.last_agent_response_at
    if last_in is not None and (last_out is None or last_in > last_out):
        return last_in
    return None


def _anchor(target: SlaTarget, clock: SlaClock) -> datetime | None:
    return _next_response_anchor(clock) if target is SlaTarget.NEXT_RESPONSE else clock.started_at


def _met_at(target: SlaTarget, clock: SlaClock) -> datetime | None:
    """When the target was met; resolving the ticket meets every target."""
    if target is SlaTarget.FIRST_RESPONSE and clock.first_responded_at is not None:
        return clock.first_responded_at
    return clock.resolved_at


def _key(target: SlaTarget, anchor: datetime, percent: int) -> str:
    if target is SlaTarget.NEXT_RESPONSE:
        # One key per cycle, so a later customer message is escalated again.
        return f"{target.value}@{int(anchor.timestamp() * 1000)}:{percent}"
    return f"{target.value}:{percent}"


def _scaled(target: timedelta, percent: int) -> timedelta:
    return target * percent // 100


def deadlines(
    policy: SlaPolicy, calendar: BusinessCalendar, priority: Priority, clock: SlaClock
) -> dict[str, datetime | None]:
    """The 100 % instant of each target (keys: SlaTarget values), met or not.

    None when the priority has no such target, nothing awaits a next response, or an open pause has
    stopped the clock before the deadline."""
    targets = policy.targets_for(priority)
    out: dict[str, datetime | None] = {}
    for target in SlaTarget:
        goal, anchor = targets.of(target), _anchor(target, clock)
        out[target.value] = (
            None
            if goal is None or anchor is None
            else add_business_time(calendar, anchor, goal, clock.pauses)
        )
    return out


def _pending(
    policy: SlaPolicy, calendar: BusinessCalendar, priority: Priority, clock: SlaClock
) -> list[Escalation]:
    """Every not-yet-fired milestone of the open targets, with the instant it becomes due."""
    targets = policy.targets_for(priority)
    out: list[Escalation] = []
    for target in SlaTarget:
        goal, anchor = targets.of(target), _anchor(target, clock)
        if goal is None or anchor is None or _met_at(target, clock) is not None:
            continue
        deadline = add_business_time(calendar, anchor, goal, clock.pauses)
        # Milestones are ascending: each threshold is found from the previous one, not from the anchor.
        at: datetime | None = anchor
        elapsed = timedelta(0)
        for m in policy.milestones:
            step = _scaled(goal, m.at_percent) - elapsed
            at = None if at is None else add_business_time(calendar, at, step, clock.pauses)
            elapsed += step
            if at is None:
                break  # an open pause: nothing further becomes due until the clock is resumed
            key = _key(target, anchor, m.at_percent)
            if key not in clock.fired:
                out.append(
                    Escalation(
                        key=key,
                        target=target,
                        at_percent=m.at_percent,
                        level=m.level,
                        actions=m.actions,
                        due_at=at,
                        deadline=deadline,
                    )
                )
    return out


def due_escalations(
    policy: SlaPolicy, calendar: BusinessCalendar, priority: Priority, clock: SlaClock, now: datetime
) -> list[Escalation]:
    """Milestones whose threshold has passed by `now`, not yet fired, on targets still open; oldest first.

    A late evaluation returns every missed milestone (e.g. yellow and red together)."""
    now = _utc(now, "now")
    due = [e for e in _pending(policy, calendar, priority, clock) if e.due_at <= now]
    return sorted(due, key=lambda e: (e.due_at, e.at_percent))


def next_wakeup(
    policy: SlaPolicy, calendar: BusinessCalendar, priority: Priority, clock: SlaClock, now: datetime
) -> datetime | None:
    """The earliest instant after `now` at which a milestone becomes due, for the ticket's timer.

    None if nothing more can become due (all met or fired, or the clock is paused). Any event on the
    ticket (reply, pause, resolution, priority change) changes the answer: recompute and re-arm then."""
    now = _utc(now, "now")
    future = [e.due_at for e in _pending(policy, calendar, priority, clock) if e.due_at > now]
    return min(future, default=None)


def percent_elapsed(
    policy: SlaPolicy, calendar: BusinessCalendar, priority: Priority, clock: SlaClock, now: datetime
) -> dict[str, float | None]:
    """Business time used per target as a percentage of it (frozen at the moment a target was met)."""
    targets = policy.targets_for(priority)
    out: dict[str, float | None] = {}
    for target in SlaTarget:
        goal, anchor = targets.of(target), _anchor(target, clock)
        if goal is None or anchor is None:
            out[target.value] = None
            continue
        met = _met_at(target, clock)
        end = _utc(now, "now") if met is None else min(_utc(now, "now"), met)
        used = business_time_between(calendar, anchor, end, clock.pauses)
        out[target.value] = 100 * used / goal
    return out


# -- presets a new tenant gets (it may override them) -------------------------------------------------------
DEFAULT_CALENDAR_ID = "default"
ROUND_THE_CLOCK_ID = "24x7"


def preset_calendars(
    holidays: set[date] | None = None, workdays: set[date] | None = None
) -> list[BusinessCalendar]:
    """Office hours Mon–Fri 09:00–17:00 Asia/Shanghai with China's public holidays and make-up days (the
    caller passes them: `calendars.china_public_holidays`), and a 24/7 calendar for emergencies."""
    return [
        BusinessCalendar.office(
            DEFAULT_CALENDAR_ID,
            "工作日 9:00-17:00",
            closes=time(17),
            holidays=sorted(holidays or ()),
            workdays=sorted(workdays or ()),
        ),
        BusinessCalendar.twenty_four_seven(ROUND_THE_CLOCK_ID, "7×24 小时"),
    ]


def preset_policies() -> list[SlaPolicy]:
    """`standard` (business hours) and `vip` (round the clock, tighter): the ids the preset templates use."""
    h = timedelta(hours=1)
    return [
        SlaPolicy(
            id="standard",
            name="标准服务",
            calendar_id=DEFAULT_CALENDAR_ID,
            targets={
                Priority.LOW: SlaTargets(first_response=8 * h, next_response=16 * h, resolution=40 * h),
                Priority.NORMAL: SlaTargets(first_response=4 * h, next_response=8 * h, resolution=24 * h),
                Priority.HIGH: SlaTargets(first_response=2 * h, next_response=4 * h, resolution=8 * h),
                Priority.URGENT: SlaTargets(first_response=h / 2, next_response=h, resolution=4 * h),
            },
        ),
        SlaPolicy(
            id="vip",
            name="VIP / 投诉",
            calendar_id=ROUND_THE_CLOCK_ID,
            targets={
                Priority.LOW: SlaTargets(first_response=4 * h, next_response=8 * h, resolution=24 * h),
                Priority.NORMAL: SlaTargets(first_response=2 * h, next_response=4 * h, resolution=12 * h),
                Priority.HIGH: SlaTargets(first_response=h, next_response=2 * h, resolution=6 * h),
                Priority.URGENT: SlaTargets(first_response=h / 4, next_response=h / 2, resolution=2 * h),
            },
        ),
    ]
