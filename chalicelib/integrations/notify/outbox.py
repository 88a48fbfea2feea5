"""The local outbox: a mail catcher for every channel (WeCom app message, WeChat template, SMS, voice).

On the local stack no tenant has real WeCom / WeChat / Aliyun credentials, so without this every
notification ended "failed: not configured". The composition root (bootstrap.py) wraps the real registry in
`OutboxRegistry` when the stage is local: a channel the tenant has configured still uses its real provider;
any other lands here, recorded (channel, masked recipient, rendered text, delivery id, time) and reported
sent. `scrm outbox` and GET /local/outbox read it. Nothing else knows it exists.

Recipients are masked as in the delivery log (phones `138****1234`), so the outbox holds no more personal data
than the log does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from chalicelib.domain.common import Clock
from chalicelib.domain.notifications import (
    Channel,
    Provider,
    ProviderResult,
    RenderedMessage,
    mask_address,
)
from chalicelib.services.ports import ProviderRegistry


class OutboxEntry(BaseModel):
    """One message the local stack would have sent."""

    tenant_id: str
    channel: Channel
    recipient: str  # masked like the delivery log
    event: str
    title: str = ""
    text: str
    url: str | None = None
    delivery_id: str | None = None  # RenderedMessage.ref: the same on every retry
    sent_at: datetime


class Outbox(Protocol):
    def record(self, entry: OutboxEntry) -> None: ...

    def newest(self, tenant_id: str, *, limit: int) -> list[OutboxEntry]:
        """Newest first."""
        ...


class OutboxProvider:
    """A `Provider` that records the message instead of sending it, and succeeds."""

    def __init__(self, *, tenant_id: str, channel: Channel, outbox: Outbox, clock: Clock) -> None:
        self._tenant_id = tenant_id
        self._channel = channel
        self._outbox = outbox
        self._clock = clock

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        entry = OutboxEntry(
            tenant_id=self._tenant_id,
            channel=self._channel,
            recipient=mask_address(self._channel, address),
            event=message.event,
            title=message.title,
            text=message.text,
            url=message.url,
            delivery_id=message.ref,
            sent_at=self._clock.now(),
        )
        self._outbox.record(entry)
        return ProviderResult(provider_message_id=f"outbox:{message.ref}" if message.ref else "outbox")


class OutboxRegistry:
    """The tenant's real provider for a channel where it has one; the outbox otherwise."""

    def __init__(self, real: ProviderRegistry, *, outbox: Outbox, clock: Clock) -> None:
        self._real = real
        self._outbox = outbox
        self._clock = clock

    def provider(self, tenant_id: str, channel: Channel) -> Provider | None:
        found = self._real.provider(tenant_id, channel)
        if found is not None:
            return found
        return OutboxProvider(tenant_id=tenant_id, channel=channel, outbox=self._outbox, clock=self._clock)


def newest_across(outbox: Outbox, tenant_ids: Sequence[str], *, limit: int) -> list[OutboxEntry]:
    """The newest `limit` entries of these tenants together, newest first."""
    entries = [e for t in tenant_ids for e in outbox.newest(t, limit=limit)]
    return sorted(entries, key=lambda e: e.sent_at, reverse=True)[:limit]
