"""Timeline events: every change to a customer appends one (who, what, when, source)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.domain.common import new_id


class ActorType(StrEnum):
    USER = "user"
    SYSTEM = "system"
    INTEGRATION = "integration"


class Actor(BaseModel):
    type: ActorType
    id: str

    @classmethod
    def user(cls, user_id: str) -> Actor:
        return cls(type=ActorType.USER, id=user_id)


class TimelineEvent(BaseModel):
    id: str
    tenant_id: str
    customer_id: str
    kind: str  # past tense, dotted: customer.created, customer.updated, customer.tagged, customer.untagged
    at: datetime
    actor: Actor
    source: str  # api, wecom, shop:youzan, import, …
    seq: int = 0  # the customer version this event produced: orders events within one millisecond
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def record(
        cls,
        *,
        tenant_id: str,
        customer_id: str,
        kind: str,
        at: datetime,
        actor: Actor,
        source: str,
        seq: int = 0,
        data: dict[str, Any] | None = None,
    ) -> TimelineEvent:
        return cls(
            id=new_id("evt", now_ms=int(at.timestamp() * 1000)),
            tenant_id=tenant_id,
            customer_id=customer_id,
            kind=kind,
            at=at,
            actor=actor,
            source=source,
            seq=seq,
            data=data or {},
        )
