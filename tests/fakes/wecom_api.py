"""An in-memory WeCom API behind httpx.MockTransport: nothing in the tests reaches the internet."""

from __future__ import annotations

import json
from typing import Any

import httpx


class FakeWeComApi:
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.tokens_issued = 0
        self.chats: dict[str, dict[str, Any]] = {}
        self.tag_groups: list[dict[str, Any]] = []  # as get_corp_tag_list returns them
        self.kf_messages: list[dict[str, Any]] = []  # served 2 per page, to exercise the cursor
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
            self.tokens_issued += 1
            return _json({"errcode": 0, "access_token": f"token-{self.tokens_issued}", "expires_in": 7200})
        if request.url.params.get("access_token") != f"token-{self.tokens_issued}" or self.expire_next:
            self.expire_next = False
            return _json({"errcode": 42001, "errmsg": "access_token expired"})
        if path == "/externalcontact/get":
            contact = self.contacts.get(request.url.params["external_userid"])
            if contact is None:
                return _json({"errcode": 84061, "errmsg": "not external contact"})
            return _json({"errcode": 0, "external_contact": contact, "follow_user": []})
        if path == "/externalcontact/get_corp_tag_list":
            body = json.loads(request.content or b"{}")
            groups = [
                g for g in self.tag_groups if not body.get("group_id") or g["group_id"] in body["group_id"]
            ]
            if body.get("tag_id"):
                groups = [
                    dict(g, tag=[t for t in g["tag"] if t["id"] in body["tag_id"]])
                    for g in groups
                    if any(t["id"] in body["tag_id"] for t in g["tag"])
                ]
            return _json({"errcode": 0, "tag_group": groups})
        if path == "/externalcontact/groupchat/get":
            chat = self.chats.get(json.loads(request.content)["chat_id"])
            return _json(
                {"errcode": 0, "group_chat": chat} if chat else {"errcode": 701008, "errmsg": "no chat"}
            )
        if path == "/kf/sync_msg":
            start = int(json.loads(request.content).get("cursor") or 0)
            page = self.kf_messages[start : start + 2]
            more = start + 2 < len(self.kf_messages)
            return _json(
                {"errcode": 0, "msg_list": page, "has_more": int(more), "next_cursor": str(start + 2)}
            )
        return _json({"errcode": 404, "errmsg": f"fake has no {path}"})


def _json(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200, content=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )
