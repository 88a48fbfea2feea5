"""An in-memory WeCom API behind httpx.MockTransport: nothing in the tests reaches the internet.

It answers as WeCom's documents describe (developer.work.weixin.qq.com): `message/send` names undeliverable
recipients lower-cased (path/90236), `kf/sync_msg` takes an optional Token valid 10 minutes and pages with
`next_cursor` / `has_more` (path/94670), the tag list APIs return everything for empty filters and ignore
`tag_id` beside `group_id` (path/92117, path/94882)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx

from chalicelib.domain.common import Clock

KF_TOKEN_VALIDITY = timedelta(minutes=10)


class FakeWeComApi:
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.follow_users: dict[str, list[dict[str, Any]]] = {}  # external userid → follow_user
        self.calls: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, JSON body) of every POST
        self.tokens_issued = 0
        self.chats: dict[str, dict[str, Any]] = {}
        self.tag_groups: list[dict[str, Any]] = []  # as get_corp_tag_list returns them
        self.strategy_tag_groups: dict[int, list[dict[str, Any]]] = {}  # rule group → its tag groups
        self.kf_messages: list[dict[str, Any]] = []  # served 2 per page, to exercise the cursor
        self.kf_tokens: dict[str, datetime] = {}  # callback Token → when it was issued
        self.kf_fail_calls: set[int] = set()  # these sync_msg calls (1-based) fail as unreachable
        self.kf_calls = 0
        self.app_members: set[str] | None = None  # who the app may message (None: anyone); any case
        self.unlicensed: set[str] = set()  # members without an interface licence (unlicenseduser)
        self.sent: list[dict[str, Any]] = []
        self.rate_limited: set[str] = set()  # paths answering 45033
        self.bad_secret = False  # gettoken answers 40001
        self.clock: Clock | None = None  # for the Token's validity
        self.outage = False  # every request fails as if WeCom cannot be reached
        self.expire_next = False  # the next API call answers 42001 (token expired early)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/cgi-bin")
        self.calls.append(path)
        if self.outage:
            raise httpx.ConnectError("qyapi.weixin.qq.com unreachable", request=request)
        if path == "/gettoken":
            return self._token()
        if request.url.params.get("access_token") != f"token-{self.tokens_issued}" or self.expire_next:
            self.expire_next = False
            return _json({"errcode": 42001, "errmsg": "access_token expired"})
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        if request.method == "POST":
            self.requests.append((path, body))
        if path in self.rate_limited:
            return _json({"errcode": 45033, "errmsg": "api concurrent out of limit"})
        if path == "/externalcontact/get":
            return self._contact(request.url.params["external_userid"])
        if path == "/externalcontact/get_corp_tag_list":
            return _json({"errcode": 0, "tag_group": _filter_tags(self.tag_groups, body)})
        if path == "/externalcontact/get_strategy_tag_list":
            groups = self.strategy_tag_groups.get(int(body.get("strategy_id", 0)), [])
            return _json({"errcode": 0, "tag_group": _filter_tags(groups, body)})
        if path == "/externalcontact/groupchat/get":
            chat = self.chats.get(body["chat_id"])
            return _json(
                {"errcode": 0, "group_chat": chat} if chat else {"errcode": 701008, "errmsg": "no chat"}
            )
        if path == "/kf/sync_msg":
            return self._sync_msg(request, body)
        if path == "/message/send":
            return self._send(body)
        return _json({"errcode": 404, "errmsg": f"fake has no {path}"})

    def _token(self) -> httpx.Response:
        if self.bad_secret:
            return _json({"errcode": 40001, "errmsg": "invalid credential"})
        self.tokens_issued += 1
        return _json({"errcode": 0, "access_token": f"token-{self.tokens_issued}", "expires_in": 7200})

    def _contact(self, external: str) -> httpx.Response:
        contact = self.contacts.get(external)
        if contact is None:
            return _json({"errcode": 84061, "errmsg": "not external contact"})
        follow = self.follow_users.get(external, [])
        return _json({"errcode": 0, "external_contact": contact, "follow_user": follow})

    def _sync_msg(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        self.kf_calls += 1
        if self.kf_calls in self.kf_fail_calls:
            raise httpx.ConnectError("qyapi.weixin.qq.com unreachable", request=request)
        token = body.get("token")
        issued = self.kf_tokens.get(token) if token else None
        if issued is not None and self.clock is not None and self.clock.now() - issued > KF_TOKEN_VALIDITY:
            return _json({"errcode": 95007, "errmsg": "invalid msg token"})
        start = int(body.get("cursor") or 0)
        mine = [m for m in self.kf_messages if _kf_account(m) == body.get("open_kfid")]
        page = mine[start : start + 2]
        more = start + 2 < len(mine)
        return _json({"errcode": 0, "msg_list": page, "has_more": int(more), "next_cursor": str(start + 2)})

    def _send(self, body: dict[str, Any]) -> httpx.Response:
        """Partial success as path/90236 answers it: errcode 0 naming the undeliverable recipients,
        lower-cased; 81013 when no recipient is valid."""
        self.sent.append(body)
        recipients = [u for u in str(body.get("touser", "")).split("|") if u]
        members = {m.lower() for m in self.app_members} if self.app_members is not None else None
        invalid = [u.lower() for u in recipients if members is not None and u.lower() not in members]
        if recipients and len(invalid) == len(recipients):
            return _json({"errcode": 81013, "errmsg": "user & party & tag all invalid"})
        unlicensed = [u.lower() for u in recipients if u.lower() in {x.lower() for x in self.unlicensed}]
        return _json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "invaliduser": "|".join(invalid),
                "unlicenseduser": "|".join(unlicensed),
                "msgid": f"msg-{len(self.sent)}",
            }
        )


def _kf_account(record: dict[str, Any]) -> Any:
    """Messages name their kf account at the top; events inside `event`."""
    return record.get("open_kfid") or (record.get("event") or {}).get("open_kfid")


def _filter_tags(groups: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    """Empty filters: everything. group_id wins over tag_id (which is then ignored)."""
    if body.get("group_id"):
        return [g for g in groups if g["group_id"] in body["group_id"]]
    if body.get("tag_id"):
        return [
            dict(g, tag=[t for t in g["tag"] if t["id"] in body["tag_id"]])
            for g in groups
            if any(t["id"] in body["tag_id"] for t in g["tag"])
        ]
    return groups


def _json(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200, content=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )
