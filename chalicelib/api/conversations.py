"""/v1/conversations/messages: the chat archive (会话存档) puller pushes staff↔customer messages here; the
archive SDK is a native library, so it runs beside the SCRM, not inside it."""

from __future__ import annotations

from pydantic import BaseModel

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.bootstrap import container
from chalicelib.domain.access import Permission
from chalicelib.domain.conversations import ArchivedBatch
from chalicelib.services.ingest import chunked

api = Api(__name__, tag="conversations")
bp = api.blueprint
PER_MESSAGE = 50


class MessagesAccepted(BaseModel):
    accepted: int
    for_customers: int


@api.route(
    "/v1/conversations/messages",
    "POST",
    summary="Push archived chat messages (≤500; onto timelines async)",
    body=ArchivedBatch,
    response=MessagesAccepted,
    status=202,
    errors=(400, 403),
)
def push_messages(ctx: Ctx) -> Result:
    ctx.user.require(Permission.CUSTOMERS_WRITE)
    batch: ArchivedBatch = ctx.body
    relevant = [m for m in batch.messages if m.customers()]
    c = container()
    c.ingest_publisher.publish(
        chunked(
            "conversation",
            ctx.user.tenant_id,
            list(relevant),
            per_message=PER_MESSAGE,
            received_at=c.clock.now(),
            sent_by=ctx.user,
        )
    )
    return Result(MessagesAccepted(accepted=len(batch.messages), for_customers=len(relevant)))
