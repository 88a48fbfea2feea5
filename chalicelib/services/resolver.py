"""Resolve a touchpoint (a WeCom contact, an order, a behaviour event, an imported row) to one customer,
and record it there: the one path every source uses to reach the customer data pool."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.access import Principal, authorize_customer_change, new_customer_defaults
from chalicelib.domain.common import Clock, ConflictError, ForbiddenError, InvalidInputError, new_id
from chalicelib.domain.customers import (
    Customer,
    Identity,
    merge_into,
    merge_record,
    new_customer_id,
    tombstone,
)
from chalicelib.domain.resolution import Decision, Holder, decide
from chalicelib.domain.timeline import Actor, ActorType, TimelineEvent
from chalicelib.services.events import envelope
from chalicelib.services.ports import CustomerRepository, Publisher, TouchPlan

MAX_ATTEMPTS = 5  # a touch races only with touches of the same person; re-reading settles it
MAX_CLAIMS_PER_TRANSACTION = 100  # DynamoDB's TransactWriteItems limit


@dataclass
class Touch:
    tenant_id: str
    identities: list[Identity]
    kind: str  # the timeline event kind, past tense: wecom.contact_added, order.paid, behaviour.page_view …
    source: str  # wecom, shop:youzan, h5, import …
    at: datetime  # when it happened at the source
    actor: Actor
    data: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None  # the source event's stable key: a redelivery has one effect
    name_hint: str | None = None  # a name for a customer this touch creates
    update: Callable[[Customer], None] | None = None  # what the touch changes on the profile
    # Who brought it, when someone did (a staff member's import, an integration key's event or form): its
    # effects are checked against what they may change. None: a source trusted by signature or the system.
    principal: Principal | None = None


@dataclass
class _Pending:
    marks: dict[str, list[str]] = field(default_factory=dict)  # tenant → idempotency keys
    events: list[dict[str, Any]] = field(default_factory=list)
    # (tenant, key, identity keys) → what `lookup` returned for it at the start of the batch (`prefetch`)
    looked_up: dict[tuple[str, str | None, frozenset[tuple[str, str]]], Any] = field(default_factory=dict)


@dataclass
class Resolved:
    customer_id: str
    created: bool = False
    merged: list[str] = field(default_factory=list)
    duplicate: bool = False
    candidates: list[tuple[str, str]] = field(default_factory=list)
    refused: str | None = None  # touch_many: why the bringer may not have this effect (nothing written)


class IdentityResolver:
    def __init__(
        self,
        *,
        customers: CustomerRepository,
        publisher: Publisher,
        clock: Clock,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._customers = customers
        self._publisher = publisher
        self._clock = clock
        self._sleep = pause
        self._local = threading.local()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Within one queue batch, the idempotency markers of simple touches and the domain events are
        written once, at the end (one BatchWriteItem, one SendMessageBatch per 10) instead of per touch.
        Safe because a marker is only a shortcut: until it is written, a redelivery finds the key on the
        profile (`Customer.applied`). Per thread: the local stack runs consumers side by side."""
        pending = _Pending()
        self._local.pending = pending
        try:
            yield
        finally:
            self._local.pending = None
            now = self._clock.now()
            for tenant_id, keys in pending.marks.items():
                self._customers.mark(tenant_id, keys, now)
            if pending.events:
                self._publisher.publish(pending.events)

    def prefetch(self, tenant_id: str, touches: Sequence[tuple[Sequence[Identity], str | None]]) -> None:
        """Inside `batch()`: look up the batch's touches together (one BatchGet of every claim and marker,
        one of the holders) instead of two requests per touch. A touch sharing an identity with an earlier
        one in the batch is left out: the earlier one may change what it finds. A stale answer is still
        safe — every write is conditional, so a touch that decided on it gets a conflict and reads again —
        and each answer is used once, by the touch's first attempt."""
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is None or not touches:
            return
        taken: set[tuple[str, str]] = set()
        wants: list[tuple[Sequence[Identity], str | None]] = []
        for identities, key in touches:
            ids = {i.key for i in identities}
            if ids and not ids & taken:
                wants.append((identities, key))
            taken |= ids
        try:
            found = self._customers.lookup_many(tenant_id, wants)
        except ConflictError:
            return  # an identity mid-claim somewhere: every touch looks up on its own
        for (identities, key), answer in zip(wants, found, strict=True):
            pending.looked_up[(tenant_id, key, frozenset(i.key for i in identities))] = answer

    def _lookup(self, touch: Touch, attempt: int) -> tuple[dict[tuple[str, str], Customer], bool]:
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is not None and attempt == 0:
            ids = frozenset(i.key for i in touch.identities)
            answer = pending.looked_up.pop((touch.tenant_id, touch.idempotency_key, ids), None)
            if answer is not None:
                return answer  # type: ignore[no-any-return]
        return self._customers.lookup(touch.tenant_id, touch.identities, touch.idempotency_key)

    def _mark(self, tenant_id: str, key: str) -> None:
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is None:
            self._customers.mark(tenant_id, [key], self._clock.now())
        else:
            pending.marks.setdefault(tenant_id, []).append(key)

    def _publish(self, events: list[dict[str, Any]]) -> None:
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is None:
            self._publisher.publish(events)
        else:
            pending.events += events

    def _pause(self, attempt: int) -> None:
        """A short, jittered wait before re-reading: the other writer is mid-way through a few requests."""
        self._sleep(random.uniform(0, 0.02 * 2**attempt))

    def touch(self, touch: Touch) -> Resolved:
        if not touch.identities:
            raise InvalidInputError("a touchpoint needs at least one identity")
        key = touch.idempotency_key
        for attempt in range(MAX_ATTEMPTS):
            try:
                holders, seen = self._lookup(touch, attempt)
                decision = decide(touch.identities, {k: _holder(c) for k, c in holders.items()})
                by_id = {c.id: c for c in holders.values()}
                target = by_id.get(decision.target or "")
                if seen:
                    return Resolved(customer_id=target.id if target else "", duplicate=True)
                if key and target is not None and target.has_applied(key):
                    # applied before a crash (or earlier in this batch) kept the marker back: write it now
                    self._mark(touch.tenant_id, key)
                    return Resolved(customer_id=target.id, duplicate=True)
                plan, resolved = self._plan(touch, decision, by_id, {k: c.id for k, c in holders.items()})
                _authorize(touch, plan)
                applied = (
                    self._customers.apply_simple(plan) if plan.simple else self._customers.apply_touch(plan)
                )
            except ConflictError:
                # someone changed or is creating one of these customers: decide again on fresh reads
                self._pause(attempt)
                continue
            if not applied:
                return Resolved(customer_id=plan.target_after.id, duplicate=True)
            if plan.simple and key:
                self._mark(touch.tenant_id, key)  # last: it stands for everything above
            self._publish(
                [envelope(e.kind, e.tenant_id, e.id, e.model_dump(mode="json")) for e in plan.events]
            )
            return resolved
        raise ConflictError(
            "could not resolve the touchpoint: the customers keep changing; it will be retried"
        )

    def touch_many(
        self, touches: list[Touch], *, progress: Callable[[int], None] | None = None
    ) -> list[Resolved]:
        """Bulk path for imports. Touches already applied are skipped (one BatchGet of markers per 100);
        touches whose identities nobody holds become new customers, their claims taken in transactions
        of up to 100 and the rest written with BatchWriteItem; anything else (an identity already held,
        or taken by a concurrent writer) goes through `touch` one by one. `touches` must not share
        identities: imports cluster rows into people first. Results in the order of `touches`; a touch whose
        bringer may not have its effect is `refused` (nothing written for it), the others go on."""
        keys = [t.idempotency_key for t in touches if t.idempotency_key]
        seen = self._customers.seen(touches[0].tenant_id, keys) if keys else set()
        results: dict[int, Resolved] = {
            i: Resolved(customer_id="", duplicate=True)
            for i, t in enumerate(touches)
            if t.idempotency_key in seen
        }
        pending = [(i, t) for i, t in enumerate(touches) if t.idempotency_key not in seen]
        batch: list[tuple[int, Touch, TouchPlan]] = []
        claims = 0
        for n, (i, touch) in enumerate(pending, 1):
            try:
                if self._customers.holders(touch.tenant_id, touch.identities):
                    results[i] = self.touch(touch)
                else:
                    plan, _ = self._plan(touch, decide(touch.identities, {}), {}, {})
                    _authorize(touch, plan)
                    batch.append((i, touch, plan))
                    claims += len(plan.claims)
            except ForbiddenError as e:
                results[i] = Resolved(customer_id="", refused=e.message)
            if claims > MAX_CLAIMS_PER_TRANSACTION - 10 or n == len(pending):
                results.update(self._create_batch(batch))
                batch, claims = [], 0
            if progress:
                progress(len(results))
        return [results[i] for i in range(len(touches))]

    def _create_batch(self, batch: list[tuple[int, Touch, TouchPlan]]) -> dict[int, Resolved]:
        if not batch:
            return {}
        tenant_id = batch[0][2].tenant_id
        claims = [(i, plan.target_after.id) for _, _, plan in batch for i in plan.claims]
        if not self._customers.claim_all(tenant_id, claims, self._clock.now()):
            # someone took one of them meanwhile: one by one
            return {n: self._touch_or_refuse(t) for n, t, _ in batch}
        plans = [plan for _, _, plan in batch]
        self._customers.bulk_create(plans)
        self._publish(
            [envelope(e.kind, e.tenant_id, e.id, e.model_dump(mode="json")) for p in plans for e in p.events]
        )
        return {n: Resolved(customer_id=p.target_after.id, created=True) for n, _, p in batch}

    def _touch_or_refuse(self, touch: Touch) -> Resolved:
        try:
            return self.touch(touch)
        except ForbiddenError as e:
            return Resolved(customer_id="", refused=e.message)

    def _plan(
        self,
        touch: Touch,
        decision: Decision,
        by_id: dict[str, Customer],
        claimed_by: dict[tuple[str, str], str],
    ) -> tuple[TouchPlan, Resolved]:
        now = self._clock.now()
        before = by_id[decision.target] if decision.target else None
        if before is None:
            after = Customer(
                id=new_customer_id(),
                tenant_id=touch.tenant_id,
                name=touch.name_hint or _placeholder_name(touch.identities),
                source=touch.source,
                created_at=now,
                updated_at=now,
                version=0,
            )
        else:
            after = before.model_copy(deep=True)
        events: list[TimelineEvent] = []
        absorbed: list[tuple[Customer, Customer]] = []
        records: list[dict[str, Any]] = []
        for absorbed_id in decision.absorb:
            gone = by_id[absorbed_id]
            before_merge = after
            after = merge_into(after, gone, now=now)
            absorbed.append((gone, tombstone(gone, after.id, now=now)))
            evidence = [i for i in touch.identities if gone.has_identity(i.key)]
            records.append(
                merge_record(
                    before_merge,
                    gone,
                    after,
                    evidence=evidence,
                    at=now,
                    reason=f"{touch.kind} carried identities of both customers",
                )
            )
        losers: dict[str, tuple[Customer, Customer]] = {}
        for key, loser_id in decision.release.items():
            loser = by_id[loser_id]
            changed = losers[loser_id][1] if loser_id in losers else loser.model_copy(deep=True)
            changed.remove_identity(key)
            changed.version = loser.version + 1
            changed.updated_at = now
            losers[loser_id] = (loser, changed)
        for ident in decision.claim:
            after.add_identity(ident)
        for ident in touch.identities:
            # claimed for this customer by a touch that stopped before writing the profile: catch up
            if claimed_by.get(ident.key) == after.id and not after.has_identity(ident.key):
                after.add_identity(ident)
        if touch.update is not None:
            touch.update(after)
        if before is None and touch.principal is not None:  # lands inside its bringer's scope
            home = new_customer_defaults(touch.principal)
            after.region = after.region or home.region
            after.store = after.store or home.store
            after.owner_id = after.owner_id or home.owner_id
        after.version = (before.version if before else 0) + 1
        after.updated_at = now
        if touch.idempotency_key:
            after.remember(touch.idempotency_key)
        for gone, _ in absorbed:
            events.append(
                TimelineEvent.record(
                    tenant_id=touch.tenant_id,
                    customer_id=after.id,
                    kind="customer.merged",
                    at=now,
                    actor=Actor(type=ActorType.SYSTEM, id="identity-resolver"),
                    source=touch.source,
                    seq=after.version,
                    data={"absorbed_id": gone.id, "evidence": records[len(events)]["evidence"]},
                )
            )
        event = TimelineEvent.record(
            tenant_id=touch.tenant_id,
            customer_id=after.id,
            kind=touch.kind,
            at=touch.at,
            actor=touch.actor,
            source=touch.source,
            seq=after.version,
            data=touch.data,
        )
        if touch.idempotency_key:
            # The same key and sort key on every attempt: the simple path writes events before the
            # profile, so a retry after a conflict or a crash overwrites them instead of adding twins.
            digest = hashlib.sha256(f"{touch.idempotency_key}|{after.id}".encode()).digest()
            event.id = new_id("evt", now_ms=int(touch.at.timestamp() * 1000), entropy=digest[:10])
            event.seq = 0
        events.append(event)
        plan = TouchPlan(
            tenant_id=touch.tenant_id,
            target_before=before,
            target_after=after,
            claims=decision.claim,
            contested_from=decision.release,
            losers=list(losers.values()),
            absorbed=absorbed,
            events=events,
            merge_records=records,
            candidates=[
                {"a": after.id, "b": other, "reason": reason, "at": now.isoformat(), "source": touch.kind}
                for other, reason in decision.candidates
                if other != after.id
            ],
            idempotency_key=touch.idempotency_key,
        )
        resolved = Resolved(
            customer_id=after.id,
            created=before is None,
            merged=decision.absorb,
            candidates=decision.candidates,
        )
        return plan, resolved


def _authorize(touch: Touch, plan: TouchPlan) -> None:
    """The effect is checked, not the route that brought it: every customer the plan changes, merges away
    or takes an identity from, and the customer it leaves, must be the bringer's to change."""
    if touch.principal is None:
        return
    changed = [c.ownership for c in (plan.target_before, *(b for b, _ in plan.absorbed)) if c is not None]
    changed += [before.ownership for before, _ in plan.losers]
    authorize_customer_change(
        touch.principal,
        changed=changed,
        result=plan.target_after.ownership,
        creates=plan.target_before is None,
    )


def _holder(customer: Customer) -> Holder:
    return Holder(customer.id, customer.created_at, frozenset(i.key for i in customer.all_identities()))


def _placeholder_name(identities: list[Identity]) -> str:
    """A name to show until the source tells us one (WeCom's detail fetch, an order's buyer name)."""
    first = sorted(identities, key=lambda i: i.type != "phone")[0]
    tail = first.value[-4:]
    return {"wecom_external_userid": f"企业微信客户 {tail}", "phone": f"客户 {tail}"}.get(
        first.type, f"客户 {tail}"
    )
