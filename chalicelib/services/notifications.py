"""The notification use cases: `notify` turns requests into logged, queued deliveries; `deliver` (the notify
queue's step) sends one through its channel's provider, retrying with backoff and ending in the DLQ.

At least once, never lost: a delivery is written before its queue message; a message that cannot be
enqueued fails `notify`, whose caller retries, and the retried request finds the delivery still queued
and enqueues it again. A provider outage makes deliveries wait (retrying, then dead and in the DLQ, where
a redrive makes one more attempt each); it never drops one. Duplicates are contained: one delivery per
idempotency key, a lease (a versioned write) before each send, and a stale queue message is dropped.

Sent once, where the provider lets us know: every send carries the delivery id as its reference (SMS
`OutId`, WeChat `client_msg_id`). After an attempt whose outcome is unknown (a timeout, a 5xx, a worker
that stopped while holding the lease), the next attempt asks a `ReceiptChecker` provider first and records
the earlier send as sent when its receipt is there; it sends again only when it is not, and never while
the check itself fails. Per-recipient limits (Aliyun's voice-call limits) are counted before a send; a
refusal moves the delivery to the request's fallback channel or ends it `refused`, with the reason.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import Clock, ConflictError, new_id
from chalicelib.domain.notifications import (
    DEDUPE_MARGIN,
    Channel,
    DedupingProvider,
    Delivery,
    DeliveryStatus,
    NotificationPolicy,
    NotificationRequest,
    NotificationTemplate,
    PermanentProviderError,
    Provider,
    ProviderError,
    ProviderResult,
    ReceiptChecker,
    RecipientKind,
    RenderedMessage,
    SendLimitRefusedError,
    SendOutcomeUnknownError,
    Subscription,
    channel_preference,
    default_templates,
    mask_address,
    merged_templates,
    refusal_reason,
)
from chalicelib.observability import logger
from chalicelib.services.ports import (
    AddressBook,
    CustomerLookup,
    DeliveryQueue,
    DeliveryRepository,
    NotificationConfig,
    ProviderRegistry,
    SendLimiter,
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
        limiter: SendLimiter,
        clock: Clock,
        rnd: Callable[[], float] = random.random,
    ) -> None:
        self._deliveries = deliveries
        self._config = config
        self._providers = providers
        self._addresses = addresses
        self._queue = queue
        self._limiter = limiter
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
        route, reasons = self._route(request, channel_preference(request, subscription), templates)
        if route is None:
            return base.model_copy(update={"status": DeliveryStatus.FAILED, "reason": "; ".join(reasons)})
        channel, address, message = route
        send_at = policy.send_at(request, now)
        return base.model_copy(
            update={
                "channel": channel,
                "address": address,
                "message": message,
                "next_attempt_at": send_at if send_at > now else None,
            }
        )

    def _route(
        self,
        request: NotificationRequest,
        channels: Sequence[Channel],
        templates: dict[tuple[str, Channel], NotificationTemplate],
    ) -> tuple[tuple[Channel, str, RenderedMessage] | None, list[str]]:
        """The first channel with a template, an address of the recipient and a provider: (channel, masked
        address, rendered message), or None and why each channel could not be used."""
        reachable = self._addresses.addresses(request.tenant_id, request.recipient_kind, request.recipient_id)
        reasons = []
        for channel in channels:
            template = templates.get((request.event, channel))
            if template is None:
                reasons.append(f"{channel}: no template")
            elif channel not in reachable:
                reasons.append(f"{channel}: no address")
            elif self._providers.provider(request.tenant_id, channel) is None:
                reasons.append(f"{channel}: not configured")
            else:
                address = mask_address(channel, reachable[channel])
                return (channel, address, template.render(request.data)), reasons
        return None, reasons

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
        unconfirmed_since = delivery.unconfirmed_since(now)  # read before the claim replaces claimed_at
        claimed = delivery.claimed(now, LEASE)
        try:
            self._deliveries.save(claimed, expected_version=delivery.version)
        except ConflictError:
            return None  # another worker claimed it first
        result = self._attempt(claimed, unconfirmed_since=unconfirmed_since)
        try:
            self._deliveries.save(result, expected_version=claimed.version)
        except ConflictError:
            logger.warning("delivery changed while sending", extra={"delivery_id": delivery_id})
            return None
        self._log(result)
        if result.status in (DeliveryStatus.RETRYING, DeliveryStatus.QUEUED):  # queued: moved to a fallback
            self._enqueue(result)
        elif result.status is DeliveryStatus.DEAD and not result.permanent:
            raise DeliveryExhaustedError(
                f"delivery {result.id} failed {len(result.attempts)} times: {result.reason}"
            )
        return result

    def _attempt(self, delivery: Delivery, *, unconfirmed_since: datetime | None) -> Delivery:
        policy = self._config.policy(delivery.tenant_id) or NotificationPolicy()
        now = self._clock.now()
        provider: Provider | None = None
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
            message = delivery.message.model_copy(update={"ref": delivery.id})
            if unconfirmed_since is not None and isinstance(provider, ReceiptChecker):
                found = self._check(provider, address, message, unconfirmed_since)
                if found is not None:
                    logger.info("an earlier send was delivered", extra={"delivery_id": delivery.id})
                    return delivery.after_confirmed(now, found)
            return self._send(delivery, provider, address, message, policy, now)
        except SendLimitRefusedError as e:
            return self._refused(delivery, policy, refusal_reason(delivery.channel or Channel.VOICE, str(e)))
        except ProviderError as e:
            temporary = not isinstance(e, PermanentProviderError)  # TemporaryProviderError or unclassified
            return self._failed(delivery, provider, str(e) or type(e).__name__, temporary=temporary,
                                unknown=isinstance(e, SendOutcomeUnknownError), policy=policy,
                                since=unconfirmed_since)  # fmt: skip
        except Exception as e:  # a bug or an unmapped error: retried like an outage, never lost
            logger.exception("provider raised an unexpected error", extra={"delivery_id": delivery.id})
            # It may have been raised after the request left: checked like any unknown outcome.
            return self._failed(delivery, provider, f"{type(e).__name__}: {e}", temporary=True,
                                unknown=True, policy=policy, since=unconfirmed_since)  # fmt: skip

    @staticmethod
    def _check(
        provider: ReceiptChecker, address: str, message: RenderedMessage, since: datetime
    ) -> ProviderResult | None:
        """The receipt of an earlier send, or None when there is none. A check that fails leaves the
        outcome unknown: nothing is sent until a check succeeds."""
        try:
            return provider.confirm(address, message, since=since)
        except ProviderError as e:
            raise SendOutcomeUnknownError(f"receipt check failed, not resent: {e}") from e

    def _send(
        self,
        delivery: Delivery,
        provider: Provider,
        address: str,
        message: RenderedMessage,
        policy: NotificationPolicy,
        now: datetime,
    ) -> Delivery:
        """One send under the channel's limits: counted first (one slot per attempt, so a redelivered
        message counts once), given back when the provider certainly did not take it."""
        assert delivery.channel is not None
        limits = policy.limits_for(delivery.channel)
        slot = f"{delivery.id}#{len(delivery.attempts) + 1}"
        if limits:
            broken = self._limiter.acquire(
                delivery.tenant_id, delivery.channel, address, slot=slot, at=now, limits=limits
            )
            if broken is not None:
                return self._refused(delivery, policy, refusal_reason(delivery.channel, broken))
        try:
            result = provider.send(address, message)
        except ProviderError as e:
            if limits and not isinstance(e, SendOutcomeUnknownError):
                self._limiter.release(delivery.tenant_id, delivery.channel, address, slot=slot)
            raise
        return delivery.after_success(now, result)

    def _failed(
        self,
        delivery: Delivery,
        provider: Provider | None,
        error: str,
        *,
        temporary: bool,
        unknown: bool,
        policy: NotificationPolicy,
        since: datetime | None,
    ) -> Delivery:
        """After an unknown outcome the retry waits until a receipt would show (a checking provider), or
        comes inside the provider's dedupe window (WeChat), counted from the first uncertain send."""
        now = self._clock.now()
        earliest = latest = None
        if unknown and isinstance(provider, ReceiptChecker):
            earliest = now + provider.receipt_delay
        elif unknown and isinstance(provider, DedupingProvider):
            latest = (since or now) + provider.dedupe_window - DEDUPE_MARGIN
        return delivery.after_failure(
            now,
            error,
            temporary=temporary,
            retry=policy.retry,
            rnd=self._rnd(),
            unknown=unknown,
            earliest=earliest,
            latest=latest,
        )

    def _refused(self, delivery: Delivery, policy: NotificationPolicy, reason: str) -> Delivery:
        """The next fallback channel the request names that can be used, else `refused` (visible in the
        ticket's notification log with the reason, e.g. `voice call refused: limit (5 per hour)`)."""
        now = self._clock.now()
        logger.warning("notification refused by a send limit", extra={"delivery_id": delivery.id,
                                                                      "reason": reason})  # fmt: skip
        channels = delivery.fallback_channels()
        route = None
        if channels:
            templates = merged_templates(self._config.templates(delivery.tenant_id))
            route, _ = self._route(delivery.request, channels, templates)
        return delivery.after_refusal(
            now, reason, fallback=route, send_at=policy.send_at(delivery.request, now)
        )

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
