"""The events queue consumer: domain events after they committed.

Partial batch responses (Powertools BatchProcessor): one bad message is retried alone and, after the
queue's maxReceiveCount, lands in the DLQ; the rest of the batch is acknowledged."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import Blueprint, SQSEvent

from chalicelib.bootstrap import container
from chalicelib.observability import logger
from chalicelib.resources import EVENTS_QUEUE
from chalicelib.services.events import EventEnvelope

bp = Blueprint(__name__)
_processor = BatchProcessor(event_type=EventType.SQS)


def handle_event(envelope: EventEnvelope) -> None:
    """Route one event to its consumers. Events without a consumer yet are acknowledged."""
    if envelope.type in ("tag.renamed", "tag.deleted"):
        changed = container().tag_sync.apply(
            tenant_id=envelope.tenant_id, tag_id=str(envelope.data["tag_id"]), name=envelope.data.get("name")
        )
        logger.info("tag synced", extra={"event_type": envelope.type, "customers_changed": changed})


def _record_handler(record: SQSRecord) -> None:
    envelope = EventEnvelope.model_validate(json.loads(record.body))
    logger.append_keys(tenant_id=envelope.tenant_id, event_id=envelope.event_id)
    try:
        handle_event(envelope)
    finally:
        logger.remove_keys(["tenant_id", "event_id"])


@bp.on_sqs_message(queue=EVENTS_QUEUE.name, batch_size=EVENTS_QUEUE.batch_size)
def on_domain_event(event: SQSEvent) -> dict[str, Any]:
    return dict(
        process_partial_response(event=event.to_dict(), record_handler=_record_handler, processor=_processor)
    )
