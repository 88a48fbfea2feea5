"""Tenant business calendars and business-time arithmetic (for work-order SLAs).

Business time is real elapsed time inside working intervals, minus pauses. Working intervals are
defined in the calendar's local time per day and converted to UTC one interval at a time, so zones
with daylight saving are handled (a day with a DST change simply has a longer or shorter interval).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.common import InvalidInputError

Interval = tuple[time, time]  # local (start, end); end 00:00 means 24:00 (end of the day)
Pause = tuple[datetime, datetime | None]  # end None: paused until further notice

MIDNIGHT = time(0)
_FOREVER = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)  # room for arithmetic without overflow
_ONE_DAY = timedelta(days=1)
# A calendar with no working time at all for this long is a configuration error, not a long wait.
_MAX_CLOSED_DAYS = 3 * 366

# Years of official holidays shipped in chinese-calendar 1.11.0 (2004..2026). The State Council publishes
# each year's schedule in November of the year before: later years need a package upgrade, or dates
# added by the tenant (holidays / workdays are plain sets a tenant can edit).
CHINA_HOLIDAY_YEARS = range(
    min(d.year for d in chinese_calendar.holidays), max(d.year for d in chinese_calendar.holidays) + 1
)


def _end_key(t: time) -> tuple[int, time]:
    return (1, MIDNIGHT) if t == MIDNIGHT else (0, t)


def _check_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, validated intervals: start < end (end 00:00 = midnight), naive times, no overlap."""
    out = sorted(intervals, key=lambda iv: (iv[0], _end_key(iv[1])))
    prev_end: tuple[int, time] | None = None
    for start, end in out:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("working hours are local times without a timezone")
        if end != MIDNIGHT and not start < end:
            raise ValueError(f"interval {start}-{end}: start must be before end (use 00:00 for midnight)")
        if prev_end is not None and prev_end > (0, start):
            raise ValueError(f"interval {start}-{end} overlaps the previous one")
        prev_end = _end_key(end)
    return out


class BusinessCalendar(BaseModel):
    """When a tenant works: weekly hours, minus holidays, plus make-up workdays (调休), in one timezone.

    `hours` maps weekday (0 = Monday .. 6 = Sunday) to local intervals; a day may have several
    (09:00-12:00, 13:00-18:00) and an end of 00:00 means midnight. A date in `workdays` works with
    `makeup_hours` (default: Monday's hours) whatever its weekday; a date in `holidays` never works.
    `always_open` means every non-holiday day is worked 00:00-24:00 (`hours` is then ignored)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    timezone: str = "Asia/Shanghai"
    hours: dict[int, list[Interval]] = Field(default_factory=dict)
    holidays: set[date] = Field(default_factory=set)
    workdays: set[date] = Field(default_factory=set)
    makeup_hours: list[Interval] | None = None
    always_open: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {v!r}") from exc
        return v

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, v: dict[int, list[Interval]]) -> dict[int, list[Interval]]:
        if any(not 0 <= day <= 6 for day in v):
            raise ValueError("weekdays are 0 (Monday) .. 6 (Sunday)")
        return {day: _check_intervals(ivs) for day, ivs in sorted(v.items()) if ivs}

    @field_validator("makeup_hours")
    @classmethod
    def _valid_makeup(cls, v: list[Interval] | None) -> list[Interval] | None:
        return None if v is None else _check_intervals(v)

    @model_validator(mode="after")
    def _consistent(self) -> BusinessCalendar:
        if both := self.holidays & self.workdays:
            raise ValueError(f"dates both holiday and workday: {sorted(both)}")
        if self.workdays and not self.always_open and not self._makeup_pattern():
            raise ValueError("make-up workdays need makeup_hours or Monday hours")
        return self

    @classmethod
    def office(
        cls,
        id: str = "office",
        name: str = "Office hours",
        *,
        timezone: str = "Asia/Shanghai",
        opens: time = time(9),
        closes: time = time(18),
        weekdays: Iterable[int] = range(5),
        lunch: Interval | None = None,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
    ) -> BusinessCalendar:
        """Mon-Fri 09:00-18:00 by default; `lunch` (e.g. 12:00-13:00) splits each day in two."""
        day: list[Interval] = [(opens, closes)] if lunch is None else [(opens, lunch[0]), (lunch[1], closes)]
        return cls(
            id=id,
            name=name,
            timezone=timezone,
            hours=dict.fromkeys(weekdays, day),
            holidays=set(holidays),
            workdays=set(workdays),
            makeup_hours=day,
        )

    @classmethod
    def twenty_four_seven(
        cls, id: str = "24x7", name: str = "24/7", *, timezone: str = "Asia/Shanghai"
    ) -> BusinessCalendar:
        return cls(id=id, name=name, timezone=timezone, always_open=True)

    def _makeup_pattern(self) -> list[Interval]:
        return self.makeup_hours if self.makeup_hours is not None else self.hours.get(0, [])

    def hours_on(self, day: date) -> list[Interval]:
        """The local working intervals of one date."""
        if day in self.holidays:
            return []
        if self.always_open:
            return [(MIDNIGHT, MIDNIGHT)]
        if day in self.workdays:
            return self._makeup_pattern()
        return self.hours.get(day.weekday(), [])


def china_public_holidays(years: Iterable[int]) -> tuple[set[date], set[date]]:
    """(holidays, make-up workdays) of mainland China's official schedule for `years`.

    Covers CHINA_HOLIDAY_YEARS only (what chinese-calendar 1.11.0 knows); other years raise rather than
    silently return nothing. Holidays include the weekend days inside a holiday period."""
    wanted = set(years)
    if unknown := sorted(wanted - set(CHINA_HOLIDAY_YEARS)):
        raise InvalidInputError(
            f"no official holiday schedule for {unknown}: covered years are "
            f"{CHINA_HOLIDAY_YEARS.start}-{CHINA_HOLIDAY_YEARS.stop - 1}; add the dates to the calendar"
        )
    holidays = {d for d in chinese_calendar.holidays if d.year in wanted}
    workdays = {d for d in chinese_calendar.workdays if d.year in wanted}
    return holidays, workdays


# --- business-time arithmetic -------------------------------------------------------------------


def _aware(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidInputError(f"{what} must be timezone-aware")
    return dt.astimezone(UTC)


def _working_intervals(
    calendar: BusinessCalendar, since: datetime, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's working intervals in UTC, ascending and non-overlapping, that end after `since`.

    Stops after `until` (if given). Raises if the calendar has no working time for years."""
    if calendar.always_open and not calendar.holidays:
        yield since, _FOREVER  # the common 24/7 case in one step, however long the duration
        return
    zone = ZoneInfo(calendar.timezone)
    day = since.astimezone(zone).date() - _ONE_DAY  # a day early: DST folds can shift intervals across
    last_day = None if until is None else until.astimezone(zone).date() + _ONE_DAY
    last_end = since
    closed_days = 0
    while last_day is None or day <= last_day:
        intervals = calendar.hours_on(day)
        closed_days = 0 if intervals else closed_days + 1
        if closed_days > _MAX_CLOSED_DAYS:
            raise InvalidInputError(f"calendar {calendar.id} has no working time after {day - _ONE_DAY}")
        for start_t, end_t in intervals:
            start = datetime.combine(day, start_t, tzinfo=zone).astimezone(UTC)
            end_day = day + _ONE_DAY if end_t == MIDNIGHT else day
            end = datetime.combine(end_day, end_t, tzinfo=zone).astimezone(UTC)
            # Local times inside a DST gap can map onto the next interval: clip so UTC stays monotonic.
            start = max(start, last_end)
            if end > start:
                yield start, end
                last_end = end
        day += _ONE_DAY


def _merged_pauses(pauses: Sequence[Pause]) -> list[tuple[datetime, datetime]]:
    spans: list[tuple[datetime, datetime]] = []
    for p_start, p_end in pauses:
        s = _aware(p_start, "pause start")
        e = _FOREVER if p_end is None else _aware(p_end, "pause end")
        if e < s:
            raise InvalidInputError("a pause cannot end before it starts")
        if e > s:
            spans.append((s, e))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _stretches(
    calendar: BusinessCalendar, start: datetime, pauses: Sequence[Pause], until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """Stretches of running clock (working and not paused) from `start`, ascending.

    Ends at an open pause (the clock never restarts) or after `until`."""
    cursor = start
    spans = _merged_pauses(pauses)
    i = 0
    while until is None or cursor < until:
        while i < len(spans) and spans[i][1] <= cursor:
            i += 1
        if i < len(spans) and spans[i][0] <= cursor:
            if spans[i][1] >= _FOREVER:
                return
            cursor = spans[i][1]  # jump over the whole pause, however many days it spans
            continue
        next_pause = spans[i][0] if i < len(spans) else _FOREVER
        for a, b in _working_intervals(calendar, cursor, until):
            a = max(a, cursor)
            if b > next_pause:
                if a < next_pause:
                    yield a, next_pause
                cursor = next_pause
                break
            yield a, b
        else:
            return  # reached `until`


def add_business_time(
    calendar: BusinessCalendar, start: datetime, duration: timedelta, pauses: Sequence[Pause] = ()
) -> datetime | None:
    """The UTC instant at which `duration` of business time has elapsed after `start`.

    The clock starts at the next opening if `start` is outside working hours, and stands still during
    `pauses` (only the part after `start` matters). Returns None if an open pause (end None) stops the
    clock before `duration` is reached: there is no deadline until it is resumed. Zero duration returns
    `start` itself; otherwise the result is inside a working stretch or at the end of one."""
    start = _aware(start, "start")
    if duration < timedelta(0):
        raise InvalidInputError("duration must not be negative")
    if duration == timedelta(0):
        return start
    remaining = duration
    for a, b in _stretches(calendar, start, pauses):
        if remaining <= b - a:
            return a + remaining
        remaining -= b - a
    return None


def business_time_between(
    calendar: BusinessCalendar, start: datetime, end: datetime, pauses: Sequence[Pause] = ()
) -> timedelta:
    """Business time elapsed from `start` to `end` (zero if `end` is not after `start`), minus pauses."""
    start, end = _aware(start, "start"), _aware(end, "end")
    total = timedelta(0)
    if end <= start:
        return total
    for a, b in _stretches(calendar, start, pauses, until=end):
        if a >= end:
            break
        total += min(b, end) - a
    return total


def is_open(calendar: BusinessCalendar, at: datetime) -> bool:
    """Whether `at` is inside working hours (pauses aside)."""
    at = _aware(at, "at")
    for a, b in _working_intervals(calendar, at):
        return a <= at < b
    return False
