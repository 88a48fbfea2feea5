"""Customer use cases: create, the 360 view, update, tags, lists and lookups."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.domain.access import Permission, Principal, ScopeKind, can_read, can_see_pii, can_write
from chalicelib.domain.common import (
    Clock,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PreconditionRequiredError,
)
from chalicelib.domain.customers import (
    Customer,
    CustomerDraft,
    CustomerPatch,
    Identity,
    apply_patch,
    diff,
    name_key,
    new_customer_id,
    normalize_identity_value,
    split_identities,
    validate_identity_type,
)
from chalicelib.domain.timeline import Actor, ActorType, TimelineEvent
from chalicelib.services.events import envelope
from chalicelib.services.ports import (
    CustomerChange,
    CustomerFilter,
    CustomerRepository,
    Page,
    Publisher,
    TagRepository,
)

TIMELINE_IN_360 = 20
MAX_REDIRECTS = 5
_PHONE_QUERY = re.compile(r"^\+?[\d\s\-()]{7,20}$")


@dataclass
class CustomerView:
    """A customer as one caller may see it."""

    customer: Customer
    reveal_pii: bool
    timeline: list[TimelineEvent] | None = None


class CustomerService:
    def __init__(
        self,
        *,
        customers: CustomerRepository,
        tags: TagRepository,
        publisher: Publisher,
        clock: Clock,
    ) -> None:
        self._customers = customers
        self._tags = tags
        self._publisher = publisher
        self._clock = clock

    # -- commands --------------------------------------------------------------------------------
    def create(self, *, principal: Principal, draft: CustomerDraft, source: str = "api") -> CustomerView:
        principal.require(Permission.CUSTOMERS_WRITE)
        now = self._clock.now()
        identities, phone = split_identities([i.to_identity() for i in draft.identities], draft.phone)
        scope = principal.scope
        customer = Customer(
            id=new_customer_id(),
            tenant_id=principal.tenant_id,
            name=draft.name,
            phone=phone,
            gender=draft.gender,
            birthday=draft.birthday,
            # A region- or store-scoped user creates inside their scope unless they say otherwise.
            region=draft.region or (scope.value if scope.kind is ScopeKind.REGION else None),
            store=draft.store or (scope.value if scope.kind is ScopeKind.STORE else None),
            owner_id=draft.owner_id or principal.user_id,
            attributes=draft.attributes,
            identities=identities,
            tags=self._tags.catalogue(principal.tenant_id).resolve(draft.tags) if draft.tags else {},
            source=source,
            created_at=now,
            updated_at=now,
        )
        if not can_write(principal, customer.ownership):
            raise ForbiddenError("the customer would be outside your data scope")
        event = self._event(principal, customer, "customer.created", source, {"name": customer.name})
        self._customers.save(
            CustomerChange(before=None, after=customer, event=event, tags_added=set(customer.tags))
        )
        self._publish(event)
        return self._view(principal, customer)

    def update(
        self, *, principal: Principal, customer_id: str, patch: CustomerPatch, if_match: int | None
    ) -> CustomerView:
        expected = if_match if if_match is not None else patch.version
        if expected is None:
            raise PreconditionRequiredError(
                "send the version you read: an If-Match header or `version` in the body",
                details=[{"field": "If-Match", "message": "required"}],
            )
        before = self._writable(principal, customer_id)
        if before.version != expected:
            raise _stale(expected, before.version)
        after = apply_patch(before, patch, now=self._clock.now())
        if not can_write(principal, after.ownership):
            raise ForbiddenError("the change would move the customer outside your data scope")
        changes = diff(before, after)
        if not changes:
            return self._view(principal, before)
        event = self._event(principal, after, "customer.updated", "api", {"changes": changes})
        self._customers.save(CustomerChange(before=before, after=after, event=event))
        self._publish(event)
        return self._view(principal, after)

    def add_tags(self, *, principal: Principal, customer_id: str, refs: list[str]) -> CustomerView:
        before = self._writable(principal, customer_id)
        resolved = self._tags.catalogue(principal.tenant_id).resolve(refs)
        added = {tid: name for tid, name in resolved.items() if tid not in before.tags}
        if not added:
            return self._view(principal, before)
        after = before.model_copy(deep=True)
        after.tags.update(added)
        after.version += 1
        after.updated_at = self._clock.now()
        event = self._event(
            principal,
            after,
            "customer.tagged",
            "api",
            {"tags": [{"id": k, "name": v} for k, v in added.items()]},
        )
        self._customers.save(CustomerChange(before=before, after=after, event=event, tags_added=set(added)))
        self._publish(event)
        return self._view(principal, after)

    def remove_tag(self, *, principal: Principal, customer_id: str, ref: str) -> CustomerView:
        before = self._writable(principal, customer_id)
        tag_id = ref if ref in before.tags else next((k for k, v in before.tags.items() if v == ref), None)
        if tag_id is None:
            raise NotFoundError(f"customer {customer_id} has no tag '{ref}'")
        after = before.model_copy(deep=True)
        name = after.tags.pop(tag_id)
        after.version += 1
        after.updated_at = self._clock.now()
        event = self._event(
            principal, after, "customer.untagged", "api", {"tags": [{"id": tag_id, "name": name}]}
        )
        self._customers.save(CustomerChange(before=before, after=after, event=event, tags_removed={tag_id}))
        self._publish(event)
        return self._view(principal, after)

    # -- queries ---------------------------------------------------------------------------------
    def get_360(self, *, principal: Principal, customer_id: str) -> CustomerView:
        principal.require(Permission.CUSTOMERS_READ)
        found = self._customers.get_with_timeline(principal.tenant_id, customer_id, TIMELINE_IN_360)
        for _ in range(MAX_REDIRECTS):  # a merged customer's old id resolves to the survivor
            if found is None or found[0].merged_into is None:
                break
            found = self._customers.get_with_timeline(
                principal.tenant_id, found[0].merged_into, TIMELINE_IN_360
            )
        if found is None or found[0].merged_into or not can_read(principal, found[0].ownership):
            raise _missing(customer_id)
        view = self._view(principal, found[0])
        view.timeline = found[1]
        return view

    def ensure_readable(self, *, principal: Principal, customer_id: str) -> None:
        """404 unless the caller may read this customer (one GetItem)."""
        self._readable(principal, customer_id)

    def timeline(
        self, *, principal: Principal, customer_id: str, limit: int, cursor: str | None
    ) -> Page[TimelineEvent]:
        customer = self._readable(principal, customer_id)
        return self._customers.timeline(
            principal.tenant_id, customer_id, limit=limit, cursor=cursor, merged_from=customer.merged_from
        )

    def find_by_identity(self, *, principal: Principal, id_type: str, value: str) -> CustomerView:
        principal.require(Permission.CUSTOMERS_READ)
        try:
            identity = Identity(
                type=validate_identity_type(id_type), value=normalize_identity_value(id_type, value)
            )
        except InvalidInputError as e:
            raise NotFoundError(f"no customer has identity {id_type}: {e.message}") from e
        customer = self._customers.find_by_identity(principal.tenant_id, identity)
        if customer is None or not can_read(principal, customer.ownership):
            raise NotFoundError(f"no customer has this {id_type}")
        return self._view(principal, customer)

    def list(
        self, *, principal: Principal, tag: str | None, q: str | None, limit: int, cursor: str | None
    ) -> Page[CustomerView]:
        principal.require(Permission.CUSTOMERS_READ)
        tid = principal.tenant_id
        where = _scope_filter(principal)
        if q and _PHONE_QUERY.match(q):
            page = self._by_phone(principal, q, tag)
        elif tag:
            # A tag id needs no catalogue read: the member index is keyed by tenant, so a foreign or
            # unknown id just lists nothing. A tag name is resolved (and must be unique).
            tag_id = tag if tag.startswith("tag_") else next(iter(self._tags.catalogue(tid).resolve([tag])))
            page = self._customers.list_by_tag(tid, tag_id, limit=limit, cursor=cursor, where=where)
            if q:
                page.items = [c for c in page.items if _name_matches(c, q)]
        elif q:
            page = self._customers.search_by_name(tid, q, limit=limit, cursor=cursor, where=where)
        else:
            page = self._customers.list_recent(tid, limit=limit, cursor=cursor, where=where)
        return Page([self._view(principal, c) for c in page.items], page.next_cursor)

    # -- helpers ---------------------------------------------------------------------------------
    def _by_phone(self, principal: Principal, q: str, tag: str | None) -> Page[Customer]:
        try:
            view = self.find_by_identity(principal=principal, id_type="phone", value=q)
        except NotFoundError:
            return Page([])
        ok = tag is None or tag in view.customer.tags or tag in view.customer.tags.values()
        in_list = ok and _scope_filter(principal).matches(view.customer)
        return Page([view.customer] if in_list else [])

    def _readable(self, principal: Principal, customer_id: str) -> Customer:
        principal.require(Permission.CUSTOMERS_READ)
        customer = self._customers.get(principal.tenant_id, customer_id)
        if customer is None or not can_read(principal, customer.ownership):
            raise _missing(customer_id)
        if customer.merged_into:
            raise ConflictError(
                f"customer {customer_id} was merged into {customer.merged_into}: use that id",
                details=[{"field": "customer_id", "merged_into": customer.merged_into}],
            )
        return customer

    def _writable(self, principal: Principal, customer_id: str) -> Customer:
        principal.require(Permission.CUSTOMERS_WRITE)
        customer = self._readable(principal, customer_id)
        if not can_write(principal, customer.ownership):
            raise ForbiddenError(f"customer {customer_id} is outside your data scope (you may only read it)")
        return customer

    def _view(self, principal: Principal, customer: Customer) -> CustomerView:
        return CustomerView(customer=customer, reveal_pii=can_see_pii(principal, customer.ownership))

    def _event(
        self, principal: Principal, customer: Customer, kind: str, source: str, data: dict[str, object]
    ) -> TimelineEvent:
        return TimelineEvent.record(
            tenant_id=customer.tenant_id,
            customer_id=customer.id,
            kind=kind,
            at=customer.updated_at,
            actor=Actor.user(principal.user_id),
            source=source,
            seq=customer.version,
            data=data,
        )

    def _publish(self, event: TimelineEvent) -> None:
        self._publisher.publish(
            [envelope(event.kind, event.tenant_id, event.id, event.model_dump(mode="json"))]
        )


def _scope_filter(principal: Principal) -> CustomerFilter:
    scope = principal.scope
    return CustomerFilter(
        region=scope.value if scope.kind is ScopeKind.REGION else None,
        store=scope.value if scope.kind is ScopeKind.STORE else None,
        owner_id=principal.user_id if scope.kind is ScopeKind.OWN else None,
    )


def _name_matches(customer: Customer, q: str) -> bool:
    return name_key(customer.name).startswith(name_key(q))


def _missing(customer_id: str) -> NotFoundError:
    return NotFoundError(f"customer {customer_id} not found")


def _stale(expected: int, actual: int) -> ConflictError:
    return ConflictError(
        "the customer was changed by someone else: reload it and retry",
        details=[{"field": "version", "message": f"version {expected} is stale; current is {actual}"}],
    )


class TagSync:
    """Keeps customers' denormalised tag names in step with the catalogue (runs on the events queue).

    Idempotent by construction: renaming to the current name or removing an absent tag changes nothing,
    so a redelivered event has one effect."""

    def __init__(self, *, customers: CustomerRepository, tags: TagRepository, clock: Clock) -> None:
        self._customers = customers
        self._tags = tags
        self._clock = clock

    def apply(self, *, tenant_id: str, tag_id: str, name: str | None) -> int:
        """`name` None means the tag was deleted. Returns how many customers changed."""
        changed = 0
        cursor: str | None = None
        while True:
            page = self._tags.member_ids(tenant_id, tag_id, limit=100, cursor=cursor)
            for customer_id in page.items:
                changed += self._sync_one(tenant_id, customer_id, tag_id, name)
            if page.next_cursor is None:
                return changed
            cursor = page.next_cursor

    def _sync_one(
        self, tenant_id: str, customer_id: str, tag_id: str, name: str | None, attempts: int = 3
    ) -> int:
        for attempt in range(attempts):
            before = self._customers.get(tenant_id, customer_id)
            if (
                before is None
                or before.tags.get(tag_id) == name
                or (name is None and tag_id not in before.tags)
            ):
                return 0
            after = before.model_copy(deep=True)
            after.version += 1
            after.updated_at = self._clock.now()
            event = None
            removed: set[str] = set()
            if name is None:
                old = after.tags.pop(tag_id)
                removed = {tag_id}
                event = TimelineEvent.record(
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    kind="customer.untagged",
                    at=after.updated_at,
                    actor=Actor(type=ActorType.SYSTEM, id="tag-catalogue"),
                    source="system",
                    seq=after.version,
                    data={"tags": [{"id": tag_id, "name": old}], "reason": "tag deleted"},
                )
            else:
                after.tags[tag_id] = name
            try:
                self._customers.save(
                    CustomerChange(before=before, after=after, event=event, tags_removed=removed)
                )
                return 1
            except ConflictError:
                if attempt == attempts - 1:
                    raise
        return 0
