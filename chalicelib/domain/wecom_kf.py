"""微信客服 (WeChat customer service): the records `kf/sync_msg` returns, typed, and the rules on them.

Shapes follow WeCom's 接收消息和事件 (developer.work.weixin.qq.com/document/path/94670) and WxJava's
`WxCpKfMsgListResp` / `WxCpKfEventMsg`:
- every record has `msgid`, `send_time` (seconds), `origin` (3 the WeChat customer, 4 a system event,
  5 a servicer in the WeCom client), `msgtype`, and `servicer_userid` when a servicer is involved;
- a message (text, image, voice, video, file, location, link, business_card, miniprogram, msgmenu, …)
  names its `open_kfid` and `external_userid` at the top level;
- an **event** (`msgtype` "event") does not ("msgtype为event，该字段不返回"): its `open_kfid` and
  `external_userid` are inside `event`, with `event_type` and the fields of that type.

Event types documented there: enter_session (a customer entered the session; `scene`, `scene_param`, and a
`welcome_code` when a welcome may be sent, valid about 20 s), msg_send_fail (`fail_msgid`, `fail_type`),
servicer_status_change (a servicer's reception status; no customer), session_status_change (`change_type`
1 taken from the queue, 2 transferred, 3 ended, 4 re-opened; `old_/new_servicer_userid`, `msg_code`),
user_recall_msg / servicer_recall_msg (`recall_msgid`), reject_customer_msg_switch_change
(`reject_switch`). A record that fits none of these is kept as `KfUnparsed`, never dropped.

The callback's Token (`kf_msg_or_event`) is valid for 10 minutes and optional: without it sync_msg is
allowed but more strictly rate-limited (path/94670, parameter `token`: "10分钟内有效；可不填，如果不填接口有
严格的频率限制"). `usable_token` decides whether a pull may still send it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chalicelib.domain.conversations import MAX_TEXT

KF_TOKEN_VALIDITY = timedelta(minutes=10)
# Stop sending the token a minute early: the callback's CreateTime and our clock are different clocks, and
# the pull itself takes time. Without the token the pull still works (more strictly rate-limited).
KF_TOKEN_MARGIN = timedelta(minutes=1)


def usable_token(token: str | None, *, issued_at: datetime, now: datetime) -> str | None:
    """The callback's Token while it is surely still valid, else None (a queue retry after it expired
    must not send it: sync_msg accepts the pull without one and resumes from the saved cursor)."""
    if not token or now - issued_at >= KF_TOKEN_VALIDITY - KF_TOKEN_MARGIN:
        return None
    return token


class KfOrigin(IntEnum):
    CUSTOMER = 3
    SYSTEM = 4
    SERVICER = 5


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")  # WeCom adds fields; the record keeps them raw


class KfMessage(_Strict):
    """A message from the customer (origin 3) or from a servicer in the WeCom client (origin 5)."""

    msgid: str = Field(min_length=1)
    open_kfid: str = Field(min_length=1)
    external_userid: str = Field(min_length=1)
    send_time: int
    origin: int
    msgtype: str = Field(min_length=1)
    servicer_userid: str | None = None
    text: dict[str, Any] | None = None  # {"content", "menu_id"} for msgtype text

    @property
    def content(self) -> str:
        return str((self.text or {}).get("content", ""))[:MAX_TEXT]

    @property
    def from_customer(self) -> bool:
        return self.origin == KfOrigin.CUSTOMER


class _KfEvent(_Strict):
    timeline_kind: ClassVar[str]
    open_kfid: str = Field(min_length=1)

    def timeline_data(self) -> dict[str, Any]:
        """What the customer's timeline keeps of the event (credentials such as codes are left out)."""
        return self.model_dump(exclude={"external_userid", "welcome_code", "msg_code"}, exclude_none=True)


class EnterSession(_KfEvent):
    timeline_kind: ClassVar[str] = "wecom_kf.session_entered"
    event_type: Literal["enter_session"]
    external_userid: str = Field(min_length=1)
    scene: str | None = None  # the scene value of the 客服账号链接 the customer came through
    scene_param: str | None = None
    welcome_code: str | None = None  # kf/send_msg_on_event, once, within about 20 s
    wechat_channels: dict[str, Any] | None = None  # entered from a 视频号 page: nickname, scene

    def timeline_data(self) -> dict[str, Any]:
        return {**super().timeline_data(), "welcome_code_offered": bool(self.welcome_code)}


class MsgSendFail(_KfEvent):
    timeline_kind: ClassVar[str] = "wecom_kf.send_failed"
    event_type: Literal["msg_send_fail"]
    external_userid: str = Field(min_length=1)
    fail_msgid: str | None = None
    fail_type: int | None = None  # e.g. 4 session over 48 h, 5 session closed, 10 refused by the customer


class ServicerStatusChange(_KfEvent):
    """A servicer's reception status changed: about staff, not a customer."""

    timeline_kind: ClassVar[str] = "wecom_kf.servicer_status_changed"
    event_type: Literal["servicer_status_change"]
    servicer_userid: str | None = None
    status: int | None = None  # 1 receiving, 2 paused


class SessionStatusChange(_KfEvent):
    timeline_kind: ClassVar[str] = "wecom_kf.session_changed"
    event_type: Literal["session_status_change"]
    external_userid: str = Field(min_length=1)
    change_type: int  # 1 taken from the queue, 2 transferred, 3 ended, 4 re-opened
    old_servicer_userid: str | None = None
    new_servicer_userid: str | None = None
    msg_code: str | None = None  # for kf/send_msg_on_event (e.g. a closing message)


class MessageRecalled(_KfEvent):
    timeline_kind: ClassVar[str] = "wecom_kf.message_recalled"
    event_type: Literal["user_recall_msg", "servicer_recall_msg"]
    external_userid: str = Field(min_length=1)
    recall_msgid: str = Field(min_length=1)
    servicer_userid: str | None = None


class RejectSwitchChange(_KfEvent):
    timeline_kind: ClassVar[str] = "wecom_kf.reject_switch_changed"
    event_type: Literal["reject_customer_msg_switch_change"]
    external_userid: str = Field(min_length=1)
    servicer_userid: str | None = None
    reject_switch: int | None = None  # 1 the servicer refuses the customer's messages, 0 accepts again


KfEvent = Annotated[
    EnterSession
    | MsgSendFail
    | ServicerStatusChange
    | SessionStatusChange
    | MessageRecalled
    | RejectSwitchChange,
    Field(discriminator="event_type"),
]
CustomerKfEvent = EnterSession | MsgSendFail | SessionStatusChange | MessageRecalled | RejectSwitchChange


class KfEventRecord(_Strict):
    msgid: str = Field(min_length=1)
    send_time: int
    origin: int
    event: KfEvent

    @property
    def external_userid(self) -> str | None:
        """The customer the event is about, read from inside `event` (events have none at the top)."""
        return getattr(self.event, "external_userid", None)


class KfUnparsed(_Strict):
    """A record no model fits (a new event type, a missing field): kept whole, with the reason."""

    raw: dict[str, Any]
    reason: str

    @property
    def msgid(self) -> str:
        return str(self.raw.get("msgid") or "")


KfRecord = KfMessage | KfEventRecord | KfUnparsed
_EVENT_RECORD = TypeAdapter(KfEventRecord)
_MESSAGE = TypeAdapter(KfMessage)


def parse_record(raw: dict[str, Any]) -> KfRecord:
    """One `msg_list` entry → a typed message or event, or KfUnparsed saying why not."""
    adapter: TypeAdapter[Any] = _EVENT_RECORD if raw.get("msgtype") == "event" else _MESSAGE
    try:
        parsed: KfMessage | KfEventRecord = adapter.validate_python(raw)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return KfUnparsed(raw=raw, reason=errors[:500])
    return parsed
