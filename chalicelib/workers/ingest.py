"""The ingest queue consumer: verified webhook payloads → touches on customers (identity resolution).

Idempotent on each payload's own key (see `IdentityResolver.touch`: the profile remembers the key, the
marker follows at the end of the batch), partial batch failures reported, and a message that keeps failing
ends in the DLQ with its raw payload."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from chalice.app import Blueprint, SQSEvent

from chalicelib.bootstrap import container
from chalicelib.domain.access import Principal
from chalicelib.domain.behaviour import BehaviourEventIn, count
from chalicelib.domain.common import DomainError, ForbiddenError
from chalicelib.domain.conversations import MAX_TEXT, ArchivedMessage
from chalicelib.domain.customers import Customer, Gender, Identity, WeComFollow, is_placeholder_name
from chalicelib.domain.orders import MONEY_BACK, OrderEvent, OrderStatus
from chalicelib.domain.shop_notices import parse_notice
from chalicelib.domain.tags import WeComTagGroup
from chalicelib.domain.tickets import TicketSource
from chalicelib.domain.timeline import Actor, ActorType
from chalicelib.integrations.shops.doudian_api import DoudianPermanentError, DoudianUnavailable
from chalicelib.integrations.wecom.client import WeComApiError
from chalicelib.integrations.wecom.crypto import MalformedMessageError
from chalicelib.integrations.wecom.events import (
    ExternalChatEvent,
    ExternalContactEvent,
    ExternalTagEvent,
    KfMsgOrEvent,
    TextMessage,
    WeComEvent,
    parse_event,
)
from chalicelib.observability import logger
from chalicelib.resources import INGEST_QUEUE
from chalicelib.services.cache import config_scope
from chalicelib.services.ingest import IngestMessage
from chalicelib.services.orders import touch_key
from chalicelib.services.resolver import Touch
from chalicelib.workers.batch import process_batch

bp = Blueprint(__name__)
WECOM_ACTOR = Actor.model_construct(type=ActorType.INTEGRATION, id="wecom")  # no validator built at import

_CONTACT_KINDS = {
    "add_external_contact": "wecom.contact_added",
    "add_half_external_contact": "wecom.contact_added",
    "edit_external_contact": "wecom.contact_edited",
    "del_external_contact": "wecom.contact_removed_by_staff",
    "del_follow_user": "wecom.contact_removed_by_customer",
    "transfer_fail": "wecom.transfer_failed",
}


def handle(message: IngestMessage) -> None:
    if message.rejected is not None:  # the edge kept it (malformed, or for a shop not configured)
        _keep_raw(message, message.received_at, f"{message.source}:{message.rejected.value}")
        return
    if message.source == "wecom":
        _handle_wecom(message)
        return
    if message.source == "shop" and isinstance(message.payload, dict) and "order_id" in message.payload:
        event = OrderEvent.model_validate(message.payload)
        if event.platform == DOUDIAN and not event.buyer:
            _ingest_doudian(message, event)
        else:
            _ingest_order(message.tenant_id, event)
        return
    if message.source == "shop_notice":  # customer records, privacy requests, an uninstalled app
        container().shop_notices.apply(message, parse_notice(message.payload))
        return
    if message.source == "doudian_detail":
        _apply_doudian_buyer(message)
        return
    if message.source == "import":
        container().import_jobs.run(message.tenant_id, str(message.payload["job_id"]))
        return
    if message.source == "wecom_detail":
        _apply_details(message)
        return
    if message.source == "conversation":
        _handle_conversation(message)
        return
    if message.source == "behaviour":
        _handle_behaviour(message)
        return
    _keep_raw(message, message.received_at, message.source)


def _handle_behaviour(message: IngestMessage) -> None:
    """Each event has its own key: a retried message redoes only what failed. The events are applied as
    their sender: one its sender may not have (a customer outside their scope) is kept, not applied."""
    if message.sent_by is None:  # only the API sends these, naming its caller
        _keep_raw(message, message.received_at, "behaviour:no_sender")
        return
    refused: list[Any] = []
    for item in message.payload:
        touch = behaviour_touch(message.tenant_id, BehaviourEventIn.model_validate(item), message.sent_by)
        try:
            container().resolver.touch(touch)
        except ForbiddenError:
            refused.append(item)
    if refused:
        _keep_raw(message.model_copy(update={"payload": refused}), message.received_at, "behaviour:refused")


def _handle_conversation(message: IngestMessage) -> None:
    """Archived chat messages land on the customers' timelines; a customer's message may open a ticket.
    Applied as their sender, like behaviour events: what they may not change is kept, not applied."""
    if message.sent_by is None:
        _keep_raw(message, message.received_at, "conversation:no_sender")
        return
    refused: list[Any] = []
    for item in message.payload:
        archived = ArchivedMessage.model_validate(item)
        for touch in conversation_touches(message.tenant_id, archived, message.sent_by):
            try:
                resolved = container().resolver.touch(touch)
            except ForbiddenError:
                if not refused or refused[-1] is not item:
                    refused.append(item)
                continue
            if touch.data["direction"] == "in" and archived.text and resolved.customer_id:
                container().tickets.from_customer_message(
                    tenant_id=message.tenant_id,
                    customer_id=resolved.customer_id,
                    text=archived.text,
                    at=touch.at,
                    source=TicketSource.WECOM,
                    ref=f"chat:{archived.msgid}",
                )
    if refused:
        _keep_raw(
            message.model_copy(update={"payload": refused}), message.received_at, "conversation:refused"
        )


def _ingest_order(tenant_id: str, event: OrderEvent) -> None:
    """An order event; a refund request also opens the order's return ticket (once per request)."""
    order = container().orders.ingest(tenant_id, event)
    container().shop_notices.order_linked(tenant_id, event.platform, event.shop_id, order.customer_id)
    if event.status is OrderStatus.PAID or event.status in MONEY_BACK:
        # The split posts, or a refund takes back what came back so far, whatever else the order did (closed
        # after a partial refund); a late "paid" for a refunded order settles no more than the refunds leave.
        status = order.refund_status() or event.status
        container().settlement.order_changed(tenant_id, order.model_copy(update={"status": status}))
    requests = [h.at for h in order.history if h.status is OrderStatus.REFUND_REQUESTED]
    if event.status is OrderStatus.REFUND_REQUESTED:
        container().tickets.from_order(tenant_id=tenant_id, order=order, requested_at=event.occurred_at)
    elif requests and order.customer_id:  # linked late (抖店's buyer fetched after an outage)
        for at in requests:
            container().tickets.from_order(tenant_id=tenant_id, order=order, requested_at=at)


def conversation_touches(tenant_id: str, m: ArchivedMessage, sender: Principal | None = None) -> list[Touch]:
    text = (m.text or "")[:MAX_TEXT]
    return [
        Touch(
            tenant_id=tenant_id,
            identities=[Identity(type="wecom_external_userid", value=external)],
            kind="conversation.message",
            source="wecom_archive",
            at=datetime.fromtimestamp(m.msgtime / 1000, tz=UTC),
            actor=Actor(type=ActorType.INTEGRATION, id="wecom_archive"),
            data={
                "msgid": m.msgid,
                "direction": "in" if m.from_ == external else "out",
                "staff_user_id": m.staff(),
                "msgtype": m.msgtype,
                "text": text,
                "roomid": m.roomid,
            },
            idempotency_key=f"chat:{m.msgid}:{external}",
            principal=sender,
        )
        for external in m.customers()
    ]


def behaviour_touch(tenant_id: str, event: BehaviourEventIn, sender: Principal | None = None) -> Touch:
    return Touch(
        tenant_id=tenant_id,
        identities=[i.to_identity() for i in event.identities],
        kind=f"behaviour.{event.type.value}",
        source="tracking",
        at=event.occurred_at,
        actor=Actor(type=ActorType.INTEGRATION, id="tracking"),
        data=event.properties,
        idempotency_key=f"behaviour:{event.event_id}",
        update=lambda customer: count(customer, event),
        principal=sender,
    )


def _handle_wecom(message: IngestMessage) -> None:
    event = parse_event(str(message.payload))
    if isinstance(event, ExternalChatEvent):
        _sync_group_chat(message, event)
    elif isinstance(event, ExternalTagEvent):
        _sync_tags(message, event)
    elif isinstance(event, KfMsgOrEvent):
        _sync_kf_messages(message, event)
    elif isinstance(event, ExternalContactEvent):
        adder = None
        if str(event.change_type).startswith("add_"):  # who may own the customer: our user, not the UserID
            adder = container().tenants.staff_for_wecom(message.tenant_id, event.user_id)
        touch = wecom_contact_touch(message, event, owner_id=adder)
        if str(event.change_type) in DETAIL_CHANGES:
            # Details in the same touch when WeCom answers (one write, not two); else from the queue.
            try:
                contact = _fetch_contact(message.tenant_id, event.external_user_id)
            except _Unreachable:
                contact = None
                _fetch_details_later(message, event)
            if contact:
                touch = _with_details(touch, contact)
        container().resolver.touch(touch)
    elif isinstance(event, TextMessage):
        _keep_raw(message, event_time(event), f"wecom:{event.kind}")  # the message itself stays visible
        container().tickets.from_staff_message(
            tenant_id=message.tenant_id,
            staff_userid=event.from_user_name,
            text=event.content,
            at=event_time(event),
            ref=f"app:{event.msg_id}",
        )
    else:
        _keep_raw(message, event_time(event), f"wecom:{event.kind}")


def event_time(event: WeComEvent) -> datetime:
    return datetime.fromtimestamp(event.create_time, tz=UTC)


def wecom_contact_touch(
    message: IngestMessage, event: ExternalContactEvent, *, owner_id: str | None = None
) -> Touch:
    """`owner_id`: our user id of the member who added the contact (None when no user carries their WeCom
    UserID: the customer then stays unowned until an admin assigns one)."""
    at = event_time(event)
    change = str(event.change_type)

    def update(customer: Customer) -> None:
        follows = customer.wecom_follows
        current = next(
            (f for f in reversed(follows) if f.user_id == event.user_id and f.removed_at is None), None
        )
        if change.startswith("add_") and current is None:
            follows.append(WeComFollow(user_id=event.user_id, state=event.state, added_at=at))
        elif change in ("del_external_contact", "del_follow_user") and current is not None:
            current.removed_at = at
            current.removed_by = "staff" if change == "del_external_contact" else "customer"
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


# Answers that will not change on retry: not (or no longer) an external contact, invalid id, no permission.
DETAIL_CHANGES = ("add_external_contact", "add_half_external_contact", "edit_external_contact")
KF_MAX_PAGES = 20  # 1000 messages a page; more waits for the next callback
PERMANENT_WECOM_ERRORS = frozenset({84061, 40096, 60011, 48002})


def _fetch_details_later(message: IngestMessage, event: ExternalContactEvent) -> None:
    """The contact already exists from what the event carried; its details (name, unionid, gender) come
    from the WeCom API in a message of their own, retried by the queue while WeCom cannot be reached."""
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
def _details_later() -> Iterator[None]:
    later: list[dict[str, Any]] = []
    token = _DETAILS_LATER.set(later)
    try:
        yield
    finally:
        _DETAILS_LATER.reset(token)
    if later:
        container().ingest_publisher.publish(later)


class _Unreachable(Exception):
    """WeCom or 抖店 could not answer now (network, busy, 5xx): the details are fetched later, from the
    queue."""


def _fetch_contact(tenant_id: str, external_userid: str) -> dict[str, Any] | None:
    """The contact's details, or None when WeCom never will (not configured, no longer a contact)."""
    client = container().wecom_client(tenant_id)
    if client is None:
        return None
    try:
        return dict(client.external_contact(external_userid).get("external_contact", {}))
    except WeComApiError as e:
        if e.errcode in PERMANENT_WECOM_ERRORS:
            return None
        raise _Unreachable(str(e)) from e
    except httpx.HTTPError as e:
        raise _Unreachable(str(e)) from e


def _with_details(touch: Touch, contact: dict[str, Any]) -> Touch:
    """The touch, also carrying what WeCom told about the contact (unionid, name, gender)."""
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

    touch.update = update
    touch.data = {**touch.data, "has_unionid": bool(contact.get("unionid"))}
    return touch


def _apply_details(message: IngestMessage) -> None:
    """The retried detail fetch of a contact whose callback came while WeCom could not be reached."""
    external_userid = str(message.payload["external_userid"])
    contact = _fetch_contact(message.tenant_id, external_userid)  # _Unreachable: the queue retries, then DLQ
    if contact is None:
        _keep_raw(message, message.received_at, "wecom_detail:unavailable")  # visible, not retried
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
    container().resolver.touch(_with_details(touch, contact))


DOUDIAN = "doudian"


class _NoBuyer(Exception):
    """抖店 will not name the buyer (not configured, credentials refused, unknown order, no open id)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def _ingest_doudian(message: IngestMessage, event: OrderEvent) -> None:
    """抖店 pushes name no buyer: ask order.orderDetail, so the order is linked at once. When 抖店 cannot
    answer, the order is stored unlinked and a `doudian_detail` message links it later."""
    c = container()
    current = c.order_repo.get(message.tenant_id, event.platform, event.order_id)
    if current is not None and any(h.dedupe_key == event.dedupe_key for h in current.history):
        return  # a redelivery: applied before (and a pending doudian_detail, if any, links it)
    try:
        buyer = _doudian_buyer(message.tenant_id, event)
    except _Unreachable:
        _ingest_order(message.tenant_id, event)
        _fetch_buyer_later(message, event)
        return
    except _NoBuyer as e:
        _ingest_order(message.tenant_id, event)
        _keep_raw(message, message.received_at, f"doudian_detail:{e.kind}")  # visible, not retried
        return
    _ingest_order(message.tenant_id, event.model_copy(update={"buyer": buyer}))


def _doudian_buyer(tenant_id: str, event: OrderEvent) -> list[Identity]:
    client = container().doudian_client(tenant_id, event.shop_id)
    if client is None:
        raise _NoBuyer("unconfigured", "抖店 is not configured")
    try:
        buyer = client.buyer_identities(event.order_id)
    except DoudianUnavailable as e:
        raise _Unreachable(str(e)) from e
    except DoudianPermanentError as e:
        logger.warning("doudian order detail refused", extra={"code": e.code, "sub_code": e.sub_code})
        raise _NoBuyer("unavailable", str(e)) from e
    if not buyer:
        raise _NoBuyer("no_buyer", "order.orderDetail names no doudian_open_id")
    return buyer


def _fetch_buyer_later(message: IngestMessage, event: OrderEvent) -> None:
    """The same event again, on the queue: retried while 抖店 cannot be reached, then the DLQ."""
    detail = IngestMessage(
        source="doudian_detail",
        tenant_id=message.tenant_id,
        key=f"doudian-detail:{message.key}",
        received_at=message.received_at,
        payload=event.model_dump(mode="json"),
        platform=DOUDIAN,
    )
    container().ingest_publisher.publish([detail.model_dump(mode="json")])


def _apply_doudian_buyer(message: IngestMessage) -> None:
    """The retried buyer fetch of an order stored unlinked: the event again, with its buyer, links the order
    and puts it on the customer's timeline (keyed by the event, so once)."""
    event = OrderEvent.model_validate(message.payload)
    try:
        buyer = _doudian_buyer(message.tenant_id, event)  # _Unreachable: the queue retries, then DLQ
    except _NoBuyer as e:
        _keep_raw(message, message.received_at, f"doudian_detail:{e.kind}")
        return
    _ingest_order(message.tenant_id, event.model_copy(update={"buyer": buyer}))


def _sync_tags(message: IngestMessage, event: ExternalTagEvent) -> None:
    """WeCom's 企业客户标签 changed there: bring our catalogue in step (a shuffle only reorders)."""
    c = container()
    change = str(event.change_type)
    if change == "shuffle" or not event.id:
        return
    if change == "delete":
        c.wecom_tags.remove(message.tenant_id, wecom_id=event.id, is_group=event.tag_type == "tag_group")
        return
    client = c.wecom_client(message.tenant_id)
    if client is None:
        _keep_raw(message, event_time(event), "wecom:external_tag:unconfigured")
        return
    ids = {"group_ids": [event.id]} if event.tag_type == "tag_group" else {"tag_ids": [event.id]}
    groups = [WeComTagGroup.model_validate(g) for g in client.corp_tags(**ids)]
    if event.tag_type == "tag":  # WeCom answers with the tag's group holding only that tag: fetch it whole
        groups = [
            WeComTagGroup.model_validate(g) for g in client.corp_tags(group_ids=[g.group_id for g in groups])
        ]
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
            _keep_raw(message, at, "wecom:external_chat:unconfigured")
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


def _sync_kf_messages(message: IngestMessage, event: KfMsgOrEvent) -> None:
    """WeCom customer service (微信客服): pull the messages the callback announced and put each customer's
    on their timeline. Each message is its own touch (key kf:<msgid>), so a re-pull has one effect."""
    c = container()
    client = c.wecom_client(message.tenant_id)
    if client is None:
        _keep_raw(message, event_time(event), "wecom:kf:unconfigured")
        return
    kind = f"kf_cursor#{event.open_kf_id}"  # where the last pull stopped, so a pull starts there
    saved = c.integration_repo.get(message.tenant_id, kind)
    cursor: str | None = saved[0].get("cursor") if saved else None
    for _ in range(KF_MAX_PAGES):
        page = client.kf_sync_msg(token=event.token, open_kfid=event.open_kf_id, cursor=cursor)
        for msg in page.get("msg_list", []):
            if msg.get("external_userid"):
                touch = kf_touch(message.tenant_id, msg)
                resolved = c.resolver.touch(touch)
                if touch.data["origin"] == "customer" and touch.data["text"] and resolved.customer_id:
                    c.tickets.from_customer_message(
                        tenant_id=message.tenant_id,
                        customer_id=resolved.customer_id,
                        text=str(touch.data["text"]),
                        at=touch.at,
                        source=TicketSource.WECOM,
                        ref=f"kf:{msg.get('msgid')}",
                    )
        cursor = page.get("next_cursor") or cursor
        c.integration_repo.put(
            message.tenant_id, kind, {"cursor": cursor}, {}
        )  # after the touches: at-least-once
        if not page.get("has_more"):
            return


def kf_touch(tenant_id: str, msg: dict[str, Any]) -> Touch:
    origin = {3: "customer", 4: "system", 5: "servicer"}.get(int(msg.get("origin", 0)), "unknown")
    text = str((msg.get("text") or {}).get("content", ""))[:MAX_TEXT]
    return Touch(
        tenant_id=tenant_id,
        identities=[Identity(type="wecom_external_userid", value=str(msg["external_userid"]))],
        kind="wecom_kf.message",
        source="wecom_kf",
        at=datetime.fromtimestamp(int(msg.get("send_time", 0)), tz=UTC),
        actor=WECOM_ACTOR,
        data={
            "msgid": msg.get("msgid"),
            "open_kfid": msg.get("open_kfid"),
            "origin": origin,
            "msgtype": msg.get("msgtype"),
            "text": text,
            "servicer": msg.get("servicer_userid"),
        },
        idempotency_key=f"kf:{msg.get('msgid')}",
    )


def _keep_raw(message: IngestMessage, at: datetime, kind: str) -> None:
    """Nothing received is dropped: what no handler maps yet is kept raw and visible (GET /v1/inbox)."""
    container().inbox.put(
        message.tenant_id, key=message.key, received_at=at, record={"kind": kind, **message.record()}
    )
    logger.info("kept raw", extra={"kind": kind})


@dataclass
class BatchPlan:
    """What a batch's messages will read, by tenant: their touches (identities, key) and their orders."""

    touches: dict[str, list[tuple[list[Identity], str | None]]] = field(default_factory=dict)
    orders: dict[str, list[OrderEvent]] = field(default_factory=dict)


def plan_batch(records: list[dict[str, Any]]) -> BatchPlan:
    """Best effort: a message this cannot read is simply read on its own later (its handler reports it)."""
    plan = BatchPlan()
    for record in records:
        try:
            message = IngestMessage.model_validate_json(record.get("body", ""))
            touches, order = _reads_of(message)
        except (ValueError, TypeError, KeyError, DomainError, MalformedMessageError):
            continue
        plan.touches.setdefault(message.tenant_id, []).extend(touches)
        if order is not None:
            plan.orders.setdefault(message.tenant_id, []).append(order)
    return plan


def _reads_of(message: IngestMessage) -> tuple[list[tuple[list[Identity], str | None]], OrderEvent | None]:
    if message.rejected is not None:
        return [], None
    if message.source == "shop" and isinstance(message.payload, dict) and "order_id" in message.payload:
        order = OrderEvent.model_validate(message.payload)
        return ([(list(order.buyer), touch_key(order))] if order.buyer else []), order
    if message.source == "behaviour":
        touches = [
            behaviour_touch(message.tenant_id, BehaviourEventIn.model_validate(i)) for i in message.payload
        ]
        return [(list(t.identities), t.idempotency_key) for t in touches], None
    if message.source == "wecom":
        event = parse_event(str(message.payload))
        if isinstance(event, ExternalContactEvent):
            touch = wecom_contact_touch(message, event)
            return [(list(touch.identities), touch.idempotency_key)], None
    return [], None


@bp.on_sqs_message(queue=INGEST_QUEUE.name, batch_size=INGEST_QUEUE.batch_size)
def on_ingest_message(event: SQSEvent) -> dict[str, Any]:
    c = container()
    # Markers and domain events are written once per batch; identities and orders are read together; the
    # detail fetches put off go out before the markers (the innermost context exits first).
    with config_scope(), c.resolver.batch(), c.orders.batch(), _details_later():
        plan = plan_batch(list(event.to_dict().get("Records", [])))
        for tenant_id, touches in plan.touches.items():
            c.resolver.prefetch(tenant_id, touches)
        for tenant_id, orders in plan.orders.items():
            c.orders.prefetch(tenant_id, orders)
        return process_batch(
            event, IngestMessage, handle, lambda m: {"tenant_id": m.tenant_id, "event_key": m.key}
        )
