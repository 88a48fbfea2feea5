"""In-memory notification ports: providers that record sends and fail on demand, a queue that records
(delay, message) so a test delivers by hand, a static provider registry and address book."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from chalicelib.domain.notifications import (
    Channel,
    PermanentProviderError,
    Provider,
    ProviderResult,
    RecipientKind,
    RenderedMessage,
    TemporaryProviderError,
)


class FakeProvider:
    """Records every send. `fail_temporarily(n)` / `fail_permanently(n)`: the next n sends raise;
    `down = True`: every send raises a temporary error until it is set back."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.sent: list[tuple[str, RenderedMessage]] = []
        self.calls = 0
        self.down = False
        self._temporary = 0
        self._permanent = 0

    def fail_temporarily(self, times: int) -> None:
        self._temporary = times

    def fail_permanently(self, times: int = 1) -> None:
        self._permanent = times

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        self.calls += 1
        if self._permanent:
            self._permanent -= 1
            raise PermanentProviderError(f"{self.name}: recipient refused")
        if self.down or self._temporary:
            self._temporary = max(self._temporary - 1, 0)
            raise TemporaryProviderError(f"{self.name}: unavailable")
        self.sent.append((address, message))
        return ProviderResult(provider_message_id=f"{self.name}-{len(self.sent)}")


@dataclass
class Queued:
    tenant_id: str
    delivery_id: str
    delay: timedelta
    attempt: int


class FakeQueue:
    def __init__(self) -> None:
        self.messages: list[Queued] = []
        self.fail_next = False

    def enqueue(self, tenant_id: str, delivery_id: str, *, delay: timedelta, attempt: int) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("SQS unavailable")
        self.messages.append(Queued(tenant_id, delivery_id, delay, attempt))

    def pop(self) -> Queued:
        return self.messages.pop(0)


class StaticProviders:
    def __init__(self, providers: Mapping[Channel, Provider]) -> None:
        self.providers = dict(providers)

    def provider(self, tenant_id: str, channel: Channel) -> Provider | None:
        return self.providers.get(channel)


class FakeAddressBook:
    def __init__(self) -> None:
        self.entries: dict[tuple[RecipientKind, str], dict[Channel, str]] = {}

    def add(self, kind: RecipientKind, recipient_id: str, **addresses: str) -> None:
        self.entries[(kind, recipient_id)] = {Channel(k): v for k, v in addresses.items()}

    def addresses(self, tenant_id: str, kind: RecipientKind, recipient_id: str) -> dict[Channel, str]:
        return dict(self.entries.get((kind, recipient_id), {}))
