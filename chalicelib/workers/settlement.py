"""Month-end settlement runs' steps (functions/settlement_run.asl.json), one message at a time: the step is
done and its task token answered. Every step is idempotent, so a redelivery or a Step Functions retry is
harmless; a step that cannot be done fails its task (Step Functions retries, then the run fails visibly)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, SQSEvent
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.bootstrap import container
from chalicelib.domain.common import ContentionError, DomainError
from chalicelib.domain.settlement import PERIOD_PATTERN
from chalicelib.resources import SETTLEMENT_QUEUE
from chalicelib.workers.batch import process_batch

bp = Blueprint(__name__)


class RunStep(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: str
    tenant_id: str
    period: str = Field(pattern=PERIOD_PATTERN)
    run_id: str
    chunk: int | None = Field(default=None, ge=0)
    task_token: str = Field(repr=False)


def handle(m: RunStep) -> None:
    c = container()
    runs = c.settlement_runs
    try:
        if m.kind == "settlement.plan":
            output = runs.plan(m.tenant_id, m.period, m.run_id)
        elif m.kind == "settlement.chunk" and m.chunk is not None:
            output = runs.settle_chunk(m.tenant_id, m.period, m.run_id, m.chunk)
        elif m.kind == "settlement.close":
            output = runs.close(m.tenant_id, m.period, m.run_id)
        else:
            raise ValueError(f"a settlement step of kind {m.kind} without what it needs")
    except ContentionError:
        raise  # records busy through every retry, nothing written: the message comes back, the step is redone
    except DomainError as e:  # superseded run, invalid rule data …: the execution fails, visibly
        c.workflow_starter.fail(m.task_token, type(e).__name__, e.message)
        return
    c.workflow_starter.succeed(m.task_token, output)


@bp.on_sqs_message(queue=SETTLEMENT_QUEUE.name, batch_size=SETTLEMENT_QUEUE.batch_size)
def on_settlement_step(event: SQSEvent) -> dict[str, Any]:
    return process_batch(event, RunStep, handle, lambda m: {"tenant_id": m.tenant_id, "period": m.period})
