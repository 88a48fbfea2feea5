"""Merging customers by hand (with a preview), undoing a merge, and the review list of merge candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.access import Permission, Principal, can_write
from chalicelib.domain.common import Clock, ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from chalicelib.domain.customers import Customer, merge_into, merge_record, split_from, tombstone
from chalicelib.domain.timeline import Actor, TimelineEvent
from chalicelib.services.ports import CustomerRepository, Page, TouchPlan


@dataclass
class MergeOutcome:
    survivor: Customer
    record: dict[str, Any]
    applied: bool


class MergeService:
    def __init__(self, *, customers: CustomerRepository, clock: Clock) -> None:
        self._customers = customers
        self._clock = clock

    def candidates(self, *, principal: Principal, limit: int, cursor: str | None) -> Page[dict[str, Any]]:
        principal.require(Permission.CUSTOMERS_WRITE)
        return self._customers.candidates(principal.tenant_id, limit=limit, cursor=cursor)

    def merge(
        self, *, principal: Principal, survivor_id: str, absorbed_id: str, preview: bool
    ) -> MergeOutcome:
        """The person chooses the survivor; stable-identifier conflicts are theirs to accept."""
        principal.require(Permission.CUSTOMERS_WRITE)
        if survivor_id == absorbed_id:
            raise InvalidInputError("a customer cannot absorb itself")
        survivor, absorbed = self._live(principal, survivor_id), self._live(principal, absorbed_id)
        now = self._clock.now()
        merged = merge_into(survivor, absorbed, now=now)
        record = merge_record(
            survivor, absorbed, merged, evidence=[], at=now, reason=f"merged by {principal.user_id}"
        )
        if preview:
            return MergeOutcome(survivor=merged, record=record, applied=False)
        event = TimelineEvent.record(
            tenant_id=principal.tenant_id,
            customer_id=survivor.id,
            kind="customer.merged",
            at=now,
            actor=Actor.user(principal.user_id),
            source="api",
            seq=merged.version,
            data={"absorbed_id": absorbed.id, "manual": True},
        )
        plan = TouchPlan(
            tenant_id=principal.tenant_id,
            target_before=survivor,
            target_after=merged,
            claims=[],
            absorbed=[(absorbed, tombstone(absorbed, survivor.id, now=now))],
            events=[event],
            merge_records=[record],
        )
        self._customers.apply_touch(plan)
        return MergeOutcome(survivor=merged, record=record, applied=True)

    def unmerge(
        self, *, principal: Principal, survivor_id: str, absorbed_id: str
    ) -> tuple[Customer, Customer]:
        survivor = self._live(principal, survivor_id)
        record = self._customers.merge_record(principal.tenant_id, survivor_id, absorbed_id)
        gone = self._customers.get(principal.tenant_id, absorbed_id)
        if record is None or gone is None or gone.merged_into != survivor_id:
            raise NotFoundError(f"customer {absorbed_id} was not merged into {survivor_id}")
        now = self._clock.now()
        restored = gone.model_copy(deep=True)
        restored.merged_into = None
        restored.version = gone.version + 1
        restored.updated_at = now
        after = split_from(survivor, restored, record, now=now)
        actor = Actor.user(principal.user_id)
        events = [
            TimelineEvent.record(
                tenant_id=principal.tenant_id,
                customer_id=c.id,
                kind="customer.unmerged",
                at=now,
                actor=actor,
                source="api",
                seq=c.version,
                data={"other_id": other},
            )
            for c, other in ((after, restored.id), (restored, after.id))
        ]
        self._customers.apply_unmerge((survivor, after), (gone, restored), events)
        return after, restored

    def _live(self, principal: Principal, customer_id: str) -> Customer:
        principal.require(Permission.CUSTOMERS_WRITE)
        customer = self._customers.get(principal.tenant_id, customer_id)
        if customer is None:
            raise NotFoundError(f"customer {customer_id} not found")
        if customer.merged_into:
            raise ConflictError(f"customer {customer_id} was merged into {customer.merged_into}")
        if not can_write(principal, customer.ownership):
            raise ForbiddenError(f"customer {customer_id} is outside your data scope")
        return customer
