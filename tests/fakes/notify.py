"""In-memory notification ports: providers that record sends and fail on demand (or time out after the
provider took the message, with a receipt to check), a queue that records (delay, message) so a test
delivers by hand, a static provider registry and address book, the delivery log, configuration and the
per-recipient send windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.common import ConflictError
from chalicelib.domain.notifications import (
    Channel,
    Delivery,
    NotificationPolicy,
    NotificationTemplate,
    PermanentProviderError,
    Provider,
    ProviderResult,
    RecipientKind,
    RenderedMessage,
    SendLimitRefusedError,
    SendOutcomeUnknownError,
    Subscription,
    TemporaryProviderError,
)
from chalicelib.domain.send_limits import RateLimit, SendWindow, horizon
from chalicelib.integrations.notify.outbox import OutboxEntry


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


class CheckingProvider(FakeProvider):
    """Like an SMS provider with receipts: `time_out_after_sending(n)` — the next n sends reach the provider
    (the message goes out) but the answer is lost; `time_out_before_sending(n)` — lost on the way there.
    `confirm` answers from what went out, by `message.ref`; `check_fails(n)` makes the next n checks fail."""

    receipt_delay = timedelta(seconds=60)

    def __init__(self, name: str = "sms") -> None:
        super().__init__(name)
        self.checks = 0
        self._after = 0
        self._before = 0
        self._check_failures = 0

    def time_out_after_sending(self, times: int = 1) -> None:
        self._after = times

    def time_out_before_sending(self, times: int = 1) -> None:
        self._before = times

    def check_fails(self, times: int = 1) -> None:
        self._check_failures = times

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        if self._before:
            self._before -= 1
            self.calls += 1
            raise SendOutcomeUnknownError(f"{self.name}: ReadTimeout")
        if self._after:
            self._after -= 1
            self.calls += 1
            self.sent.append((address, message))
            raise SendOutcomeUnknownError(f"{self.name}: ReadTimeout")
        return super().send(address, message)

    def confirm(self, address: str, message: RenderedMessage, *, since: datetime) -> ProviderResult | None:
        self.checks += 1
        if self._check_failures:
            self._check_failures -= 1
            raise TemporaryProviderError(f"{self.name}: query unavailable")
        found = any(a == address and m.ref == message.ref for a, m in self.sent)
        return ProviderResult(provider_message_id=None) if found else None

    def sends_of(self, ref: str) -> int:
        return sum(1 for _, m in self.sent if m.ref == ref)


class DedupingFakeProvider(FakeProvider):
    """Like WeChat with client_msg_id: a send always answered by a timeout when `timing_out` is set."""

    dedupe_window = timedelta(minutes=10)

    def __init__(self, name: str = "wechat") -> None:
        super().__init__(name)
        self.timing_out = False

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        if self.timing_out:
            self.calls += 1
            raise SendOutcomeUnknownError(f"{self.name}: ReadTimeout")
        return super().send(address, message)


class LimitedProvider(FakeProvider):
    """Like Aliyun voice: `flow_control = True` answers isv.BUSINESS_LIMIT_CONTROL."""

    def __init__(self, name: str = "voice") -> None:
        super().__init__(name)
        self.flow_control = False

    def send(self, address: str, message: RenderedMessage) -> ProviderResult:
        if self.flow_control:
            self.calls += 1
            raise SendLimitRefusedError("Aliyun flow control isv.BUSINESS_LIMIT_CONTROL")
        return super().send(address, message)


class InMemoryDeliveries:
    """The `DeliveryRepository` port: versions checked as the table's conditions check them."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Delivery] = {}
        self.keys: dict[tuple[str, str], str] = {}

    def create(self, delivery: Delivery) -> tuple[Delivery, bool]:
        key = (delivery.tenant_id, delivery.idempotency_key)
        if key in self.keys:
            return self.items[(delivery.tenant_id, self.keys[key])], False
        self.keys[key] = delivery.id
        self.items[(delivery.tenant_id, delivery.id)] = delivery
        return delivery, True

    def get(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        return self.items.get((tenant_id, delivery_id))

    def get_by_key(self, tenant_id: str, idempotency_key: str) -> Delivery | None:
        found = self.keys.get((tenant_id, idempotency_key))
        return self.items.get((tenant_id, found)) if found else None

    def save(self, delivery: Delivery, *, expected_version: int) -> None:
        current = self.items.get((delivery.tenant_id, delivery.id))
        if current is None or current.version != expected_version:
            raise ConflictError(f"delivery {delivery.id} was changed meanwhile")
        self.items[(delivery.tenant_id, delivery.id)] = delivery

    def for_ticket(self, tenant_id: str, ticket_id: str, *, limit: int = 100) -> list[Delivery]:
        found = [d for (t, _), d in self.items.items() if t == tenant_id and d.ticket_id == ticket_id]
        return sorted(found, key=lambda d: (d.created_at, d.id))[:limit]


class InMemoryNotificationConfig:
    def __init__(self) -> None:
        self._templates: dict[str, dict[tuple[str, Channel], NotificationTemplate]] = {}
        self._policies: dict[str, NotificationPolicy] = {}
        self._subscriptions: dict[tuple[str, str, str], Subscription] = {}

    def templates(self, tenant_id: str) -> list[NotificationTemplate]:
        return list(self._templates.get(tenant_id, {}).values())

    def put_template(self, tenant_id: str, template: NotificationTemplate) -> None:
        self._templates.setdefault(tenant_id, {})[template.key] = template

    def policy(self, tenant_id: str) -> NotificationPolicy | None:
        return self._policies.get(tenant_id)

    def put_policy(self, tenant_id: str, policy: NotificationPolicy) -> None:
        self._policies[tenant_id] = policy

    def subscription(self, tenant_id: str, ticket_id: str, customer_id: str) -> Subscription | None:
        return self._subscriptions.get((tenant_id, ticket_id, customer_id))

    def put_subscription(self, subscription: Subscription) -> None:
        key = (subscription.tenant_id, subscription.ticket_id, subscription.customer_id)
        self._subscriptions[key] = subscription


class InMemorySendLimiter:
    """The `SendLimiter` port over the same `SendWindow` rules as the table's."""

    def __init__(self) -> None:
        self.windows: dict[tuple[str, Channel, str], SendWindow] = {}

    def acquire(
        self,
        tenant_id: str,
        channel: Channel,
        address: str,
        *,
        slot: str,
        at: datetime,
        limits: Sequence[RateLimit],
    ) -> RateLimit | None:
        key = (tenant_id, channel, address)
        window = self.windows.get(key, SendWindow())
        if window.holds(slot):
            return None
        broken = window.refusal(at, limits)
        if broken is None:
            self.windows[key] = window.with_send(slot, at, horizon=horizon(limits))
        return broken

    def release(self, tenant_id: str, channel: Channel, address: str, *, slot: str) -> None:
        key = (tenant_id, channel, address)
        if key in self.windows:
            self.windows[key] = self.windows[key].without(slot)

    def counted(self, tenant_id: str, channel: Channel, address: str) -> int:
        return len(self.windows.get((tenant_id, channel, address), SendWindow()).sends)


class InMemoryOutbox:
    """The local outbox (integrations/notify/outbox.py) in a list."""

    def __init__(self) -> None:
        self.entries: list[OutboxEntry] = []

    def record(self, entry: OutboxEntry) -> None:
        self.entries.append(entry)

    def newest(self, tenant_id: str, *, limit: int) -> list[OutboxEntry]:
        mine = [e for e in self.entries if e.tenant_id == tenant_id]
        return sorted(mine, key=lambda e: e.sent_at, reverse=True)[:limit]
