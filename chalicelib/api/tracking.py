"""/v1/events: behaviour tracking from H5, mini-programs and official sites (batches of up to 500)."""

from __future__ import annotations

from pydantic import BaseModel

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.bootstrap import container
from chalicelib.domain.access import KeyKind, Permission
from chalicelib.domain.behaviour import BehaviourBatch
from chalicelib.services.ingest import chunked

api = Api(__name__, tag="events")
bp = api.blueprint
EVENTS_PER_MESSAGE = 25  # 500 events → 20 queue messages → 2 SendMessageBatch calls


class EventsAccepted(BaseModel):
    accepted: int


@api.route(
    "/v1/events",
    "POST",
    summary="Track behaviour events (resolved onto customers asynchronously; integration keys only)",
    body=BehaviourBatch,
    response=EventsAccepted,
    status=202,
    errors=(400, 403),
    key=KeyKind.INTEGRATION,
)
def track_events(ctx: Ctx) -> Result:
    ctx.user.require(Permission.INGEST)
    batch: BehaviourBatch = ctx.body
    c = container()
    messages = chunked(
        "behaviour",
        ctx.user.tenant_id,
        list(batch.events),
        per_message=EVENTS_PER_MESSAGE,
        received_at=c.clock.now(),
        sent_by=ctx.user,
    )
    c.ingest_publisher.publish(messages)
    return Result(EventsAccepted(accepted=len(batch.events)))
