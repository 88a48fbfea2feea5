"""The notification providers against httpx.MockTransport: the Aliyun RPC signature (the documented test
vector), request shapes of SendSms / SingleCallByTts / WeChat template / WeCom message, and the mapping
of answers to temporary (retry) or permanent (dead) errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from chalicelib.domain.notifications import (
    Channel,
    PermanentProviderError,
    RenderedMessage,
    TemporaryProviderError,
)
from chalicelib.integrations.breaker import Breaker
from chalicelib.integrations.notify import aliyun, sms, voice
from chalicelib.integrations.notify.aliyun import AliyunRpcClient, percent_encode, sign, string_to_sign
from chalicelib.integrations.notify.base import FactoryRegistry
from chalicelib.integrations.notify.queue import SqsDeliveryQueue
from chalicelib.integrations.notify.wechat import StableTokenProvider, WeChatTemplateProvider
from chalicelib.integrations.notify.wecom import WeComAppProvider
from chalicelib.integrations.wecom.client import WeComClient
from tests.fakes.clock import FrozenClock

Handler = Callable[[httpx.Request], httpx.Response]


def http(handler: Handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def reply(data: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=data)


def message(channel: Channel, **extra: Any) -> RenderedMessage:
    return RenderedMessage(
        event="ticket.done", channel=channel, title="工单已完成", text="工单 T1 已完成", **extra
    )


# -- Aliyun RPC signature ---------------------------------------------------------------------------------
DOC_PARAMS = {  # help.aliyun.com/document_detail/28839.html, 签名机制 example (its TimeStamp spelling)
    "TimeStamp": "2016-02-23T12:46:24Z",
    "Format": "XML",
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "Version": "2014-05-26",
    "SignatureVersion": "1.0",
}


def test_signature_matches_the_documented_vector() -> None:
    assert string_to_sign("GET", DOC_PARAMS) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0"
        "%26TimeStamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
    )
    assert sign("testsecret", "GET", DOC_PARAMS) == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


def test_percent_encoding_rules() -> None:
    assert percent_encode("a b*c~d+e/f") == "a%20b%2Ac~d%2Be%2Ff"
    assert percent_encode("工单") == "%E5%B7%A5%E5%8D%95"


def aliyun_client(handler: Handler, endpoint: str, version: str) -> AliyunRpcClient:
    return AliyunRpcClient(
        endpoint=endpoint,
        version=version,
        access_key_id="testid",
        access_key_secret="testsecret",
        http=http(handler),
        clock=FrozenClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
        nonce=lambda: "nonce-1",
    )


def params_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))


def test_sms_send_request_is_signed_and_shaped() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply({"Code": "OK", "Message": "OK", "BizId": "900619^0", "RequestId": "r1"})

    provider = sms.AliyunSmsProvider(
        client=aliyun_client(handler, sms.ENDPOINT, sms.VERSION),
        sign_name="阿里云短信测试",
        template_codes={"ticket.done": "SMS_100"},
    )
    result = provider.send(
        "+8613812345678", message(Channel.SMS, sms_params={"ticket": "T1", "title": "漏 水"})
    )
    assert result.provider_message_id == "900619^0"
    request = seen[0]
    assert request.method == "GET" and request.url.host == "dysmsapi.aliyuncs.com"
    params = params_of(request)
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert params["PhoneNumbers"] == "13812345678"
    assert params["TemplateCode"] == "SMS_100" and params["SignName"] == "阿里云短信测试"
    assert json.loads(params["TemplateParam"]) == {"ticket": "T1", "title": "漏 水"}
    assert params["Timestamp"] == "2026-11-23T09:00:00Z" and params["SignatureNonce"] == "nonce-1"
    assert "%20" in request.url.query.decode() and "+" not in request.url.query.decode()  # RFC 3986 spaces
    signature = params.pop("Signature")
    assert signature == sign("testsecret", "GET", params)  # the server's check


def test_voice_call_request_shape() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply({"Code": "OK", "CallId": "116012354148^10281378", "RequestId": "r"})

    provider = voice.AliyunVoiceProvider(
        client=aliyun_client(handler, voice.ENDPOINT, voice.VERSION),
        called_show_number="057112345678",
        tts_codes={"sla.call": "TTS_1"},
    )
    msg = RenderedMessage(
        event="sla.call", channel=Channel.VOICE, text="工单超时", tts_params={"ticket": "T1"}
    )
    assert provider.send("+8613812345678", msg).provider_message_id == "116012354148^10281378"
    params = params_of(seen[0])
    assert seen[0].url.host == "dyvmsapi.aliyuncs.com"
    assert params["Action"] == "SingleCallByTts" and params["TtsCode"] == "TTS_1"
    assert params["CalledNumber"] == "13812345678" and params["CalledShowNumber"] == "057112345678"
    assert json.loads(params["TtsParam"]) == {"ticket": "T1"} and params["PlayTimes"] == "2"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (reply({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}), PermanentProviderError),
        (reply({"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法"}), PermanentProviderError),
        (reply({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "业务限流"}), TemporaryProviderError),
        (reply({"Code": "isv.AMOUNT_NOT_ENOUGH", "Message": "余额不足"}), TemporaryProviderError),
        (reply({"Code": "SignatureDoesNotMatch", "Message": "sig"}, 400), TemporaryProviderError),
        (reply({"Code": "ServiceUnavailable", "Message": "busy"}, 503), TemporaryProviderError),
        (reply({"Code": "isv.SOMETHING_NEW", "Message": "?"}), TemporaryProviderError),
        (httpx.Response(502, text="<html>bad gateway</html>"), TemporaryProviderError),
    ],
)
def test_sms_error_mapping(answer: httpx.Response, error: type[Exception]) -> None:
    provider = sms.AliyunSmsProvider(
        client=aliyun_client(lambda r: answer, sms.ENDPOINT, sms.VERSION), sign_name="s", template_codes={}
    )
    with pytest.raises(error):
        provider.send("+8613812345678", message(Channel.SMS, sms_template_code="SMS_1"))


def test_network_errors_are_temporary_and_a_missing_template_permanent() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    provider = sms.AliyunSmsProvider(client=aliyun_client(down, sms.ENDPOINT, sms.VERSION), sign_name="s")
    with pytest.raises(TemporaryProviderError):
        provider.send("+8613812345678", message(Channel.SMS, sms_template_code="SMS_1"))
    with pytest.raises(PermanentProviderError, match="no approved template"):
        provider.send("+8613812345678", message(Channel.SMS))
    assert aliyun.national_number("+85291234567") == "85291234567"


# -- WeChat template message ------------------------------------------------------------------------------
class FakeWeChat:
    def __init__(self) -> None:
        self.tokens = 0
        self.sent: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/stable_token":
            body = json.loads(request.content)
            assert body == {"grant_type": "client_credential", "appid": "wxapp", "secret": "sec"}
            self.tokens += 1
            return reply({"access_token": f"tok-{self.tokens}", "expires_in": 7200})
        assert request.url.path == "/cgi-bin/message/template/send"
        self.sent.append({"token": request.url.params["access_token"], **json.loads(request.content)})
        return reply(self.answers.pop(0) if self.answers else {"errcode": 0, "errmsg": "ok", "msgid": 200228})


def wechat(api: FakeWeChat) -> WeChatTemplateProvider:
    client = http(api)
    tokens = StableTokenProvider(app_id="wxapp", secret="sec", http=client, clock=FrozenClock())
    return WeChatTemplateProvider(tokens=tokens, http=client, template_ids={"ticket.done": "TPL-DONE"})


def test_wechat_template_message_shape_and_token_reuse() -> None:
    api = FakeWeChat()
    provider = wechat(api)
    msg = message(Channel.WECHAT, url="https://h5/t/1", wechat_data={"first": "您好", "keyword1": "T1"})
    assert provider.send("openid-1", msg).provider_message_id == "200228"
    provider.send("openid-2", msg)
    assert api.tokens == 1  # cached in the process
    assert api.sent[0] == {
        "token": "tok-1",
        "touser": "openid-1",
        "template_id": "TPL-DONE",
        "url": "https://h5/t/1",
        "data": {"first": {"value": "您好"}, "keyword1": {"value": "T1"}},
    }


def test_wechat_refreshes_an_expired_token_once() -> None:
    api = FakeWeChat()
    api.answers = [{"errcode": 42001, "errmsg": "access_token expired"}]
    wechat(api).send("openid-1", message(Channel.WECHAT))
    assert [s["token"] for s in api.sent] == ["tok-1", "tok-2"]


@pytest.mark.parametrize(
    ("errcode", "error"),
    [(43004, PermanentProviderError), (40003, PermanentProviderError), (-1, TemporaryProviderError),
     (45009, TemporaryProviderError)],
)  # fmt: skip
def test_wechat_error_mapping(errcode: int, error: type[Exception]) -> None:
    api = FakeWeChat()
    api.answers = [{"errcode": errcode, "errmsg": "x"}]
    with pytest.raises(error):
        wechat(api).send("openid-1", message(Channel.WECHAT))


# -- WeCom app message ------------------------------------------------------------------------------------
class MemoryTokenCache:
    def __init__(self) -> None:
        self.tokens: dict[str, tuple[str, datetime]] = {}

    def get_token(self, tenant_id: str, now: datetime) -> str | None:
        held = self.tokens.get(tenant_id)
        return held[0] if held and held[1] > now else None

    def put_token(self, tenant_id: str, token: str, expires_at: datetime) -> None:
        self.tokens[tenant_id] = (token, expires_at)


def wecom(handler: Handler) -> WeComAppProvider:
    client = WeComClient(
        tenant_id="t1",
        corp_id="wwcorp",
        secret="app-secret",
        cache=MemoryTokenCache(),
        http=http(handler),
        clock=FrozenClock(),
        breaker=Breaker(FrozenClock()),
    )
    return WeComAppProvider(client=client, agent_id=1000002)


def test_wecom_app_message_text_and_textcard() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/gettoken"):
            return reply({"errcode": 0, "access_token": "wt", "expires_in": 7200})
        assert request.url.path == "/cgi-bin/message/send" and request.url.params["access_token"] == "wt"
        sent.append(json.loads(request.content))
        return reply({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "m-1"})

    provider = wecom(handler)
    assert provider.send("zhangsan", message(Channel.WECOM)).provider_message_id == "m-1"
    provider.send("zhangsan", message(Channel.WECOM, url="https://h5/t/1"))
    assert sent[0]["msgtype"] == "text" and sent[0]["agentid"] == 1000002 and sent[0]["touser"] == "zhangsan"
    assert sent[0]["text"]["content"] == "工单已完成\n工单 T1 已完成"
    assert sent[1]["msgtype"] == "textcard"
    assert sent[1]["textcard"] == {"title": "工单已完成", "description": "工单 T1 已完成", "url": "https://h5/t/1",
                                   "btntxt": "详情"}  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"errcode": 81013, "errmsg": "user & party & tag all invalid"}, PermanentProviderError),
        ({"errcode": 0, "errmsg": "ok", "invaliduser": "zhangsan"}, PermanentProviderError),
        ({"errcode": -1, "errmsg": "system busy"}, TemporaryProviderError),
        ({"errcode": 60020, "errmsg": "not allow to access from your ip"}, TemporaryProviderError),
    ],
)
def test_wecom_error_mapping(answer: dict[str, Any], error: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/gettoken"):
            return reply({"errcode": 0, "access_token": "wt", "expires_in": 7200})
        return reply(answer)

    with pytest.raises(error):
        wecom(handler).send("zhangsan", message(Channel.WECOM))


def test_wecom_unreachable_is_temporary() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("unreachable", request=request)

    with pytest.raises(TemporaryProviderError):
        wecom(handler).send("zhangsan", message(Channel.WECOM))


# -- registry and queue -----------------------------------------------------------------------------------
def test_registry_builds_per_tenant_providers() -> None:
    provider = wecom(lambda r: reply({}))
    registry = FactoryRegistry({Channel.WECOM: lambda tenant: provider if tenant == "t1" else None})
    assert registry.provider("t1", Channel.WECOM) is provider
    assert registry.provider("t2", Channel.WECOM) is None
    assert registry.provider("t1", Channel.SMS) is None


def test_sqs_queue_caps_and_rounds_up_the_delay() -> None:
    calls: list[dict[str, Any]] = []

    class Sqs:
        def send_message(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    from datetime import timedelta

    queue = SqsDeliveryQueue(client=Sqs(), queue_url="https://sqs/q", queue_name="scrm-notify")
    queue.enqueue("t1", "ntf_1", delay=timedelta(hours=3), attempt=1)
    queue.enqueue("t1", "ntf_1", delay=timedelta(seconds=1.2), attempt=2)
    assert [c["DelaySeconds"] for c in calls] == [900, 2]
    assert json.loads(calls[0]["MessageBody"]) == {"tenant_id": "t1", "delivery_id": "ntf_1", "attempt": 1}
