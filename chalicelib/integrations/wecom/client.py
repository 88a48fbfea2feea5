"""Outbound WeCom API client (httpx): external contacts, tags, org structure, 微信客服, app messages.

The access token is cached in the table with its expiry, so every Lambda shares one token per tenant
(WeCom rate-limits gettoken). Calls go through a circuit breaker per tenant (integrations/breaker.py): while
WeCom cannot be reached, calls fail at once and the queue retries them later. Tests give the client an
httpx.MockTransport: nothing here reaches the internet in tests.

Error codes, as WeCom's global code list defines them (developer.work.weixin.qq.com/document/path/90313;
the same table is WxJava's `WxCpErrorMsgEnum`), each handled differently:
- 42001 (access_token 已过期) and 40014 (不合法的access_token): the cached token was revoked or expired
  early. Refresh it **once** and retry; a second refusal is an error.
- 40001 (不合法的secret参数) and 40013 (不合法的CorpID): the tenant's settings are wrong. No refresh can fix
  that, so it is not treated as an expired token (that would fetch a token on every call, for ever):
  `WeComConfigError`, which callers surface (kept in the inbox, a failed notification naming it) instead of
  retrying.
- 45009 (接口调用超过限制) and 45033 (接口并发调用超过限制): WeCom's frequency limits (path/90312: per
  corp and per API, per minute and per hour). `WeComRateLimitedError`, and the tenant's breaker is held open
  for `RATE_LIMIT_BACKOFF`: the calls after it in the batch fail at once as "unreachable" and their queue
  messages come back after the visibility timeout, instead of each asking WeCom again.
- -1 (系统繁忙): counted by the breaker as WeCom being unreachable.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from chalicelib.domain.common import Clock
from chalicelib.integrations.breaker import Breaker

BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin"
BUSY_ERRORS = frozenset({-1})  # 系统繁忙: WeCom's own "try again later", counted as unreachable
TOKEN_ERRORS = frozenset({40014, 42001})  # invalid / expired access token: refresh once
CONFIG_ERRORS = frozenset({40001, 40013})  # invalid secret / CorpID: the settings are wrong
RATE_LIMIT_ERRORS = frozenset({45009, 45033})  # over the call frequency / concurrency limit
RATE_LIMIT_BACKOFF = timedelta(seconds=60)  # the shortest window of path/90312's limits is a minute
EARLY_REFRESH = timedelta(minutes=5)  # refresh before WeCom's 7200 s expiry, not at it


class WeComApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeCom API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeComConfigError(WeComApiError):
    """The tenant's CorpID or secret is refused (40001 / 40013): fix the settings; retrying is futile."""


class WeComRateLimitedError(WeComApiError):
    """WeCom's frequency limits (45009 / 45033): retry later, through the queue, not in a loop."""


def api_error(errcode: int, errmsg: str) -> WeComApiError:
    """The error class for an `errcode` (one mapping, used for every call including gettoken)."""
    if errcode in CONFIG_ERRORS:
        return WeComConfigError(errcode, errmsg)
    if errcode in RATE_LIMIT_ERRORS:
        return WeComRateLimitedError(errcode, errmsg)
    return WeComApiError(errcode, errmsg)


class TokenCache(Protocol):
    def get_token(self, tenant_id: str, now: datetime) -> str | None: ...
    def put_token(self, tenant_id: str, token: str, expires_at: datetime) -> None: ...


def _ids(name: str, ids: list[str] | None) -> list[str] | None:
    """WeCom's tag list APIs return the **whole** catalogue when `tag_id` and `group_id` are both empty
    (path/92117, path/94882): an empty list passed where ids were meant must not become "everything"."""
    if ids is None:
        return None
    if not ids:
        raise ValueError(f"{name} is empty: WeCom would answer with every tag; call the *all* method instead")
    return list(ids)


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
        """`externalcontact/get` (path/92114): the contact (name, unionid when the corp is bound to an open
        platform, gender, type) and `follow_user`: each staff member who has them, with that member's
        `remark`, `description` and `tags` (group_name, tag_name, tag_id, type 1 企业 / 2 个人 / 3 规则组)."""
        return self._call("GET", "/externalcontact/get", params={"external_userid": external_userid})

    def departments(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/department/list").get("department", []))

    def department_users(self, department_id: int) -> list[dict[str, Any]]:
        data = self._call("GET", "/user/list", params={"department_id": department_id})
        return list(data.get("userlist", []))

    def corp_tags(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """`externalcontact/get_corp_tag_list` (path/92117) for the tags or groups named. WeCom ignores
        `tag_id` when `group_id` is given, so one of the two is asked for, never both."""
        return self._tag_list("/externalcontact/get_corp_tag_list", {}, tag_ids, group_ids)

    def all_corp_tags(self) -> list[dict[str, Any]]:
        """The whole 企业客户标签 catalogue, on purpose."""
        return list(self._call("POST", "/externalcontact/get_corp_tag_list", json={}).get("tag_group", []))

    def strategy_tags(
        self, *, strategy_id: int, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """`externalcontact/get_strategy_tag_list` (path/94882): tags of a rule group (规则组), which
        `get_corp_tag_list` does not return. Same filter rules as `corp_tags`."""
        return self._tag_list(
            "/externalcontact/get_strategy_tag_list", {"strategy_id": strategy_id}, tag_ids, group_ids
        )

    def _tag_list(
        self, path: str, body: dict[str, Any], tag_ids: list[str] | None, group_ids: list[str] | None
    ) -> list[dict[str, Any]]:
        tags, groups = _ids("tag_ids", tag_ids), _ids("group_ids", group_ids)
        if (tags is None) == (groups is None):
            raise ValueError("name either tag_ids or group_ids (WeCom ignores tag_id beside group_id)")
        body = {**body, **({"tag_id": tags} if tags else {"group_id": groups})}
        return list(self._call("POST", path, json=body).get("tag_group", []))

    def group_chat(self, chat_id: str) -> dict[str, Any]:
        """`externalcontact/groupchat/get`: name, owner, members (type 1 staff, 2 external contact)."""
        data = self._call("POST", "/externalcontact/groupchat/get", json={"chat_id": chat_id, "need_name": 1})
        return dict(data.get("group_chat", {}))

    def kf_sync_msg(
        self, *, open_kfid: str, cursor: str | None = None, token: str | None = None, limit: int = 1000
    ) -> dict[str, Any]:
        """`kf/sync_msg` (path/94670): 微信客服 messages and events after `cursor`. `token` is the callback's
        Token: optional, valid 10 minutes, it only lifts the strict frequency limit of calls without it
        ("可不填，如果不填接口有严格的频率限制"), so a pull after it expired sends none."""
        body: dict[str, Any] = {"open_kfid": open_kfid, "limit": limit}
        if token:
            body["token"] = token
        if cursor:
            body["cursor"] = cursor
        return self._call("POST", "/kf/sync_msg", json=body)

    def send_app_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """`message/send` (path/90236): an app message; the answer names recipients it could not reach
        (`invaliduser`, `unlicenseduser`, `|`-separated) even when `errcode` is 0."""
        return self._call("POST", "/message/send", json=body)

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
        except WeComRateLimitedError:
            self._breaker.hold(self._tenant_id, self._clock.now() + RATE_LIMIT_BACKOFF)
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
                raise api_error(errcode, str(data.get("errmsg", "")))
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
            raise api_error(int(data["errcode"]), str(data.get("errmsg", "")))
        token = str(data["access_token"])
        expires_at = now + timedelta(seconds=int(data.get("expires_in", 7200))) - EARLY_REFRESH
        self._cache.put_token(self._tenant_id, token, expires_at)
        return token
