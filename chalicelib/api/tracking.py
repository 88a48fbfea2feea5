"""/v1/events: behaviour tracking from H5, mini-programs and official sites (batches of up to 500)."""

from __future__ import annotations

from pydantic import BaseModel

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.bootstrap import container
from chalicelib.domain.access import Permission
from chalicelib.domain.behaviour import BehaviourBatch
from chalicelib.services.ingest import IngestMessage

api = Api(__name__, tag="events")
bp = api.blueprint
EVENTS_PER_MESSAGE = 25  # 500 events → 20 queue messages → 2 SendMessageBatch calls


class EventsAccepted(BaseModel):
    accepted: int


@api.route(
    "/v1/events",
    "POST",
    summary="Track behaviour events (resolved onto customers asynchronously)",
    body=BehaviourBatch,
    response=EventsAccepted,
    status=202,
    errors=(400, 403),
)
def track_events(ctx: Ctx) -> Result:
    ctx.user.require(Permission.CUSTOMERS_WRITE)
    batch: BehaviourBatch = ctx.body
    c = container()
    now = c.clock.now()
    messages = [
        IngestMessage(
            source="behaviour",
            tenant_id=ctx.user.tenant_id,
            key=f"behaviour:{chunk[0].event_id}",
            received_at=now,
            payload=[e.model_dump(mode="json") for e in chunk],
        ).model_dump(mode="json")
        for chunk in (
            batch.events[i : i + EVENTS_PER_MESSAGE] for i in range(0, len(batch.events), EVENTS_PER_MESSAGE)
        )
    ]
    c.ingest_publisher.publish(messages)
    return Result(EventsAccepted(accepted=len(batch.events)))
