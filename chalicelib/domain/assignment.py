"""Scored assignment of work-order tickets to staff: a pure decision (no I/O, no clock; `now` is passed in).

How a ticket finds its engineer
- Hard filters first (`eligibility`), each failure a reason code the API can show: inactive, excluded
  (e.g. rejected it), region mismatch (when the ticket has a region and `region_strict`), a required skill
  missing or below its minimum level, off shift or on a day off at `now` (when `on_shift_required`), and
  capacity full (open_load ≥ capacity). A reopened ticket goes through the same filters, so it never goes
  back to a previous owner who is off shift, whatever the previous-owner bonus.
- Every eligible person is scored (`score`): each criterion is a factor in [0, 1] times its tenant weight,
  rounded to 4 places (ROUND_HALF_UP); the total is the sum of the rounded components.
- The highest total wins; ties go to the lower open_load, then to whoever waited longest since their last
  assignment (never assigned first), then to the smaller user_id. The result never depends on input order.
- Nobody eligible → the ticket is queued. `drain_queue` retries waiting tickets oldest first as capacity
  frees; a ticket nobody can take is skipped (it stays queued) rather than blocking younger tickets that
  others can take: no head-of-line blocking.

Scores are computed exactly in integer units of 0.0001 (weights and factors as integer ratios), which is
what Decimal `quantize(Decimal("0.0001"), ROUND_HALF_UP)` of the exact product gives, at a fraction of the
cost: `choose` scores 1,000 staff in a few ms and builds pydantic models only for the top 5.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from math import asin, cos, sin, sqrt
from typing import Annotated, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.phones import mask_phone

DEFAULT_TIMEZONE = "Asia/Shanghai"
RANKING_SIZE = 5
INELIGIBLE_CAP = 50  # how many ineligible staff a Decision explains (the count is always complete)
EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
_DIAMETER_KM = 2 * EARTH_RADIUS_KM
_RAD = math.pi / 180

_SCALE = 10_000  # scores carry 4 decimal places
_Q4 = Decimal("0.0001")
_Q3 = Decimal("0.001")
_NEVER = datetime.min.replace(tzinfo=UTC)  # "never assigned" sorts before every real time

SkillLevel = Annotated[int, Field(ge=1, le=5)]
Weekday = Annotated[int, Field(ge=0, le=6)]  # Monday = 0, as date.weekday()
Location = tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]]
Weight = Annotated[Decimal, Field(ge=0)]


class IneligibleReason(StrEnum):
    INACTIVE = "inactive"
    EXCLUDED = "excluded"
    REGION_MISMATCH = "region_mismatch"
    SKILL_MISSING = "skill_missing"
    SKILL_TOO_LOW = "skill_too_low"
    OFF_SHIFT = "off_shift"
    DAY_OFF = "day_off"  # would be on shift, but the date is in off_dates
    AT_CAPACITY = "at_capacity"


class QueueReason(StrEnum):
    CAPACITY = "capacity"  # someone could take it once they have room: wait for capacity
    NO_ELIGIBLE_STAFF = "no_eligible_staff"  # nobody could take it even with room: needs a person


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        # A runtime without tz data still knows the default: China has had no DST since 1991.
        if name == DEFAULT_TIMEZONE:
            return timezone(timedelta(hours=8), DEFAULT_TIMEZONE)
        raise InvalidInputError(f"'{name}' is not a known timezone") from None


class StaffProfile(BaseModel):
    """An engineer as the engine sees them. Update loads with `model_copy(update=...)` (frozen)."""

    model_config = ConfigDict(frozen=True)

    user_id: str = Field(min_length=1)
    name: str = ""
    region: str | None = None
    store: str | None = None
    skills: dict[str, SkillLevel] = Field(default_factory=dict)
    senior: bool = False
    capacity: int = Field(default=10, ge=0)  # max open tickets
    open_load: int = Field(default=0, ge=0)
    rating: Annotated[Decimal, Field(ge=1, le=5)] | None = None  # average satisfaction, 1..5
    ratings_count: int = Field(default=0, ge=0)
    # Weekly windows in `timezone`. A window with end <= start crosses midnight (22:00-06:00 belongs to
    # the day it starts on); start == end is a 24-hour shift. No windows at all = never on shift.
    shifts: dict[Weekday, list[tuple[time, time]]] = Field(default_factory=dict)
    off_dates: set[date] = Field(default_factory=set)  # cancels the shifts that start on these dates
    timezone: str = DEFAULT_TIMEZONE
    location: Location | None = None
    active: bool = True
    manager_id: str | None = None
    last_assigned_at: AwareDatetime | None = None
    # Contact details for notifications (SLA escalations): the WeCom member id that `message/send` takes,
    # and the E.164 phone, plain in memory only: the store keeps it encrypted and every dump shows it masked.
    wecom_userid: str | None = None
    phone: str | None = None

    @field_serializer("phone")
    def _masked_phone(self, v: str | None) -> str | None:
        return mask_phone(v) if v else None

    @field_validator("shifts")
    @classmethod
    def _naive_times(cls, v: dict[int, list[tuple[time, time]]]) -> dict[int, list[tuple[time, time]]]:
        # Windows are wall-clock times in the staff's timezone; an offset here would be ambiguous.
        if any(t.tzinfo is not None for windows in v.values() for w in windows for t in w):
            raise ValueError("shift times are local wall-clock times: no UTC offset")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            _zone(v)
        except InvalidInputError as e:
            raise ValueError(e.message) from None
        return v


class TicketNeeds(BaseModel):
    model_config = ConfigDict(frozen=True)

    ticket_id: str = Field(min_length=1)
    created_at: AwareDatetime
    region: str | None = None
    store: str | None = None
    required_skills: dict[str, SkillLevel] = Field(default_factory=dict)  # skill → minimum level
    vip: bool = False
    previous_owner_id: str | None = None  # the customer's previous engineer (reopened / returning)
    location: Location | None = None
    exclude: set[str] = Field(default_factory=set)  # e.g. who rejected it


class AssignmentWeights(BaseModel):
    """Tenant-configurable weights. Each criterion is a factor in [0, 1] times its weight, so a weight is
    the most that criterion can add. Defaults: load is the heaviest (work spreads among equals); VIP →
    senior and the previous owner can each outweigh a small load difference; region weighs only when not
    strict (strict makes it a filter)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: Weight = Decimal("3")  # staff region == ticket region
    store: Weight = Decimal("2")  # staff store == ticket store
    skill: Weight = Decimal("2")  # mean level above the minimum, over required skills (4 levels = 1)
    load: Weight = Decimal("4")  # free capacity share: (capacity - open_load) / capacity
    rating: Weight = Decimal("2")  # (rating - 1) / 4, shrunk toward rating_prior (few ratings count less)
    distance: Weight = Decimal("2")  # 1 - km / distance_cap_km, 0 beyond the cap or without locations
    vip_senior: Weight = Decimal("3")  # VIP ticket and senior staff
    previous_owner: Weight = Decimal("3")  # the customer's previous engineer
    distance_cap_km: Annotated[Decimal, Field(gt=0)] = Decimal("50")
    rating_prior: Annotated[Decimal, Field(ge=1, le=5)] = Decimal("3")  # what "no ratings yet" counts as
    rating_prior_count: int = Field(default=5, ge=0)  # weight of the prior, in ratings
    region_strict: bool = True
    on_shift_required: bool = True


class ScoreBreakdown(BaseModel):
    """Per-criterion components (4 places) and their sum."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    region: Decimal
    store: Decimal
    skill: Decimal
    load: Decimal
    rating: Decimal
    distance: Decimal
    vip_senior: Decimal
    previous_owner: Decimal
    total: Decimal
    distance_km: Decimal | None = None  # None when the ticket or the staff has no location


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    ticket_id: str
    assignee_id: str | None
    breakdown: ScoreBreakdown | None  # the winner's
    ranking: list[ScoreBreakdown]  # best first, at most RANKING_SIZE
    eligible_count: int
    ineligible: dict[str, list[IneligibleReason]]  # the first INELIGIBLE_CAP, in input order
    ineligible_count: int
    queued: bool
    queue_reason: QueueReason | None = None


class WaitingTicket(BaseModel):
    model_config = ConfigDict(frozen=True)

    ticket_id: str
    enqueued_at: AwareDatetime
    needs: TicketNeeds

    @model_validator(mode="after")
    def _same_ticket(self) -> WaitingTicket:
        if self.needs.ticket_id != self.ticket_id:
            raise ValueError("needs.ticket_id must be the waiting ticket's id")
        return self


# --- compiled inputs: plain tuples and ints for the inner loop ------------------------------------------


class _W(NamedTuple):
    region: int  # units when the factor is 1
    store: int
    vip_senior: int
    previous_owner: int
    skill: tuple[int, int]  # weight as an integer ratio
    load: tuple[int, int]
    rating: tuple[int, int]
    distance: tuple[int, int]
    cap_m: tuple[int, int]  # distance cap in metres, as a ratio
    prior: tuple[int, int]
    prior_count: int
    region_strict: bool
    on_shift_required: bool


def _units(w: tuple[int, int], num: int, den: int) -> int:
    """w × num/den in 0.0001 units, half up. Every term is ≥ 0, so floor(x + 1/2) is ROUND_HALF_UP."""
    if num <= 0:
        return 0
    wn, wd = w
    return (2 * wn * num * _SCALE + wd * den) // (2 * wd * den)


@lru_cache(maxsize=64)
def _compile(w: AssignmentWeights) -> _W:
    cn, cd = w.distance_cap_km.as_integer_ratio()
    return _W(
        region=_units(w.region.as_integer_ratio(), 1, 1),
        store=_units(w.store.as_integer_ratio(), 1, 1),
        vip_senior=_units(w.vip_senior.as_integer_ratio(), 1, 1),
        previous_owner=_units(w.previous_owner.as_integer_ratio(), 1, 1),
        skill=w.skill.as_integer_ratio(),
        load=w.load.as_integer_ratio(),
        rating=w.rating.as_integer_ratio(),
        distance=w.distance.as_integer_ratio(),
        cap_m=(cn * 1000, cd),
        prior=w.rating_prior.as_integer_ratio(),
        prior_count=w.rating_prior_count,
        region_strict=w.region_strict,
        on_shift_required=w.on_shift_required,
    )


class _Ctx(NamedTuple):
    ticket_id: str
    region: str | None
    store: str | None
    required: tuple[tuple[str, int], ...]
    vip: bool
    previous_owner_id: str | None
    exclude: frozenset[str] | set[str]
    lat: float | None  # radians
    lon: float | None
    cos_lat: float
    w: _W


def _context(needs: TicketNeeds, weights: AssignmentWeights) -> _Ctx:
    lat = lon = None
    cos_lat = 0.0
    if needs.location is not None:
        lat, lon = math.radians(needs.location[0]), math.radians(needs.location[1])
        cos_lat = math.cos(lat)
    return _Ctx(
        ticket_id=needs.ticket_id,
        region=needs.region,
        store=needs.store,
        required=tuple(sorted(needs.required_skills.items())),
        vip=needs.vip,
        previous_owner_id=needs.previous_owner_id,
        exclude=needs.exclude,
        lat=lat,
        lon=lon,
        cos_lat=cos_lat,
        w=_compile(weights),
    )


class _Local(NamedTuple):
    """`now` on one timezone's wall clock, and the day before (for shifts crossing midnight)."""

    day: date
    weekday: int
    clock: time
    prev_day: date
    prev_weekday: int


def _local(now: datetime, tz_name: str) -> _Local:
    t = now.astimezone(_zone(tz_name))
    d = t.date()
    prev = d - timedelta(days=1)
    return _Local(d, d.weekday(), t.time().replace(tzinfo=None), prev, prev.weekday())


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInputError("now must be timezone-aware")
    return now


class _Clock:
    """Local times per timezone, computed once per decision (staff usually share one or two zones)."""

    __slots__ = ("by_zone", "now")

    def __init__(self, now: datetime) -> None:
        self.now = _aware(now)
        self.by_zone: dict[str, _Local] = {}

    def at(self, tz_name: str) -> _Local:
        loc = self.by_zone.get(tz_name)
        if loc is None:
            loc = self.by_zone[tz_name] = _local(self.now, tz_name)
        return loc


def _on_shift(s: StaffProfile, loc: _Local, *, honour_off_dates: bool = True) -> bool:
    t = loc.clock
    if not (honour_off_dates and loc.day in s.off_dates):
        for start, end in s.shifts.get(loc.weekday, ()):
            if start < end:
                if start <= t < end:
                    return True
            elif t >= start:  # crosses midnight: the part before it
                return True
    if not (honour_off_dates and loc.prev_day in s.off_dates):
        for start, end in s.shifts.get(loc.prev_weekday, ()):
            if end <= start and t < end:  # yesterday's night shift, after midnight
                return True
    return False


def is_on_shift(staff: StaffProfile, now: datetime) -> bool:
    """Whether `now` falls in one of the staff's shifts (their timezone; off_dates honoured)."""
    return _on_shift(staff, _Clock(now).at(staff.timezone))


def _blocked(c: _Ctx, s: StaffProfile, clock: _Clock) -> bool:
    """Fails any hard filter other than capacity (cheapest and most selective checks first)."""
    if not s.active or s.user_id in c.exclude:
        return True
    if c.w.region_strict and c.region is not None and s.region != c.region:
        return True
    skills = s.skills
    for skill, level in c.required:
        if skills.get(skill, 0) < level:
            return True
    return c.w.on_shift_required and not _on_shift(s, clock.at(s.timezone))


def _reasons(c: _Ctx, s: StaffProfile, clock: _Clock, *, capacity: bool = True) -> list[IneligibleReason]:
    """Every filter the staff fails (the explanation; `_blocked` is its short-circuit twin)."""
    out: list[IneligibleReason] = []
    if not s.active:
        out.append(IneligibleReason.INACTIVE)
    if s.user_id in c.exclude:
        out.append(IneligibleReason.EXCLUDED)
    if c.w.region_strict and c.region is not None and s.region != c.region:
        out.append(IneligibleReason.REGION_MISMATCH)
    levels = [s.skills.get(skill) for skill, _ in c.required]
    if any(lv is None for lv in levels):
        out.append(IneligibleReason.SKILL_MISSING)
    if any(lv is not None and lv < need for lv, (_, need) in zip(levels, c.required, strict=True)):
        out.append(IneligibleReason.SKILL_TOO_LOW)
    if c.w.on_shift_required:
        loc = clock.at(s.timezone)
        if not _on_shift(s, loc):
            on_ignoring_days_off = _on_shift(s, loc, honour_off_dates=False)
            out.append(IneligibleReason.DAY_OFF if on_ignoring_days_off else IneligibleReason.OFF_SHIFT)
    if capacity and s.open_load >= s.capacity:
        out.append(IneligibleReason.AT_CAPACITY)
    return out


def _distance_m(c: _Ctx, s: StaffProfile) -> int | None:
    if c.lat is None or c.lon is None or s.location is None:
        return None
    lat2, lon2 = s.location[0] * _RAD, s.location[1] * _RAD
    h = sin((lat2 - c.lat) * 0.5) ** 2 + c.cos_lat * cos(lat2) * sin((lon2 - c.lon) * 0.5) ** 2
    km = _DIAMETER_KM * asin(sqrt(h) if h < 1.0 else 1.0)
    return int(km * 1000 + 0.5)  # whole metres, half up: the float stops here


class _Parts(NamedTuple):
    region: int
    store: int
    skill: int
    load: int
    rating: int
    distance: int
    vip_senior: int
    previous_owner: int
    distance_m: int | None


def _parts(c: _Ctx, s: StaffProfile) -> _Parts:
    w = c.w
    region = w.region if c.region is not None and s.region == c.region else 0
    store = w.store if c.store is not None and s.store == c.store else 0
    skill = 0
    if c.required:
        surplus = 0
        for k, need in c.required:
            have = s.skills.get(k, 0)
            if have > need:
                surplus += have - need
        skill = _units(w.skill, surplus, 4 * len(c.required))
    load = _units(w.load, s.capacity - s.open_load, s.capacity) if s.capacity > 0 else 0
    # Rating shrunk toward the prior: (rating·n + prior·m) / (n + m), then (r - 1) / 4, as integer ratios.
    pn, pd = w.prior
    n = s.ratings_count if s.rating is not None else 0
    m = w.prior_count
    if n + m == 0:
        rating = _units(w.rating, pn - pd, 4 * pd)
    else:
        rn, rd = s.rating.as_integer_ratio() if s.rating is not None else (0, 1)
        den = rd * pd * (n + m)
        rating = _units(w.rating, rn * n * pd + pn * m * rd - den, 4 * den)
    metres = _distance_m(c, s)
    distance = 0
    if metres is not None:
        cap_n, cap_d = w.cap_m
        distance = _units(w.distance, cap_n - metres * cap_d, cap_n)
    vip = w.vip_senior if c.vip and s.senior else 0
    prev = w.previous_owner if c.previous_owner_id is not None and s.user_id == c.previous_owner_id else 0
    return _Parts(region, store, skill, load, rating, distance, vip, prev, metres)


def _total(p: _Parts) -> int:
    return p.region + p.store + p.skill + p.load + p.rating + p.distance + p.vip_senior + p.previous_owner


def _dec(units: int) -> Decimal:
    return Decimal(units) * _Q4


def _breakdown(user_id: str, p: _Parts) -> ScoreBreakdown:
    return ScoreBreakdown(
        user_id=user_id,
        region=_dec(p.region),
        store=_dec(p.store),
        skill=_dec(p.skill),
        load=_dec(p.load),
        rating=_dec(p.rating),
        distance=_dec(p.distance),
        vip_senior=_dec(p.vip_senior),
        previous_owner=_dec(p.previous_owner),
        total=_dec(_total(p)),
        distance_km=None if p.distance_m is None else Decimal(p.distance_m) * _Q3,
    )


def _rank_key(item: tuple[int, StaffProfile, _Parts]) -> tuple[int, int, datetime, str]:
    total, s, _ = item
    return (-total, s.open_load, s.last_assigned_at or _NEVER, s.user_id)


# --- public API -----------------------------------------------------------------------------------------


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def eligibility(
    needs: TicketNeeds, staff: StaffProfile, weights: AssignmentWeights, now: datetime
) -> list[IneligibleReason]:
    """Why `staff` cannot be assigned `needs` at `now` (empty = eligible)."""
    return _reasons(_context(needs, weights), staff, _Clock(now))


def can_claim(
    needs: TicketNeeds,
    staff: StaffProfile,
    now: datetime,
    *,
    weights: AssignmentWeights | None = None,
    override_capacity: bool = False,
) -> list[IneligibleReason]:
    """A claim from the queue or a manual reassignment: the same filters as automatic assignment (the
    tenant's region/shift policy from `weights`), except that a manager may override a full capacity."""
    reasons = _reasons(_context(needs, weights or AssignmentWeights()), staff, _Clock(now))
    if override_capacity:
        reasons = [r for r in reasons if r is not IneligibleReason.AT_CAPACITY]
    return reasons


def score(
    needs: TicketNeeds, staff: StaffProfile, weights: AssignmentWeights, now: datetime
) -> ScoreBreakdown:
    """The breakdown `choose` would give `staff` (eligible or not). No criterion depends on time today;
    `now` is validated and kept in the signature so one can be added without changing callers."""
    _aware(now)
    return _breakdown(staff.user_id, _parts(_context(needs, weights), staff))


def choose(
    needs: TicketNeeds, staff: Sequence[StaffProfile], weights: AssignmentWeights, now: datetime
) -> Decision:
    """The best eligible staff for the ticket at `now`, or a queued decision saying why nobody."""
    c = _context(needs, weights)
    clock = _Clock(now)
    scored: list[tuple[int, StaffProfile, _Parts]] = []
    ineligible: dict[str, list[IneligibleReason]] = {}
    ineligible_count = 0
    full = 0  # eligible but at capacity: the ticket can wait for them
    for s in staff:
        blocked = _blocked(c, s, clock)
        if not blocked and s.open_load < s.capacity:
            p = _parts(c, s)
            scored.append((_total(p), s, p))
            continue
        ineligible_count += 1
        if not blocked:
            full += 1
        if len(ineligible) < INELIGIBLE_CAP:
            ineligible[s.user_id] = _reasons(c, s, clock)
    top = heapq.nsmallest(RANKING_SIZE, scored, key=_rank_key)
    ranking = [_breakdown(s.user_id, p) for _, s, p in top]
    queue_reason = None
    if not ranking:
        queue_reason = QueueReason.CAPACITY if full else QueueReason.NO_ELIGIBLE_STAFF
    return Decision(
        ticket_id=needs.ticket_id,
        assignee_id=ranking[0].user_id if ranking else None,
        breakdown=ranking[0] if ranking else None,
        ranking=ranking,
        eligible_count=len(scored),
        ineligible=ineligible,
        ineligible_count=ineligible_count,
        queued=not ranking,
        queue_reason=queue_reason,
    )


def drain_queue(
    waiting: Sequence[WaitingTicket],
    staff: Sequence[StaffProfile],
    weights: AssignmentWeights,
    now: datetime,
) -> list[tuple[str, Decision]]:
    """Offer waiting tickets to the staff oldest first, each assignment adding one to the assignee's
    open_load (and stamping last_assigned_at = now) before the next ticket is decided. A ticket nobody can
    take keeps its place (its Decision is queued) and the younger tickets behind it are still tried: skip,
    not head-of-line block. Returns every ticket's decision in the order they were decided."""
    pool = list(staff)
    index = {s.user_id: i for i, s in enumerate(pool)}
    out: list[tuple[str, Decision]] = []
    for t in sorted(waiting, key=lambda t: (t.enqueued_at, t.needs.created_at, t.ticket_id)):
        d = choose(t.needs, pool, weights, now)
        if d.assignee_id is not None:
            i = index[d.assignee_id]
            pool[i] = pool[i].model_copy(update={"open_load": pool[i].open_load + 1, "last_assigned_at": now})
        out.append((t.ticket_id, d))
    return out
