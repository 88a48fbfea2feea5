"""Voice calls through Aliyun VMS (语音服务) `SingleCallByTts`, dyvmsapi.aliyuncs.com, API version
2017-05-25 (help.aliyun.com/document_detail/393519.html; signature: aliyun.py).

A text-to-speech call plays an approved TTS template (`tts_code`, else the provider's code for the event)
with its variables (`tts_params`). CalledShowNumber is the purchased display number (专属模式); left empty
the call goes out in 公共模式 from Aliyun's number pool. Aliyun rate-limits calls per callee (1/min,
5/h, 20/24 h) and, per its docs, places no public-mode calls at some hours: those answers are
temporary and retried. Response: {"Code": "OK", "CallId": "..."}; CallId is the provider message id."""

from __future__ import annotations

import json
from collections.abc import Mapping

from chalicelib.domain.notifications import PermanentProviderError, ProviderResult, RenderedMessage
from chalicelib.integrations.notify.aliyun import AliyunRpcClient, national_number

ENDPOINT = "dyvmsapi.aliyuncs.com"
VERSION = "2017-05-25"


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
        data = self._client.call("SingleCallByTts", params)
        return ProviderResult(provider_message_id=str(data.get("CallId") or data.get("RequestId") or ""))
