"""Outbound WeCom API client (httpx): external contact details, org structure, customer-service messages.

The access token is cached in the table with its expiry, so every Lambda shares one token per tenant
(WeCom rate-limits gettoken); an `errcode` of 40014/42001 (invalid/expired token) refreshes it once and
retries. Calls go through a circuit breaker per tenant (integrations/breaker.py): while WeCom cannot be
reached, calls fail at once and the queue retries them later. Tests give the client an httpx.MockTransport:
nothing here reaches the internet in tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from chalicelib.domain.common import Clock
from chalicelib.integrations.breaker import Breaker

BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin"
BUSY_ERRORS = frozenset({-1})  # 系统繁忙: WeCom's own "try again later", counted as unreachable
TOKEN_ERRORS = frozenset({40014, 42001, 40001})  # invalid / expired access token, invalid credential
EARLY_REFRESH = timedelta(minutes=5)  # refresh before WeCom's 7200 s expiry, not at it


class WeComApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeCom API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class TokenCache(Protocol):
    def get_token(self, tenant_id: str, now: datetime) -> str | None: ...
    def put_token(self, tenant_id: str, token: str, expires_at: datetime) -> None: ...


class WeComClient:
    def __init__(
        self,
        *,
        tenant_id: str,
        corp_id: str,
        secret: str,
        cache: TokenCache,
        http: httpx.Client,
        clock: Clock,
        breaker: Breaker,
    ) -> None:
        self._tenant_id = tenant_id
        self._breaker = breaker
        self._corp_id = corp_id
        self._secret = secret
        self._cache = cache
        self._http = http
        self._clock = clock

    # -- API -------------------------------------------------------------------------------------
    def external_contact(self, external_userid: str) -> dict[str, Any]:
        """`externalcontact/get`: the contact (name, unionid when the corp is bound to an open platform,
        gender, type) and the staff who follow it."""
        return self._call("GET", "/externalcontact/get", params={"external_userid": external_userid})

    def departments(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/department/list").get("department", []))

    def department_users(self, department_id: int) -> list[dict[str, Any]]:
        data = self._call("GET", "/user/list", params={"department_id": department_id})
        return list(data.get("userlist", []))

    def corp_tags(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """`externalcontact/get_corp_tag_list`: tag groups with their tags (all, or the ones asked for)."""
        body: dict[str, Any] = {}
        if tag_ids:
            body["tag_id"] = tag_ids
        if group_ids:
            body["group_id"] = group_ids
        return list(self._call("POST", "/externalcontact/get_corp_tag_list", json=body).get("tag_group", []))

    def group_chat(self, chat_id: str) -> dict[str, Any]:
        """`externalcontact/groupchat/get`: name, owner, members (type 1 staff, 2 external contact)."""
        data = self._call("POST", "/externalcontact/groupchat/get", json={"chat_id": chat_id, "need_name": 1})
        return dict(data.get("group_chat", {}))

    def kf_sync_msg(
        self, *, token: str, open_kfid: str, cursor: str | None = None, limit: int = 1000
    ) -> dict[str, Any]:
        """`kf/sync_msg`: customer-service messages since `cursor` (the callback's Token authorises it)."""
        body: dict[str, Any] = {"token": token, "open_kfid": open_kfid, "limit": limit}
        if cursor:
            body["cursor"] = cursor
        return self._call("POST", "/kf/sync_msg", json=body)

    # -- plumbing --------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._breaker.check(self._tenant_id)
        try:
            data = self._call_with_token(method, path, params=params, json=json)
        except httpx.HTTPStatusError as e:
            if e.response.status_code >= 500:
                self._breaker.failed(self._tenant_id)
            raise
        except httpx.TransportError:
            self._breaker.failed(self._tenant_id)
            raise
        except WeComApiError as e:
            if e.errcode in BUSY_ERRORS:
                self._breaker.failed(self._tenant_id)
            else:
                self._breaker.succeeded(self._tenant_id)  # WeCom answered: it is reachable
            raise
        self._breaker.succeeded(self._tenant_id)
        return data

    def _call_with_token(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
    ) -> dict[str, Any]:
        for attempt in range(2):
            token = self._token(refresh=attempt > 0)
            response = self._http.request(
                method,
                BASE_URL + path,
                params={**(params or {}), "access_token": token},
                json=json,
                timeout=5.0,
            )
            response.raise_for_status()
            data: dict[str, Any] = response.json()
            errcode = int(data.get("errcode", 0))
            if errcode in TOKEN_ERRORS and attempt == 0:
                continue  # the cached token was revoked or expired early: fetch a new one once
            if errcode != 0:
                raise WeComApiError(errcode, str(data.get("errmsg", "")))
            return data
        raise WeComApiError(42001, "access token still rejected after a refresh")

    def _token(self, *, refresh: bool) -> str:
        now = self._clock.now()
        if not refresh:
            cached = self._cache.get_token(self._tenant_id, now)
            if cached:
                return cached
        response = self._http.get(
            BASE_URL + "/gettoken", params={"corpid": self._corp_id, "corpsecret": self._secret}, timeout=5.0
        )
        response.raise_for_status()
        data = response.json()
        if int(data.get("errcode", 0)) != 0:
            raise WeComApiError(int(data["errcode"]), str(data.get("errmsg", "")))
        token = str(data["access_token"])
        expires_at = now + timedelta(seconds=int(data.get("expires_in", 7200))) - EARLY_REFRESH
        self._cache.put_token(self._tenant_id, token, expires_at)
        return token
