"""Alibaba Cloud RPC-style API calls (SMS `dysmsapi`, voice `dyvmsapi`) with the V1 RPC signature.

Signature (help.aliyun.com/document_detail/28839.html "签名机制", and the per-product copies such as
help.aliyun.com/document_detail/179312.htm; the same recipe as aliyun-python-sdk-core's
rpc_signature_composer and Apache libcloud's Aliyun driver):
1. every parameter except Signature, sorted by name; names and values percent-encoded as RFC 3986 with
   only A-Z a-z 0-9 - _ . ~ left as is (space → %20, never +; * → %2A; ~ kept);
2. CanonicalizedQueryString = name=value pairs joined with &;
3. StringToSign = METHOD & percentEncode("/") & percentEncode(CanonicalizedQueryString);
4. Signature = Base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)).
The documented example (AccessKeyId testid, secret testsecret, DescribeRegions, 2016-02-23T12:46:24Z)
gives CT9X0VtwR86fNWSnsc6v8YGOjuE= — pinned in tests/unit/test_notify_providers.py.

Errors come back as JSON `{"Code", "Message", "RequestId"}` (HTTP 200 for business errors like isv.*,
4xx/5xx for gateway errors such as SignatureDoesNotMatch or ServiceUnavailable); `Code == "OK"` is
success. SendSms is not idempotent, and after a timeout Aliyun says to look at the receipt before retrying
(SendSms, help.aliyun.com/document_detail/55284.html, 注意事项: "发生超时失败的情况时,建议查看回执状态后再判断
是否重试" and "不支持幂等"). So every answer that leaves open whether the request was acted on — a timeout or
broken connection after it was sent, a 5xx, `isp.SYSTEM_ERROR` / `InternalError` / `ServiceUnavailable`, a
2xx that is not JSON — is a `SendOutcomeUnknownError`; sms.py checks the receipt before sending again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from chalicelib.domain.common import Clock
from chalicelib.domain.notifications import (
    PermanentProviderError,
    ProviderError,
    SendLimitRefusedError,
    SendOutcomeUnknownError,
    TemporaryProviderError,
)
from chalicelib.integrations.notify.base import TIMEOUT, http_error

# Codes where the same request can work later: outages, throttling, and account states an operator fixes
# (balance, suspension, credentials, permissions) — retried, then the DLQ, from where a redrive sends it.
TEMPORARY_CODES = frozenset(
    {
        "isp.SYSTEM_ERROR",
        "isv.RAM_PERMISSION_DENY",
        "isv.BUSINESS_LIMIT_CONTROL",  # per-number flow control; voice.py treats it as a refusal
        "isv.DAY_LIMIT_CONTROL",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "isv.ACCOUNT_ABNORMAL",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "ServiceUnavailable",
        "InternalError",
        "SignatureNonceUsed",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "Forbidden.RAM",
        "InvalidTimeStamp.Expired",
    }
)
# Server-side failures that do not say whether the request was carried out.
UNKNOWN_OUTCOME_CODES = frozenset({"isp.SYSTEM_ERROR", "InternalError", "ServiceUnavailable"})
# Codes about this recipient or this content: retrying the same request cannot help.
PERMANENT_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.INVALID_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.PARAM_NOT_SUPPORT_URL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.TEMPLATE_PARAMS_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.EXTEND_CODE_ERROR",
        "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",
        "isv.TTS_TEMPLATE_ILLEGAL",
        "isv.CALLED_NUMBER_ILLEGAL",
        "isv.DISPLAY_NUMBER_ILLEGAL",
        "MissingParameter",
        "InvalidParameter",
    }
)


def percent_encode(value: str) -> str:
    """RFC 3986 with Aliyun's unreserved set: quote() leaves only A-Z a-z 0-9 - _ . ~ unencoded, so a
    space is %20 and * is %2A, as the recipe demands (urlencode's + would break the signature)."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def sign(access_key_secret: str, method: str, params: Mapping[str, str]) -> str:
    digest = hmac.new(
        (access_key_secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


class AliyunRpcClient:
    """One product endpoint (e.g. dysmsapi.aliyuncs.com, version 2017-05-25). GET with every parameter in
    the query string, as in the documented signature example."""

    def __init__(
        self,
        *,
        endpoint: str,
        version: str,
        access_key_id: str,
        access_key_secret: str,
        http: httpx.Client,
        clock: Clock,
        region_id: str = "cn-hangzhou",
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
        name: str = "aliyun",
    ) -> None:
        self._endpoint = endpoint
        self._version = version
        self._key_id = access_key_id
        self._secret = access_key_secret
        self._http = http
        self._clock = clock
        self._region = region_id
        self._nonce = nonce
        self._name = name

    def signed_params(self, action: str, params: Mapping[str, str]) -> dict[str, str]:
        common = {
            "Action": action,
            "Version": self._version,
            "Format": "JSON",
            "AccessKeyId": self._key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": self._nonce(),
            "Timestamp": self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),  # UTC, ISO 8601
            "RegionId": self._region,
        }
        merged = {**common, **params}
        return {**merged, "Signature": sign(self._secret, "GET", merged)}

    @property
    def clock(self) -> Clock:
        return self._clock

    def call(
        self, action: str, params: Mapping[str, str], *, limit_codes: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """The response body when Code is OK; otherwise a Temporary/PermanentProviderError, a
        SendOutcomeUnknownError when the request may have been carried out, or a SendLimitRefusedError
        for `limit_codes` (the product's per-recipient flow control)."""
        query = canonical_query(self.signed_params(action, params))
        try:
            response = self._http.get(f"https://{self._endpoint}/?{query}", timeout=TIMEOUT)
        except httpx.HTTPError as e:
            raise http_error(e, self._name) from e
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            response_error = httpx.HTTPStatusError("not JSON", request=response.request, response=response)
            if response.is_success:
                raise SendOutcomeUnknownError(f"{self._name}: a response that is not JSON") from None
            raise http_error(response_error, self._name) from None
        code = str(data.get("Code", ""))
        if code == "OK":
            return data
        message = str(data.get("Message", ""))
        raise classify(self._name, code, message, response.status_code, limit_codes=limit_codes)


def classify(
    provider: str, code: str, message: str, status: int, *, limit_codes: frozenset[str] = frozenset()
) -> ProviderError:
    """PERMANENT_CODES are permanent; TEMPORARY_CODES and every code not listed are retried: a needless
    retry costs little, a notification dropped on an unknown code is lost. A 5xx or a server error code
    leaves the outcome unknown."""
    text = f"{provider}: {code or f'HTTP {status}'}: {message}"
    if code in limit_codes:
        return SendLimitRefusedError(f"Aliyun flow control {code}")
    if code in PERMANENT_CODES:
        return PermanentProviderError(text)
    if code in UNKNOWN_OUTCOME_CODES or status >= 500:
        return SendOutcomeUnknownError(text)
    return TemporaryProviderError(text)


def national_number(e164: str) -> str:
    """Aliyun takes CN mobiles without a prefix and other numbers as country code + number, no '+'."""
    if e164.startswith("+86"):
        return e164[3:]
    return e164.removeprefix("+")
