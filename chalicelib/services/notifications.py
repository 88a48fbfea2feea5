"""The notification use cases: `notify` turns requests into logged, queued deliveries; `deliver` (the notify
queue's step) sends one through its channel's provider, retrying with backoff and ending in the DLQ.

At least once, never lost: a delivery is written before its queue message; a message that cannot be
enqueued fails `notify`, whose caller retries, and the retried request finds the delivery still queued
and enqueues it again. A provider outage makes deliveries wait (retrying, then dead and in the DLQ, where
a redrive makes one more attempt each); it never drops one. Duplicates are contained: one delivery per
idempotency key, a lease (a versioned write) before each send, and a stale queue message is dropped.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import timedelta

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import Clock, ConflictError, new_id
from chalicelib.domain.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    NotificationPolicy,
    NotificationRequest,
    NotificationTemplate,
    PermanentProviderError,
    ProviderError,
    RecipientKind,
    Subscription,
    channel_preference,
    default_templates,
    mask_address,
    merged_templates,
)
from chalicelib.observability import logger
from chalicelib.services.ports import (
    AddressBook,
    CustomerLookup,
    DeliveryQueue,
    DeliveryRepository,
    NotificationConfig,
    ProviderRegistry,
    StaffContacts,
)

MAX_QUEUE_DELAY = timedelta(seconds=900)  # SQS DelaySeconds limit
EARLY = timedelta(seconds=2)  # a message arriving this much before its time is close enough
LEASE = timedelta(seconds=60)  # ≤ the notify queue's visibility timeout: a crashed sender's message returns
STRANDED_AFTER = timedelta(seconds=60)  # a queued, untried delivery this old may have lost its message


class DeliveryExhaustedError(Exception):
    """Raised by `deliver` when the retry budget ran out: the queue message fails, so after the queue's
    maxReceiveCount it lands in the DLQ with its raw body. The delivery is `dead` in the log."""


# -- the service ---------------------------------------------------------------------------------------------
class NotificationService:
    def __init__(
        self,
        *,
        deliveries: DeliveryRepository,
        config: NotificationConfig,
        providers: ProviderRegistry,
        addresses: AddressBook,
        queue: DeliveryQueue,
        clock: Clock,
        rnd: Callable[[], float] = random.random,
    ) -> None:
        self._deliveries = deliveries
        self._config = config
        self._providers = providers
        self._addresses = addresses
        self._queue = queue
        self._clock = clock
        self._rnd = rnd

    # -- notify ---------------------------------------------------------------------------------------------
    def notify(self, requests: Sequence[NotificationRequest]) -> None:
        """The `ports.Notifier` port (the SLA timer and ticket workers call it)."""
        self.submit(requests)

    def submit(self, requests: Sequence[NotificationRequest]) -> list[Delivery]:
        """One delivery per request (the existing one for a key seen before), each logged and queued."""
        templates: dict[str, dict[tuple[str, Channel], NotificationTemplate]] = {}
        policies: dict[str, NotificationPolicy] = {}
        out = []
        for request in requests:
            existing = self._deliveries.get_by_key(request.tenant_id, request.idempotency_key)
            if existing is not None:
                out.append(self._requeue_if_stranded(existing))
                continue
            tenant = request.tenant_id
            if tenant not in templates:
                templates[tenant] = merged_templates(self._config.templates(tenant))
                policies[tenant] = self._config.policy(tenant) or NotificationPolicy()
            delivery = self._plan(request, templates[tenant], policies[tenant])
            stored, created = self._deliveries.create(delivery)
            if not created:
                out.append(self._requeue_if_stranded(stored))
                continue
            if stored.status is DeliveryStatus.QUEUED:
                self._enqueue(stored)
            logger.info(
                "notification planned",
                extra={"delivery_id": stored.id, "event": request.event, "status": str(stored.status)},
            )
            out.append(stored)
        return out

    def _plan(
        self,
        request: NotificationRequest,
        templates: dict[tuple[str, Channel], NotificationTemplate],
        policy: NotificationPolicy,
    ) -> Delivery:
        now = self._clock.now()
        base = Delivery(
            id=new_id("ntf", now_ms=int(now.timestamp() * 1000)),
            tenant_id=request.tenant_id,
            idempotency_key=request.idempotency_key,
            request=request,
            status=DeliveryStatus.QUEUED,
            created_at=now,
            updated_at=now,
        )
        subscription = None
        if request.recipient_kind is RecipientKind.CUSTOMER and request.ticket_id:
            subscription = self._config.subscription(
                request.tenant_id, request.ticket_id, request.recipient_id
            )
            if subscription is not None and not subscription.wants(request.event):
                return base.model_copy(update={"status": DeliveryStatus.SUPPRESSED, "reason": "unsubscribed"})
            if subscription is None and policy.customer_requires_subscription:
                return base.model_copy(
                    update={"status": DeliveryStatus.SUPPRESSED, "reason": "not subscribed"}
                )
        reachable = self._addresses.addresses(request.tenant_id, request.recipient_kind, request.recipient_id)
        reasons = []
        for channel in channel_preference(request, subscription):
            template = templates.get((request.event, channel))
            if template is None:
                reasons.append(f"{channel}: no template")
            elif channel not in reachable:
                reasons.append(f"{channel}: no address")
            elif self._providers.provider(request.tenant_id, channel) is None:
                reasons.append(f"{channel}: not configured")
            else:
                send_at = policy.send_at(request, now)
                return base.model_copy(
                    update={
                        "channel": channel,
                        "address": mask_address(channel, reachable[channel]),
                        "message": template.render(request.data),
                        "next_attempt_at": send_at if send_at > now else None,
                    }
                )
        return base.model_copy(update={"status": DeliveryStatus.FAILED, "reason": "; ".join(reasons)})

    def _requeue_if_stranded(self, delivery: Delivery) -> Delivery:
        """A request retried after its enqueue failed finds its delivery queued and never tried: enqueue it
        again. Only once it has waited STRANDED_AFTER, so the quick duplicates of an at-least-once caller
        add no messages; an extra one is harmless anyway (the lease and the attempt number drop it)."""
        stale = self._clock.now() - delivery.created_at >= STRANDED_AFTER
        if delivery.status is DeliveryStatus.QUEUED and not delivery.attempts and stale:
            self._enqueue(delivery)
        return delivery

    def _enqueue(self, delivery: Delivery) -> None:
        now = self._clock.now()
        wait = (delivery.next_attempt_at - now) if delivery.next_attempt_at else timedelta(0)
        delay = min(max(wait, timedelta(0)), MAX_QUEUE_DELAY)
        self._queue.enqueue(delivery.tenant_id, delivery.id, delay=delay, attempt=len(delivery.attempts) + 1)

    # -- deliver --------------------------------------------------------------------------------------------
    def deliver(self, tenant_id: str, delivery_id: str, *, attempt: int | None = None) -> Delivery | None:
        """Send one delivery when it is due. Idempotent: a final delivery, one leased by another worker or
        a stale message (`attempt` not the next one) changes nothing. Raises DeliveryExhaustedError when
        the retry budget is spent (→ DLQ); a dead delivery met again (an SQS retry, a DLQ redrive) gets one
        more attempt, so a redrive after the outage sends it."""
        delivery = self._deliveries.get(tenant_id, delivery_id)
        if delivery is None:
            logger.warning("no such delivery", extra={"delivery_id": delivery_id})
            return None
        if delivery.is_final():
            return delivery
        revival = delivery.status is DeliveryStatus.DEAD
        if not revival and attempt is not None and attempt != len(delivery.attempts) + 1:
            return delivery  # a duplicate message of an attempt already made
        now = self._clock.now()
        if not revival and delivery.next_attempt_at and delivery.next_attempt_at > now + EARLY:
            self._enqueue(delivery)  # quiet hours or a backoff beyond SQS's 900 s: wait another round
            return delivery
        if delivery.lease_until and delivery.lease_until > now:
            return delivery  # another worker is sending it; if it crashed, its message comes back
        claimed = delivery.claimed(now, LEASE)
        try:
            self._deliveries.save(claimed, expected_version=delivery.version)
        except ConflictError:
            return None  # another worker claimed it first
        result = self._attempt(claimed)
        try:
            self._deliveries.save(result, expected_version=claimed.version)
        except ConflictError:
            logger.warning("delivery changed while sending", extra={"delivery_id": delivery_id})
            return None
        self._log(result)
        if result.status is DeliveryStatus.RETRYING:
            self._enqueue(result)
        elif result.status is DeliveryStatus.DEAD and not result.permanent:
            raise DeliveryExhaustedError(
                f"delivery {result.id} failed {len(result.attempts)} times: {result.reason}"
            )
        return result

    def _attempt(self, delivery: Delivery) -> Delivery:
        policy = self._config.policy(delivery.tenant_id) or NotificationPolicy()
        now = self._clock.now()
        try:
            if delivery.channel is None or delivery.message is None:
                raise PermanentProviderError("nothing to send")
            provider = self._providers.provider(delivery.tenant_id, delivery.channel)
            if provider is None:
                raise PermanentProviderError(f"no {delivery.channel} provider is configured")
            request = delivery.request
            address = self._addresses.addresses(
                delivery.tenant_id, request.recipient_kind, request.recipient_id
            ).get(delivery.channel)
            if not address:
                raise PermanentProviderError(f"the recipient has no {delivery.channel} address any more")
            result = provider.send(address, delivery.message)
        except ProviderError as e:
            temporary = not isinstance(e, PermanentProviderError)  # TemporaryProviderError or unclassified
            return delivery.after_failure(
                now, str(e) or type(e).__name__, temporary=temporary, retry=policy.retry, rnd=self._rnd()
            )
        except Exception as e:  # a bug or an unmapped error: retried like an outage, never lost
            logger.exception("provider raised an unexpected error", extra={"delivery_id": delivery.id})
            return delivery.after_failure(
                now, f"{type(e).__name__}: {e}", temporary=True, retry=policy.retry, rnd=self._rnd()
            )
        return delivery.after_success(now, result)

    @staticmethod
    def _log(delivery: Delivery) -> None:
        extra = {
            "delivery_id": delivery.id,
            "channel": str(delivery.channel),
            "status": str(delivery.status),
            "attempts": len(delivery.attempts),
        }
        if delivery.status is DeliveryStatus.SENT:
            logger.info("notification sent", extra=extra)
        else:
            logger.warning("notification attempt failed", extra={**extra, "reason": delivery.reason})

    # -- log and subscriptions ------------------------------------------------------------------------------
    # -- a tenant's texts and rules (admins and managers) -----------------------------------------
    def templates_of(self, *, principal: Principal) -> list[NotificationTemplate]:
        """Every event × channel text in force: the tenant's own over the built-in ones."""
        principal.require(Permission.TICKETS_READ)
        own = {(t.event, t.channel): t for t in self._config.templates(principal.tenant_id)}
        built_in = {(t.event, t.channel): t for t in default_templates()}
        return list({**built_in, **own}.values())

    def put_template(self, *, principal: Principal, template: NotificationTemplate) -> NotificationTemplate:
        principal.require(Permission.WORKFLOWS_MANAGE)
        self._config.put_template(principal.tenant_id, template)
        return template

    def policy_of(self, *, principal: Principal) -> NotificationPolicy:
        principal.require(Permission.TICKETS_READ)
        return self._config.policy(principal.tenant_id) or NotificationPolicy()

    def put_policy(self, *, principal: Principal, policy: NotificationPolicy) -> NotificationPolicy:
        """Quiet hours, who they apply to, retries, whether customers must subscribe first."""
        principal.require(Permission.WORKFLOWS_MANAGE)
        self._config.put_policy(principal.tenant_id, policy)
        return policy

    def log_for_ticket(self, tenant_id: str, ticket_id: str, *, limit: int = 100) -> list[Delivery]:
        return self._deliveries.for_ticket(tenant_id, ticket_id, limit=limit)

    def subscribe(
        self,
        *,
        tenant_id: str,
        ticket_id: str,
        customer_id: str,
        channels: Sequence[Channel] = (),
        events: Sequence[str] = (),
        active: bool = True,
    ) -> Subscription:
        """Subscribe (or, `active=False`, unsubscribe) a customer to a ticket's progress."""
        now = self._clock.now()
        current = self._config.subscription(tenant_id, ticket_id, customer_id)
        subscription = Subscription(
            tenant_id=tenant_id,
            ticket_id=ticket_id,
            customer_id=customer_id,
            channels=list(channels),
            events=list(events),
            active=active,
            created_at=current.created_at if current else now,
            updated_at=now,
        )
        self._config.put_subscription(subscription)
        return subscription


# -- an address book over the customer store -----------------------------------------------------------------
class DirectoryAddressBook:
    """Customers: WeChat by their `openid` identity, SMS/voice by their phone. Staff: whatever the
    StaffContacts port knows (`services.assignment.StaffDirectoryContacts`: the staff profile's WeCom
    userid and phone)."""

    def __init__(self, *, customers: CustomerLookup, staff: StaffContacts | None = None) -> None:
        self._customers = customers
        self._staff = staff

    def addresses(self, tenant_id: str, kind: RecipientKind, recipient_id: str) -> dict[Channel, str]:
        if kind is RecipientKind.USER:
            return self._staff.contacts(tenant_id, recipient_id) if self._staff else {}
        customer = self._customers.get(tenant_id, recipient_id)
        if customer is None:
            return {}
        found: dict[Channel, str] = {}
        openid = next((i.value for i in customer.identities if i.type == "openid"), None)
        if openid:
            found[Channel.WECHAT] = openid
        if customer.phone:
            found[Channel.SMS] = customer.phone
            found[Channel.VOICE] = customer.phone
        return found
