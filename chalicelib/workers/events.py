"""The events queue consumer: domain events after they committed.

Partial batch responses (Powertools BatchProcessor): one bad message is retried alone and, after the
queue's maxReceiveCount, lands in the DLQ; the rest of the batch is acknowledged."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalice.app import Blueprint, SQSEvent
from pydantic import ValidationError

from chalicelib.bootstrap import container
from chalicelib.domain.common import ConflictError, InvalidInputError, NotFoundError
from chalicelib.domain.inventory import parts_from_field
from chalicelib.domain.notifications import NotificationRequest, RecipientKind
from chalicelib.observability import logger
from chalicelib.resources import EVENTS_QUEUE
from chalicelib.services.assignment import AssignmentOutcome, OutcomeStatus
from chalicelib.services.events import EventEnvelope
from chalicelib.services.settlement import RULE_PUBLISHED
from chalicelib.workers.batch import process_batch

bp = Blueprint(__name__)


def handle_event(envelope: EventEnvelope) -> None:
    """Route one event to its consumers. Events without a consumer yet are acknowledged."""
    if envelope.type in ("tag.renamed", "tag.deleted"):
        changed = container().tag_sync.apply(
            tenant_id=envelope.tenant_id, tag_id=str(envelope.data["tag_id"]), name=envelope.data.get("name")
        )
        logger.info("tag synced", extra={"event_type": envelope.type, "customers_changed": changed})
    elif envelope.type.startswith("ticket."):
        _ticket_step(envelope)
    elif envelope.type == RULE_PUBLISHED:
        data = envelope.data
        after = data.get("after")
        n = container().settlement.rule_published(
            envelope.tenant_id, str(data["applies_to"]), after=str(after) if after else None
        )
        logger.info("waiting sources settled", extra={"applies_to": data["applies_to"], "settled": n})
    elif envelope.type == "sla.calendar_changed":
        n = container().sla.recompute_open(envelope.tenant_id, str(envelope.data["calendar_id"]))
        logger.info("deadlines recomputed", extra={"calendar_id": envelope.data["calendar_id"], "tickets": n})


def _ticket_step(envelope: EventEnvelope) -> None:
    """After a ticket step: assign when a step asks for it (or a reopened ticket needs someone on shift),
    free the assignee's capacity when the ticket closes (the oldest waiting ticket then gets it)."""
    data, tenant_id = envelope.data, envelope.tenant_id
    ticket_id = str(data["ticket_id"])
    c = container()
    if data.get("workflow_id"):
        c.workflow_stats.record(tenant_id, data)  # per-step statistics, once per ticket version
    assignment = c.assignment
    if envelope.type == "ticket.rated":
        _rated(tenant_id, ticket_id, int(data["score"]))
        return
    _notify_steps(envelope)
    _parts_effects(tenant_id, ticket_id, data)
    if data.get("status") == "closed":
        c.settlement.ticket_closed(tenant_id, ticket_id)  # parts consumed or released, bill, settlement
        released = assignment.release(tenant_id, ticket_id)
        _ask_for_rating(tenant_id, ticket_id)
        for outcome in released.drained:  # waiting tickets that got the freed capacity
            _tell_assigned(tenant_id, outcome)
        return
    wants = any(e.get("type") == "assign" for e in data.get("effects", []))
    if wants or envelope.type == "ticket.reopen":
        _tell_assigned(tenant_id, assignment.auto_assign(tenant_id, ticket_id))


def _parts_effects(tenant_id: str, ticket_id: str, data: dict[str, Any]) -> None:
    """`reserve_parts` / `release_parts` actions of the steps entered: the parts the ticket's field names
    (params.source, default `parts`) are held or given back (idempotent per ticket, part and warehouse)."""
    effects = [e for e in data.get("effects", []) if e.get("type") in ("reserve_parts", "release_parts")]
    if not effects:
        return
    c = container()
    ticket = c.ticket_repo.get(tenant_id, ticket_id)
    if ticket is None:
        return
    for effect in effects:
        if effect["type"] == "release_parts":
            c.inventory.release_for_ticket(tenant_id, ticket_id)
            continue
        source = str((effect.get("params") or {}).get("source") or "parts")
        try:
            lines = parts_from_field(ticket.fields.get(source))
            if lines:
                c.inventory.reserve_for_ticket(tenant_id, ticket_id, lines)
        except (ConflictError, NotFoundError, ValidationError, InvalidInputError) as e:
            # Out of stock or an unknown part: the step stays (a person sees the low-stock list and the
            # ticket's parts); the message is not retried forever.
            logger.warning("parts not reserved", extra={"ticket_id": ticket_id, "reason": str(e)})


def _tell_assigned(tenant_id: str, outcome: AssignmentOutcome) -> None:
    """The engineer hears of a ticket assigned to them, and the customer that someone is on it (once per
    assignment: the key names the assignee)."""
    if outcome.status is not OutcomeStatus.ASSIGNED or outcome.assignee_id is None:
        return
    c = container()
    ticket = c.ticket_repo.get(tenant_id, outcome.ticket_id)
    if ticket is None:
        return
    data = {"ticket_id": ticket.id, "title": ticket.title, "status": ", ".join(ticket.state.active)}
    recipients = [(RecipientKind.USER, outcome.assignee_id)]
    if ticket.customer_id:
        recipients.append((RecipientKind.CUSTOMER, ticket.customer_id))
    c.notifier.notify(
        [
            NotificationRequest(
                tenant_id=tenant_id,
                event="ticket.assigned",
                recipient_kind=kind,
                recipient_id=recipient,
                data=data,
                idempotency_key=f"assigned:{ticket.id}:{outcome.assignee_id}:{kind}",
                ticket_id=ticket.id,
            )
            for kind, recipient in recipients
        ]
    )


# The workflow designer's notify templates → the notification events tenants write texts for.
_NOTIFY_EVENTS = {"engineer_on_the_way": "ticket.engineer_on_the_way", "done": "ticket.done"}


def _notify_steps(envelope: EventEnvelope) -> None:
    """The `notify` actions of the steps a ticket entered (the customer told the engineer is on the way,
    the assignee told to act), and the customer told a new ticket was accepted. One per ticket version,
    step and recipient (idempotency key), however often the event is delivered."""
    data, c = envelope.data, container()
    notices = [e for e in data.get("effects", []) if e.get("type") == "notify"]
    if envelope.type == "ticket.created":
        notices.append({"node": "", "params": {"to": "customer", "template": "created"}})
    if not notices:
        return
    ticket = c.ticket_repo.get(envelope.tenant_id, str(data["ticket_id"]))
    if ticket is None:
        return
    requests: list[NotificationRequest] = []
    for notice in notices:
        params = notice.get("params", {})
        to = str(params.get("to", "customer"))
        template = str(params.get("template") or "")
        if to == "customer" and ticket.customer_id:
            kind, recipient = RecipientKind.CUSTOMER, ticket.customer_id
        elif to == "assignee" and ticket.assignment:
            kind, recipient = RecipientKind.USER, ticket.assignment.assignee_id
        else:
            continue  # roles and departments: the step's actors see it in their queue (not messaged yet)
        event = (
            "ticket.created"
            if template == "created"
            else _NOTIFY_EVENTS.get(template, "ticket.status_changed")
        )
        requests.append(
            NotificationRequest(
                tenant_id=envelope.tenant_id,
                event=event,
                recipient_kind=kind,
                recipient_id=recipient,
                data={
                    "ticket_id": ticket.id,
                    "title": ticket.title,
                    "status": ", ".join(ticket.state.active),
                    "text": str(params.get("text", "")),
                },
                idempotency_key=f"ticket:{ticket.id}:{data.get('version')}:{notice.get('node')}:{to}:{event}",
                ticket_id=ticket.id,
            )
        )
    if requests:
        c.notifier.notify(requests)


def _ask_for_rating(tenant_id: str, ticket_id: str) -> None:
    """The customer gets a rating request (1–5 and a comment) through a signed link, once per closing."""
    c = container()
    ticket = c.ticket_repo.get(tenant_id, ticket_id)
    if ticket is None or ticket.customer_id is None or ticket.rating is not None:
        return
    link = f"{c.settings.public_url.rstrip('/')}/public/ratings/{c.tickets.rating_link_token(ticket)}"
    closed = ticket.closed_at.isoformat() if ticket.closed_at else ""
    c.notifier.notify(
        [
            NotificationRequest(
                tenant_id=tenant_id,
                event="rating.requested",
                recipient_kind=RecipientKind.CUSTOMER,
                recipient_id=ticket.customer_id,
                data={"ticket_id": ticket.id, "title": ticket.title, "link": link},
                idempotency_key=f"rating:{ticket.id}:{closed}",
                ticket_id=ticket.id,
            )
        ]
    )


def _rated(tenant_id: str, ticket_id: str, score: int) -> None:
    """A rating feeds the engineer's running average (assignment) and, when low, opens a follow-up."""
    c = container()
    ticket = c.ticket_repo.get(tenant_id, ticket_id)
    if ticket is not None and ticket.assignment is not None:
        try:
            c.assignment.record_rating(
                tenant_id, ticket.assignment.assignee_id, Decimal(score), once=ticket.id
            )
        except NotFoundError:
            logger.info("rating not averaged: the assignee has no staff profile")
    c.tickets.follow_up(tenant_id=tenant_id, ticket_id=ticket_id)
    if ticket is not None and ticket.closed_at is not None:  # counted by the month-end satisfaction rules
        c.settlement.rated(tenant_id, ticket, score)


@bp.on_sqs_message(queue=EVENTS_QUEUE.name, batch_size=EVENTS_QUEUE.batch_size)
def on_domain_event(event: SQSEvent) -> dict[str, Any]:
    return process_batch(
        event, EventEnvelope, handle_event, lambda e: {"tenant_id": e.tenant_id, "event_id": e.event_id}
    )
