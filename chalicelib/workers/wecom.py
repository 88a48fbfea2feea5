"""WeCom callbacks on the ingest queue: parse the decrypted XML (integrations/wecom/events.py) and hand each
event to its handler. Which event does what is listed in docs/integrations.md.

Failure modes, as the WeCom documents define them (integrations/wecom/client.py):
- WeCom cannot be reached (network, 5xx, 系统繁忙, an open breaker, a rate limit): the message fails and the
  queue brings it back later; a contact's details are fetched later by a message of their own.
- The tenant's CorpID or secret is refused (40001 / 40013): nothing a retry can fix, so the callback is kept
  in the inbox as `wecom:<kind>:misconfigured` and logged as an error, once, instead of being retried.
- Answers that will not change on retry (not a contact any more, invalid id, no permission): kept raw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import httpx

from chalicelib.bootstrap import container
from chalicelib.domain.customers import (
    Customer,
    Gender,
    Identity,
    WeComFollow,
    WeComFollowTag,
    is_placeholder_name,
)
from chalicelib.domain.tags import WeComTagGroup
from chalicelib.domain.timeline import Actor, ActorType
from chalicelib.domain.wecom_org import DepartmentChange, MemberChange, member_key
from chalicelib.integrations.wecom.client import WeComApiError, WeComConfigError
from chalicelib.integrations.wecom.events import (
    CustomerAcquisitionEvent,
    DepartmentChangeEvent,
    ExternalChatEvent,
    ExternalContactEvent,
    ExternalTagEvent,
    KfMsgOrEvent,
    MemberChangeEvent,
    TextMessage,
    WeComEvent,
    parse_event,
)
from chalicelib.observability import logger
from chalicelib.services.ingest import IngestMessage
from chalicelib.services.resolver import Touch
from chalicelib.services.wecom_kf import KfNotConfiguredError
from chalicelib.workers.inbox import keep_raw

WECOM_ACTOR = Actor.model_construct(type=ActorType.INTEGRATION, id="wecom")  # no validator built at import

_CONTACT_KINDS = {
    "add_external_contact": "wecom.contact_added",
    "add_half_external_contact": "wecom.contact_added",
    "edit_external_contact": "wecom.contact_edited",
    "del_external_contact": "wecom.contact_removed_by_staff",
    "del_follow_user": "wecom.contact_removed_by_customer",
    "transfer_fail": "wecom.transfer_failed",
    "msg_audit_approved": "wecom.chat_archive_approved",
}
# Changes after which externalcontact/get tells something new: details, and each member's remark and tags.
DETAIL_CHANGES = ("add_external_contact", "add_half_external_contact", "edit_external_contact")
# Answers that will not change on retry: not (or no longer) an external contact, invalid id, no permission.
PERMANENT_WECOM_ERRORS = frozenset({84061, 40096, 60011, 48002})
_ORG_ACTIONS = {"create_user": "create", "update_user": "update", "delete_user": "delete"}
_DEPT_ACTIONS = {"create_party": "create", "update_party": "update", "delete_party": "delete"}


def handle_wecom(message: IngestMessage) -> None:
    event = parse_event(str(message.payload))
    try:
        _dispatch(message, event)
    except WeComConfigError as e:  # a retry cannot fix the tenant's settings: keep it visible instead
        logger.error(
            "WeCom refused the tenant's credentials", extra={"errcode": e.errcode, "kind": event.kind}
        )
        keep_raw(message, event_time(event), f"wecom:{event.kind}:misconfigured")


def _dispatch(message: IngestMessage, event: WeComEvent) -> None:
    if isinstance(event, ExternalChatEvent):
        _sync_group_chat(message, event)
    elif isinstance(event, ExternalTagEvent):
        _sync_tags(message, event)
    elif isinstance(event, KfMsgOrEvent):
        _pull_kf(message, event)
    elif isinstance(event, ExternalContactEvent):
        _on_contact(message, event)
    elif isinstance(event, MemberChangeEvent):
        _on_member(message, event)
    elif isinstance(event, DepartmentChangeEvent):
        _on_department(message, event)
    elif isinstance(event, CustomerAcquisitionEvent):
        _on_acquisition(message, event)
    elif isinstance(event, TextMessage):
        keep_raw(message, event_time(event), f"wecom:{event.kind}")  # the message itself stays visible
        container().tickets.from_staff_message(
            tenant_id=message.tenant_id,
            staff_userid=event.from_user_name,
            text=event.content,
            at=event_time(event),
            ref=f"app:{event.msg_id}",
        )
    else:
        keep_raw(message, event_time(event), f"wecom:{event.kind}")


def event_time(event: WeComEvent) -> datetime:
    return datetime.fromtimestamp(event.create_time, tz=UTC)


# -- customers (客户联系) ------------------------------------------------------------------------------------
def _on_contact(message: IngestMessage, event: ExternalContactEvent) -> None:
    change = str(event.change_type)
    adder = None
    if change.startswith("add_"):  # who may own the customer: our user, not the UserID
        adder = container().tenants.staff_for_wecom(message.tenant_id, event.user_id)
    touch = wecom_contact_touch(message, event, owner_id=adder)
    if change in DETAIL_CHANGES:
        # Details in the same touch when WeCom answers (one write, not two); else from the queue.
        try:
            answer = _fetch_contact(message.tenant_id, event.external_user_id)
        except _Unreachable:
            answer = None
            _fetch_details_later(message, event)
        except WeComConfigError as e:  # the contact still counts; what WeCom would add is missing
            answer = None
            logger.error("WeCom refused the tenant's credentials", extra={"errcode": e.errcode})
            keep_raw(message, event_time(event), "wecom_detail:misconfigured")
        if answer:
            touch = _with_details(touch, answer)
    container().resolver.touch(touch)


def wecom_contact_touch(
    message: IngestMessage, event: ExternalContactEvent, *, owner_id: str | None = None
) -> Touch:
    """`owner_id`: our user id of the member who added the contact (None when no user carries their WeCom
    UserID: the customer then stays unowned until an admin assigns one)."""
    at = event_time(event)
    change = str(event.change_type)

    def update(customer: Customer) -> None:
        follows = customer.wecom_follows
        current = _active_follow(customer, event.user_id)
        if change.startswith("add_") and current is None:
            follows.append(WeComFollow(user_id=event.user_id, state=event.state, added_at=at))
        elif change in ("del_external_contact", "del_follow_user") and current is not None:
            current.removed_at = at
            current.removed_by = "staff" if change == "del_external_contact" else "customer"
        elif change == "msg_audit_approved":  # path/92005: consent to archiving, given to this member
            if current is None:
                current = WeComFollow(user_id=event.user_id)
                follows.append(current)
            if current.archive_approved_at is None or at < current.archive_approved_at:
                current.archive_approved_at = at
        if customer.owner_id is None and owner_id is not None:
            customer.owner_id = owner_id  # the first staff member to add a customer owns them

    data: dict[str, Any] = {"staff_user_id": event.user_id, "change_type": change}
    if owner_id is not None:
        data["staff_id"] = owner_id  # ours; staff_user_id stays WeCom's
    if event.state:
        data["state"] = event.state  # the channel code of the 「联系我」 QR code: store or campaign
    if event.fail_reason:
        data["fail_reason"] = event.fail_reason
    return Touch(
        tenant_id=message.tenant_id,
        identities=[Identity(type="wecom_external_userid", value=event.external_user_id)],
        kind=_CONTACT_KINDS.get(change, f"wecom.{change}"),
        source="wecom",
        at=at,
        actor=WECOM_ACTOR,
        data=data,
        idempotency_key=message.key,
        update=update,
    )


def _active_follow(customer: Customer, wecom_userid: str) -> WeComFollow | None:
    """The member's current follow (UserIDs compared as WeCom does: ignoring case)."""
    key = member_key(wecom_userid)
    return next(
        (
            f
            for f in reversed(customer.wecom_follows)
            if member_key(f.user_id) == key and f.removed_at is None
        ),
        None,
    )


def _fetch_details_later(message: IngestMessage, event: ExternalContactEvent) -> None:
    """The contact already exists from what the event carried; its details (name, unionid, gender, the
    members' remarks and tags) come from the WeCom API in a message of their own, retried by the queue while
    WeCom cannot be reached."""
    detail = IngestMessage(
        source="wecom_detail",
        tenant_id=message.tenant_id,
        key=f"wecom-detail:{message.key}",
        received_at=message.received_at,
        payload={"external_userid": event.external_user_id, "user_id": event.user_id},
    )
    later = _DETAILS_LATER.get()
    if later is None:
        container().ingest_publisher.publish([detail.model_dump(mode="json")])
    else:
        later.append(detail.model_dump(mode="json"))


# The detail fetches a batch puts off, sent together at its end (one SendMessageBatch per 10, not one each:
# during a WeCom outage every contact event has one), before the batch's idempotency markers. If sending
# fails, the whole batch is retried, and a retried callback puts its fetch off again: the touch may be
# skipped as done, the fetch never is.
_DETAILS_LATER: ContextVar[list[dict[str, Any]] | None] = ContextVar("details_later", default=None)


@contextmanager
def details_later() -> Iterator[None]:
    later: list[dict[str, Any]] = []
    token = _DETAILS_LATER.set(later)
    try:
        yield
    finally:
        _DETAILS_LATER.reset(token)
    if later:
        container().ingest_publisher.publish(later)


class _Unreachable(Exception):
    """WeCom could not answer now (network, busy, 5xx, rate limit): the details are fetched later."""


def _fetch_contact(tenant_id: str, external_userid: str) -> dict[str, Any] | None:
    """`externalcontact/get`'s answer (`external_contact`, `follow_user`), or None when WeCom never will
    (not configured, no longer a contact). WeComConfigError passes through: the callback is kept."""
    client = container().wecom_client(tenant_id)
    if client is None:
        return None
    try:
        return dict(client.external_contact(external_userid))
    except WeComConfigError:
        raise
    except WeComApiError as e:
        if e.errcode in PERMANENT_WECOM_ERRORS:
            return None
        raise _Unreachable(str(e)) from e
    except httpx.HTTPError as e:
        raise _Unreachable(str(e)) from e


def _with_details(touch: Touch, answer: dict[str, Any]) -> Touch:
    """The touch, also carrying what WeCom told about the contact (unionid, name, gender) and what each
    member following them keeps (remark, description, tags: `follow_user`, path/92114)."""
    contact = dict(answer.get("external_contact") or {})
    follow_users = [f for f in answer.get("follow_user") or [] if isinstance(f, dict) and f.get("userid")]
    if contact.get("unionid"):
        touch.identities = [*touch.identities, Identity(type="unionid", value=str(contact["unionid"]))]
    name = str(contact.get("name") or "").strip()
    base = touch.update

    def update(customer: Customer) -> None:
        if base is not None:
            base(customer)
        if name and is_placeholder_name(customer.name):
            customer.name = name[:64]
        if customer.gender is Gender.UNKNOWN and contact.get("gender") in (1, 2):
            customer.gender = Gender.MALE if contact["gender"] == 1 else Gender.FEMALE
        for key in ("avatar", "corp_name", "type"):
            if contact.get(key):
                customer.attributes[f"wecom_{key}"] = contact[key]
        for follow_user in follow_users:
            _sync_follow(customer, follow_user)

    touch.update = update
    touch.data = {
        **touch.data,
        "has_unionid": bool(contact.get("unionid")),
        "follow_users": len(follow_users),
    }
    return touch


def _sync_follow(customer: Customer, follow_user: dict[str, Any]) -> None:
    """Make the member's follow match `follow_user`: remark, description and tags replaced as WeCom has
    them now (a removed tag goes); a member WeCom lists that we never saw added is recorded."""
    userid = str(follow_user["userid"])
    follow = _active_follow(customer, userid)
    if follow is None:
        created = str(follow_user.get("createtime") or "")
        follow = WeComFollow(
            user_id=userid,
            state=str(follow_user.get("state") or "") or None,
            added_at=datetime.fromtimestamp(int(created), tz=UTC) if created.isdigit() else None,
        )
        customer.wecom_follows.append(follow)
    follow.remark = str(follow_user.get("remark") or "")[:64] or None
    follow.description = str(follow_user.get("description") or "")[:256] or None
    follow.tags = [
        WeComFollowTag(
            name=str(t.get("tag_name") or ""),
            group=str(t.get("group_name") or "") or None,
            tag_id=str(t.get("tag_id") or "") or None,
            type=int(t["type"]) if str(t.get("type") or "").isdigit() else None,
        )
        for t in follow_user.get("tags") or []
        if isinstance(t, dict) and t.get("tag_name")
    ]


def apply_details(message: IngestMessage) -> None:
    """The retried detail fetch of a contact whose callback came while WeCom could not be reached."""
    external_userid = str(message.payload["external_userid"])
    try:
        answer = _fetch_contact(message.tenant_id, external_userid)  # _Unreachable: retried, then the DLQ
    except WeComConfigError:
        keep_raw(message, message.received_at, "wecom_detail:misconfigured")
        return
    if answer is None:
        keep_raw(message, message.received_at, "wecom_detail:unavailable")  # visible, not retried
        return
    touch = Touch(
        tenant_id=message.tenant_id,
        identities=[Identity(type="wecom_external_userid", value=external_userid)],
        kind="wecom.contact_details",
        source="wecom",
        at=message.received_at,
        actor=WECOM_ACTOR,
        idempotency_key=message.key,
    )
    container().resolver.touch(_with_details(touch, answer))


# -- 获客助手 (path/97299) ---------------------------------------------------------------------------------
def _on_acquisition(message: IngestMessage, event: CustomerAcquisitionEvent) -> None:
    """A customer's step through an acquisition link goes on their timeline, and the first link that brought
    them is kept (`attributes.wecom_acquisition_link`). Events about the link or the quota name no customer:
    they are kept in the inbox for an admin (an exhausted quota stops the links)."""
    change = str(event.change_type)
    if not event.external_user_id:
        if change in ("balance_exhausted", "link_unavailable", "quota_expire_soon", "balance_low"):
            logger.warning("WeCom acquisition link or quota needs attention", extra={"change": change})
        keep_raw(message, event_time(event), f"wecom:customer_acquisition:{change}")
        return
    link_id = event.link_id

    def update(customer: Customer) -> None:
        if link_id and "wecom_acquisition_link" not in customer.attributes:
            customer.attributes["wecom_acquisition_link"] = link_id

    data = {"link_id": link_id, "staff_user_id": event.user_id, "state": event.state, "change_type": change}
    container().resolver.touch(
        Touch(
            tenant_id=message.tenant_id,
            identities=[Identity(type="wecom_external_userid", value=event.external_user_id)],
            kind=f"wecom.acquisition.{change}",
            source="wecom",
            at=event_time(event),
            actor=WECOM_ACTOR,
            data={k: v for k, v in data.items() if v is not None},
            idempotency_key=message.key,
            update=update,
        )
    )


# -- the org (通讯录) -------------------------------------------------------------------------------------
def _on_member(message: IngestMessage, event: MemberChangeEvent) -> None:
    change = MemberChange.model_validate(
        {
            "action": _ORG_ACTIONS[str(event.change_type)],
            "userid": event.user_id,
            "new_userid": event.new_user_id,
            "name": event.name,
            "departments": event.department,
            "main_department": event.main_department,
            "position": event.position,
            "status": event.status,
            "at": event_time(event),
        }
    )
    outcome = container().wecom_org.apply_member(message.tenant_id, change)
    logger.info("wecom member change", extra={"outcome": type(outcome).__name__})


def _on_department(message: IngestMessage, event: DepartmentChangeEvent) -> None:
    change = DepartmentChange.model_validate(
        {
            "action": _DEPT_ACTIONS[str(event.change_type)],
            "id": event.id,
            "name": event.name,
            "parent_id": event.parent_id,
            "order": event.order,
            "at": event_time(event),
        }
    )
    container().wecom_org.apply_department(message.tenant_id, change)


# -- tags, group chats, 微信客服 ----------------------------------------------------------------------------
def _sync_tags(message: IngestMessage, event: ExternalTagEvent) -> None:
    """WeCom's 企业客户标签 changed there: bring our catalogue in step (a shuffle only reorders). Tags of a
    rule group (规则组, `StrategyId` set) are read with get_strategy_tag_list: get_corp_tag_list has none."""
    c = container()
    change = str(event.change_type)
    if change == "shuffle" or not event.id:
        return
    if change == "delete":
        c.wecom_tags.remove(message.tenant_id, wecom_id=event.id, is_group=event.tag_type == "tag_group")
        return
    client = c.wecom_client(message.tenant_id)
    if client is None:
        keep_raw(message, event_time(event), "wecom:external_tag:unconfigured")
        return
    strategy_id = event.strategy_id
    fetch: Callable[..., list[dict[str, Any]]] = (
        client.corp_tags
        if strategy_id is None
        else lambda **ids: client.strategy_tags(strategy_id=strategy_id, **ids)
    )
    ids = {"group_ids": [event.id]} if event.tag_type == "tag_group" else {"tag_ids": [event.id]}
    groups = [WeComTagGroup.model_validate(g) for g in fetch(**ids)]
    if event.tag_type == "tag" and groups:  # WeCom answers with the tag's group holding only that tag
        groups = [WeComTagGroup.model_validate(g) for g in fetch(group_ids=[g.group_id for g in groups])]
    if not groups:  # gone again meanwhile: its delete event follows; never ask for the whole catalogue
        return
    c.wecom_tags.upsert(message.tenant_id, groups)


def _sync_group_chat(message: IngestMessage, event: ExternalChatEvent) -> None:
    """Keep the customer group chat as WeCom describes it now (a dismissed chat is kept, marked)."""
    c = container()
    at = event_time(event)
    chat: dict[str, Any] = c.group_chats.get(message.tenant_id, event.chat_id) or {"chat_id": event.chat_id}
    if chat.get("event_at", "") > at.isoformat():
        return  # an older event arriving late
    if str(event.change_type) == "dismiss":
        chat.update(dismissed=True, event_at=at.isoformat())
    else:
        client = c.wecom_client(message.tenant_id)
        if client is None:
            keep_raw(message, at, "wecom:external_chat:unconfigured")
            return
        details = client.group_chat(event.chat_id)  # a failure is retried by the queue, then the DLQ
        chat.update(
            name=details.get("name"),
            owner=details.get("owner"),
            notice=details.get("notice"),
            members=[
                {"userid": m.get("userid"), "type": m.get("type"), "join_time": m.get("join_time")}
                for m in details.get("member_list", [])
            ],
            dismissed=False,
            event_at=at.isoformat(),
        )
    c.group_chats.put(message.tenant_id, event.chat_id, chat)


def _pull_kf(message: IngestMessage, event: KfMsgOrEvent) -> None:
    """微信客服 (services/wecom_kf.py). A failed pull is retried by the queue; it resumes from the saved
    cursor, and without the callback's Token once that expired."""
    try:
        pulled = container().wecom_kf.pull(
            tenant_id=message.tenant_id,
            open_kfid=event.open_kf_id,
            token=event.token,
            announced_at=event_time(event),
        )
    except KfNotConfiguredError:
        keep_raw(message, event_time(event), "wecom:kf:unconfigured")
        return
    logger.info("wecom kf pulled", extra=dict(vars(pulled)))
