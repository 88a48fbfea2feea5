"""Privacy requests from shops (Shopify's mandatory compliance topics): give the merchant what we hold about
a customer, erase a customer, erase what a shop brought. Each is recorded for the admin
(`GET /v1/privacy-requests`), once per delivery. The rules of what goes and what stays are in
domain/privacy.py."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import Clock, ConflictError, NotFoundError, new_id
from chalicelib.domain.customers import Customer
from chalicelib.domain.orders import Order
from chalicelib.domain.privacy import (
    PrivacyRequest,
    PrivacyRequestKind,
    detach_platform,
    erase_customer,
    erase_event,
    export_customer,
    is_redacted,
    only_from,
)
from chalicelib.domain.shop_notices import (
    CustomerDataRequested,
    CustomerRedactionRequested,
    PrivacySubject,
    ShopRedactionRequested,
)
from chalicelib.domain.tickets import Ticket
from chalicelib.domain.timeline import Actor, ActorType, TimelineEvent
from chalicelib.services.events import envelope
from chalicelib.services.ports import (
    CustomerChange,
    CustomerRepository,
    OrderRepository,
    Page,
    PrivacyStore,
    Publisher,
    TicketRepository,
)

MAX_ATTEMPTS = 5  # a customer being erased may be touched meanwhile: re-read and erase again
PAGE = 100
EXPORT_MAX_ITEMS = 5_000  # per list (timeline events, orders, tickets) and customer; more is noted
SHOP_BATCH = 200  # customers erased per message; a larger shop continues in a message of its own
ACTOR = Actor(type=ActorType.SYSTEM, id="privacy")


@dataclass
class Erasure:
    """What erasing one customer changed."""

    customer_id: str
    changed: bool = False
    events: int = 0  # timeline events scrubbed
    merges: int = 0  # merge records dropped


@dataclass
class ShopProgress:
    """What one message of a shop's redaction did; `more`: customers are left for the next message."""

    erased: list[str] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    more: bool = False


class PrivacyService:
    def __init__(
        self,
        *,
        customers: CustomerRepository,
        orders: OrderRepository,
        tickets: TicketRepository,
        store: PrivacyStore,
        publisher: Publisher,
        clock: Clock,
    ) -> None:
        self._customers = customers
        self._orders = orders
        self._tickets = tickets
        self._store = store
        self._publisher = publisher
        self._clock = clock

    # -- what the platforms ask ------------------------------------------------------------------------
    def data_requested(self, tenant_id: str, notice: CustomerDataRequested) -> PrivacyRequest | None:
        """Everything we hold about the customer, kept encrypted with the request for the admin to hand
        over. None when this delivery was recorded before."""
        if self._store.recorded(tenant_id, notice.dedupe_key):
            return None
        customers = self._subjects(tenant_id, notice.subject)
        exported = [self._export(tenant_id, c) for c in customers]
        # The orders the request names that no customer found holds (a guest checkout, say).
        held = {o["order_id"] for e in exported for o in e["orders"] if o["platform"] == notice.platform}
        named = [
            self._orders.get(tenant_id, notice.platform, oid) for oid in notice.orders if oid not in held
        ]
        other_orders = [o.model_dump(mode="json") for o in named if o is not None]
        counts = {
            "customers": len(exported),
            "orders": sum(len(e["orders"]) for e in exported) + len(other_orders),
            "timeline_events": sum(len(e["timeline"]) for e in exported),
            "tickets": sum(len(e["tickets"]) for e in exported),
        }
        request = self._request(
            tenant_id, notice, PrivacyRequestKind.DATA_REQUEST, [c.id for c in customers], counts=counts
        )
        request.request_ref = notice.request_ref
        request.has_export = True
        export = {
            "request": {
                "platform": notice.platform,
                "shop_id": notice.shop_id,
                "request_ref": notice.request_ref,
                "shop_customer_id": notice.subject.shop_customer_id,
                "email": notice.subject.email,
                "orders_requested": notice.orders,
                "received_at": notice.occurred_at.isoformat(),
            },
            "customers": exported,
            "orders_requested": other_orders,
        }
        return request if self._store.put_request(request, export) else None

    def customer_redaction(self, tenant_id: str, notice: CustomerRedactionRequested) -> PrivacyRequest | None:
        if self._store.recorded(tenant_id, notice.dedupe_key):
            return None
        customers = self._subjects(tenant_id, notice.subject)
        done = [self._erase(tenant_id, c.id, notice.raw_type) for c in customers]
        request = self._request(
            tenant_id,
            notice,
            PrivacyRequestKind.CUSTOMER_REDACTION,
            [c.id for c in customers],
            counts={
                "timeline_events": sum(d.events for d in done),
                "merge_records": sum(d.merges for d in done),
            },
        )
        request.erased = [d.customer_id for d in done]
        return request if self._store.put_request(request, None) else None

    def shop_redaction(self, tenant_id: str, notice: ShopRedactionRequested) -> ShopProgress:
        """Up to SHOP_BATCH customers of the shop: erased in full when the shop is all we know of them,
        else only what it brought is removed (`domain/privacy.detach_platform`). `more` when customers are
        left: the caller sends the notice on again. The last batch records the request."""
        if self._store.recorded(tenant_id, notice.dedupe_key):
            return ShopProgress()
        progress = ShopProgress()
        done = 0
        while done < SHOP_BATCH:
            page = self._store.shop_customers(
                tenant_id, notice.platform, notice.shop_id, limit=min(PAGE, SHOP_BATCH - done), cursor=None
            )  # from the start each time: the rows done are removed
            if not page.items:
                break
            for customer_id in page.items:
                self._redact_for_shop(tenant_id, customer_id, notice, progress)
            self._store.forget_shop_customers(tenant_id, notice.platform, notice.shop_id, page.items)
            done += len(page.items)
        else:
            left = self._store.shop_customers(
                tenant_id, notice.platform, notice.shop_id, limit=1, cursor=None
            )
            progress.more = bool(left.items)
        if progress.more:
            return progress
        erased = notice.erased_before + len(progress.erased)
        detached = notice.detached_before + len(progress.detached)
        request = self._request(
            tenant_id,
            notice,
            PrivacyRequestKind.SHOP_REDACTION,
            [],
            counts={"customers_erased": erased, "customers_detached": detached},
        )
        self._store.put_request(request, None)
        return progress

    def remember_shop_customer(self, tenant_id: str, platform: str, shop_id: str, customer_id: str) -> None:
        """A shop brought this customer (an order, a customer record): its redaction will reach them."""
        self._store.remember_shop_customer(tenant_id, platform, shop_id, customer_id)

    # -- the admin ------------------------------------------------------------------------------------
    def list_requests(self, *, principal: Principal, limit: int, cursor: str | None) -> Page[PrivacyRequest]:
        principal.require(Permission.USERS_MANAGE)
        return self._store.list_requests(principal.tenant_id, limit=limit, cursor=cursor)

    def get(self, *, principal: Principal, request_id: str) -> PrivacyRequest:
        principal.require(Permission.USERS_MANAGE)
        request = self._store.get_request(principal.tenant_id, request_id)
        if request is None:
            raise NotFoundError(f"privacy request {request_id} not found")
        return request

    def export(self, *, principal: Principal, request_id: str) -> tuple[PrivacyRequest, dict[str, Any]]:
        """A data request and its export, personal data in clear: admins only, who hand it over."""
        request = self.get(principal=principal, request_id=request_id)
        data = self._store.export(principal.tenant_id, request_id) if request.has_export else None
        if data is None:
            raise NotFoundError(f"privacy request {request_id} has no export")
        return request, data

    # -- steps ------------------------------------------------------------------------------------------
    def _subjects(self, tenant_id: str, subject: PrivacySubject) -> list[Customer]:
        """The live customers holding the identities the request names (claims already point at the
        survivor of a merge). An e-mail alone finds nobody: it is not a lookup key here."""
        if not subject.identities:
            return []
        owners = set(self._customers.owners_of(tenant_id, subject.identities).values())
        found = self._customers.get_many(tenant_id, sorted(owners))
        live: dict[str, Customer] = {}
        for customer in found.values():
            current = self._follow(tenant_id, customer)
            if current is not None:
                live[current.id] = current
        return [live[k] for k in sorted(live)]

    def _follow(self, tenant_id: str, customer: Customer) -> Customer | None:
        seen = 0
        while customer.merged_into is not None and seen < 5:
            nxt = self._customers.get(tenant_id, customer.merged_into)
            if nxt is None:
                return None
            customer, seen = nxt, seen + 1
        return customer

    def _erase(self, tenant_id: str, customer_id: str, reason: str) -> Erasure:
        """The profile (version-checked; the released identities' claims go in the same transaction), the
        tombstones of customers it absorbed, every timeline event, and the merge records."""
        done = Erasure(customer_id=customer_id)
        for _ in range(MAX_ATTEMPTS):
            before = self._customers.get(tenant_id, customer_id)
            if before is None:
                return done
            after = erase_customer(before, now=self._clock.now())
            if after is before:
                break
            event = self._event(after, "customer.redacted", {"reason": reason, "redacted": True})
            try:
                self._customers.save(CustomerChange(before=before, after=after, event=event))
            except ConflictError:
                continue  # touched meanwhile: erase the fresh copy
            self._publisher.publish(
                [envelope(event.kind, tenant_id, event.id, event.model_dump(mode="json"))]
            )
            done.changed = True
            break
        else:
            raise ConflictError(f"customer {customer_id} keeps changing; the erasure will be retried")
        current = self._customers.get(tenant_id, customer_id)
        absorbed = list(current.merged_from) if current else []
        for gone_id in absorbed:
            self._erase_tombstone(tenant_id, gone_id)
        done.events = self._scrub_timeline(tenant_id, customer_id, absorbed)
        done.merges = self._store.drop_merge_records(tenant_id, [customer_id, *absorbed])
        return done

    def _erase_tombstone(self, tenant_id: str, customer_id: str) -> None:
        for _ in range(MAX_ATTEMPTS):
            gone = self._customers.get(tenant_id, customer_id)
            if gone is None:
                return
            erased = erase_customer(gone, now=self._clock.now())
            if erased is gone or self._customers.put_profile(erased, expected_version=gone.version):
                return
        raise ConflictError(f"customer {customer_id} keeps changing; the erasure will be retried")

    def _scrub_timeline(self, tenant_id: str, customer_id: str, absorbed: list[str]) -> int:
        scrubbed = 0
        for events in self._timeline_pages(tenant_id, customer_id, absorbed):
            changed = [e for e in (erase_event(ev) for ev in events) if e is not None]
            if changed:
                self._customers.put_events(changed)
                scrubbed += len(changed)
        return scrubbed

    def _timeline_pages(
        self, tenant_id: str, customer_id: str, absorbed: list[str]
    ) -> Iterator[list[TimelineEvent]]:
        cursor: str | None = None
        while True:
            page = self._customers.timeline(
                tenant_id, customer_id, limit=PAGE, cursor=cursor, merged_from=absorbed
            )
            yield page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _redact_for_shop(
        self, tenant_id: str, customer_id: str, notice: ShopRedactionRequested, progress: ShopProgress
    ) -> None:
        found = self._customers.get(tenant_id, customer_id)
        customer = self._follow(tenant_id, found) if found else None
        if customer is None or is_redacted(customer):
            return
        if only_from(customer, notice.platform):
            self._erase(tenant_id, customer.id, notice.raw_type)
            progress.erased.append(customer.id)
            return
        for _ in range(MAX_ATTEMPTS):
            before = self._customers.get(tenant_id, customer.id)
            if before is None:
                return
            after = detach_platform(before, notice.platform, now=self._clock.now())
            if after is before:
                return
            event = self._event(
                after, "customer.shop_data_removed", {"platform": notice.platform, "shop_id": notice.shop_id}
            )
            try:
                self._customers.save(CustomerChange(before=before, after=after, event=event))
            except ConflictError:
                continue
            progress.detached.append(customer.id)
            return
        raise ConflictError(f"customer {customer.id} keeps changing; the shop's erasure will be retried")

    def _export(self, tenant_id: str, customer: Customer) -> dict[str, Any]:
        absorbed = list(self._customers.get_many(tenant_id, customer.merged_from).values())
        ids = [customer.id, *(c.id for c in absorbed)]
        timeline = _every(
            lambda cursor: self._customers.timeline(
                tenant_id, customer.id, limit=PAGE, cursor=cursor, merged_from=customer.merged_from
            )
        )
        orders = [o for cid in ids for o in self._orders_of(tenant_id, cid)]
        tickets = [t for cid in ids for t in self._tickets_of(tenant_id, cid)]
        return {
            "profile": export_customer(customer),
            "merged_profiles": [export_customer(c) for c in absorbed],
            "orders": [o.model_dump(mode="json") for o in orders[:EXPORT_MAX_ITEMS]],
            "timeline": [e.model_dump(mode="json") for e in timeline[:EXPORT_MAX_ITEMS]],
            "tickets": [t.model_dump(mode="json") for t in tickets[:EXPORT_MAX_ITEMS]],
            "truncated": max(len(orders), len(timeline), len(tickets)) >= EXPORT_MAX_ITEMS,
        }

    def _orders_of(self, tenant_id: str, customer_id: str) -> list[Order]:
        return _every(
            lambda cursor: self._orders.for_customer(tenant_id, customer_id, limit=PAGE, cursor=cursor)
        )

    def _tickets_of(self, tenant_id: str, customer_id: str) -> list[Ticket]:
        return _every(
            lambda cursor: self._tickets.for_customer(tenant_id, customer_id, limit=PAGE, cursor=cursor)
        )

    def _event(self, customer: Customer, kind: str, data: dict[str, Any]) -> TimelineEvent:
        return TimelineEvent.record(
            tenant_id=customer.tenant_id,
            customer_id=customer.id,
            kind=kind,
            at=customer.updated_at,
            actor=ACTOR,
            source="privacy",
            seq=customer.version,
            data=data,
        )

    def _request(
        self,
        tenant_id: str,
        notice: CustomerDataRequested | CustomerRedactionRequested | ShopRedactionRequested,
        kind: PrivacyRequestKind,
        customer_ids: list[str],
        *,
        counts: dict[str, int],
    ) -> PrivacyRequest:
        request = PrivacyRequest(
            id=_request_id(notice.dedupe_key, notice.occurred_at),
            tenant_id=tenant_id,
            kind=kind,
            platform=notice.platform,
            shop_id=notice.shop_id,
            source_key=notice.dedupe_key,
            received_at=notice.occurred_at,
            completed_at=self._clock.now(),
            customer_ids=customer_ids,
            counts=counts,
        )
        if isinstance(notice, CustomerDataRequested | CustomerRedactionRequested):
            request.shop_customer_id = notice.subject.shop_customer_id
            request.orders = list(notice.orders)
        return request


T = TypeVar("T")


def _every(fetch: Callable[[str | None], Page[T]]) -> list[T]:
    """Page after page, up to EXPORT_MAX_ITEMS (a person with more is told the export is truncated)."""
    items: list[T] = []
    cursor: str | None = None
    while len(items) < EXPORT_MAX_ITEMS:
        page = fetch(cursor)
        items += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return items


def _request_id(source_key: str, at: datetime) -> str:
    """Sorts by the time the request came; the same delivery gives the same id."""
    digest = hashlib.sha256(source_key.encode()).digest()
    return new_id("prq", now_ms=int(at.timestamp() * 1000), entropy=digest[:10])
