"""The providers' side of sending once, against httpx.MockTransport: SendSms carries OutId, QuerySendDetails
finds a send by it (paging, both China dates across midnight, the documented answer shape), which transport
failures leave the outcome unknown and which do not, Aliyun voice flow control as a refusal, and WeChat's
client_msg_id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from chalicelib.domain.notifications import (
    Channel,
    DedupingProvider,
    ReceiptChecker,
    RenderedMessage,
    SendLimitRefusedError,
    SendOutcomeUnknownError,
    TemporaryProviderError,
)
from chalicelib.integrations.notify import sms, voice
from chalicelib.integrations.notify.aliyun import AliyunRpcClient
from chalicelib.integrations.notify.base import http_error
from chalicelib.integrations.notify.wechat import StableTokenProvider, WeChatTemplateProvider
from tests.fakes.aliyun_api import FakeAliyunSms, event
from tests.fakes.clock import FrozenClock

PHONE = "+8613900000001"
REF = "ntf_01jd5x0000000000000000000a"


def client(handler: Any, clock: FrozenClock, endpoint: str = sms.ENDPOINT) -> AliyunRpcClient:
    return AliyunRpcClient(
        endpoint=endpoint,
        version="2017-05-25",
        access_key_id="testid",
        access_key_secret="testsecret",
        http=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
    )


def sms_message(ref: str | None = REF) -> RenderedMessage:
    return RenderedMessage(
        event="ticket.done",
        channel=Channel.SMS,
        text="工单已完成",
        sms_template_code="SMS_100",
        sms_params={"ticket": "TK1"},
        ref=ref,
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai


def test_send_sms_carries_the_delivery_id_as_out_id(clock: FrozenClock) -> None:
    api = FakeAliyunSms(clock)
    provider = sms.AliyunSmsProvider(client=client(api, clock), sign_name="阿里云短信测试")
    assert isinstance(provider, ReceiptChecker)
    assert provider.send(PHONE, sms_message()).provider_message_id == "biz^1"
    assert api.requests[0]["OutId"] == REF and api.sent[0].out_id == REF
    provider.send(PHONE, sms_message(ref=None))
    assert "OutId" not in api.requests[1]


def test_a_send_whose_answer_was_lost_is_unknown_and_found_by_its_out_id(clock: FrozenClock) -> None:
    api = FakeAliyunSms(clock)
    provider = sms.AliyunSmsProvider(client=client(api, clock), sign_name="s")
    api.lose_answer_after_send()
    since = clock.now()
    with pytest.raises(SendOutcomeUnknownError):
        provider.send(PHONE, sms_message())
    clock.advance(seconds=90)
    assert provider.confirm(PHONE, sms_message(), since=since) is not None
    query = api.requests[-1]
    assert (query["Action"], query["PhoneNumber"], query["SendDate"]) == ("QuerySendDetails", "13900000001",
                                                                          "20261123")  # fmt: skip
    assert (query["PageSize"], query["CurrentPage"]) == ("50", "1")
    assert provider.confirm(PHONE, sms_message(ref="ntf_other"), since=since) is None  # not sent: send


def test_a_request_lost_on_the_way_is_unknown_too_and_then_not_found(clock: FrozenClock) -> None:
    api = FakeAliyunSms(clock)
    provider = sms.AliyunSmsProvider(client=client(api, clock), sign_name="s")
    api.lose_request()
    with pytest.raises(SendOutcomeUnknownError):  # a read timeout cannot tell the two apart
        provider.send(PHONE, sms_message())
    assert provider.confirm(PHONE, sms_message(), since=clock.now()) is None and api.sent == []


def test_the_check_pages_through_the_days_records(clock: FrozenClock) -> None:
    api = FakeAliyunSms(clock)
    provider = sms.AliyunSmsProvider(client=client(api, clock), sign_name="s")
    for n in range(120):
        provider.send(PHONE, sms_message(ref=f"ntf_{n:03d}"))
    assert provider.confirm(PHONE, sms_message(ref="ntf_119"), since=clock.now()) is not None
    pages = [r["CurrentPage"] for r in api.requests if r["Action"] == "QuerySendDetails"]
    assert pages == ["1", "2", "3"]
    assert provider.confirm(PHONE, sms_message(ref="ntf_999"), since=clock.now()) is None


def test_a_send_just_before_midnight_is_looked_for_under_both_dates(clock: FrozenClock) -> None:
    clock.at = datetime(2026, 11, 23, 15, 59, 50, tzinfo=UTC)  # 23:59:50 in Shanghai
    api = FakeAliyunSms(clock)
    provider = sms.AliyunSmsProvider(client=client(api, clock), sign_name="s")
    since = clock.now()
    clock.advance(seconds=15)  # Aliyun took it at 00:00:05, listed under the 24th
    api.lose_answer_after_send()
    with pytest.raises(SendOutcomeUnknownError):
        provider.send(PHONE, sms_message())
    clock.advance(minutes=2)
    assert provider.confirm(PHONE, sms_message(), since=since) is not None
    days = [r["SendDate"] for r in api.requests if r["Action"] == "QuerySendDetails"]
    assert days == ["20261123", "20261124"]
    assert sms.send_dates(since, since - timedelta(hours=1)) == ["20261123"]


def test_the_documented_answer_shape_parses(clock: FrozenClock) -> None:
    answer = event("query_send_details.json")
    answer["SmsSendDetailDTOs"]["SmsSendDetailDTO"][1]["OutId"] = REF
    provider = sms.AliyunSmsProvider(client=client(lambda r: httpx.Response(200, json=answer), clock),
                                     sign_name="s")  # fmt: skip
    assert provider.confirm(PHONE, sms_message(), since=clock.now()) is not None
    parsed = sms.QuerySendDetailsAnswer.model_validate(answer)
    assert parsed.total_count == 2 and parsed.details.items[0].send_status == 3


def test_an_unreadable_or_failed_check_leaves_the_outcome_unknown(clock: FrozenClock) -> None:
    api = FakeAliyunSms(clock)
    provider = sms.AliyunSmsProvider(client=client(api, clock), sign_name="s")
    api.query_unavailable()
    with pytest.raises(SendOutcomeUnknownError):
        provider.confirm(PHONE, sms_message(), since=clock.now())
    odd = {"Code": "OK", "TotalCount": "many"}
    odd_provider = sms.AliyunSmsProvider(client=client(lambda r: httpx.Response(200, json=odd), clock),
                                         sign_name="s")  # fmt: skip
    with pytest.raises(SendOutcomeUnknownError, match="unexpected QuerySendDetails answer"):
        odd_provider.confirm(PHONE, sms_message(), since=clock.now())
    with pytest.raises(SendOutcomeUnknownError, match="no OutId"):
        provider.confirm(PHONE, sms_message(ref=None), since=clock.now())


@pytest.mark.parametrize(
    ("failure", "unknown"),
    [
        (httpx.ConnectError("refused"), False),  # never left: resend freely
        (httpx.ConnectTimeout("timed out"), False),
        (httpx.PoolTimeout("no connection free"), False),
        (httpx.ReadTimeout("timed out"), True),  # sent, answer lost
        (httpx.WriteTimeout("timed out"), True),
        (httpx.RemoteProtocolError("peer closed"), True),
        (httpx.ReadError("reset"), True),
    ],
)
def test_which_transport_failures_leave_the_outcome_unknown(failure: httpx.HTTPError, unknown: bool) -> None:
    error = http_error(failure, "aliyun-sms")
    assert isinstance(error, TemporaryProviderError)
    assert isinstance(error, SendOutcomeUnknownError) is unknown


@pytest.mark.parametrize(
    ("answer", "unknown"),
    [
        (httpx.Response(503, json={"Code": "ServiceUnavailable", "Message": "busy"}), True),
        (httpx.Response(500, json={"Code": "InternalError", "Message": "x"}), True),
        (httpx.Response(200, json={"Code": "isp.SYSTEM_ERROR", "Message": "系统错误"}), True),
        (httpx.Response(200, text="<html>ok?</html>"), True),
        (httpx.Response(502, text="<html>bad gateway</html>"), True),
        (httpx.Response(200, json={"Code": "isv.AMOUNT_NOT_ENOUGH", "Message": "余额不足"}), False),
        (httpx.Response(429, json={"Code": "Throttling.User", "Message": "x"}), False),
        (httpx.Response(400, json={"Code": "SignatureDoesNotMatch", "Message": "x"}), False),
    ],
)
def test_which_answers_leave_the_outcome_unknown(
    answer: httpx.Response, unknown: bool, clock: FrozenClock
) -> None:
    provider = sms.AliyunSmsProvider(client=client(lambda r: answer, clock), sign_name="s")
    with pytest.raises(TemporaryProviderError) as raised:
        provider.send(PHONE, sms_message())
    assert isinstance(raised.value, SendOutcomeUnknownError) is unknown


def test_voice_flow_control_is_a_refusal_not_a_retry(clock: FrozenClock) -> None:
    answer = event("business_limit_control.json")
    provider = voice.AliyunVoiceProvider(
        client=client(lambda r: httpx.Response(200, json=answer), clock, voice.ENDPOINT),
        tts_codes={"sla.call": "TTS_1"},
    )
    call = RenderedMessage(event="sla.call", channel=Channel.VOICE, text="工单超时", ref=REF)
    with pytest.raises(SendLimitRefusedError, match=r"isv\.BUSINESS_LIMIT_CONTROL"):
        provider.send(PHONE, call)
    sms_provider = sms.AliyunSmsProvider(
        client=client(lambda r: httpx.Response(200, json=answer), clock), sign_name="s"
    )
    with pytest.raises(TemporaryProviderError) as raised:  # for SMS: a per-number limit, retried later
        sms_provider.send(PHONE, sms_message())
    assert not isinstance(raised.value, SendLimitRefusedError)


def test_voice_calls_carry_no_out_id(clock: FrozenClock) -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(parse_qsl(urlsplit(str(request.url)).query)))
        return httpx.Response(200, json={"Code": "OK", "CallId": "116012354148^10281378"})

    provider = voice.AliyunVoiceProvider(
        client=client(handler, clock, voice.ENDPOINT), tts_codes={"sla.call": "T"}
    )
    provider.send(PHONE, RenderedMessage(event="sla.call", channel=Channel.VOICE, text="x", ref=REF))
    assert "OutId" not in seen[0] and not isinstance(provider, ReceiptChecker)


def test_wechat_template_message_carries_client_msg_id() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/stable_token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 7200})
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "msgid": 200228})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    tokens = StableTokenProvider(app_id="wx", secret="s", http=http, clock=FrozenClock())
    provider = WeChatTemplateProvider(tokens=tokens, http=http, template_ids={"ticket.done": "TPL"})
    assert isinstance(provider, DedupingProvider) and provider.dedupe_window == timedelta(minutes=10)
    provider.send("openid-1", RenderedMessage(event="ticket.done", channel=Channel.WECHAT, text="x", ref=REF))
    assert bodies[0]["client_msg_id"] == REF and bodies[0]["touser"] == "openid-1"
