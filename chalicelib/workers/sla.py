"""Ticket waits on Step Functions, answered here (one queue, the `kind` says which):

- the SLA timer's step (functions/ticket_sla.asl.json): a ticket's execution woke up and waits on its task
  token for what to do next; escalations are idempotent and the answer is recomputed from the ticket;
- an approval step's token (functions/ticket_approval.asl.json, kind `approval.await`): kept until the
  approvers decide (the approve/reject call returns it), or answered at once if they already did;
- an approval nobody decided in time (kind `approval.overdue`): the managers are told.
Redelivery is harmless in each case."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, SQSEvent
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.bootstrap import container
from chalicelib.resources import SLA_QUEUE
from chalicelib.workers.batch import process_batch

bp = Blueprint(__name__)


class TimerMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: str = "sla.step"
    tenant_id: str
    ticket_id: str
    generation: int | None = Field(default=None, ge=1)
    node: str | None = None
    timer: str = ""
    action: str = ""
    entered_at: str = ""
    task_token: str | None = Field(default=None, repr=False)


def handle(m: TimerMessage) -> None:
    c = container()
    if m.kind == "approval.await" and m.node and m.task_token:
        c.tickets.approval_waiting(m.tenant_id, m.ticket_id, m.node, m.task_token)
    elif m.kind == "node.timer" and m.node:
        c.tickets.timer_fired(m.tenant_id, m.ticket_id, m.node, m.timer, m.action, m.entered_at)
    elif m.kind == "approval.overdue" and m.node:
        c.tickets.approval_overdue(m.tenant_id, m.ticket_id, m.node)
    elif m.generation is not None and m.task_token:
        outcome = c.sla.evaluate(m.tenant_id, m.ticket_id, m.generation)
        c.workflow_starter.succeed(
            m.task_token,
            {"tenant_id": m.tenant_id, "ticket_id": m.ticket_id, "generation": m.generation, **outcome},
        )
    else:
        raise ValueError(f"a timer message of kind {m.kind} without what it needs")  # → DLQ, visible


@bp.on_sqs_message(queue=SLA_QUEUE.name, batch_size=SLA_QUEUE.batch_size)
def on_sla_step(event: SQSEvent) -> dict[str, Any]:
    return process_batch(
        event, TimerMessage, handle, lambda m: {"tenant_id": m.tenant_id, "ticket_id": m.ticket_id}
    )
