"""`scrm dlq`: what failed five times, across every tenant (a tenant's admin has /v1/dead-letters)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from chalicelib.cli._common import connect, emit, fail
from chalicelib.integrations.aws import dlq as queues
from chalicelib.resources import QueueSpec

dlq = typer.Typer(name="dlq", help="Dead-letter queues.", no_args_is_help=True)
GROUPS = (dlq,)

Queue = Annotated[str, typer.Option(help="The queue: ingest, events, sla, notify, settlement.")]
TenantFilter = Annotated[
    str | None, typer.Option("--tenant", help="Only this tenant's messages (default: every tenant's).")
]


def _spec(queue: str) -> QueueSpec:
    try:
        return queues.spec(queue)
    except KeyError as e:
        fail(str(e.args[0]))


@dlq.command("list")
def list_messages(
    queue: Queue = "ingest",
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    tenant_id: TenantFilter = None,
) -> None:
    """Show dead letters, raw (left in place)."""
    spec = _spec(queue)
    messages = connect().dead_letter_queues.peek(spec.logical_id, limit=limit, tenant_id=tenant_id)
    emit({"queue": spec.dlq_name, "count": len(messages), "messages": [asdict(m) for m in messages]})


@dlq.command("redrive")
def redrive(
    queue: Queue = "ingest",
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 1000,
    tenant_id: TenantFilter = None,
) -> None:
    """Replay dead letters on their queue."""
    spec = _spec(queue)
    moved = connect().dead_letter_queues.redrive(spec.logical_id, limit=limit, tenant_id=tenant_id)
    emit({"queue": spec.dlq_name, "redriven": moved, "to": spec.name})
