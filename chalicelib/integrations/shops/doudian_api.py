"""Outbound 抖店 (Doudian) open API client (httpx): who bought an order, since pushes name no buyer.

Request shape and signature follow 抖店's own SDKs (op.jinritemai.com guide-docs/10/813, as transcribed in
the official Go SDK mirrored at zsmhub/doudian-sdk `utils/sign_util.go` + `core/doudian_op_api_client.go`,
and in minibear2021/doudian `core.py`): POST https://openapi-fxg.jinritemai.com/<method with '.' → '/'>,
query `app_key, method, timestamp, v=2, sign, sign_method[, access_token]`, body = `param_json` (keys
sorted, compact), and sign = hex HMAC-SHA256(key=app_secret,
  app_secret + "app_key" + app_key + "method" + method + "param_json" + param_json + "timestamp" + ts + "v2"
  + app_secret) — or hex MD5 of that same string with sign_method=md5.

Answers are `{code, msg, sub_code, sub_msg, data, log_id}` with code 10000 for success. The error table
(平台基础错误码汇总 guide-docs/212/1427, as transcribed by imactool/jinritemai `Error/ErrorCode.php`):
20000/20001 service unavailable or timed out, 60000 rate limited, 90000 unknown → retry later; 40003 with
sub_code isv.access-token-expired / -no-existed → refresh the token once; everything else (30001 no
permission or authorisation revoked, 4000x bad parameters, 50001 token creation refused, 50002 business
failure such as an unknown order) will not change on retry.

The access token (7 days) is cached in the table per tenant and shop through the integration repository
(encrypted like any integration secret), so every Lambda shares one. Tests give the client an
httpx.MockTransport: nothing here reaches the internet in tests."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import httpx

from chalicelib.domain.common import Clock
from chalicelib.domain.customers import Identity
from chalicelib.services.ports import IntegrationRepository

BASE_URL = "https://openapi-fxg.jinritemai.com"
SUCCESS = 10000
TOKEN_SUB_CODES = frozenset({"isv.access-token-expired", "isv.access-token-no-existed"})
TRANSIENT_CODES = frozenset({20000, 20001, 60000, 90000})
EARLY_REFRESH = timedelta(minutes=10)  # refresh before the token's expiry, not at it
IDENTITY_TYPE = "doudian_open_id"

SignMethod = Literal["hmac-sha256", "md5"]


class DoudianApiError(Exception):
    def __init__(self, message: str, *, code: int | None = None, sub_code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.sub_code = sub_code


class DoudianUnavailable(DoudianApiError):
    """抖店 could not answer now (network, 5xx, busy, rate limited): ask again later."""


class DoudianPermanentError(DoudianApiError):
    """An answer that will not change on retry (bad credentials, no authorisation, unknown order)."""


def param_json(params: dict[str, Any]) -> str:
    """Keys sorted, no spaces, no escaping of non-ASCII: the exact string that is signed and sent."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(
    *,
    app_key: str,
    app_secret: str,
    method: str,
    param_json: str,
    timestamp: str,
    sign_method: SignMethod = "hmac-sha256",
) -> str:
    pattern = (
        f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v2{app_secret}"
    )
    if sign_method == "md5":
        return hashlib.md5(pattern.encode()).hexdigest()
    return hmac.new(app_secret.encode(), pattern.encode(), hashlib.sha256).hexdigest()


class DoudianTokenCache(Protocol):
    def get_token(self, tenant_id: str, shop_id: str, now: datetime) -> str | None: ...
    def put_token(self, tenant_id: str, shop_id: str, token: str, expires_at: datetime) -> None: ...


class RepositoryTokenCache:
    """Tokens in the integration table (secret part encrypted), kept in the process too, so a warm
    function reads the table once per token rather than once per call."""

    def __init__(self, repo: IntegrationRepository) -> None:
        self._repo = repo
        self._memory: dict[tuple[str, str], tuple[str, datetime]] = {}

    def get_token(self, tenant_id: str, shop_id: str, now: datetime) -> str | None:
        held = self._memory.get((tenant_id, shop_id))
        if held and held[1] > now:
            return held[0]
        found = self._repo.get(tenant_id, _token_kind(shop_id))
        if found is None:
            return None
        public, secrets = found
        expires_at = datetime.fromisoformat(str(public.get("expires_at", "1970-01-01T00:00:00+00:00")))
        token = secrets.get("access_token")
        if not token or expires_at <= now:
            return None
        self._memory[(tenant_id, shop_id)] = (token, expires_at)
        return token

    def put_token(self, tenant_id: str, shop_id: str, token: str, expires_at: datetime) -> None:
        self._repo.put(
            tenant_id, _token_kind(shop_id), {"expires_at": expires_at.isoformat()}, {"access_token": token}
        )
        self._memory[(tenant_id, shop_id)] = (token, expires_at)


def _token_kind(shop_id: str) -> str:
    return f"doudian_token#{shop_id}"


@dataclass(frozen=True)
class DoudianBuyer:
    """What order.orderDetail says about the buyer. `encrypt_post_tel` is an opaque ciphertext that only
    抖店's decrypt API could open: it is handed over for completeness, never stored."""

    doudian_open_id: str | None
    encrypt_post_tel: str | None = None


class DoudianClient:
    def __init__(
        self,
        *,
        tenant_id: str,
        app_key: str,
        app_secret: str,
        shop_id: str,
        cache: DoudianTokenCache,
        http: httpx.Client,
        clock: Clock,
    ) -> None:
        self._tenant_id = tenant_id
        self._app_key = app_key
        self._app_secret = app_secret
        self._shop_id = shop_id
        self._cache = cache
        self._http = http
        self._clock = clock

    # -- API -------------------------------------------------------------------------------------
    def order_buyer(self, shop_order_id: str) -> DoudianBuyer:
        """`order.orderDetail`: the buyer of a parent order (`p_id` in pushes)."""
        data = self._call("order.orderDetail", {"shop_order_id": shop_order_id})
        detail = data.get("shop_order_detail") or {}
        if not isinstance(detail, dict):
            raise DoudianPermanentError("order.orderDetail: no shop_order_detail in the answer")
        open_id = str(detail.get("doudian_open_id") or "").strip()
        tel = detail.get("encrypt_post_tel")
        return DoudianBuyer(doudian_open_id=open_id or None, encrypt_post_tel=str(tel) if tel else None)

    def buyer_identities(self, order_id: str) -> list[Identity]:
        """The `ShopBuyerLookup` port: the buyer's identities ([] when 抖店 names none)."""
        buyer = self.order_buyer(order_id)
        return [Identity(type=IDENTITY_TYPE, value=buyer.doudian_open_id)] if buyer.doudian_open_id else []

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(2):
            token = self._token(refresh=attempt > 0)
            answer = self._request(method, params, access_token=token)
            sub_code = str(answer.get("sub_code") or "")
            if sub_code in TOKEN_SUB_CODES and attempt == 0:
                continue  # the cached token was revoked or expired early: fetch a new one once
            return _data(method, answer)
        raise DoudianPermanentError(
            f"{method}: access token still rejected after a refresh", sub_code="isv.access-token-expired"
        )

    def _token(self, *, refresh: bool) -> str:
        now = self._clock.now()
        if not refresh:
            cached = self._cache.get_token(self._tenant_id, self._shop_id, now)
            if cached:
                return cached
        # A self-built app (or a tool app the shop authorised) mints its own token: authorization_self.
        shop: int | str = int(self._shop_id) if self._shop_id.isdigit() else self._shop_id
        params = {"code": "", "grant_type": "authorization_self", "shop_id": shop}
        data = _data("token.create", self._request("token.create", params, access_token=None))
        token = str(data.get("access_token") or "")
        if not token:
            raise DoudianPermanentError("token.create: no access_token in the answer")
        expires_at = now + timedelta(seconds=int(data.get("expires_in", 604800))) - EARLY_REFRESH
        self._cache.put_token(self._tenant_id, self._shop_id, token, expires_at)
        return token

    def _request(self, method: str, params: dict[str, Any], *, access_token: str | None) -> dict[str, Any]:
        body = param_json(params)
        timestamp = str(int(self._clock.now().timestamp()))
        query = {
            "app_key": self._app_key,
            "method": method,
            "timestamp": timestamp,
            "v": "2",
            "sign_method": "hmac-sha256",
            "sign": sign(
                app_key=self._app_key,
                app_secret=self._app_secret,
                method=method,
                param_json=body,
                timestamp=timestamp,
            ),
        }
        if access_token:
            query["access_token"] = access_token
        try:
            response = self._http.post(
                f"{BASE_URL}/{method.replace('.', '/')}",
                params=query,
                content=body.encode(),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=5.0,
            )
        except httpx.HTTPError as e:
            raise DoudianUnavailable(f"{method}: {e}") from e
        if response.status_code >= 500 or response.status_code == 429:
            raise DoudianUnavailable(f"{method}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise DoudianPermanentError(f"{method}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as e:  # a gateway's HTML error page: 抖店 itself did not answer
            raise DoudianUnavailable(f"{method}: the answer is not JSON") from e
        if not isinstance(answer, dict):
            raise DoudianUnavailable(f"{method}: the answer is not a JSON object")
        return answer


def _data(method: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer's `data`, or the typed error its code stands for."""
    try:
        code = int(answer.get("code", -1))
    except (TypeError, ValueError):
        code = -1
    sub_code = str(answer.get("sub_code") or "") or None
    if code == SUCCESS:
        data = answer.get("data")
        return data if isinstance(data, dict) else {}
    message = (
        f"{method}: 抖店 error {code} {sub_code or ''} {answer.get('sub_msg') or answer.get('msg') or ''}"
    )
    error = DoudianUnavailable if code in TRANSIENT_CODES else DoudianPermanentError
    raise error(message.strip(), code=code, sub_code=sub_code)
