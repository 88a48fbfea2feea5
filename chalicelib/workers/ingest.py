"""The ingest queue consumer: verified webhook payloads → touches on customers (identity resolution).

Idempotent on each payload's own key (see `IdentityResolver.touch`: the profile remembers the key, the
marker follows at the end of the batch), partial batch failures reported, and a message that keeps failing
ends in the DLQ with its raw payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, SQSEvent

from chalicelib.bootstrap import container
from chalicelib.domain.access import Principal
from chalicelib.domain.behaviour import BehaviourEventIn, count
from chalicelib.domain.common import DomainError, ForbiddenError
from chalicelib.domain.conversations import MAX_TEXT, ArchivedMessage
from chalicelib.domain.customers import Identity
from chalicelib.domain.orders import MONEY_BACK, OrderEvent, OrderStatus
from chalicelib.domain.shop_notices import parse_notice
from chalicelib.domain.tickets import TicketSource
from chalicelib.domain.timeline import Actor, ActorType
from chalicelib.integrations.shops.doudian_api import DoudianPermanentError, DoudianUnavailable
from chalicelib.integrations.wecom.crypto import MalformedMessageError
from chalicelib.integrations.wecom.events import ExternalContactEvent, parse_event
from chalicelib.observability import logger
from chalicelib.resources import INGEST_QUEUE
from chalicelib.services.cache import config_scope
from chalicelib.services.ingest import IngestMessage
from chalicelib.services.orders import touch_key
from chalicelib.services.resolver import Touch
from chalicelib.workers.batch import process_batch
from chalicelib.workers.inbox import keep_raw as _keep_raw
from chalicelib.workers.wecom import apply_details, details_later, handle_wecom, wecom_contact_touch

bp = Blueprint(__name__)


def handle(message: IngestMessage) -> None:
    if message.rejected is not None:  # the edge kept it (malformed, or for a shop not configured)
        _keep_raw(message, message.received_at, f"{message.source}:{message.rejected.value}")
        return
    if message.source == "wecom":
        handle_wecom(message)  # workers/wecom.py
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
        apply_details(message)
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


class _Unreachable(Exception):
    """抖店 could not answer now (network, busy, 5xx): the buyer is fetched later, from the queue."""


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
    with config_scope(), c.resolver.batch(), c.orders.batch(), details_later():
        plan = plan_batch(list(event.to_dict().get("Records", [])))
        for tenant_id, touches in plan.touches.items():
            c.resolver.prefetch(tenant_id, touches)
        for tenant_id, orders in plan.orders.items():
            c.orders.prefetch(tenant_id, orders)
        return process_batch(
            event, IngestMessage, handle, lambda m: {"tenant_id": m.tenant_id, "event_key": m.key}
        )
