"""The events queue consumer: domain events after they committed.

Partial batch responses (Powertools BatchProcessor): one bad message is retried alone and, after the
queue's maxReceiveCount, lands in the DLQ; the rest of the batch is acknowledged."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, SQSEvent

from chalicelib.bootstrap import container
from chalicelib.observability import logger
from chalicelib.resources import EVENTS_QUEUE
from chalicelib.services.events import EventEnvelope
from chalicelib.workers.batch import process_batch

bp = Blueprint(__name__)


def handle_event(envelope: EventEnvelope) -> None:
    """Route one event to its consumers. Events without a consumer yet are acknowledged."""
    if envelope.type in ("tag.renamed", "tag.deleted"):
        changed = container().tag_sync.apply(
            tenant_id=envelope.tenant_id, tag_id=str(envelope.data["tag_id"]), name=envelope.data.get("name")
        )
        logger.info("tag synced", extra={"event_type": envelope.type, "customers_changed": changed})


@bp.on_sqs_message(queue=EVENTS_QUEUE.name, batch_size=EVENTS_QUEUE.batch_size)
def on_domain_event(event: SQSEvent) -> dict[str, Any]:
    return process_batch(
        event, EventEnvelope, handle_event, lambda e: {"tenant_id": e.tenant_id, "event_id": e.event_id}
    )
