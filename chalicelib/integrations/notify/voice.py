"""Voice calls through Aliyun VMS (语音服务) `SingleCallByTts`, dyvmsapi.aliyuncs.com, API version
2017-05-25 (help.aliyun.com/document_detail/393519.html; signature: aliyun.py).

A text-to-speech call plays an approved TTS template (`tts_code`, else the provider's code for the event)
with its variables (`tts_params`). CalledShowNumber is the purchased display number (专属模式); left empty
the call goes out in 公共模式 from Aliyun's number pool. Response: {"Code": "OK", "CallId": "..."};
CallId is the provider message id.

Limits: Aliyun allows 1 call a minute, 5 an hour and 20 in 24 hours to one callee (393519.html,
CalledNumber; 语音流控频率规则, help.aliyun.com/document_detail/2680293.html). The notification service
counts them before calling (domain/send_limits.py, one window per tenant and callee), and Aliyun's own
refusal, `isv.BUSINESS_LIMIT_CONTROL` (触发业务流控限制, API error codes,
help.aliyun.com/document_detail/178344.html), is a `SendLimitRefusedError`: nothing was placed, the next
try would hit the same limit, and the escalation falls back to its next channel instead of waiting.
OutId (its receipt field) is not sent: Aliyun documents it as 1–15 bytes for the voice APIs (IvrCall,
help.aliyun.com/document_detail/393521.htm), shorter than our delivery ids, and there is no API to look a
call up by it, so a call whose outcome is unknown is placed again (an SLA call missed is worse than one
repeated; each attempt counts against the limits)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from chalicelib.domain.notifications import PermanentProviderError, ProviderResult, RenderedMessage
from chalicelib.integrations.notify.aliyun import AliyunRpcClient, national_number

ENDPOINT = "dyvmsapi.aliyuncs.com"
VERSION = "2017-05-25"
LIMIT_CODES = frozenset({"isv.BUSINESS_LIMIT_CONTROL"})


class AliyunVoiceProvider:
    def __init__(
        self,
        *,
        client: AliyunRpcClient,
        called_show_number: str | None = None,
        tts_codes: Mapping[str, str] | None = None,
        play_times: int = 2,
    ) -> None:
        self._client = client
        self._show = called_show_number
        self._codes = dict(tts_codes or {})
        self._play_times = play_times

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        code = message.tts_code or self._codes.get(message.event)
        if not code:
            raise PermanentProviderError(f"aliyun-vms: no approved TTS template for {message.event}")
        params = {
            "CalledNumber": national_number(address),
            "TtsCode": code,
            "PlayTimes": str(self._play_times),
        }
        if self._show:
            params["CalledShowNumber"] = self._show
        if message.tts_params:
            params["TtsParam"] = json.dumps(message.tts_params, ensure_ascii=False, separators=(",", ":"))
        data = self._client.call("SingleCallByTts", params, limit_codes=LIMIT_CODES)
        return ProviderResult(provider_message_id=str(data.get("CallId") or data.get("RequestId") or ""))
