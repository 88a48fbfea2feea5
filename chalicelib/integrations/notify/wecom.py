"""WeCom app messages (应用消息) to staff: `POST /cgi-bin/message/send` with `agentid`, `touser` (WeCom
userid), `msgtype` text, or textcard when the message links somewhere
(developer.work.weixin.qq.com/document/path/90236).

Token handling is the existing WeComClient's (table-cached token, one refresh on 40014/42001): this
wrapper takes that client and calls its request plumbing. The client must be built with the secret of
the self-built app whose `agent_id` sends (the 客户联系 secret cannot send app messages: 48002/60011).

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
from chalicelib.integrations.wecom.client import WeComApiError, WeComClient

# The recipient or the message is wrong: invalid userid (40003, 60111), no valid recipient (81013),
# invalid agentid (40056), bad message type / content (40008, 44004, 45002), user not licensed (81019).
PERMANENT_ERRORS = frozenset({40003, 60111, 81013, 40056, 40008, 44004, 45002, 81019})
TEXT_LIMIT = 2000  # WeCom allows 2048 bytes of text; textcard descriptions 512 bytes
CARD_LIMIT = 160  # characters: CJK characters take 3 bytes in UTF-8


class WeComAppProvider:
    def __init__(self, *, client: WeComClient, agent_id: int) -> None:
        self._client = client
        self._agent_id = agent_id

    def body(self, address: str, message: RenderedMessage) -> dict[str, Any]:
        base: dict[str, Any] = {"touser": address, "agentid": self._agent_id, "enable_duplicate_check": 0}
        if message.url:
            card = {
                "title": (message.title or message.text)[:128],
                "description": message.text[:CARD_LIMIT],
                "url": message.url,
                "btntxt": "详情",
            }
            return {**base, "msgtype": "textcard", "textcard": card}
        content = f"{message.title}\n{message.text}" if message.title else message.text
        return {**base, "msgtype": "text", "text": {"content": content[:TEXT_LIMIT]}}

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        try:
            # WeComClient has no public send method yet: its _call carries the token cache and refresh.
            data = self._client._call("POST", "/message/send", json=self.body(address, message))
        except WeComApiError as e:
            text = f"wecom: {e.errcode} {e.errmsg}"
            raise (
                PermanentProviderError(text)
                if e.errcode in PERMANENT_ERRORS
                else TemporaryProviderError(text)
            ) from e
        except httpx.HTTPError as e:
            raise http_error(e, "wecom") from e
        # errcode 0 can still name the recipient invalid (partial success of a multi-recipient send).
        invalid = str(data.get("invaliduser") or "") + "|" + str(data.get("unlicenseduser") or "")
        if address in invalid.split("|"):
            raise PermanentProviderError(f"wecom: {address} is not a valid or licensed member")
        return ProviderResult(provider_message_id=str(data.get("msgid") or "") or None)
