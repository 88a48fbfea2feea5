"""The SLA timer's step: a ticket's Step Functions execution woke up (functions/ticket_sla.asl.json) and
waits on its task token for what to do next. Redelivery is harmless: escalations are idempotent and the
answer is recomputed from the ticket."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, SQSEvent
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.bootstrap import container
from chalicelib.resources import SLA_QUEUE
from chalicelib.workers.batch import process_batch

bp = Blueprint(__name__)


class SlaStep(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    ticket_id: str
    generation: int = Field(ge=1)
    task_token: str = Field(repr=False)


def handle(step: SlaStep) -> None:
    c = container()
    outcome = c.sla.evaluate(step.tenant_id, step.ticket_id, step.generation)
    c.workflow_starter.succeed(
        step.task_token,
        {"tenant_id": step.tenant_id, "ticket_id": step.ticket_id, "generation": step.generation, **outcome},
    )


@bp.on_sqs_message(queue=SLA_QUEUE.name, batch_size=SLA_QUEUE.batch_size)
def on_sla_step(event: SQSEvent) -> dict[str, Any]:
    return process_batch(
        event, SlaStep, handle, lambda s: {"tenant_id": s.tenant_id, "ticket_id": s.ticket_id}
    )
