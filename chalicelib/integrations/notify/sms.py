"""SMS through Aliyun SMS (短信服务) `SendSms`, dysmsapi.aliyuncs.com, API version 2017-05-25
(help.aliyun.com/document_detail/55284.html; signature: aliyun.py).

Mainland SMS must use a signature name (签名) and a template (模板) both approved in the Aliyun console:
the message carries the template's variables (`sms_params`) and its code, else the provider's code for
the event (`template_codes`, from the tenant's settings). No code → permanent failure (nothing to send).
Request: PhoneNumbers (CN mobile without +86), SignName, TemplateCode, TemplateParam (JSON), OutId.
Response: {"Code": "OK", "BizId": "...", "RequestId": "..."}; BizId is the provider message id.

Sent once. SendSms is not idempotent, and Aliyun's advice after a timeout is to look at the receipt before
retrying (55284.html, 注意事项). Every SendSms carries `OutId` = our delivery id (外部流水扩展字段, echoed in
the send records and receipts), the same on every retry. `confirm` asks `QuerySendDetails`
(help.aliyun.com/document_detail/419277.html): PhoneNumber (one number, no prefix), SendDate (yyyyMMdd,
the last 30 days; China time), PageSize (1–50), CurrentPage; the answer is `{"Code": "OK", "TotalCount",
"SmsSendDetailDTOs": {"SmsSendDetailDTO": [{"PhoneNum", "SendStatus" (1 waiting for the receipt, 2 failed,
3 delivered), "ErrCode", "TemplateCode", "Content", "SendDate", "ReceiveDate", "OutId"}]}}` (field names as
in Aliyun's SDK model QuerySendDetailsResponseBody, aliyun/alibabacloud-csharp-sdk dysmsapi-20170525). A
record with our OutId means Aliyun took the earlier request — what a SendSms `OK` would have told us — so
it is recorded sent and nothing is resent, whatever the carrier's receipt says later. The records carry no
BizId, so a confirmed send has no provider message id."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.domain.notifications import (
    PermanentProviderError,
    ProviderResult,
    RenderedMessage,
    SendOutcomeUnknownError,
)
from chalicelib.integrations.notify.aliyun import AliyunRpcClient, national_number

ENDPOINT = "dysmsapi.aliyuncs.com"
VERSION = "2017-05-25"
CHINA = ZoneInfo("Asia/Shanghai")  # SendDate is a date of Aliyun's console, China time
PAGE_SIZE = 50  # QuerySendDetails' maximum
MAX_PAGES = 10  # 500 records to one number in a day: far beyond Aliyun's own per-number limits
# A record is listed once Aliyun has taken the request; the retry waits this long after the uncertain
# attempt before looking, so a request Aliyun was still processing when we gave up shows by then.
RECEIPT_DELAY = timedelta(seconds=60)


class SmsSendDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    out_id: str | None = Field(default=None, alias="OutId")
    send_status: int | None = Field(default=None, alias="SendStatus")
    send_date: str | None = Field(default=None, alias="SendDate")


class SmsSendDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[SmsSendDetail] = Field(default_factory=list, alias="SmsSendDetailDTO")


class QuerySendDetailsAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    total_count: int = Field(default=0, alias="TotalCount")  # a string in Aliyun's SDK model: coerced
    details: SmsSendDetails = Field(default_factory=SmsSendDetails, alias="SmsSendDetailDTOs")


class AliyunSmsProvider:
    receipt_delay = RECEIPT_DELAY

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
        if message.ref:
            params["OutId"] = message.ref
        data = self._client.call("SendSms", params)
        return ProviderResult(provider_message_id=str(data.get("BizId") or data.get("RequestId") or ""))

    def confirm(self, address: str, message: RenderedMessage, *, since: datetime) -> ProviderResult | None:
        """Whether a SendSms with this message's OutId was taken since `since`: its send record, looked up
        by phone on each China date from `since` to now. None: no such record (safe to send again)."""
        if not message.ref:
            raise SendOutcomeUnknownError("aliyun-sms: no OutId to look for")
        phone = national_number(address)
        for day in send_dates(since, self._client.clock.now()):
            for page in range(1, MAX_PAGES + 1):
                answer = self._page(phone, day, page)
                if any(d.out_id == message.ref for d in answer.details.items):
                    return ProviderResult(provider_message_id=None)
                if not answer.details.items or page * PAGE_SIZE >= answer.total_count:
                    break
            else:
                raise SendOutcomeUnknownError(f"aliyun-sms: more than {MAX_PAGES} pages of records on {day}")
        return None

    def _page(self, phone: str, day: str, page: int) -> QuerySendDetailsAnswer:
        data = self._client.call(
            "QuerySendDetails",
            {"PhoneNumber": phone, "SendDate": day, "PageSize": str(PAGE_SIZE), "CurrentPage": str(page)},
        )
        try:
            return QuerySendDetailsAnswer.model_validate(data)
        except ValidationError as e:
            raise SendOutcomeUnknownError(f"aliyun-sms: unexpected QuerySendDetails answer: {e}") from e


def send_dates(since: datetime, now: datetime) -> list[str]:
    """Every China date (yyyyMMdd) from `since` to `now`: a send near midnight is listed under either."""
    first, last = since.astimezone(CHINA).date(), max(since, now).astimezone(CHINA).date()
    days = (last - first).days
    return [(first + timedelta(days=n)).strftime("%Y%m%d") for n in range(min(days, 30) + 1)]
