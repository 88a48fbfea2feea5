"""SLA policies: deadlines, milestone escalations (idempotent), pauses, replies, timers, calendar changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from chalicelib.domain.calendars import BusinessCalendar
from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.sla import (
    Channel,
    Escalation,
    EscalationAction,
    EscalationLevel,
    Milestone,
    Priority,
    Recipient,
    SlaClock,
    SlaPolicy,
    SlaTarget,
    SlaTargets,
    deadlines,
    due_escalations,
    next_wakeup,
    percent_elapsed,
)

SH = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
OFFICE = BusinessCalendar.office()  # Mon-Fri 09:00-18:00


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


POLICY = SlaPolicy(
    id="std",
    name="Standard",
    calendar_id=OFFICE.id,
    targets={
        Priority.NORMAL: SlaTargets(resolution=4 * H),
        Priority.HIGH: SlaTargets(first_response=H, next_response=2 * H, resolution=8 * H),
    },
)
FRIDAY_4PM = sh(2026, 1, 9, 16)  # resolution 4h: Fri 16-18, Mon 09-11


def levels(escalations: list[Escalation]) -> list[tuple[str, str]]:
    return [(e.key, e.level.value) for e in escalations]


def test_default_milestones() -> None:
    assert [(m.at_percent, m.level) for m in POLICY.milestones] == [
        (75, EscalationLevel.WARNING),
        (100, EscalationLevel.VIOLATION),
        (150, EscalationLevel.CALL),
    ]
    assert [m.level.value for m in POLICY.milestones] == ["yellow", "red", "call"]
    assert POLICY.milestones[0].actions == [EscalationAction(channel=Channel.WECOM, to=Recipient.ASSIGNEE)]
    assert {a.to for a in POLICY.milestones[1].actions} == {Recipient.ASSIGNEE, Recipient.MANAGER}
    assert POLICY.milestones[2].actions == [
        EscalationAction(channel=Channel.VOICE, to=Recipient.MANAGER, fallback=[Channel.WECOM])
    ]  # a refused call (Aliyun's per-callee limits) reaches the manager on WeCom instead


def test_milestones_at_75_100_150_percent_across_a_weekend() -> None:
    clock = SlaClock(started_at=FRIDAY_4PM)
    assert deadlines(POLICY, OFFICE, Priority.NORMAL, clock) == {
        "first_response": None,
        "next_response": None,
        "resolution": sh(2026, 1, 12, 11),
    }
    assert due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 10, 12)) == []  # Saturday
    assert due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 12, 9, 59)) == []
    at_75 = due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 12, 10))
    assert levels(at_75) == [("resolution:75", "yellow")]
    assert at_75[0].due_at == sh(2026, 1, 12, 10)
    assert at_75[0].deadline == sh(2026, 1, 12, 11)
    # A late evaluation returns every missed milestone, oldest first.
    late = due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 12, 13))
    assert levels(late) == [
        ("resolution:75", "yellow"),
        ("resolution:100", "red"),
        ("resolution:150", "call"),
    ]
    assert [e.due_at for e in late] == [sh(2026, 1, 12, 10), sh(2026, 1, 12, 11), sh(2026, 1, 12, 13)]


def test_escalations_are_idempotent() -> None:
    clock = SlaClock(started_at=FRIDAY_4PM)
    sent: list[str] = []
    now = FRIDAY_4PM
    while now < sh(2026, 1, 14):
        for _ in range(2):  # evaluating twice (a retried timer) changes nothing
            for e in due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, now):
                sent.append(e.level.value)
                clock = clock.model_copy(update={"fired": clock.fired | {e.key}})
        now += timedelta(minutes=20)
    assert sent == ["yellow", "red", "call"]
    assert clock.fired == {"resolution:75", "resolution:100", "resolution:150"}
    assert due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, sh(2027, 1, 1)) == []


def test_next_wakeup_drives_the_timer() -> None:
    clock = SlaClock(started_at=FRIDAY_4PM)
    assert next_wakeup(POLICY, OFFICE, Priority.NORMAL, clock, FRIDAY_4PM) == sh(2026, 1, 12, 10)
    wakes, now = [], FRIDAY_4PM
    while (wake := next_wakeup(POLICY, OFFICE, Priority.NORMAL, clock, now)) is not None:
        wakes.append(wake)
        now = wake
        due = due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, now)
        assert len(due) == 1  # woken exactly when one milestone becomes due
        clock = clock.model_copy(update={"fired": clock.fired | {due[0].key}})
    assert wakes == [sh(2026, 1, 12, 10), sh(2026, 1, 12, 11), sh(2026, 1, 12, 13)]
    # Nothing to wait for once resolved.
    resolved = SlaClock(started_at=FRIDAY_4PM).resolve(sh(2026, 1, 12, 9, 30))
    assert next_wakeup(POLICY, OFFICE, Priority.NORMAL, resolved, FRIDAY_4PM) is None
    assert next_wakeup(POLICY, OFFICE, Priority.LOW, clock, FRIDAY_4PM) is None  # no targets


def test_pause_shifts_deadlines() -> None:
    clock = SlaClock(started_at=FRIDAY_4PM).pause(sh(2026, 1, 12, 9, 30)).resume(sh(2026, 1, 12, 10, 30))
    assert deadlines(POLICY, OFFICE, Priority.NORMAL, clock)["resolution"] == sh(2026, 1, 12, 12)
    assert due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 12, 10, 45)) == []
    assert levels(due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 12, 11))) == [
        ("resolution:75", "yellow")
    ]


def test_pause_before_start_shifts_nothing() -> None:
    clock = SlaClock(started_at=FRIDAY_4PM, pauses=[(sh(2026, 1, 9, 10), sh(2026, 1, 9, 16))])
    assert deadlines(POLICY, OFFICE, Priority.NORMAL, clock)["resolution"] == sh(2026, 1, 12, 11)


def test_open_pause_stops_escalations() -> None:
    clock = SlaClock(started_at=FRIDAY_4PM).pause(sh(2026, 1, 9, 17))
    assert deadlines(POLICY, OFFICE, Priority.NORMAL, clock)["resolution"] is None
    assert due_escalations(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 2, 1)) == []
    assert next_wakeup(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 9, 17)) is None
    # Milestones reached before the pause began stay due.
    late_pause = SlaClock(started_at=FRIDAY_4PM).pause(sh(2026, 1, 12, 10, 30))
    assert levels(due_escalations(POLICY, OFFICE, Priority.NORMAL, late_pause, sh(2026, 2, 1))) == [
        ("resolution:75", "yellow")
    ]
    with pytest.raises(InvalidInputError):
        clock.pause(sh(2026, 1, 9, 18))
    with pytest.raises(InvalidInputError):
        SlaClock(started_at=FRIDAY_4PM).resume(sh(2026, 1, 9, 18))


def test_agent_reply_stops_first_response_escalation() -> None:
    created = sh(2026, 1, 12, 9)  # Monday; first response due 10:00
    clock = SlaClock(started_at=created)
    unanswered = due_escalations(POLICY, OFFICE, Priority.HIGH, clock, sh(2026, 1, 12, 10))
    assert levels(unanswered) == [("first_response:75", "yellow"), ("first_response:100", "red")]
    replied = clock.agent_response(sh(2026, 1, 12, 9, 50))
    assert due_escalations(POLICY, OFFICE, Priority.HIGH, replied, sh(2026, 1, 12, 12)) == []
    assert percent_elapsed(POLICY, OFFICE, Priority.HIGH, replied, sh(2026, 1, 12, 12)) == {
        "first_response": pytest.approx(100 * 50 / 60),  # frozen when met
        "next_response": None,
        "resolution": 37.5,
    }


def replies_due(clock: SlaClock, now: datetime) -> list[Escalation]:
    due = due_escalations(POLICY, OFFICE, Priority.HIGH, clock, now)
    return [e for e in due if e.target is SlaTarget.NEXT_RESPONSE]


def test_next_response_cycles() -> None:
    clock = SlaClock(started_at=sh(2026, 1, 12, 9)).agent_response(sh(2026, 1, 12, 9, 10))
    assert deadlines(POLICY, OFFICE, Priority.HIGH, clock)["next_response"] is None  # nothing to answer
    clock = clock.customer_message(sh(2026, 1, 12, 10))
    clock = clock.customer_message(sh(2026, 1, 12, 11))  # a follow-up does not push the deadline out
    assert deadlines(POLICY, OFFICE, Priority.HIGH, clock)["next_response"] == sh(2026, 1, 12, 12)
    due = replies_due(clock, sh(2026, 1, 12, 11, 30))
    assert levels(due) == [("next_response@1768183200000:75", "yellow")]  # keyed by the 10:00 message
    clock = clock.model_copy(update={"fired": clock.fired | {due[0].key}})
    assert replies_due(clock, sh(2026, 1, 12, 11, 45)) == []

    # The agent answers: the cycle is met and its keys are dropped; a new message starts a new cycle.
    clock = clock.agent_response(sh(2026, 1, 12, 11, 45))
    assert clock.fired == set()
    assert replies_due(clock, sh(2026, 1, 12, 17)) == []
    clock = clock.customer_message(sh(2026, 1, 12, 14))
    assert [e.level.value for e in replies_due(clock, sh(2026, 1, 12, 16))] == ["yellow", "red"]


def test_next_response_from_the_last_unanswered_customer_message_without_helpers() -> None:
    clock = SlaClock(
        started_at=sh(2026, 1, 12, 9),
        first_responded_at=sh(2026, 1, 12, 9, 10),
        last_agent_response_at=sh(2026, 1, 12, 9, 30),
        last_customer_message_at=sh(2026, 1, 12, 10),
    )
    assert deadlines(POLICY, OFFICE, Priority.HIGH, clock)["next_response"] == sh(2026, 1, 12, 12)
    answered = clock.model_copy(update={"last_agent_response_at": sh(2026, 1, 12, 10, 5)})
    assert deadlines(POLICY, OFFICE, Priority.HIGH, answered)["next_response"] is None


def test_resolution_meets_every_target() -> None:
    clock = SlaClock(started_at=sh(2026, 1, 12, 9)).resolve(sh(2026, 1, 12, 9, 20))
    assert due_escalations(POLICY, OFFICE, Priority.HIGH, clock, sh(2026, 3, 1)) == []
    assert deadlines(POLICY, OFFICE, Priority.HIGH, clock)["resolution"] == sh(2026, 1, 12, 17)


def test_changing_the_calendar_changes_the_deadlines() -> None:
    clock = SlaClock(started_at=FRIDAY_4PM)
    assert deadlines(POLICY, OFFICE, Priority.NORMAL, clock)["resolution"] == sh(2026, 1, 12, 11)
    always = BusinessCalendar.twenty_four_seven(id=OFFICE.id)
    assert deadlines(POLICY, always, Priority.NORMAL, clock)["resolution"] == sh(2026, 1, 9, 20)
    monday_off = OFFICE.model_copy(update={"holidays": {date(2026, 1, 12)}})
    assert deadlines(POLICY, monday_off, Priority.NORMAL, clock)["resolution"] == sh(2026, 1, 13, 11)
    # Milestones follow the new calendar too.
    assert next_wakeup(POLICY, always, Priority.NORMAL, clock, FRIDAY_4PM) == sh(2026, 1, 9, 19)


def test_percent_elapsed() -> None:
    clock = SlaClock(started_at=FRIDAY_4PM)
    assert percent_elapsed(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 11, 12))["resolution"] == 50
    assert percent_elapsed(POLICY, OFFICE, Priority.NORMAL, clock, sh(2026, 1, 12, 13))["resolution"] == 150
    assert percent_elapsed(POLICY, OFFICE, Priority.NORMAL, clock, FRIDAY_4PM - H)["resolution"] == 0


def test_policy_validation() -> None:
    def milestone(p: int) -> Milestone:
        return Milestone(at_percent=p, level=EscalationLevel.WARNING)

    for percents in ([100, 75], [75, 75], [0, 100]):
        with pytest.raises(ValidationError):
            SlaPolicy(id="p", name="p", calendar_id="c", milestones=[milestone(p) for p in percents])
    with pytest.raises(ValidationError):
        SlaTargets(resolution=timedelta(0))
    with pytest.raises(ValidationError):
        Milestone(at_percent=50, level="orange")
    with pytest.raises(ValidationError):
        EscalationAction(channel="fax", to=Recipient.OWNER)


def test_clock_validation_and_round_trip() -> None:
    with pytest.raises(ValidationError):
        SlaClock(started_at=datetime(2026, 1, 12, 9))  # naive
    with pytest.raises(InvalidInputError):
        due_escalations(
            POLICY, OFFICE, Priority.NORMAL, SlaClock(started_at=FRIDAY_4PM), datetime(2026, 1, 12)
        )
    clock = (
        SlaClock(started_at=FRIDAY_4PM)
        .pause(sh(2026, 1, 9, 17))
        .resume(sh(2026, 1, 12, 9))
        .customer_message(sh(2026, 1, 12, 10))
        .model_copy(update={"fired": {"resolution:75"}})
    )
    assert SlaClock.model_validate_json(clock.model_dump_json()) == clock
    assert SlaPolicy.model_validate_json(POLICY.model_dump_json()) == POLICY
    assert clock.pauses[0][1] == datetime(2026, 1, 12, 1, tzinfo=UTC)
