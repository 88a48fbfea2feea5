"""SMS through Aliyun SMS (短信服务) `SendSms`, dysmsapi.aliyuncs.com, API version 2017-05-25
(help.aliyun.com/document_detail/55284.html; signature: aliyun.py).

Mainland SMS must use a signature name (签名) and a template (模板) both approved in the Aliyun console:
the message carries the template's variables (`sms_params`) and its code, else the provider's code for
the event (`template_codes`, from the tenant's settings). No code → permanent failure (nothing to send).
Request: PhoneNumbers (CN mobile without +86), SignName, TemplateCode, TemplateParam (JSON), OutId.
Response: {"Code": "OK", "BizId": "...", "RequestId": "..."}; BizId is the provider message id."""

from __future__ import annotations

import json
from collections.abc import Mapping

from chalicelib.domain.notifications import PermanentProviderError, ProviderResult, RenderedMessage
from chalicelib.integrations.notify.aliyun import AliyunRpcClient, national_number

ENDPOINT = "dysmsapi.aliyuncs.com"
VERSION = "2017-05-25"


class AliyunSmsProvider:
    def __init__(
        self, *, client: AliyunRpcClient, sign_name: str, template_codes: Mapping[str, str] | None = None
    ) -> None:
        self._client = client
        self._sign_name = sign_name
        self._codes = dict(template_codes or {})

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        code = message.sms_template_code or self._codes.get(message.event)
        if not code:
            raise PermanentProviderError(f"aliyun-sms: no approved template code for {message.event}")
        params = {
            "PhoneNumbers": national_number(address),
            "SignName": self._sign_name,
            "TemplateCode": code,
        }
        if message.sms_params:
            params["TemplateParam"] = json.dumps(
                message.sms_params, ensure_ascii=False, separators=(",", ":")
            )
        data = self._client.call("SendSms", params)
        return ProviderResult(provider_message_id=str(data.get("BizId") or data.get("RequestId") or ""))
