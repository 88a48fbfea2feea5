"""Notifications on moto: the real store, fake providers, and a fake queue that records (delay, message) so
each test delivers by hand, moving the clock as SQS would. Covers idempotency, outages (delayed, never
lost), exhaustion into the DLQ and a redrive, permanent refusals, quiet hours, subscriptions, the
per-ticket delivery log and the worker's partial batch response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.domain.notifications import (
    Channel,
    DeliveryStatus,
    NotificationPolicy,
    NotificationRequest,
    NotificationTemplate,
    RecipientKind,
    RetryPolicy,
)
from chalicelib.integrations.pii import AesGcmPiiCipher
from chalicelib.services.notifications import DeliveryExhaustedError, NotificationService
from chalicelib.store.notifications import (
    DynamoDeliveryRepository,
    DynamoNotificationConfig,
    DynamoSendLimiter,
)
from tests.fakes.clock import FrozenClock
from tests.fakes.notify import FakeAddressBook, FakeProvider, FakeQueue, Queued, StaticProviders

TENANT = "t_notify"


@dataclass
class Env:
    service: NotificationService
    clock: FrozenClock
    queue: FakeQueue
    config: DynamoNotificationConfig
    providers: dict[Channel, FakeProvider] = field(default_factory=dict)

    def deliver_next(self) -> Queued:
        """Receive the next message once its delay has passed, and run the worker's step on it."""
        msg = self.queue.pop()
        self.clock.advance(seconds=msg.delay.total_seconds())
        self.service.deliver(msg.tenant_id, msg.delivery_id, attempt=msg.attempt)
        return msg

    def status(self, delivery_id: str) -> DeliveryStatus:
        found = self.service._deliveries.get(TENANT, delivery_id)
        assert found is not None
        return found.status


@pytest.fixture
def env(aws: None) -> Iterator[Env]:
    clock = FrozenClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    providers = {channel: FakeProvider(str(channel)) for channel in Channel}
    book = FakeAddressBook()
    book.add(RecipientKind.USER, "u_eng", wecom="zhangsan", sms="+8613800000001", voice="+8613800000001")
    book.add(RecipientKind.CUSTOMER, "c_1", sms="+8613900000001")  # no openid: SMS
    book.add(RecipientKind.CUSTOMER, "c_wx", wechat="openid-wx", sms="+8613900000002")
    queue = FakeQueue()
    config = DynamoNotificationConfig()
    service = NotificationService(
        deliveries=DynamoDeliveryRepository(),
        config=config,
        providers=StaticProviders(providers),
        addresses=book,
        queue=queue,
        limiter=DynamoSendLimiter(cipher=AesGcmPiiCipher(encryption_key=b"e" * 32, index_key=b"i" * 32)),
        clock=clock,
        rnd=lambda: 0.5,
    )
    yield Env(service, clock, queue, config, providers)


def request(key: str, **overrides: Any) -> NotificationRequest:
    fields: dict[str, Any] = {
        "tenant_id": TENANT,
        "event": "ticket.done",
        "recipient_kind": RecipientKind.CUSTOMER,
        "recipient_id": "c_1",
        "data": {"ticket_id": "TK1", "title": "空调不制冷"},
        "idempotency_key": key,
        "ticket_id": "TK1",
    }
    return NotificationRequest(**{**fields, **overrides})


def test_notify_queues_and_deliver_sends(env: Env) -> None:
    [delivery] = env.service.submit([request("done:TK1:c_1")])
    assert delivery.status is DeliveryStatus.QUEUED
    assert (delivery.channel, delivery.address) == (Channel.SMS, "139****0001")
    assert env.queue.messages == [Queued(TENANT, delivery.id, timedelta(0), 1)]
    env.deliver_next()
    sent = env.service._deliveries.get(TENANT, delivery.id)
    assert sent is not None and sent.status is DeliveryStatus.SENT
    assert sent.attempts[0].ok and sent.attempts[0].provider_message_id == "sms-1"
    address, message = env.providers[Channel.SMS].sent[0]
    assert address == "+8613900000001" and message.sms_params["ticket"] == "TK1"
    # An SQS redelivery of the same message changes nothing.
    env.service.deliver(TENANT, delivery.id, attempt=1)
    env.service.deliver(TENANT, delivery.id)
    assert len(env.providers[Channel.SMS].sent) == 1 and env.queue.messages == []


def test_duplicate_idempotency_key_gives_one_delivery(env: Env) -> None:
    first = env.service.submit([request("k1"), request("k1")])
    again = env.service.submit([request("k1", data={"ticket_id": "other"})])
    assert len({d.id for d in [*first, *again]}) == 1
    assert len(env.queue.messages) == 1
    env.deliver_next()
    assert len(env.providers[Channel.SMS].sent) == 1


def test_a_lost_enqueue_is_repaired_by_the_callers_retry(env: Env) -> None:
    env.queue.fail_next = True
    with pytest.raises(RuntimeError):
        env.service.notify([request("k-enq")])
    env.clock.advance(seconds=30)
    env.service.notify([request("k-enq")])  # a quick duplicate: no extra message
    assert env.queue.messages == []
    env.clock.advance(seconds=60)  # the caller's retry after its visibility timeout: requeued
    env.service.notify([request("k-enq")])
    env.deliver_next()
    assert len(env.providers[Channel.SMS].sent) == 1


def test_provider_outage_delays_but_never_loses(env: Env) -> None:
    sms = env.providers[Channel.SMS]
    [delivery] = env.service.submit([request("k-outage")])
    sms.down = True
    delays = []
    for _ in range(3):
        env.deliver_next()
        assert env.status(delivery.id) is DeliveryStatus.RETRYING
        delays.append(env.queue.messages[0].delay)
    assert delays == sorted(delays) and delays[0] < delays[-1]  # 15 s, 30 s, 60 s with rnd 0.5
    sms.down = False
    env.deliver_next()
    final = env.service._deliveries.get(TENANT, delivery.id)
    assert final is not None and final.status is DeliveryStatus.SENT
    assert [a.ok for a in final.attempts] == [False, False, False, True]
    assert len(sms.sent) == 1 and env.queue.messages == []


def test_always_failing_goes_dead_and_raises_for_the_dlq_then_a_redrive_sends(env: Env) -> None:
    env.config.put_policy(TENANT, NotificationPolicy(retry=RetryPolicy(max_attempts=3)))
    sms = env.providers[Channel.SMS]
    sms.down = True
    [delivery] = env.service.submit([request("k-dead")])
    env.deliver_next()
    env.deliver_next()
    last = env.queue.pop()
    env.clock.advance(seconds=last.delay.total_seconds())
    with pytest.raises(DeliveryExhaustedError):
        env.service.deliver(TENANT, delivery.id, attempt=last.attempt)
    dead = env.service._deliveries.get(TENANT, delivery.id)
    assert dead is not None and dead.status is DeliveryStatus.DEAD and not dead.permanent
    assert len(dead.attempts) == 3 and env.queue.messages == []
    # The raw message, redriven from the DLQ once the provider is back, sends it.
    sms.down = False
    env.service.deliver(TENANT, delivery.id, attempt=last.attempt)
    assert env.status(delivery.id) is DeliveryStatus.SENT and len(sms.sent) == 1


def test_permanent_refusal_is_dead_at_once_without_dlq(env: Env) -> None:
    env.providers[Channel.SMS].fail_permanently()
    [delivery] = env.service.submit([request("k-perm")])
    env.deliver_next()  # does not raise: acknowledged, kept in the log
    dead = env.service._deliveries.get(TENANT, delivery.id)
    assert dead is not None and dead.status is DeliveryStatus.DEAD and dead.permanent
    assert env.queue.messages == []


def test_quiet_hours_delay_customer_sms_but_not_an_urgent_sla_call(env: Env) -> None:
    env.clock.at = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    morning = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 08:00
    [sms, call] = env.service.submit(
        [
            request("k-quiet"),
            request(
                "sla:TK1:resolution:150:u_eng:voice",
                event="sla.call",
                recipient_kind=RecipientKind.USER,
                recipient_id="u_eng",
                channel=Channel.VOICE,
                urgent=True,
            ),
        ]
    )
    assert sms.next_attempt_at == morning and call.next_attempt_at is None
    assert [m.delay for m in env.queue.messages] == [timedelta(seconds=900), timedelta(0)]
    env.queue.messages.reverse()
    env.deliver_next()  # the call, at once
    assert env.providers[Channel.VOICE].sent[0][0] == "+8613800000001"
    rounds = 0
    while env.queue.messages:  # the SMS comes back every 900 s until 08:00
        env.deliver_next()
        rounds += 1
    assert env.clock.now() >= morning and 30 <= rounds <= 45
    assert env.status(sms.id) is DeliveryStatus.SENT and len(env.providers[Channel.SMS].sent) == 1


def test_subscriptions_channels_and_unsubscribe(env: Env) -> None:
    env.service.subscribe(tenant_id=TENANT, ticket_id="TK1", customer_id="c_wx", channels=[Channel.SMS])
    env.service.subscribe(tenant_id=TENANT, ticket_id="TK1", customer_id="c_1", active=False)
    [by_sms, unsubscribed, default] = env.service.submit(
        [
            request("s1", recipient_id="c_wx"),
            request("s2"),
            request("s3", recipient_id="c_wx", ticket_id="TK2"),  # no subscription on TK2: WeChat first
        ]
    )
    assert by_sms.channel is Channel.SMS
    assert unsubscribed.status is DeliveryStatus.SUPPRESSED and unsubscribed.reason == "unsubscribed"
    assert default.channel is Channel.WECHAT and default.message is not None
    assert default.message.wechat_data["keyword1"] == "TK1"
    assert len(env.queue.messages) == 2


def test_no_reachable_channel_fails_visibly(env: Env) -> None:
    [delivery] = env.service.submit([request("k-none", recipient_id="c_unknown")])
    assert delivery.status is DeliveryStatus.FAILED and "no address" in (delivery.reason or "")
    assert env.queue.messages == []


def test_tenant_template_overrides_the_default(env: Env) -> None:
    env.config.put_template(
        TENANT,
        NotificationTemplate(event="ticket.done", channel=Channel.SMS, text="完成{ticket_id}",
                             sms_template_code="SMS_TENANT", sms_params={"code": "{ticket_id}"}),
    )  # fmt: skip
    [delivery] = env.service.submit([request("k-tpl")])
    assert delivery.message is not None
    assert (delivery.message.sms_template_code, delivery.message.sms_params) == (
        "SMS_TENANT",
        {"code": "TK1"},
    )


def test_delivery_log_per_ticket(env: Env) -> None:
    made = []
    for r in (request("l1"), request("l2", recipient_id="c_wx"), request("l3", ticket_id="TK9")):
        made += env.service.submit([r])
        env.clock.advance(seconds=1)
    env.deliver_next()
    log = env.service.log_for_ticket(TENANT, "TK1")
    assert [d.id for d in log] == [made[0].id, made[1].id]  # in creation order
    assert log[0].status is DeliveryStatus.SENT and log[0].address == "139****0001"
    assert log[1].status is DeliveryStatus.QUEUED and log[1].channel is Channel.WECHAT
    assert [d.id for d in env.service.log_for_ticket(TENANT, "TK9")] == [made[2].id]


def test_worker_reports_only_the_exhausted_record(env: Env, clock: FrozenClock) -> None:
    from chalicelib.workers.notify import on_notify_message

    env.config.put_policy(TENANT, NotificationPolicy(retry=RetryPolicy(max_attempts=1)))
    [ok, doomed] = env.service.submit([request("w1", recipient_id="c_wx"), request("w2")])
    env.providers[Channel.SMS].down = True
    c = bootstrap.Container(clock=env.clock)
    c.notifications = env.service
    bootstrap.set_container(c)
    try:
        records = [
            {"messageId": f"m{i}", "receiptHandle": "r", "body": json.dumps(
                {"tenant_id": TENANT, "delivery_id": d.id, "attempt": 1}), "attributes": {},
             "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scrm-notify", "awsRegion": "us-east-1"}
            for i, d in enumerate([ok, doomed])
        ]  # fmt: skip
        result = on_notify_message({"Records": records}, None)
    finally:
        bootstrap.set_container(None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert env.status(ok.id) is DeliveryStatus.SENT and env.status(doomed.id) is DeliveryStatus.DEAD
