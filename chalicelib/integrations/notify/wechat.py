"""WeChat official account (服务号) template messages to customers by openid:
`POST https://api.weixin.qq.com/cgi-bin/message/template/send?access_token=…` with
`{"touser", "template_id", "url", "data": {"<keyword>": {"value": "…"}}}` → `{"errcode": 0, "msgid": …}`.

The access token comes from `stable_token` (developers.weixin.qq.com/doc/service/api/base/
api_getstableaccesstoken): in normal mode repeated calls return the same token while it is valid, so
several Lambdas fetching one each do not revoke each other's (the older `cgi-bin/token` does). The token
is kept per process until 5 minutes before it expires; an invalid-token answer fetches one again.
Template ids differ per official account: the message's id, else the provider's id for the event.

Sent once: every message carries `client_msg_id` = our delivery id, the same on every retry. WeChat's doc
(developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage, and WxJava's
`WxMpTemplateMessage.clientMsgId`, "防重入id"): "对于同一个openid + client_msg_id, 只发送一条消息,10分钟有效,
超过10分钟不保证效果" — one message per openid and client_msg_id, for 10 minutes (not 24 hours). So
`dedupe_window` is 10 minutes and the service schedules a retry after an unknown outcome inside it. The doc
does not say what a deduplicated repeat answers; a success is recorded as sent, any other code as before."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from chalicelib.domain.common import Clock
from chalicelib.domain.notifications import (
    PermanentProviderError,
    ProviderResult,
    RenderedMessage,
    TemporaryProviderError,
)
from chalicelib.integrations.notify.base import TIMEOUT, http_error

API = "https://api.weixin.qq.com/cgi-bin"
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# The recipient or the content is wrong: unfollowed (43004), refused (43101), invalid openid (40003),
# template id (40037), data format / argument (47001, 47003), url (40165).
PERMANENT_ERRORS = frozenset({43004, 43101, 40003, 40037, 47001, 47003, 40165})
EARLY_REFRESH = timedelta(minutes=5)
DEDUPE_WINDOW = timedelta(minutes=10)  # client_msg_id, per openid


class AccessTokenProvider(Protocol):
    def token(self, *, refresh: bool = False) -> str: ...


class StableTokenProvider:
    def __init__(self, *, app_id: str, secret: str, http: httpx.Client, clock: Clock) -> None:
        self._app_id = app_id
        self._secret = secret
        self._http = http
        self._clock = clock
        self._held: tuple[str, datetime] | None = None

    def token(self, *, refresh: bool = False) -> str:
        now = self._clock.now()
        if not refresh and self._held and self._held[1] > now:
            return self._held[0]
        body = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret}
        # force_refresh stays false even on refresh: it revokes the token other processes hold, and
        # WeChat allows 20 a day. Normal mode already hands out the current token.
        data = _post(self._http, f"{API}/stable_token", body)
        if "access_token" not in data:
            raise TemporaryProviderError(
                f"wechat: stable_token failed: {data.get('errcode')} {data.get('errmsg')}"
            )
        expires = now + timedelta(seconds=int(data.get("expires_in", 7200))) - EARLY_REFRESH
        self._held = (str(data["access_token"]), expires)
        return self._held[0]


class WeChatTemplateProvider:
    dedupe_window = DEDUPE_WINDOW

    def __init__(
        self,
        *,
        tokens: AccessTokenProvider,
        http: httpx.Client,
        template_ids: Mapping[str, str] | None = None,
    ) -> None:
        self._tokens = tokens
        self._http = http
        self._template_ids = dict(template_ids or {})

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        template_id = message.wechat_template_id or self._template_ids.get(message.event)
        if not template_id:
            raise PermanentProviderError(f"wechat: no template id for {message.event}")
        body: dict[str, Any] = {
            "touser": address,
            "template_id": template_id,
            "data": {k: {"value": v} for k, v in message.wechat_data.items()},
        }
        if message.url:
            body["url"] = message.url
        if message.ref:
            body["client_msg_id"] = message.ref
        for attempt in range(2):
            token = self._tokens.token(refresh=attempt > 0)
            data = _post(self._http, f"{API}/message/template/send", body, params={"access_token": token})
            errcode = int(data.get("errcode", 0))
            if errcode in TOKEN_ERRORS and attempt == 0:
                continue
            if errcode == 0:
                return ProviderResult(provider_message_id=str(data.get("msgid", "")) or None)
            text = f"wechat: {errcode} {data.get('errmsg', '')}"
            raise (
                PermanentProviderError(text) if errcode in PERMANENT_ERRORS else TemporaryProviderError(text)
            )
        raise TemporaryProviderError("wechat: access token still rejected after a refresh")


def _post(
    http: httpx.Client, url: str, body: dict[str, Any], params: dict[str, str] | None = None
) -> dict[str, Any]:
    try:
        response = http.post(url, params=params, json=body, timeout=TIMEOUT)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
    except httpx.HTTPError as e:
        raise http_error(e, "wechat") from e
    except ValueError as e:
        raise TemporaryProviderError("wechat: a response that is not JSON") from e
    return data
