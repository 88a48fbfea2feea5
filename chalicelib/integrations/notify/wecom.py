"""WeCom app messages (应用消息) to staff: `POST /cgi-bin/message/send` with `agentid`, `touser` (WeCom
userid), `msgtype` text, or textcard when the message links somewhere
(developer.work.weixin.qq.com/document/path/90236).

What the document defines, and what this does with it:
- **Lengths are bytes**: text `content` at most 2048 bytes; textcard `title` at most 128 bytes and
  `description` at most 512 bytes. A Chinese character is 3 bytes in UTF-8, so counting characters sends
  messages WeCom cuts or refuses; they are cut here, on a character boundary, never inside one.
- **Undeliverable recipients come back in the answer**, even with errcode 0: `invaliduser` /
  `unlicenseduser` (`|`-separated), and errcode 81013 when none was valid. WeCom answers those userids
  **lower-cased** (member UserIDs are case-insensitive: path/90195 "系统进行唯一性检查时会忽略大小写"), so
  the address is compared case-insensitively: a message WeCom did not deliver is never recorded as sent.
- 40001 / 40013 (secret / CorpID refused) is a configuration error: a permanent failure naming it, not
  retried (`WeComConfigError`); 45009 / 45033 (rate limits) and outages are temporary: the notification
  service retries with backoff.

Token handling is WeComClient's (table-cached token, one refresh on 40014/42001). The client must be built
with the secret of the self-built app whose `agent_id` sends (the 客户联系 secret cannot send app
messages: 48002/60011).

Customers through WeCom are not a channel here: an external contact can only be messaged by a group-send
task a staff member confirms in WeCom (`externalcontact/add_msg_template`) or, in 微信客服, within 48 h
of the customer's last message (`kf/send_msg`) — neither fits an automatic notification. Customers get
WeChat template messages or SMS."""

from __future__ import annotations

from typing import Any

import httpx

from chalicelib.domain.notifications import (
    PermanentProviderError,
    ProviderResult,
    RenderedMessage,
    TemporaryProviderError,
)
from chalicelib.integrations.notify.base import http_error
from chalicelib.integrations.wecom.client import WeComApiError, WeComClient, WeComConfigError

# The recipient or the message is wrong: invalid userid (40003, 60111), no valid recipient (81013),
# invalid agentid (40056), bad message type / content (40008, 44004, 45002), user not licensed (81019).
PERMANENT_ERRORS = frozenset({40003, 60111, 81013, 40056, 40008, 44004, 45002, 81019})
TEXT_BYTES = 2048  # text.content
TITLE_BYTES = 128  # textcard.title
DESCRIPTION_BYTES = 512  # textcard.description


def truncate_utf8(text: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, cut before the first character that would not fit whole."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")  # drops only the partial last character


def undeliverable(address: str, answer: dict[str, Any]) -> bool:
    """Whether the answer names `address` among the recipients it could not reach (any case)."""
    named = f"{answer.get('invaliduser') or ''}|{answer.get('unlicenseduser') or ''}"
    return address.strip().lower() in {u.strip().lower() for u in named.split("|") if u.strip()}


class WeComAppProvider:
    def __init__(self, *, client: WeComClient, agent_id: int) -> None:
        self._client = client
        self._agent_id = agent_id

    def body(self, address: str, message: RenderedMessage) -> dict[str, Any]:
        base: dict[str, Any] = {"touser": address, "agentid": self._agent_id, "enable_duplicate_check": 0}
        if message.url:
            card = {
                "title": truncate_utf8(message.title or message.text, TITLE_BYTES),
                "description": truncate_utf8(message.text, DESCRIPTION_BYTES),
                "url": message.url,
                "btntxt": "详情",
            }
            return {**base, "msgtype": "textcard", "textcard": card}
        content = f"{message.title}\n{message.text}" if message.title else message.text
        return {**base, "msgtype": "text", "text": {"content": truncate_utf8(content, TEXT_BYTES)}}

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        try:
            data = self._client.send_app_message(self.body(address, message))
        except WeComConfigError as e:
            raise PermanentProviderError(
                f"wecom: {e.errcode} {e.errmsg} (the WeCom corp id or secret is refused: check the settings)"
            ) from e
        except WeComApiError as e:
            text = f"wecom: {e.errcode} {e.errmsg}"
            raise (
                PermanentProviderError(text)
                if e.errcode in PERMANENT_ERRORS
                else TemporaryProviderError(text)
            ) from e
        except httpx.HTTPError as e:
            raise http_error(e, "wecom") from e
        if undeliverable(address, data):
            raise PermanentProviderError(f"wecom: {address} is not a valid or licensed member of the app")
        return ProviderResult(provider_message_id=str(data.get("msgid") or "") or None)
