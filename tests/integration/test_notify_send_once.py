"""Sending once, on moto: the notify worker (`on_notify_message`, SQS-shaped records) with the real delivery
log, the real Aliyun SMS adapter over a fake Aliyun (httpx.MockTransport, signatures checked) and the
per-callee call windows in the table.

Acceptance (issue 14, 4): an SMS whose first attempt times out is delivered once — the worker records the
outcome as unknown, the retry looks up the receipt by the same OutId and records the send instead of sending
again. And an SLA call over Aliyun's per-callee limits is refused, reaches the manager on WeCom instead, and
the ticket's notification log (GET /v1/tickets/{id}/notifications) says why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.notifications import (
    Channel,
    DeliveryStatus,
    NotificationRequest,
    RecipientKind,
)
from chalicelib.domain.send_limits import VOICE_CALL_LIMITS
from chalicelib.integrations.notify import sms
from chalicelib.integrations.notify.aliyun import AliyunRpcClient
from chalicelib.integrations.pii import AesGcmPiiCipher
from chalicelib.services.notifications import NotificationService
from chalicelib.store import keys
from chalicelib.store.notifications import (
    DynamoDeliveryRepository,
    DynamoNotificationConfig,
    DynamoSendLimiter,
)
from chalicelib.workers.notify import on_notify_message
from tests.fakes.aliyun_api import FakeAliyunSms
from tests.fakes.clock import FrozenClock
from tests.fakes.notify import FakeAddressBook, FakeProvider, FakeQueue, Queued, StaticProviders
from tests.integration.conftest import Api, TenantKeys

T = "t_once"
PHONE = "+8613900000001"
CIPHER = AesGcmPiiCipher(encryption_key=b"e" * 32, index_key=b"i" * 32)


@dataclass
class Env:
    service: NotificationService
    clock: FrozenClock
    queue: FakeQueue
    aliyun: FakeAliyunSms
    limiter: DynamoSendLimiter
    book: FakeAddressBook
    voice: FakeProvider
    wecom: FakeProvider

    def run_worker(self) -> tuple[Queued, dict[str, Any]]:
        """The next notify message, once its delay has passed, through the worker as Lambda would."""
        msg = self.queue.pop()
        self.clock.advance(seconds=msg.delay.total_seconds())
        body = {"tenant_id": msg.tenant_id, "delivery_id": msg.delivery_id, "attempt": msg.attempt}
        record = {"messageId": f"m{msg.attempt}", "receiptHandle": "r", "body": json.dumps(body),
                  "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                  "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scrm-notify",
                  "awsRegion": "us-east-1"}  # fmt: skip
        return msg, on_notify_message({"Records": [record]}, None)


def build_env(clock: FrozenClock) -> Env:
    aliyun = FakeAliyunSms(clock)
    client = AliyunRpcClient(
        endpoint=sms.ENDPOINT,
        version=sms.VERSION,
        access_key_id="testid",
        access_key_secret="testsecret",
        http=httpx.Client(transport=aliyun.transport()),
        clock=clock,
    )
    provider = sms.AliyunSmsProvider(
        client=client, sign_name="阿里云短信测试", template_codes={"ticket.done": "SMS_100"}
    )
    voice, wecom = FakeProvider("voice"), FakeProvider("wecom")
    book = FakeAddressBook()
    book.add(RecipientKind.CUSTOMER, "c1", sms=PHONE)
    limiter = DynamoSendLimiter(cipher=CIPHER)
    queue = FakeQueue()
    service = NotificationService(
        deliveries=DynamoDeliveryRepository(),
        config=DynamoNotificationConfig(),
        providers=StaticProviders({Channel.SMS: provider, Channel.VOICE: voice, Channel.WECOM: wecom}),
        addresses=book,
        queue=queue,
        limiter=limiter,
        clock=clock,
        rnd=lambda: 0.5,
    )
    return Env(service, clock, queue, aliyun, limiter, book, voice, wecom)


@pytest.fixture
def env(container: bootstrap.Container, clock: FrozenClock) -> Iterator[Env]:
    clock.at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    built = build_env(clock)
    container.notifications = built.service  # what the worker's handler calls
    container.notifier = built.service
    yield built


def done_request(key: str = "done:TK1:c1") -> NotificationRequest:
    return NotificationRequest(
        tenant_id=T,
        event="ticket.done",
        recipient_kind=RecipientKind.CUSTOMER,
        recipient_id="c1",
        channel=Channel.SMS,
        data={"ticket_id": "TK1", "title": "空调不制冷"},
        idempotency_key=key,
        ticket_id="TK1",
    )


def test_an_sms_whose_first_attempt_times_out_is_delivered_once(env: Env) -> None:
    [delivery] = env.service.submit([done_request()])
    env.aliyun.lose_answer_after_send()  # Aliyun sends it; our read times out
    _, first = env.run_worker()
    assert first == {"batchItemFailures": []}  # acknowledged: the retry is its own message
    stored = env.service._deliveries.get(T, delivery.id)
    assert stored is not None and stored.status is DeliveryStatus.RETRYING
    assert stored.attempts[0].outcome_unknown and "ReadTimeout" in (stored.attempts[0].error or "")
    retry = env.queue.messages[0]
    assert retry.attempt == 2 and retry.delay >= sms.RECEIPT_DELAY
    _, second = env.run_worker()
    assert second == {"batchItemFailures": []}
    sent = env.service._deliveries.get(T, delivery.id)
    assert sent is not None and sent.status is DeliveryStatus.SENT and sent.attempts[-1].confirmed
    # Once: one SendSms, then the receipt looked up by the same OutId; nothing sent again.
    assert env.aliyun.actions() == ["SendSms", "QuerySendDetails"]
    assert env.aliyun.sends_with(delivery.id) == 1 and len(env.aliyun.sent) == 1
    assert env.aliyun.requests[1]["PhoneNumber"] == "13900000001"
    assert env.queue.messages == []
    # A redelivered copy of either message changes nothing.
    env.service.deliver(T, delivery.id, attempt=2)
    assert len(env.aliyun.sent) == 1


def test_an_sms_lost_on_the_way_is_sent_again_with_the_same_out_id(env: Env) -> None:
    [delivery] = env.service.submit([done_request("done:TK2:c1")])
    env.aliyun.lose_request()
    env.run_worker()
    env.run_worker()
    final = env.service._deliveries.get(T, delivery.id)
    assert final is not None and final.status is DeliveryStatus.SENT and not final.attempts[-1].confirmed
    assert env.aliyun.actions() == ["SendSms", "QuerySendDetails", "SendSms"]
    assert [r.get("OutId") for r in env.aliyun.requests if r["Action"] == "SendSms"] == [delivery.id] * 2
    assert env.aliyun.sends_with(delivery.id) == 1


def test_while_the_receipt_cannot_be_read_nothing_is_sent(env: Env) -> None:
    [delivery] = env.service.submit([done_request("done:TK3:c1")])
    env.aliyun.lose_answer_after_send()
    env.run_worker()
    env.aliyun.query_unavailable()
    env.run_worker()
    waiting = env.service._deliveries.get(T, delivery.id)
    assert waiting is not None and waiting.status is DeliveryStatus.RETRYING
    assert env.aliyun.actions() == ["SendSms", "QuerySendDetails"]
    env.run_worker()
    final = env.service._deliveries.get(T, delivery.id)
    assert final is not None and final.status is DeliveryStatus.SENT and len(env.aliyun.sent) == 1


# -- the call windows in the table --------------------------------------------------------------------------
def test_the_call_window_counts_per_callee_without_storing_the_number(env: Env) -> None:
    at = env.clock.now()

    def take(slot: str, minute: int, phone: str = PHONE, tenant: str = T) -> Any:
        when = at + timedelta(minutes=minute)
        return env.limiter.acquire(tenant, Channel.VOICE, phone, slot=slot, at=when, limits=VOICE_CALL_LIMITS)

    assert [take(f"d{n}#1", 2 * n) for n in range(5)] == [None] * 5
    assert take("d4#1", 9) is None  # the same attempt, redelivered: counted once
    assert take("d5#1", 12) == VOICE_CALL_LIMITS[1]
    assert take("d5#1", 12, phone="+8613900000002") is None and take("x", 0, tenant="t_other") is None
    env.limiter.release(T, Channel.VOICE, PHONE, slot="d4#1")
    assert take("d6#1", 12) is None
    table = boto3.resource("dynamodb").Table(get_settings().table_name)
    pk = keys.send_window_pk(T, "voice", CIPHER.blind_index(PHONE))
    item = table.get_item(Key={"pk": pk, "sk": keys.SEND_WINDOW_SK})["Item"]
    assert "13900000001" not in json.dumps(item, default=str) and item["type"] == "send_window"
    assert int(item["expires_at"]) == int((at + timedelta(minutes=12, hours=24)).timestamp())


def test_two_workers_cannot_both_take_the_last_place(env: Env) -> None:
    limits = [VOICE_CALL_LIMITS[1]]
    at = env.clock.now()
    for n in range(4):
        env.limiter.acquire(T, Channel.VOICE, PHONE, slot=f"d{n}#1", at=at, limits=limits)
    rival = DynamoSendLimiter(cipher=CIPHER)

    class Racing(DynamoSendLimiter):
        """Reads the window, then the rival takes the last place before this write lands."""

        raced = False

        def _read(self, pk: str) -> Any:  # type: ignore[override]
            read = DynamoSendLimiter._read(pk)
            if not self.raced:
                self.raced = True
                assert rival.acquire(T, Channel.VOICE, PHONE, slot="rival#1", at=at, limits=limits) is None
            return read

    mine = Racing(cipher=CIPHER).acquire(T, Channel.VOICE, PHONE, slot="mine#1", at=at, limits=limits)
    assert mine == limits[0]  # the conditional write failed, the re-read saw the rival's call


# -- an SLA call over the limits, end to end ----------------------------------------------------------------
def test_an_sla_call_over_the_callees_limits_reaches_the_manager_on_wecom_and_the_log_says_why(
    env: Env, container: bootstrap.Container, tenant: TenantKeys, api: Api, clock: FrozenClock
) -> None:
    from chalicelib.services.tickets import TicketDraft

    manager = tenant.user_ids["store_mgr"]
    env.book.add(RecipientKind.USER, manager, voice="+8613800000009", wecom="lisi")
    clock.at = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)  # Friday 16:30 in Shanghai
    agent = container.tenants.authenticate(f"Bearer {tenant.keys['agent_all']}")
    draft = TicketDraft(template_id="repair", fields={"fault_description": "不制冷"}, region="华东",
                        store="SH-001")  # fmt: skip
    tid = container.tickets.create(principal=agent, draft=draft).ticket.id
    # Monday 17:00: far past 150 % of the first response. Five calls to the manager this hour already.
    clock.at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    for n in range(5):
        earlier = clock.now() - timedelta(minutes=50 - 10 * n)
        env.limiter.acquire(tenant.tenant_id, Channel.VOICE, "+8613800000009", slot=f"earlier{n}#1",
                            at=earlier, limits=VOICE_CALL_LIMITS)  # fmt: skip
    container.sla.evaluate(tenant.tenant_id, tid, 1)
    while env.queue.messages:
        env.run_worker()
    [call] = [d for d in env.service.log_for_ticket(tenant.tenant_id, tid) if d.request.event == "sla.call"]
    assert call.status is DeliveryStatus.SENT and call.channel is Channel.WECOM
    assert env.voice.sent == [] and ("lisi", "sla.call") in [(a, m.event) for a, m in env.wecom.sent]
    log = api.call("GET", f"/v1/tickets/{tid}/notifications", tenant)
    assert log.status_code == 200, log.data
    [shown] = [d for d in log.data["items"] if d["request"]["event"] == "sla.call"]
    assert shown["reason"] == "voice call refused: limit (5 per hour); sent by wecom instead"
    assert shown["attempts"][0]["refused"] and shown["attempts"][0]["channel"] == "voice"


def test_a_tenant_sets_its_own_call_limits_and_bad_ones_name_the_field(api: Api, tenant: TenantKeys) -> None:
    shown = api.call("GET", "/v1/notification-policy", tenant)
    assert shown.status_code == 200
    assert shown.data["send_limits"]["voice"] == [
        {"count": 1, "window": "PT1M"},
        {"count": 5, "window": "PT1H"},
        {"count": 20, "window": "P1D"},
    ]
    zero = {"send_limits": {"voice": [{"count": 0, "window": "PT1H"}]}}
    bad = api.call("PUT", "/v1/notification-policy", tenant, zero)
    assert bad.status_code == 400
    assert any("send_limits" in str(d.get("field")) for d in bad.data["error"]["details"]), bad.data
    relaxed = {"send_limits": {"voice": [{"count": 3, "window": "PT1M"}]}}
    assert api.call("PUT", "/v1/notification-policy", tenant, relaxed).status_code == 200
    again = api.call("GET", "/v1/notification-policy", tenant).data["send_limits"]
    assert again == {"voice": [{"count": 3, "window": "PT1M"}]}
