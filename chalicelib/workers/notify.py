"""The notify queue consumer: one message `{"tenant_id", "delivery_id", "attempt"}` → one delivery attempt.

- Due later (quiet hours, a backoff longer than SQS's 900 s DelaySeconds): `deliver` re-enqueues the
  message with up to 900 s and returns; it comes back until the delivery's `next_attempt_at` is reached.
- A temporary provider failure: the delivery goes `retrying` and a new message is enqueued with the
  backoff delay; this one is acknowledged.
- Retry budget spent: the delivery goes `dead` and `deliver` raises, so this record is reported failed;
  after the queue's maxReceiveCount it lands in the DLQ with its raw body (each redelivery meanwhile makes
  one more attempt). Redriving the DLQ after the outage makes one more attempt per message: it is sent.
- A permanent refusal: `dead` with `permanent`, acknowledged, visible in the delivery log only.
Partial batch responses: one failing record never makes the others retry."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, SQSEvent
from pydantic import BaseModel, ConfigDict

from chalicelib.bootstrap import container
from chalicelib.resources import NOTIFY_QUEUE
from chalicelib.workers.batch import process_batch

bp = Blueprint(__name__)


class NotifyMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    delivery_id: str
    attempt: int | None = None  # the attempt the message was enqueued for; older ones are dropped


def handle(message: NotifyMessage) -> None:
    container().notifications.deliver(message.tenant_id, message.delivery_id, attempt=message.attempt)


@bp.on_sqs_message(queue=NOTIFY_QUEUE.name, batch_size=NOTIFY_QUEUE.batch_size)
def on_notify_message(event: SQSEvent) -> dict[str, Any]:
    return process_batch(
        event, NotifyMessage, handle, lambda m: {"tenant_id": m.tenant_id, "delivery_id": m.delivery_id}
    )
