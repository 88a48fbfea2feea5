"""Notification rules: safe template rendering, the built-in templates, quiet hours across midnight,
backoff bounds and exhaustion, delivery transitions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.notifications import (
    EVENTS,
    Channel,
    Delivery,
    DeliveryStatus,
    NotificationPolicy,
    NotificationRequest,
    NotificationTemplate,
    ProviderResult,
    QuietHours,
    RecipientKind,
    RetryPolicy,
    default_templates,
    mask_address,
    merged_templates,
    render_text,
)

SHANGHAI_21H = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 21:00 in Asia/Shanghai


def test_render_fills_variables_and_leaves_missing_empty() -> None:
    assert (
        render_text("工单{ticket_id}:{title}{missing}", {"ticket_id": "T1", "title": "漏水"}) == "工单T1:漏水"
    )
    assert render_text("{none}|{n}", {"none": None, "n": 3}) == "|3"


def test_render_allows_no_attribute_or_item_access() -> None:
    data = {"ticket": object(), "items": [1, 2]}
    text = "{ticket.__class__}{items[0]}{items!r}{{literal}}"
    assert render_text(text, data) == "{ticket.__class__}{items[0]}{items!r}{literal}"


def test_every_event_has_a_default_template_and_all_render() -> None:
    templates = default_templates()
    assert {t.event for t in templates} == set(EVENTS)
    assert len({t.key for t in templates}) == len(templates)  # one per event and channel
    data = {
        "ticket_id": "TK-1",
        "title": "空调不制冷",
        "engineer": "王工",
        "eta": "14:30",
        "url": "https://x/1",
    }
    for template in templates:
        message = template.render(data)
        assert message.text and "{" not in message.text, template.key
        if template.channel is Channel.SMS:
            assert message.sms_params, template.key
        if template.channel is Channel.WECHAT:
            assert message.wechat_data["keyword1"] == "TK-1"
        if template.channel is Channel.VOICE:
            assert message.tts_params == {"ticket": "TK-1"}


def test_rendered_url_is_none_when_the_variable_is_missing() -> None:
    template = next(t for t in default_templates() if t.key == ("ticket.created", Channel.WECOM))
    assert template.render({"ticket_id": "T"}).url is None
    assert template.render({"url": "https://h5/t/1"}).url == "https://h5/t/1"


def test_tenant_templates_override_defaults() -> None:
    own = NotificationTemplate(
        tenant_id="t1",
        event="ticket.done",
        channel=Channel.SMS,
        text="完成{ticket_id}",
        sms_template_code="SMS_1",
    )
    merged = merged_templates([own])
    assert merged[("ticket.done", Channel.SMS)].sms_template_code == "SMS_1"
    assert merged[("ticket.done", Channel.WECOM)].tenant_id is None


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 23, 12, 59, tzinfo=UTC), None),  # 20:59 local: allowed
        (SHANGHAI_21H, datetime(2026, 11, 24, 0, 0, tzinfo=UTC)),  # 21:00 → 08:00 next day
        (datetime(2026, 11, 23, 16, 30, tzinfo=UTC), datetime(2026, 11, 24, 0, 0, tzinfo=UTC)),  # 00:30
        (datetime(2026, 11, 23, 23, 59, tzinfo=UTC), datetime(2026, 11, 24, 0, 0, tzinfo=UTC)),  # 07:59
        (datetime(2026, 11, 24, 0, 0, tzinfo=UTC), None),  # 08:00 sharp: allowed
    ],
)
def test_quiet_hours_across_midnight(utc: datetime, expected: datetime | None) -> None:
    quiet = QuietHours()  # 21:00–08:00 Asia/Shanghai
    assert quiet.next_allowed(utc) == (expected or utc)
    assert quiet.contains(utc) is (expected is not None)


def test_quiet_hours_within_one_day_and_disabled() -> None:
    lunch = QuietHours(start=time(12), end=time(14), timezone="UTC")
    assert lunch.next_allowed(datetime(2026, 1, 1, 13, tzinfo=UTC)) == datetime(2026, 1, 1, 14, tzinfo=UTC)
    assert lunch.next_allowed(datetime(2026, 1, 1, 15, tzinfo=UTC)) == datetime(2026, 1, 1, 15, tzinfo=UTC)
    never = QuietHours(start=time(8), end=time(8))
    assert not never.contains(SHANGHAI_21H)
    with pytest.raises(ValueError):
        QuietHours().next_allowed(datetime(2026, 1, 1))  # naive


def test_quiet_hours_in_a_zone_with_dst() -> None:
    quiet = QuietHours(start=time(22), end=time(7), timezone="Europe/Berlin")
    # The night the clocks go forward (2026-03-29): 07:00 CEST is 05:00 UTC.
    at = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET
    assert quiet.next_allowed(at) == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)


@given(
    attempt=st.integers(min_value=1, max_value=60), rnd=st.floats(min_value=0, max_value=1, exclude_max=True)
)
def test_backoff_stays_within_floor_and_capped_ceiling(attempt: int, rnd: float) -> None:
    policy = RetryPolicy()
    delay = policy.delay(attempt, rnd)
    assert policy.floor <= delay <= max(policy.floor, policy.cap)
    assert delay <= max(policy.floor, policy.base * 2 ** min(attempt - 1, 30))


def test_backoff_ceiling_grows_exponentially_then_caps() -> None:
    policy = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(minutes=10))
    assert [policy.ceiling(n).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]
    assert policy.delay(3, 0.5) == timedelta(seconds=60)
    assert policy.delay(1, 0.0) == policy.floor
    with pytest.raises(ValueError):
        policy.delay(1, 1.0)


def test_exhausted_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def _delivery(**request: object) -> Delivery:
    now = SHANGHAI_21H
    req = NotificationRequest(tenant_id="t1", event="ticket.done", recipient_kind=RecipientKind.CUSTOMER,
                              recipient_id="c1", idempotency_key="k1", **request)  # fmt: skip
    return Delivery(id="ntf_1", tenant_id="t1", idempotency_key="k1", request=req, channel=Channel.SMS,
                    status=DeliveryStatus.QUEUED, created_at=now, updated_at=now)  # fmt: skip


def test_delivery_transitions() -> None:
    retry = RetryPolicy(max_attempts=2, base=timedelta(seconds=10))
    d = _delivery()
    first = d.after_failure(SHANGHAI_21H, "down", temporary=True, retry=retry, rnd=0.5)
    assert first.status is DeliveryStatus.RETRYING
    assert first.next_attempt_at == SHANGHAI_21H + timedelta(seconds=5)
    assert first.version == d.version + 1
    second = first.after_failure(SHANGHAI_21H, "down", temporary=True, retry=retry, rnd=0.5)
    assert (second.status, second.permanent, len(second.attempts)) == (DeliveryStatus.DEAD, False, 2)
    refused = d.after_failure(SHANGHAI_21H, "bad number", temporary=False, retry=retry, rnd=0.5)
    assert refused.status is DeliveryStatus.DEAD and refused.permanent and refused.is_final()
    sent = first.after_success(SHANGHAI_21H, ProviderResult("m-1"))
    assert sent.status is DeliveryStatus.SENT and sent.attempts[-1].provider_message_id == "m-1"
    assert sent.next_attempt_at is None and sent.is_final()


def test_policy_delays_only_non_urgent_customers() -> None:
    policy = NotificationPolicy()
    customer = _delivery().request
    urgent = customer.model_copy(update={"urgent": True})
    staff = customer.model_copy(update={"recipient_kind": RecipientKind.USER})
    assert policy.send_at(customer, SHANGHAI_21H) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert policy.send_at(urgent, SHANGHAI_21H) == SHANGHAI_21H
    assert policy.send_at(staff, SHANGHAI_21H) == SHANGHAI_21H


def test_phones_are_masked_in_the_log() -> None:
    assert mask_address(Channel.SMS, "+8613812345678") == "138****5678"
    assert mask_address(Channel.WECOM, "zhangsan") == "zhangsan"
