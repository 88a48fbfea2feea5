"""/v1/dead-letters: the tenant's queue messages that failed every try, with their raw body, and a replay."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.bootstrap import container
from chalicelib.services.ports import DeadLetter

api = Api(__name__, tag="system")
bp = api.blueprint

_QUEUE = Field(
    default="ingest", max_length=32, description="queue id: ingest, events, sla, notify, settlement"
)


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = _QUEUE
    limit: int = Field(default=50, ge=1, le=500)


class RedriveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = _QUEUE
    limit: int = Field(default=1000, ge=1, le=1000)


class DeadLetterPublic(BaseModel):
    message_id: str
    receive_count: int
    sent_at_ms: int | None
    body: str = Field(description="the raw message, replayed as it is")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterPublic:
        return cls.model_validate(
            letter, from_attributes=True
        )  # its tenant_id is not shown: it is the caller's


class DeadLettersPublic(BaseModel):
    queue: str
    items: list[DeadLetterPublic]


class RedrivePublic(BaseModel):
    queue: str
    redriven: int


@api.route(
    "/v1/dead-letters",
    "GET",
    summary="The tenant's dead letters on a queue (left in place)",
    query=DeadLetterQuery,
    response=DeadLettersPublic,
    errors=(400, 403),
)
def list_dead_letters(ctx: Ctx) -> Result:
    q: DeadLetterQuery = ctx.query
    letters = container().dead_letters.list(principal=ctx.user, queue=q.queue, limit=q.limit)
    return Result(DeadLettersPublic(queue=q.queue, items=[DeadLetterPublic.of(m) for m in letters]))


@api.route(
    "/v1/dead-letters/redrive",
    "POST",
    summary="Replay the tenant's dead letters on a queue (handlers are idempotent)",
    body=RedriveRequest,
    response=RedrivePublic,
    errors=(400, 403),
)
def redrive_dead_letters(ctx: Ctx) -> Result:
    body: RedriveRequest = ctx.body
    moved = container().dead_letters.redrive(principal=ctx.user, queue=body.queue, limit=body.limit)
    return Result(RedrivePublic(queue=body.queue, redriven=moved))
