"""Decrypted WeCom callback XML -> typed pydantic events.

Element names follow WeCom's documentation (developer.work.weixin.qq.com): 客户联系 / 客户群 / 企业客户标签
变更事件 (path/92130), 客户同意进行聊天内容存档 (path/92005), 获客助手事件 (path/97299), 通讯录回调
成员 / 部门变更 (path/90970, path/90971), 微信客服 (path/94670), 接收消息 (path/90239); WxJava's
`WxCpXmlMessage` and `WxCpConsts` carry the same names. Dispatch is on MsgType + Event (and ChangeType for
change_contact, whose member and department events differ in shape); ChangeType is checked by each model's
Literal. A message that fits no model,
or fits one only partly (a new ChangeType, a missing or duplicated element), becomes an ``UnknownEvent``
that keeps every element: it is already authenticated, so it is stored for inspection, never dropped.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Annotated, Any, ClassVar, Literal
from xml.etree.ElementTree import Element

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chalicelib.integrations.wecom.crypto import MalformedMessageError, parse_untrusted_xml

ExternalContactChangeType = Literal[
    "add_external_contact",
    "edit_external_contact",
    "add_half_external_contact",
    "del_external_contact",
    "del_follow_user",
    "transfer_fail",
    "msg_audit_approved",  # the customer agreed to chat archiving (会话存档) with this staff member
]
ExternalTagChangeType = Literal["create", "update", "delete", "shuffle"]
ExternalChatChangeType = Literal["create", "update", "dismiss"]

# XML element -> field name, shared by every message.
_BASE_NAMES = {
    "ToUserName": "to_user_name",
    "FromUserName": "from_user_name",
    "CreateTime": "create_time",
    "MsgType": "msg_type",
    "Event": "event",
    "ChangeType": "change_type",
    "AgentID": "agent_id",
}


def event_key_of(plaintext_xml: str) -> str:
    """sha256 of the whole decrypted XML: the one definition of a WeCom event's idempotency key."""
    return hashlib.sha256(plaintext_xml.encode("utf-8")).hexdigest()


class WeComEventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    xml_names: ClassVar[dict[str, str]] = {}  # the subclass's own elements -> fields

    to_user_name: str  # CorpID (SuiteID for a third-party suite)
    from_user_name: str = ""  # "sys" for system events, the staff UserID for app messages; kf events omit it
    create_time: int
    msg_type: str
    event: str | None = None
    change_type: str | None = None
    agent_id: int | None = None
    raw_xml: str

    @property
    def event_key(self) -> str:
        """Idempotency key: sha256 of the whole plaintext.

        A retry re-encrypts the same plaintext (new nonce, timestamp and random bytes), so the key is stable
        across retries. CreateTime + FromUserName would not do: customers adding the same staff member in
        the same second differ only in ExternalUserID.
        """
        return event_key_of(self.raw_xml)


class ExternalContactEvent(WeComEventBase):
    """A customer added / edited / deleted by (or deleting) a staff member, or a failed transfer."""

    xml_names: ClassVar[dict[str, str]] = {
        "UserID": "user_id",
        "ExternalUserID": "external_user_id",
        "State": "state",
        "WelcomeCode": "welcome_code",
        "Source": "source",
        "FailReason": "fail_reason",
    }
    kind: Literal["external_contact"] = "external_contact"
    event: Literal["change_external_contact"]
    change_type: ExternalContactChangeType
    user_id: str  # staff UserID
    external_user_id: str
    state: str | None = None  # the channel code set on the 「联系我」 QR code
    welcome_code: str | None = None  # one-off code for the welcome message, valid about 20 s
    source: str | None = None  # del_external_contact: DELETE_BY_TRANSFER when removed by a transfer
    fail_reason: str | None = None  # transfer_fail: customer_refused / customer_limit_exceed


class ExternalTagEvent(WeComEventBase):
    """A customer tag or tag group created / updated / deleted, or tags reordered (shuffle)."""

    xml_names: ClassVar[dict[str, str]] = {"Id": "id", "TagType": "tag_type", "StrategyId": "strategy_id"}
    kind: Literal["external_tag"] = "external_tag"
    event: Literal["change_external_tag"]
    change_type: ExternalTagChangeType
    id: str | None = None  # shuffle without Id means every tag group was reordered
    tag_type: Literal["tag", "tag_group"] | None = None  # absent on shuffle
    strategy_id: int | None = None  # set for rule-group (规则组) tags


class ExternalChatEvent(WeComEventBase):
    """A customer group chat created / updated / dismissed."""

    xml_names: ClassVar[dict[str, str]] = {
        "ChatId": "chat_id",
        "UpdateDetail": "update_detail",
        "JoinScene": "join_scene",
        "QuitScene": "quit_scene",
        "MemChangeCnt": "mem_change_cnt",
        "MemChangeList": "mem_change_list",
        "LastMemVer": "last_mem_ver",
        "CurMemVer": "cur_mem_ver",
    }
    kind: Literal["external_chat"] = "external_chat"
    event: Literal["change_external_chat"]
    change_type: ExternalChatChangeType
    chat_id: str
    update_detail: str | None = None  # add_member / del_member / change_owner / change_name / change_notice
    join_scene: int | None = None
    quit_scene: int | None = None
    mem_change_cnt: int | None = None
    mem_change_list: list[str] | None = None  # <MemChangeList><Item>id</Item>...</MemChangeList>
    last_mem_ver: str | None = None
    cur_mem_ver: str | None = None


class MemberChangeEvent(WeComEventBase):
    """通讯录回调, a member created / updated / deleted (path/90970). Elements other than UserID come only
    when they changed (update) and only those the app may see; Department is a comma-separated id list."""

    xml_names: ClassVar[dict[str, str]] = {
        "UserID": "user_id",
        "NewUserID": "new_user_id",
        "Name": "name",
        "Department": "department",
        "MainDepartment": "main_department",
        "Position": "position",
        "Status": "status",
        "Alias": "alias",
    }
    kind: Literal["member_change"] = "member_change"
    event: Literal["change_contact"]
    change_type: Literal["create_user", "update_user", "delete_user"]
    user_id: str
    new_user_id: str | None = None  # update_user: the UserID was changed (allowed once when generated)
    name: str | None = None
    department: list[int] | None = None
    main_department: int | None = None
    position: str | None = None
    status: int | None = None  # 1 activated, 2 disabled, 4 not activated, 5 left the corp
    alias: str | None = None


class DepartmentChangeEvent(WeComEventBase):
    """通讯录回调, a department created / updated / deleted (path/90971)."""

    xml_names: ClassVar[dict[str, str]] = {
        "Id": "id",
        "Name": "name",
        "ParentId": "parent_id",
        "Order": "order",
    }
    kind: Literal["department_change"] = "department_change"
    event: Literal["change_contact"]
    change_type: Literal["create_party", "update_party", "delete_party"]
    id: int
    name: str | None = None
    parent_id: int | None = None
    order: int | None = None


class CustomerAcquisitionEvent(WeComEventBase):
    """获客助手 (path/97299). Which elements come depends on ChangeType: LinkId for link and conversion
    events, UserID + ExternalUserID for customer_start_chat and del_follow_user, State (the link's
    customer_channel) for friend_request, ExpireTime + ExpireQuotaNum for quota_expire_soon. ChatKey (a
    30-minute credential on message_from_customer) is deliberately not modelled: it stays in raw_xml only."""

    xml_names: ClassVar[dict[str, str]] = {
        "LinkId": "link_id",
        "UserID": "user_id",
        "ExternalUserID": "external_user_id",
        "State": "state",
        "ExpireTime": "expire_time",
        "ExpireQuotaNum": "expire_quota_num",
        "ChatSeq": "chat_seq",
    }
    kind: Literal["customer_acquisition"] = "customer_acquisition"
    event: Literal["customer_acquisition"]
    change_type: Literal[
        "balance_low",
        "balance_exhausted",
        "balance_increased",
        "quota_expire_soon",
        "link_unavailable",
        "delete_link",
        "open_profile",
        "friend_request",
        "customer_start_chat",
        "message_from_customer",
        "del_follow_user",
    ]
    link_id: str | None = None
    user_id: str | None = None
    external_user_id: str | None = None
    state: str | None = None
    expire_time: int | None = None
    expire_quota_num: int | None = None
    chat_seq: int | None = None


class TextMessage(WeComEventBase):
    """A staff member writing to our app; from_user_name is their UserID."""

    xml_names: ClassVar[dict[str, str]] = {"Content": "content", "MsgId": "msg_id"}
    kind: Literal["text"] = "text"
    msg_type: Literal["text"]
    content: str
    msg_id: str  # a 64-bit number: kept as text so JSON consumers never round it
    agent_id: int


class KfMsgOrEvent(WeComEventBase):
    """微信客服 has news: the content is fetched with kf/sync_msg using this token."""

    xml_names: ClassVar[dict[str, str]] = {"Token": "token", "OpenKfId": "open_kf_id"}
    kind: Literal["kf_msg_or_event"] = "kf_msg_or_event"
    event: Literal["kf_msg_or_event"]
    token: str
    open_kf_id: str


class UnknownEvent(WeComEventBase):
    """Anything else; ``fields`` holds every element (nested ones as dicts, repeated ones as lists)."""

    kind: Literal["unknown"] = "unknown"
    fields: dict[str, Any]
    parse_error: str | None = None  # why a matching typed model refused it, if one matched


WeComEvent = Annotated[
    ExternalContactEvent
    | ExternalTagEvent
    | ExternalChatEvent
    | MemberChangeEvent
    | DepartmentChangeEvent
    | CustomerAcquisitionEvent
    | TextMessage
    | KfMsgOrEvent
    | UnknownEvent,
    Field(discriminator="kind"),
]
# For workers that read a serialized event back (e.g. from a queue message).


@functools.cache
def wecom_event_adapter() -> TypeAdapter[WeComEvent]:
    """Serialise / re-read any WeCom event (built on first use, not at every cold start)."""
    return TypeAdapter(WeComEvent)


_TypedModel = (
    type[ExternalContactEvent]
    | type[ExternalTagEvent]
    | type[ExternalChatEvent]
    | type[MemberChangeEvent]
    | type[DepartmentChangeEvent]
    | type[CustomerAcquisitionEvent]
    | type[TextMessage]
    | type[KfMsgOrEvent]
)
_EVENT_MODELS: dict[str, _TypedModel] = {
    "change_external_contact": ExternalContactEvent,
    "change_external_tag": ExternalTagEvent,
    "change_external_chat": ExternalChatEvent,
    "kf_msg_or_event": KfMsgOrEvent,
    "customer_acquisition": CustomerAcquisitionEvent,
}
_CONTACT_MODELS: dict[str, _TypedModel] = {  # Event change_contact, by ChangeType (update_tag: unknown)
    **dict.fromkeys(("create_user", "update_user", "delete_user"), MemberChangeEvent),
    **dict.fromkeys(("create_party", "update_party", "delete_party"), DepartmentChangeEvent),
}
_MESSAGE_MODELS: dict[str, _TypedModel] = {"text": TextMessage}


def parse_event(plaintext_xml: str) -> WeComEvent:
    """Parse a decrypted callback; MalformedMessageError if it is not XML."""
    fields = _element_fields(parse_untrusted_xml(plaintext_xml))
    msg_type, event, change = fields.get("MsgType"), fields.get("Event"), fields.get("ChangeType")
    model = _EVENT_MODELS.get(event) if msg_type == "event" and isinstance(event, str) else None
    if msg_type == "event" and event == "change_contact" and isinstance(change, str):
        model = _CONTACT_MODELS.get(change)
    if model is None and isinstance(msg_type, str):
        model = _MESSAGE_MODELS.get(msg_type)
    if model is None:
        return _unknown(fields, plaintext_xml, None)
    try:
        return model.model_validate(_model_input(model, fields, plaintext_xml))
    except ValidationError as exc:
        return _unknown(fields, plaintext_xml, _short_error(exc))


def _element_fields(root: Element) -> dict[str, Any]:
    """Children of the root: leaf -> text ("" when empty), nested -> dict, repeated tag -> list."""
    fields: dict[str, Any] = {}
    for child in root:
        value: Any = _element_fields(child) if len(child) else (child.text or "")
        if child.tag in fields:
            previous = fields[child.tag]
            fields[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[child.tag] = value
    return fields


def _model_input(model: type[WeComEventBase], fields: dict[str, Any], raw_xml: str) -> dict[str, Any]:
    data: dict[str, Any] = {"raw_xml": raw_xml}
    for xml_name, name in {**_BASE_NAMES, **model.xml_names}.items():
        if xml_name not in fields:
            continue
        value = fields[xml_name]
        if name == "mem_change_list":
            value = _item_list(value)
        elif name == "department" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]  # "1,2,3"; ints checked by the model
        # An empty element of an optional field means "not set" (e.g. <State></State>).
        if value == "" and not model.model_fields[name].is_required():
            continue
        data[name] = value
    return data


def _item_list(value: Any) -> Any:
    """<MemChangeList><Item>a</Item><Item>b</Item></MemChangeList> -> ["a", "b"]; other shapes pass
    through unchanged so that validation fails and the message is kept as UnknownEvent."""
    if value == "":
        return []
    if isinstance(value, dict) and set(value) == {"Item"}:
        items = value["Item"]
        return items if isinstance(items, list) else [items]
    return value


def _unknown(fields: dict[str, Any], raw_xml: str, parse_error: str | None) -> UnknownEvent:
    def text(name: str) -> str:
        value = fields.get(name)
        return value if isinstance(value, str) else ""

    def optional_text(name: str) -> str | None:
        return text(name) or None

    def integer(name: str) -> int | None:
        value = text(name).strip()
        return int(value) if value.isascii() and value.isdigit() else None

    return UnknownEvent(
        to_user_name=text("ToUserName"),
        from_user_name=text("FromUserName"),
        create_time=integer("CreateTime") or 0,  # 0 only if WeCom sent none: raw_xml still has everything
        msg_type=text("MsgType"),
        event=optional_text("Event"),
        change_type=optional_text("ChangeType"),
        agent_id=integer("AgentID"),
        raw_xml=raw_xml,
        fields=fields,
        parse_error=parse_error,
    )


def _short_error(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())[:500]


__all__ = [
    "CustomerAcquisitionEvent",
    "DepartmentChangeEvent",
    "ExternalChatEvent",
    "ExternalContactEvent",
    "ExternalTagEvent",
    "KfMsgOrEvent",
    "MalformedMessageError",
    "MemberChangeEvent",
    "TextMessage",
    "UnknownEvent",
    "WeComEvent",
    "WeComEventBase",
    "parse_event",
    "wecom_event_adapter",
]
