"""Sending exactly once and within limits, on in-memory ports: an SMS whose answer was lost is checked by its
receipt before anything is sent again (same reference), a failing check sends nothing, a worker that died
mid-send is treated the same way; voice calls are counted per callee (Aliyun's 1 a minute, 5 an hour) and a
refusal falls back to the request's next channel or ends `refused` with the reason; WeChat retries after an
unknown outcome come inside its client_msg_id window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    NotificationPolicy,
    NotificationRequest,
    RecipientKind,
    RetryPolicy,
)
from chalicelib.services.notifications import LEASE, NotificationService
from tests.fakes.clock import FrozenClock
from tests.fakes.notify import (
    CheckingProvider,
    DedupingFakeProvider,
    FakeAddressBook,
    FakeProvider,
    FakeQueue,
    InMemoryDeliveries,
    InMemoryNotificationConfig,
    InMemorySendLimiter,
    LimitedProvider,
    Queued,
    StaticProviders,
)

T = "t1"
MANAGER_PHONE = "+8613800000009"


@dataclass
class Env:
    service: NotificationService
    clock: FrozenClock
    queue: FakeQueue
    deliveries: InMemoryDeliveries
    config: InMemoryNotificationConfig
    limiter: InMemorySendLimiter
    sms: CheckingProvider
    voice: LimitedProvider
    wecom: FakeProvider
    wechat: DedupingFakeProvider
    handled: list[Queued] = field(default_factory=list)

    def deliver_next(self) -> Delivery | None:
        """The next queued message, once its delay has passed (as SQS would hand it to the worker)."""
        msg = self.queue.pop()
        self.clock.advance(seconds=msg.delay.total_seconds())
        self.handled.append(msg)
        return self.service.deliver(msg.tenant_id, msg.delivery_id, attempt=msg.attempt)

    def get(self, delivery_id: str) -> Delivery:
        found = self.deliveries.get(T, delivery_id)
        assert found is not None
        return found


@pytest.fixture
def env() -> Env:
    clock = FrozenClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    sms, voice, wecom, wechat = (
        CheckingProvider(),
        LimitedProvider(),
        FakeProvider("wecom"),
        DedupingFakeProvider(),
    )
    book = FakeAddressBook()
    book.add(RecipientKind.CUSTOMER, "c1", sms="+8613900000001", wechat="openid-1")
    book.add(RecipientKind.USER, "mgr", voice=MANAGER_PHONE, wecom="lisi", sms=MANAGER_PHONE)
    deliveries, config, limiter, queue = (
        InMemoryDeliveries(),
        InMemoryNotificationConfig(),
        InMemorySendLimiter(),
        FakeQueue(),
    )
    service = NotificationService(
        deliveries=deliveries,
        config=config,
        providers=StaticProviders(
            {Channel.SMS: sms, Channel.VOICE: voice, Channel.WECOM: wecom, Channel.WECHAT: wechat}
        ),
        addresses=book,
        queue=queue,
        limiter=limiter,
        clock=clock,
        rnd=lambda: 0.5,
    )
    return Env(service, clock, queue, deliveries, config, limiter, sms, voice, wecom, wechat)


def sms_request(key: str = "done:TK1:c1", **overrides: Any) -> NotificationRequest:
    fields: dict[str, Any] = {
        "tenant_id": T,
        "event": "ticket.done",
        "recipient_kind": RecipientKind.CUSTOMER,
        "recipient_id": "c1",
        "channel": Channel.SMS,
        "data": {"ticket_id": "TK1", "title": "空调不制冷"},
        "idempotency_key": key,
        "ticket_id": "TK1",
    }
    return NotificationRequest(**{**fields, **overrides})


def call_request(n: int, *, fallback: list[Channel] | None = None) -> NotificationRequest:
    """The SLA timer's call to the manager (services/sla.py builds it this way)."""
    return NotificationRequest(
        tenant_id=T,
        event="sla.call",
        recipient_kind=RecipientKind.USER,
        recipient_id="mgr",
        channel=Channel.VOICE,
        fallback=[Channel.WECOM] if fallback is None else fallback,
        data={"ticket_id": f"TK{n}", "title": "漏水"},
        idempotency_key=f"sla:TK{n}:resolution:150:mgr:voice",
        ticket_id=f"TK{n}",
        urgent=True,
    )


# -- SMS: a lost answer is checked, never resent blindly ---------------------------------------------------
def test_an_sms_whose_answer_was_lost_is_confirmed_by_its_receipt_and_not_sent_again(env: Env) -> None:
    [delivery] = env.service.submit([sms_request()])
    env.sms.time_out_after_sending()
    first = env.deliver_next()
    assert first is not None and first.status is DeliveryStatus.RETRYING
    assert first.attempts[0].outcome_unknown and first.attempts[0].channel is Channel.SMS
    assert env.queue.messages[0].delay >= env.sms.receipt_delay  # looks only once a receipt would show
    final = env.deliver_next()
    assert final is not None and final.status is DeliveryStatus.SENT
    assert final.attempts[-1].confirmed and final.attempts[-1].ok
    assert env.sms.sends_of(delivery.id) == 1 and env.sms.checks == 1  # sent once, OutId = delivery id
    assert env.queue.messages == []


def test_an_sms_lost_before_it_reached_the_provider_is_sent_again_with_the_same_reference(env: Env) -> None:
    [delivery] = env.service.submit([sms_request()])
    env.sms.time_out_before_sending()
    env.deliver_next()
    final = env.deliver_next()
    assert final is not None and final.status is DeliveryStatus.SENT and not final.attempts[-1].confirmed
    assert [m.ref for _, m in env.sms.sent] == [delivery.id] and env.sms.checks == 1
    assert env.sms.calls == 2


def test_a_failing_receipt_check_sends_nothing_until_a_check_answers(env: Env) -> None:
    [delivery] = env.service.submit([sms_request()])
    env.sms.time_out_after_sending()
    env.deliver_next()
    env.sms.check_fails()
    second = env.deliver_next()
    assert second is not None and second.status is DeliveryStatus.RETRYING
    assert second.attempts[-1].outcome_unknown and "not resent" in (second.attempts[-1].error or "")
    assert env.sms.calls == 1  # no send while the outcome is unknown
    third = env.deliver_next()
    assert third is not None and third.status is DeliveryStatus.SENT and third.attempts[-1].confirmed
    assert env.sms.sends_of(delivery.id) == 1 and env.sms.checks == 2


def test_a_worker_that_stopped_mid_send_leaves_a_send_that_is_checked_before_any_other(env: Env) -> None:
    [delivery] = env.service.submit([sms_request()])
    msg = env.queue.pop()
    # The worker claimed it and the provider took the message, then the Lambda timed out before the result
    # was written: the claim is all the log shows.
    stored = env.get(delivery.id)
    claimed = stored.claimed(env.clock.now(), LEASE)
    env.deliveries.save(claimed, expected_version=stored.version)
    assert claimed.message is not None
    env.sms.sent.append(("+8613900000001", claimed.message.model_copy(update={"ref": delivery.id})))
    # SQS hands the same message out again after its visibility timeout (≥ the lease).
    env.clock.advance(seconds=LEASE.total_seconds() + 1)
    again = env.service.deliver(T, delivery.id, attempt=msg.attempt)
    assert again is not None and again.status is DeliveryStatus.SENT and again.attempts[-1].confirmed
    assert env.sms.sends_of(delivery.id) == 1 and env.sms.checks == 1


def test_a_message_redelivered_while_the_lease_holds_does_nothing(env: Env) -> None:
    [delivery] = env.service.submit([sms_request()])
    msg = env.queue.pop()
    stored = env.get(delivery.id)
    env.deliveries.save(stored.claimed(env.clock.now(), LEASE), expected_version=stored.version)
    env.clock.advance(seconds=5)
    assert env.service.deliver(T, delivery.id, attempt=msg.attempt) is not None
    assert env.sms.calls == 0 and env.sms.checks == 0


# -- voice: Aliyun's per-callee limits ----------------------------------------------------------------------
def test_a_sixth_call_within_the_hour_falls_back_to_wecom_and_says_why(env: Env) -> None:
    for n in range(5):
        [d] = env.service.submit([call_request(n)])
        assert env.deliver_next() is not None and env.get(d.id).status is DeliveryStatus.SENT
        env.clock.advance(minutes=11)  # 5 calls from 10:00 to 10:44
    assert len(env.voice.sent) == 5
    env.service.submit([call_request(5)])
    moved = env.deliver_next()
    assert moved is not None and moved.status is DeliveryStatus.QUEUED and moved.channel is Channel.WECOM
    assert moved.attempts[0].refused and moved.attempts[0].channel is Channel.VOICE
    assert moved.attempts[0].error == "voice call refused: limit (5 per hour)"
    sent = env.deliver_next()
    assert sent is not None and sent.status is DeliveryStatus.SENT
    assert sent.reason == "voice call refused: limit (5 per hour); sent by wecom instead"
    assert len(env.voice.sent) == 5 and env.wecom.sent[0][0] == "lisi"
    assert env.wecom.sent[0][1].event == "sla.call"
    assert env.service.log_for_ticket(T, "TK5")[0].reason == sent.reason  # the ticket's notification log


def test_without_a_fallback_the_refused_call_is_recorded_refused(env: Env) -> None:
    env.service.submit([call_request(1, fallback=[])])
    env.deliver_next()
    env.clock.advance(seconds=30)
    env.service.submit([call_request(2, fallback=[])])
    refused = env.deliver_next()
    assert refused is not None and refused.status is DeliveryStatus.REFUSED and refused.is_final()
    assert refused.reason == "voice call refused: limit (1 per minute)"
    assert len(env.voice.sent) == 1 and env.queue.messages == []
    env.clock.advance(seconds=31)  # a minute after the first call the next one is allowed
    env.service.submit([call_request(3, fallback=[])])
    assert env.deliver_next() is not None and len(env.voice.sent) == 2


def test_aliyun_flow_control_is_a_refusal_and_gives_the_counted_place_back(env: Env) -> None:
    env.voice.flow_control = True  # someone else called this number through the same Aliyun account
    env.service.submit([call_request(1)])
    moved = env.deliver_next()
    assert moved is not None and moved.channel is Channel.WECOM
    assert moved.attempts[0].error == ("voice call refused: Aliyun flow control isv.BUSINESS_LIMIT_CONTROL")
    assert env.limiter.counted(T, Channel.VOICE, MANAGER_PHONE) == 0


def test_a_call_that_certainly_failed_is_not_counted_but_an_uncertain_one_is(env: Env) -> None:
    env.voice.fail_temporarily(1)  # e.g. no connection: the call was never placed
    [d] = env.service.submit([call_request(1)])
    env.deliver_next()
    assert env.get(d.id).status is DeliveryStatus.RETRYING
    assert env.limiter.counted(T, Channel.VOICE, MANAGER_PHONE) == 0
    env.deliver_next()
    assert env.get(d.id).status is DeliveryStatus.SENT
    assert env.limiter.counted(T, Channel.VOICE, MANAGER_PHONE) == 1


def test_limits_are_the_tenants_policy(env: Env) -> None:
    env.config.put_policy(T, NotificationPolicy(send_limits={}))  # e.g. a whitelisted 专属模式 number
    for n in range(3):
        env.service.submit([call_request(n)])
        env.deliver_next()
    assert len(env.voice.sent) == 3


# -- WeChat: retries after an unknown outcome stay inside client_msg_id's window ----------------------------
def test_wechat_retry_after_an_unknown_outcome_comes_inside_the_dedupe_window(env: Env) -> None:
    env.config.put_policy(
        T, NotificationPolicy(retry=RetryPolicy(base=timedelta(minutes=20), cap=timedelta(minutes=30)))
    )
    [d] = env.service.submit([sms_request("wx1", channel=Channel.WECHAT)])
    env.wechat.timing_out = True
    start = env.clock.now()
    env.deliver_next()
    first = env.get(d.id)
    assert first.attempts[0].outcome_unknown
    assert first.next_attempt_at == start + timedelta(minutes=9)  # 10 minutes less a margin, not 10 (backoff)
    env.wechat.timing_out = False
    while env.queue.messages:
        env.deliver_next()
    sent = env.get(d.id)
    assert sent.status is DeliveryStatus.SENT and env.clock.now() - start < timedelta(minutes=10)
    assert env.wechat.sent[0][1].ref == d.id  # client_msg_id
