"""The envelope every domain event travels in on the events queue."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class EventEnvelope(BaseModel):
    event_id: str  # the idempotency key of the event's consumers
    type: str
    tenant_id: str
    data: dict[str, Any]


def envelope(type_: str, tenant_id: str, event_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return EventEnvelope(event_id=event_id, type=type_, tenant_id=tenant_id, data=data).model_dump(
        mode="json"
    )
