"""Send limits and the delivery rules around them: Aliyun's voice-call windows (its own worked example), how a
limit reads, the fallback order of a request, and when an earlier send may be unrecorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from chalicelib.domain.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    NotificationPolicy,
    NotificationRequest,
    RecipientKind,
    RenderedMessage,
    channel_preference,
    refusal_reason,
)
from chalicelib.domain.send_limits import VOICE_CALL_LIMITS, RateLimit, SendWindow, horizon

NOON = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def at(minute: int) -> datetime:
    return NOON + timedelta(minutes=minute)


def test_aliyuns_example_first_call_12_01_sixth_refused_at_13_00_allowed_at_13_01() -> None:
    window = SendWindow()
    for n, minute in enumerate((1, 15, 30, 45, 59)):
        assert window.refusal(at(minute), VOICE_CALL_LIMITS) is None
        window = window.with_send(f"c{n}", at(minute), horizon=horizon(VOICE_CALL_LIMITS))
    refused = window.refusal(at(60), VOICE_CALL_LIMITS)
    assert refused is not None and refused.describe() == "5 per hour"
    assert window.refusal(at(61), VOICE_CALL_LIMITS) is None


def test_one_call_a_minute_and_the_longest_broken_limit_is_named() -> None:
    window = SendWindow().with_send("a", at(0), horizon=timedelta(hours=24))
    one_a_minute = window.refusal(at(0) + timedelta(seconds=59), VOICE_CALL_LIMITS)
    assert one_a_minute == RateLimit(count=1, window=timedelta(minutes=1))
    assert window.refusal(at(1), VOICE_CALL_LIMITS) is None
    day = SendWindow()
    for n in range(20):
        day = day.with_send(f"d{n}", at(0) + timedelta(hours=n), horizon=timedelta(hours=24))
    last = at(0) + timedelta(hours=19)
    assert day.refusal(last + timedelta(seconds=30), VOICE_CALL_LIMITS) == VOICE_CALL_LIMITS[2]  # not 1/min
    assert day.refusal(at(0) + timedelta(hours=24, minutes=1), VOICE_CALL_LIMITS) is None


def test_a_window_forgets_what_no_longer_counts_and_counts_a_slot_once() -> None:
    window = SendWindow().with_send("a", at(0), horizon=timedelta(hours=1))
    window = window.with_send("a", at(1), horizon=timedelta(hours=1))
    assert [s.slot for s in window.sends] == ["a"]
    later = window.with_send("b", at(90), horizon=timedelta(hours=1))
    assert [s.slot for s in later.sends] == ["b"] and later.expires_at(timedelta(hours=1)) == at(150)
    assert later.without("b").sends == [] and later.without("b").expires_at(timedelta(hours=1)) is None


def test_how_limits_read() -> None:
    assert [limit.describe() for limit in VOICE_CALL_LIMITS] == [
        "1 per minute",
        "5 per hour",
        "20 per 24 hours",
    ]
    assert RateLimit(count=3, window=timedelta(seconds=90)).describe() == "3 per 90 seconds"
    assert refusal_reason(Channel.VOICE, VOICE_CALL_LIMITS[1]) == "voice call refused: limit (5 per hour)"
    with pytest.raises(ValidationError):
        RateLimit(count=0, window=timedelta(minutes=1))
    with pytest.raises(ValidationError):
        RateLimit(count=1, window=timedelta(days=8))
    with pytest.raises(ValidationError):
        NotificationPolicy(send_limits={Channel.VOICE: [VOICE_CALL_LIMITS[0]] * 6})


def test_policies_stored_before_limits_existed_get_aliyuns() -> None:
    old = NotificationPolicy.model_validate_json('{"customer_requires_subscription": false}')
    assert old.limits_for(Channel.VOICE) == list(VOICE_CALL_LIMITS) and old.limits_for(Channel.SMS) == []


def request(**fields: object) -> NotificationRequest:
    base: dict[str, object] = {"tenant_id": "t", "event": "sla.call", "recipient_kind": RecipientKind.USER,
                               "recipient_id": "u", "idempotency_key": "k"}  # fmt: skip
    return NotificationRequest.model_validate({**base, **fields})


def test_fallbacks_follow_the_named_channel_once_each() -> None:
    req = request(channel=Channel.VOICE, fallback=[Channel.WECOM, Channel.VOICE, Channel.SMS])
    assert channel_preference(req, None) == [Channel.VOICE, Channel.WECOM, Channel.SMS]
    assert channel_preference(request(), None) == [Channel.VOICE, Channel.WECOM]  # sla.call's own order


def delivery(**fields: object) -> Delivery:
    base: dict[str, object] = {
        "id": "ntf_1", "tenant_id": "t", "idempotency_key": "k", "channel": Channel.VOICE,
        "request": request(channel=Channel.VOICE, fallback=[Channel.SMS, Channel.WECOM]),
        "status": DeliveryStatus.QUEUED, "created_at": NOON, "updated_at": NOON,
    }  # fmt: skip
    return Delivery.model_validate({**base, **fields})


def test_fallback_channels_skip_the_current_and_refused_ones() -> None:
    d = delivery()
    assert d.fallback_channels() == [Channel.SMS, Channel.WECOM]
    msg = RenderedMessage(event="sla.call", channel=Channel.SMS, text="x")
    moved = d.after_refusal(
        at(0), "voice call refused: limit (1 per minute)", fallback=(Channel.SMS, "1", msg)
    )
    assert moved.channel is Channel.SMS and moved.status is DeliveryStatus.QUEUED
    assert moved.fallback_channels() == [Channel.WECOM]
    refused = moved.after_refusal(at(1), "SMS refused: x", fallback=None)
    assert refused.status is DeliveryStatus.REFUSED and refused.is_final()


def test_when_a_send_may_be_unrecorded() -> None:
    d = delivery()
    assert d.unconfirmed_since(at(0)) is None
    claimed = d.claimed(at(0), timedelta(seconds=60))
    assert claimed.unconfirmed_since(at(0) + timedelta(seconds=30)) is None  # its worker is still at it
    assert claimed.unconfirmed_since(at(2)) == at(0)  # the lease ran out without a result
    retry = RenderedMessage(event="sla.call", channel=Channel.VOICE, text="x")
    unknown = d.model_copy(update={"message": retry}).after_failure(
        at(0), "timeout", temporary=True, retry=NotificationPolicy().retry, rnd=0.5, unknown=True
    )
    again = unknown.after_failure(
        at(3), "check failed", temporary=True, retry=NotificationPolicy().retry, rnd=0.5, unknown=True
    )
    assert again.unconfirmed_since(at(5)) == at(0)  # from the first uncertain send of the streak
    failed = again.after_failure(at(6), "refused", temporary=True, retry=NotificationPolicy().retry, rnd=0.5)
    assert failed.unconfirmed_since(at(7)) is None


def test_the_retry_after_an_unknown_outcome_respects_earliest_and_latest() -> None:
    retry = NotificationPolicy().retry  # attempt 1: 15 s with rnd 0.5
    d = delivery()

    def next_at(earliest: datetime | None = None, latest: datetime | None = None) -> datetime | None:
        failed = d.after_failure(
            at(0), "t", temporary=True, retry=retry, rnd=0.5, earliest=earliest, latest=latest
        )
        return failed.next_attempt_at

    ten_s = at(0) + timedelta(seconds=10)
    assert next_at(earliest=at(1)) == at(1)
    assert next_at(latest=ten_s) == ten_s
    assert next_at(latest=at(-1)) == at(0) + timedelta(seconds=15)  # the window is gone: the backoff's
