"""Business calendars: named cases, holidays and make-up days, DST, and business-time arithmetic laws."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.calendars import (
    CHINA_HOLIDAY_YEARS,
    BusinessCalendar,
    add_business_time,
    business_time_between,
    china_public_holidays,
    is_open,
)
from chalicelib.domain.common import InvalidInputError

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


OFFICE = BusinessCalendar.office()  # Mon-Fri 09:00-18:00, Asia/Shanghai


# --- named cases ---------------------------------------------------------------------------------


def test_friday_late_afternoon_plus_one_hour_lands_on_monday_morning() -> None:
    # 2026-01-09 is a Friday. With a 18:00 close, 17:30 + 1h leaves 30 minutes for Monday.
    assert add_business_time(OFFICE, sh(2026, 1, 9, 17, 30), H) == sh(2026, 1, 12, 9, 30)
    # Friday 16:30 + 1h only reaches Monday 09:30 when the office closes at 17:00.
    five_pm = BusinessCalendar.office(closes=time(17))
    assert add_business_time(five_pm, sh(2026, 1, 9, 16, 30), H) == sh(2026, 1, 12, 9, 30)
    assert add_business_time(OFFICE, sh(2026, 1, 9, 16, 30), H) == sh(2026, 1, 9, 17, 30)


def test_result_is_aware_utc() -> None:
    result = add_business_time(OFFICE, sh(2026, 1, 9, 17, 30), H)
    assert result is not None and result.tzinfo is UTC
    assert result == datetime(2026, 1, 12, 1, 30, tzinfo=UTC)


def test_twenty_four_seven_has_no_gap_at_midnight() -> None:
    always = BusinessCalendar.twenty_four_seven()
    assert add_business_time(always, sh(2026, 3, 1, 23, 30), H) == sh(2026, 3, 2, 0, 30)
    # Same with holidays configured (day-by-day path instead of the single endless stretch).
    with_holiday = always.model_copy(update={"holidays": {date(2026, 12, 25)}})
    assert add_business_time(with_holiday, sh(2026, 3, 1, 23, 30), H) == sh(2026, 3, 2, 0, 30)
    assert add_business_time(with_holiday, sh(2026, 12, 24, 23, 30), H) == sh(2026, 12, 26, 0, 30)


def test_start_outside_hours_starts_the_clock_at_next_opening() -> None:
    assert add_business_time(OFFICE, sh(2026, 1, 10, 3, 0), H) == sh(2026, 1, 12, 10, 0)  # Saturday
    assert add_business_time(OFFICE, sh(2026, 1, 12, 7, 0), H) == sh(2026, 1, 12, 10, 0)  # before opening
    assert add_business_time(OFFICE, sh(2026, 1, 12, 20, 0), H) == sh(2026, 1, 13, 10, 0)  # after closing


def test_zero_duration_is_the_start_itself() -> None:
    start = sh(2026, 1, 10, 3, 0)
    assert add_business_time(OFFICE, start, timedelta(0)) == start
    assert business_time_between(OFFICE, start, start) == timedelta(0)


def test_several_intervals_a_day() -> None:
    lunch = BusinessCalendar.office(lunch=(time(12), time(13)))
    assert add_business_time(lunch, sh(2026, 1, 12, 11, 30), H) == sh(2026, 1, 12, 13, 30)
    assert add_business_time(lunch, sh(2026, 1, 12, 12, 15), H) == sh(2026, 1, 12, 14, 0)
    assert business_time_between(lunch, sh(2026, 1, 12, 0), sh(2026, 1, 13, 0)) == 8 * H
    # Ends exactly at the end of the morning stretch, not at the afternoon opening.
    assert add_business_time(lunch, sh(2026, 1, 12, 9), 3 * H) == sh(2026, 1, 12, 12)


def test_durations_spanning_weeks() -> None:
    # 3 weeks of 9h days = 135h: from Monday 09:00 to Friday 18:00 two weeks later.
    assert add_business_time(OFFICE, sh(2026, 1, 12, 9), 135 * H) == sh(2026, 1, 30, 18)
    assert business_time_between(OFFICE, sh(2026, 1, 12, 9), sh(2026, 1, 30, 18)) == 135 * H


def test_a_year_of_business_time_round_trips() -> None:
    # The arithmetic steps per working interval, not per minute; its speed is not asserted in a test.
    holidays, workdays = china_public_holidays([2026])
    cal = BusinessCalendar.office(holidays=holidays, workdays=workdays)
    end = add_business_time(cal, sh(2026, 1, 5, 9), 2000 * H)
    assert end is not None
    assert business_time_between(cal, sh(2026, 1, 5, 9), end) == 2000 * H
    # Ten years on a 24/7 calendar is one step.
    assert add_business_time(BusinessCalendar.twenty_four_seven(), sh(2026, 1, 1), 3650 * 24 * H) == sh(
        2035, 12, 30
    )


# --- holidays and make-up days -----------------------------------------------------------------------


def test_china_2026_schedule_from_the_package() -> None:
    assert 2026 in CHINA_HOLIDAY_YEARS
    holidays, workdays = china_public_holidays([2026])
    assert {date(2026, 10, d) for d in range(1, 8)} <= holidays
    assert date(2026, 10, 10) in workdays  # Saturday make-up day after National Day
    assert not holidays & workdays
    with pytest.raises(InvalidInputError):
        china_public_holidays([CHINA_HOLIDAY_YEARS.stop])


def test_national_day_holidays_inside_a_target() -> None:
    holidays, workdays = china_public_holidays([2026])
    cal = BusinessCalendar.office(holidays=holidays, workdays=workdays)
    # Wed 30 Sep 17:00: 1h that day, then 1-7 Oct off, Thu 8 Oct 09:00 + 3h.
    assert add_business_time(cal, sh(2026, 9, 30, 17), 4 * H) == sh(2026, 10, 8, 12)
    # Fri 9 Oct 17:00: 1h that day, then the make-up Saturday 10 Oct counts.
    assert add_business_time(cal, sh(2026, 10, 9, 17), 2 * H) == sh(2026, 10, 10, 10)
    # Without the make-up day the second hour falls on Monday 12 Oct.
    assert add_business_time(OFFICE, sh(2026, 10, 9, 17), 2 * H) == sh(2026, 10, 12, 10)
    assert business_time_between(cal, sh(2026, 9, 30, 17), sh(2026, 10, 8, 12)) == 4 * H


def test_hand_made_holidays_and_makeup_hours() -> None:
    cal = BusinessCalendar(
        id="shop",
        name="Shop",
        hours={d: [(time(10), time(22))] for d in range(7)},
        holidays={date(2026, 2, 16), date(2026, 2, 17)},
        workdays={date(2026, 2, 18)},  # a Wednesday: works short hours that day
        makeup_hours=[(time(10), time(12))],
    )
    assert add_business_time(cal, sh(2026, 2, 15, 21), 2 * H) == sh(2026, 2, 18, 11)
    assert add_business_time(cal, sh(2026, 2, 15, 21), 4 * H) == sh(2026, 2, 19, 11)
    assert cal.hours_on(date(2026, 2, 16)) == []
    assert cal.hours_on(date(2026, 2, 18)) == [(time(10), time(12))]


def test_makeup_day_uses_monday_hours_by_default() -> None:
    cal = BusinessCalendar(
        id="c",
        name="c",
        hours={0: [(time(8), time(12))], 1: [(time(9), time(17))]},
        workdays={date(2026, 1, 4)},
    )
    assert cal.hours_on(date(2026, 1, 4)) == [(time(8), time(12))]


# --- pauses --------------------------------------------------------------------------------------------


def test_pause_is_not_counted() -> None:
    start = sh(2026, 1, 12, 9)
    pauses = [(sh(2026, 1, 12, 10), sh(2026, 1, 12, 12))]
    assert add_business_time(OFFICE, start, 3 * H, pauses) == sh(2026, 1, 12, 14)
    assert business_time_between(OFFICE, start, sh(2026, 1, 12, 14), pauses) == 3 * H


def test_pause_before_the_clock_started_shifts_nothing() -> None:
    start = sh(2026, 1, 12, 9)
    before = [(sh(2026, 1, 10, 10), sh(2026, 1, 12, 9))]
    assert add_business_time(OFFICE, start, 3 * H, before) == sh(2026, 1, 12, 12)
    # Only the part after the start counts: 08:00-10:00 pauses 09:00-10:00.
    straddling = [(sh(2026, 1, 12, 8), sh(2026, 1, 12, 10))]
    assert add_business_time(OFFICE, start, 3 * H, straddling) == sh(2026, 1, 12, 13)


def test_pause_spanning_a_weekend() -> None:
    start = sh(2026, 1, 9, 16)  # Friday
    pauses = [(sh(2026, 1, 9, 17), sh(2026, 1, 12, 11))]  # Fri 17:00 -> Mon 11:00
    # 1h Friday, the pause eats Fri 17-18 and Mon 09-11, then 2h more: Mon 13:00.
    assert add_business_time(OFFICE, start, 3 * H, pauses) == sh(2026, 1, 12, 13)
    # On a 24/7 calendar the weekend itself is paused time.
    always = BusinessCalendar.twenty_four_seven()
    assert add_business_time(always, start, 3 * H, pauses) == sh(2026, 1, 12, 13)


def test_open_pause_stops_the_clock() -> None:
    start = sh(2026, 1, 12, 9)
    assert add_business_time(OFFICE, start, 3 * H, [(sh(2026, 1, 12, 10), None)]) is None
    # Reached before the pause began: still a deadline.
    assert add_business_time(OFFICE, start, H, [(sh(2026, 1, 12, 10), None)]) == sh(2026, 1, 12, 10)
    assert business_time_between(OFFICE, start, sh(2026, 1, 20), [(sh(2026, 1, 12, 10), None)]) == H


def test_overlapping_pauses_are_merged() -> None:
    start = sh(2026, 1, 12, 9)
    pauses = [(sh(2026, 1, 12, 10), sh(2026, 1, 12, 11)), (sh(2026, 1, 12, 10, 30), sh(2026, 1, 12, 12))]
    assert add_business_time(OFFICE, start, 3 * H, pauses) == sh(2026, 1, 12, 14)


# --- daylight saving -----------------------------------------------------------------------------------


def test_office_hours_across_us_spring_forward() -> None:
    cal = BusinessCalendar.office(timezone="America/New_York")
    # Friday 6 March 2026 (EST) 17:00 + 2h: 1h Friday, 1h Monday 9 March (EDT).
    result = add_business_time(cal, ny(2026, 3, 6, 17), 2 * H)
    assert result == ny(2026, 3, 9, 10)
    assert result == datetime(2026, 3, 9, 14, tzinfo=UTC)


def test_interval_containing_a_dst_change_counts_real_time() -> None:
    night = BusinessCalendar(id="n", name="n", timezone="America/New_York", hours={6: [(time(0), time(6))]})
    assert business_time_between(night, ny(2026, 3, 8), ny(2026, 3, 9)) == 5 * H  # spring forward
    assert business_time_between(night, ny(2026, 11, 1), ny(2026, 11, 2)) == 7 * H  # fall back
    assert add_business_time(night, ny(2026, 3, 8), 4 * H) == ny(2026, 3, 8, 5)


def test_intervals_inside_the_dst_gap_do_not_overlap() -> None:
    gap = BusinessCalendar(
        id="g", name="g", timezone="America/New_York", hours={6: [(time(2), time(2, 50)), (time(3), time(4))]}
    )
    # 02:00-02:50 does not exist on 8 March; what remains must not be counted twice.
    assert business_time_between(gap, ny(2026, 3, 8), ny(2026, 3, 9)) == H


def test_twenty_four_seven_across_spring_forward() -> None:
    always = BusinessCalendar.twenty_four_seven(timezone="America/New_York")
    with_holiday = always.model_copy(update={"holidays": {date(2026, 12, 25)}})
    for cal in (always, with_holiday):
        assert add_business_time(cal, ny(2026, 3, 8), 4 * H) == ny(2026, 3, 8, 5)


# --- validation and helpers -------------------------------------------------------------------------


def test_invalid_calendars() -> None:
    with pytest.raises(ValidationError):
        BusinessCalendar(id="c", name="c", timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        BusinessCalendar(id="c", name="c", hours={0: [(time(9), time(12)), (time(11), time(13))]})
    with pytest.raises(ValidationError):
        BusinessCalendar(id="c", name="c", hours={0: [(time(12), time(9))]})
    with pytest.raises(ValidationError):
        BusinessCalendar(id="c", name="c", hours={7: [(time(9), time(12))]})
    with pytest.raises(ValidationError):
        BusinessCalendar(id="c", name="c", holidays={date(2026, 1, 1)}, workdays={date(2026, 1, 1)})
    with pytest.raises(ValidationError):
        BusinessCalendar(id="c", name="c", hours={1: [(time(9), time(12))]}, workdays={date(2026, 1, 3)})


def test_midnight_end_and_json_round_trip() -> None:
    late = BusinessCalendar(id="c", name="c", hours={d: [(time(18), time(0))] for d in range(7)})
    assert add_business_time(late, sh(2026, 1, 12, 23, 30), H) == sh(2026, 1, 13, 18, 30)
    holidays, workdays = china_public_holidays([2026])
    cal = BusinessCalendar.office(holidays=holidays, workdays=workdays, lunch=(time(12), time(13)))
    assert BusinessCalendar.model_validate_json(cal.model_dump_json()) == cal


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError):
        add_business_time(OFFICE, datetime(2026, 1, 12, 9), H)  # naive
    with pytest.raises(InvalidInputError):
        add_business_time(OFFICE, sh(2026, 1, 12, 9), -H)
    with pytest.raises(InvalidInputError):
        add_business_time(OFFICE, sh(2026, 1, 12, 9), H, [(sh(2026, 1, 12, 11), sh(2026, 1, 12, 10))])
    closed = BusinessCalendar(id="closed", name="closed")
    with pytest.raises(InvalidInputError):
        add_business_time(closed, sh(2026, 1, 12, 9), H)


def test_is_open() -> None:
    assert is_open(OFFICE, sh(2026, 1, 12, 9))
    assert not is_open(OFFICE, sh(2026, 1, 12, 18))
    assert not is_open(OFFICE, sh(2026, 1, 10, 12))
    assert is_open(BusinessCalendar.twenty_four_seven(), sh(2026, 1, 10, 3))


def test_between_is_zero_when_end_is_not_after_start() -> None:
    assert business_time_between(OFFICE, sh(2026, 1, 12, 12), sh(2026, 1, 12, 10)) == timedelta(0)


# --- laws (hypothesis) -------------------------------------------------------------------------------

ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe"]
WINDOW = (datetime(2026, 1, 1), datetime(2026, 12, 31))


def _quarter(q: int) -> time:
    return time(0) if q == 96 else time(q // 4, q % 4 * 15)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    if draw(st.integers(0, 9)) == 0:
        holidays = draw(st.sets(st.dates(date(2026, 1, 1), date(2026, 3, 31)), max_size=5))
        return BusinessCalendar(
            id="h", name="h", timezone=draw(st.sampled_from(ZONES)), always_open=True, holidays=holidays
        )
    cuts = {d: sorted(draw(st.lists(st.integers(0, 96), unique=True, max_size=6))) for d in range(7)}
    pairs = {d: list(zip(c[::2], c[1::2], strict=False)) for d, c in cuts.items()}
    hours = {d: [(_quarter(a), _quarter(b)) for a, b in p] for d, p in pairs.items()}
    weekly_quarters = sum(b - a for p in pairs.values() for a, b in p)
    if weekly_quarters < 16:  # keep the search short: at least 4 working hours a week
        hours[draw(st.integers(0, 6))] = [(time(9), time(18))]
    holidays = draw(st.sets(st.dates(date(2026, 1, 1), date(2026, 3, 31)), max_size=8))
    workdays = draw(st.sets(st.dates(date(2026, 1, 1), date(2026, 3, 31)), max_size=4)) - holidays
    return BusinessCalendar(
        id="r",
        name="r",
        timezone=draw(st.sampled_from(ZONES)),
        hours=hours,
        holidays=holidays,
        workdays=workdays,
        makeup_hours=[(time(9), time(17))],
    )


starts = st.datetimes(*WINDOW, timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=60))


@st.composite
def pause_lists(draw: st.DrawFn, start: datetime) -> list[tuple[datetime, datetime | None]]:
    out: list[tuple[datetime, datetime | None]] = []
    for _ in range(draw(st.integers(0, 3))):
        begin = start + draw(st.timedeltas(timedelta(days=-2), timedelta(days=10)))
        out.append((begin, begin + draw(st.timedeltas(timedelta(0), timedelta(days=3)))))
    return out


LAWS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@LAWS
@given(cal=calendars(), start=starts, d=durations, data=st.data())
def test_between_inverts_add(
    cal: BusinessCalendar, start: datetime, d: timedelta, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    end = add_business_time(cal, start, d, pauses)
    assert end is not None and end >= start
    assert business_time_between(cal, start, end, pauses) == d


@LAWS
@given(cal=calendars(), start=starts, d1=durations, d2=durations)
def test_add_is_monotonic(cal: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta) -> None:
    small, big = sorted([d1, d2])
    a, b = add_business_time(cal, start, small), add_business_time(cal, start, big)
    assert a is not None and b is not None and a <= b


@LAWS
@given(cal=calendars(), start=starts, d=durations, data=st.data())
def test_lands_in_or_at_the_end_of_working_time(
    cal: BusinessCalendar, start: datetime, d: timedelta, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    end = add_business_time(cal, start, d, pauses)
    assert end is not None
    if d == timedelta(0):
        assert end == start
        return
    just_before = end - timedelta(microseconds=1)
    assert is_open(cal, just_before)  # the last microsecond counted was working time...
    assert not any(s <= just_before < e for s, e in pauses if e is not None)  # ...and not paused


@LAWS
@given(cal=calendars(), start=starts, d1=durations, d2=durations, data=st.data())
def test_add_is_additive(
    cal: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    middle = add_business_time(cal, start, d1, pauses)
    assert middle is not None
    assert add_business_time(cal, middle, d2, pauses) == add_business_time(cal, start, d1 + d2, pauses)
