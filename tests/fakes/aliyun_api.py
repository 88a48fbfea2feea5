"""Aliyun's SMS API (dysmsapi 2017-05-25) behind httpx.MockTransport, as documented: `SendSms` records the
message (phone, template, OutId) under its China date and answers `{"Code": "OK", "BizId"}`;
`QuerySendDetails` lists one phone's records of one date, `PageSize` at a time, in the documented shape
(tests/events/aliyun/). Every request's signature is checked with the access key secret.

Failures on demand: `lose_answer_after_send(n)` — the next n SendSms are carried out, then the answer is
lost (httpx.ReadTimeout, as when the read timeout fires first); `lose_request(n)` — the next n time out
before Aliyun saw them; `query_unavailable(n)` — the next n QuerySendDetails answer 503."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import httpx

from chalicelib.integrations.notify.aliyun import sign
from tests.fakes.clock import FrozenClock

EVENTS = Path(__file__).resolve().parent.parent / "events" / "aliyun"
CHINA = ZoneInfo("Asia/Shanghai")


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    data.pop("_source", None)
    return data


@dataclass
class SentSms:
    phone: str
    template_code: str
    out_id: str | None
    day: str  # yyyyMMdd, China time
    at: str


class FakeAliyunSms:
    def __init__(self, clock: FrozenClock, *, secret: str = "testsecret") -> None:
        self.clock = clock
        self.secret = secret
        self.sent: list[SentSms] = []
        self.requests: list[dict[str, str]] = []
        self._lose_answer = 0
        self._lose_request = 0
        self._query_down = 0

    def lose_answer_after_send(self, times: int = 1) -> None:
        self._lose_answer = times

    def lose_request(self, times: int = 1) -> None:
        self._lose_request = times

    def query_unavailable(self, times: int = 1) -> None:
        self._query_down = times

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def sends_with(self, out_id: str) -> int:
        return sum(1 for s in self.sent if s.out_id == out_id)

    def actions(self) -> list[str]:
        return [r["Action"] for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
        signature = params.pop("Signature")
        if signature != sign(self.secret, "GET", params):
            return httpx.Response(400, json={"Code": "SignatureDoesNotMatch", "Message": "signature"})
        self.requests.append(params)
        if params["Action"] == "SendSms":
            return self._send(request, params)
        if params["Action"] == "QuerySendDetails":
            return self._query(params)
        return httpx.Response(404, json={"Code": "InvalidAction.NotFound", "Message": params["Action"]})

    def _send(self, request: httpx.Request, params: dict[str, str]) -> httpx.Response:
        if self._lose_request:
            self._lose_request -= 1
            raise httpx.ReadTimeout("timed out", request=request)
        now = self.clock.now().astimezone(CHINA)
        self.sent.append(
            SentSms(
                phone=params["PhoneNumbers"],
                template_code=params["TemplateCode"],
                out_id=params.get("OutId"),
                day=now.strftime("%Y%m%d"),
                at=now.strftime("%Y-%m-%d %H:%M:%S"),
            )
        )
        if self._lose_answer:
            self._lose_answer -= 1
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={**event("send_sms_ok.json"), "BizId": f"biz^{len(self.sent)}"})

    def _query(self, params: dict[str, str]) -> httpx.Response:
        if self._query_down:
            self._query_down -= 1
            return httpx.Response(503, json={"Code": "ServiceUnavailable", "Message": "busy"})
        size, page = int(params["PageSize"]), int(params.get("CurrentPage") or 1)
        assert 1 <= size <= 50, "PageSize is 1–50"
        found = [s for s in self.sent if s.phone == params["PhoneNumber"] and s.day == params["SendDate"]]
        template = event("query_send_details.json")["SmsSendDetailDTOs"]["SmsSendDetailDTO"][1]
        records = [
            {**template, "PhoneNum": s.phone, "TemplateCode": s.template_code, "SendDate": s.at,
             "OutId": s.out_id or ""}
            for s in found[(page - 1) * size : page * size]
        ]  # fmt: skip
        body = {**event("query_send_details.json"), "TotalCount": str(len(found))}
        body["SmsSendDetailDTOs"] = {"SmsSendDetailDTO": records}
        return httpx.Response(200, json=body)
