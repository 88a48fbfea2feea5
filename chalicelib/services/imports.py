"""Historic data migration: legacy CSV exports → customers (through the identity resolver) and orders.

Re-running a file changes nothing: each person's touch carries a key derived from its content, so an
unchanged person is a duplicate (no write); a changed one applies only what changed."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.domain.access import Permission, Principal, authorize_customer_change
from chalicelib.domain.common import Clock, ForbiddenError
from chalicelib.domain.customers import Customer, Gender, is_placeholder_name
from chalicelib.domain.imports import (
    CustomerRow,
    ImportIssue,
    OrderRow,
    PersonRecord,
    cluster_people,
    parse_customers,
    parse_orders,
)
from chalicelib.domain.orders import Order, OrderEvent, OrderSummary, remember_order
from chalicelib.domain.tags import MAX_TAGS_PER_GROUP, new_tag_group
from chalicelib.domain.timeline import Actor, ActorType, TimelineEvent
from chalicelib.services.orders import OrderService
from chalicelib.services.ports import CustomerRepository, OrderRepository, TagRepository
from chalicelib.services.resolver import IdentityResolver, Touch

IMPORT_TAG_GROUP = "导入标签"
FORBIDDEN = "forbidden"  # report code: a row the importer may not apply (outside their scope, a new tag)
_LONG_DIGITS = re.compile(r"\d{5,}")
Progress = Callable[[int, int], None]  # (rows done, rows in the file)


class RowIssue(BaseModel):
    row: int
    code: str
    field: str | None
    reason: str


class ImportReport(BaseModel):
    """Customers: rows = rejected_rows + created + updated + unchanged + merged_rows.
    Orders: orders = orders_stored + unchanged + the orders rejected (one or more rejected rows each)."""

    kind: str
    source: str
    rows: int  # data records in the file (an order of two lines is two rows)
    rejected_rows: int
    people: int = 0  # customers: the people the rows describe (rows sharing a phone, unionid or id are one)
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # customers: people already imported as they are; orders: orders already stored
    merged: int = 0  # customers: stored customers merged into another (the file showed them to be one)
    merged_rows: int = 0  # customers: rows that went into another row's customer (the same person)
    orders: int = 0  # orders: orders in the file (the lines of one order are one)
    orders_stored: int = 0  # orders: orders written by this run (linked or not)
    linked: int = 0  # orders: linked to a customer
    not_linked: int = 0  # orders: kept, but without a usable buyer identity
    rejected: list[RowIssue] = Field(default_factory=list)
    warnings: list[RowIssue] = Field(default_factory=list)
    reasons: dict[str, int] = Field(default_factory=dict)


def _import_event(customer: Customer, event: OrderEvent) -> TimelineEvent:
    """Deterministic id and sequence: re-running an interrupted import overwrites, never duplicates."""
    digest = hashlib.sha256(event.dedupe_key.encode()).hexdigest()[:26]
    data: dict[str, Any] = {
        "platform": event.platform,
        "order_id": event.order_id,
        "status": event.status.value,
        "platform_event": event.raw_type,
    }
    if event.total_amount is not None:
        data["total_amount"] = f"{event.total_amount:.2f}"
    return TimelineEvent(
        id=f"evt_{digest}",
        tenant_id=customer.tenant_id,
        customer_id=customer.id,
        kind=f"order.{event.status.value}",
        at=event.occurred_at,
        actor=Actor(type=ActorType.SYSTEM, id="import"),
        source=f"import:{event.platform}",
        seq=0,
        data=data,
    )


def _refused(rows: list[int], reason: str) -> list[RowIssue]:
    return [RowIssue(row=row, code=FORBIDDEN, field=None, reason=reason) for row in rows]


def _masked(issue: ImportIssue) -> RowIssue:
    """Reports never carry raw rows or whole numbers: phones and ids are PII."""
    reason = _LONG_DIGITS.sub(
        lambda m: m.group()[:3] + "*" * (len(m.group()) - 5) + m.group()[-2:], issue.reason
    )
    return RowIssue(row=issue.row, code=issue.code, field=issue.field, reason=reason)


class ImportService:
    def __init__(
        self,
        *,
        resolver: IdentityResolver,
        tags: TagRepository,
        customers: CustomerRepository,
        orders: OrderRepository,
        order_service: OrderService,
        clock: Clock,
    ) -> None:
        self._resolver = resolver
        self._tags = tags
        self._customers = customers
        self._orders = orders
        self._order_service = order_service
        self._clock = clock

    def import_orders(
        self, *, principal: Principal, text: str, source: str, progress: Progress | None = None
    ) -> ImportReport:
        """Orders link to customers by phone or unionid. Orders whose buyer is exactly one known customer take
        the bulk path (per customer: one conditional profile put, the rest batched, markers last so a crash
        anywhere is redone idempotently); the others go through the live path (which may create or merge).
        An order whose buyer the importer may not change (outside their data scope) is rejected, row by row,
        and nothing of it is stored."""
        principal.require(Permission.CUSTOMERS_WRITE)
        tid = principal.tenant_id
        rows: list[OrderRow] = []
        issues: list[ImportIssue] = []
        for parsed in parse_orders(text.splitlines(keepends=True)):
            if isinstance(parsed, ImportIssue):
                issues.append(parsed)
            else:
                rows.append(parsed)
        # Every record is in an order's rows, a rejection or (an exact repeat of a record) a warning.
        dropped = {w.row for r in rows for w in r.warnings if w.code == "duplicate_row"}
        report = ImportReport(
            kind="orders",
            source=source,
            rows=sum(len(r.rows) for r in rows) + len(issues) + len(dropped),
            rejected_rows=len(issues),
            orders=len(rows),
            rejected=[_masked(i) for i in issues],
            warnings=[_masked(w) for r in rows for w in r.warnings],
        )
        events = {r.dedupe_key: r.to_order_event() for r in rows}
        seen = {k.removeprefix("shop:") for k in self._customers.seen(tid, [f"shop:{k}" for k in events])}
        report.unchanged = len(seen)
        todo = [e for k, e in events.items() if k not in seen]
        weight = {r.dedupe_key: len(r.rows) for r in rows}
        done = report.rows - sum(weight[e.dedupe_key] for e in todo)

        def advance(events: list[OrderEvent]) -> None:
            nonlocal done
            done += sum(weight[e.dedupe_key] for e in events)
            if progress:
                progress(done, report.rows)

        advance([])
        refused = self._apply_orders(principal, todo, advance)
        for row in rows:
            if row.dedupe_key in refused:
                report.rejected += _refused(row.rows, refused[row.dedupe_key])
        report.orders_stored = len(todo) - len(refused)
        report.linked = sum(1 for e in todo if e.buyer and e.dedupe_key not in refused)
        report.not_linked = sum(1 for e in todo if not e.buyer)
        report.rejected.sort(key=lambda i: i.row)
        report.rejected_rows = len(report.rejected)
        report.reasons = dict(Counter(i.code for i in report.rejected))
        return report

    def _apply_orders(
        self, principal: Principal, todo: list[OrderEvent], advance: Callable[[list[OrderEvent]], None]
    ) -> dict[str, str]:
        """Links and stores the orders (`advance` after each batch of them); returns the refused ones:
        dedupe key → why."""
        tid = principal.tenant_id
        refused: dict[str, str] = {}
        owners = self._customers.owners_of(tid, [i for e in todo for i in e.buyer])
        by_customer: dict[str, list[OrderEvent]] = {}
        slow: list[OrderEvent] = []
        for event in todo:
            held = {owners[i.key] for i in event.buyer if i.key in owners}
            if len(held) == 1:
                by_customer.setdefault(held.pop(), []).append(event)
            else:
                slow.append(event)  # unknown buyer (a new customer) or several customers (a merge)
        ids = sorted(by_customer)
        for start in range(0, len(ids), 100):
            profiles = self._customers.get_many(tid, ids[start : start + 100])
            for cid in ids[start : start + 100]:
                mine, profile = by_customer[cid], profiles.get(cid)
                reason = _refusal(principal, profile) if profile is not None else None
                if reason is not None:
                    refused.update((e.dedupe_key, reason) for e in mine)
                elif profile is None or not self._link_bulk(profile, mine):
                    slow += mine
                    continue  # counted when the live path has stored them
                advance(mine)
        for event in slow:
            try:
                self._order_service.ingest(tid, event, principal=principal)
            except ForbiddenError as e:
                refused[event.dedupe_key] = e.message
            advance([event])
        # Orders without a buyer touch no customer (so the live path writes no marker): mark them here.
        self._customers.mark(tid, [f"shop:{e.dedupe_key}" for e in slow if not e.buyer], self._clock.now())
        return refused

    def _link_bulk(self, customer: Customer, events: list[OrderEvent]) -> bool:
        tid = customer.tenant_id
        existing = self._orders.get_many(tid, [(e.platform, e.order_id) for e in events])
        orders: dict[tuple[str, str], Order] = {}
        timeline: list[TimelineEvent] = []
        for event in sorted(events, key=lambda e: e.occurred_at):
            ref = (event.platform, event.order_id)
            order = orders.get(ref) or existing.get(ref) or Order.start(tid, event)
            if order.apply(event, customer.id):
                orders[ref] = order
                timeline.append(_import_event(customer, event))
        after = customer.model_copy(deep=True)
        recent = [OrderSummary.model_validate(r) for r in after.recent_orders]
        for order in orders.values():
            recent = remember_order(recent, order.summary())
        after.recent_orders = [r.model_dump(mode="json") for r in recent]
        after.version = customer.version + 1
        after.updated_at = self._clock.now()
        self._orders.put_many(list(orders.values()))
        self._customers.put_events(timeline)
        if not self._customers.put_profile(after, expected_version=customer.version):
            return False  # changed meanwhile: the caller replays these orders on the live path
        self._customers.mark(tid, [f"shop:{e.dedupe_key}" for e in events], after.updated_at)
        return True

    def import_customers(
        self, *, principal: Principal, text: str, source: str, progress: Progress | None = None
    ) -> ImportReport:
        principal.require(Permission.CUSTOMERS_WRITE)
        rows: list[CustomerRow] = []
        issues: list[ImportIssue] = []
        for parsed in parse_customers(text.splitlines(keepends=True)):
            if isinstance(parsed, ImportIssue):
                issues.append(parsed)
            else:
                rows.append(parsed)
        people = cluster_people(rows)
        tag_ids = self._ensure_tags(principal, {t for p in people for t in p.tags})
        report = ImportReport(
            kind="customers",
            source=source,
            rows=len(rows) + len(issues),
            rejected_rows=len(issues),
            people=len(people),
            rejected=[_masked(i) for i in issues],
            warnings=[_masked(w) for r in rows for w in r.warnings],
        )
        touches: list[Touch] = []
        touched: list[PersonRecord] = []
        cumulative = [0]  # rows of the first n touched people
        for person in people:
            new_tags = [t for t in person.tags if t not in tag_ids]
            if new_tags:  # tags the catalogue lacks, and the importer may not create
                report.rejected += _refused(
                    [r.row for r in person.rows],
                    f"tag {', '.join(new_tags)} does not exist and creating tags needs "
                    f"{Permission.TAGS_MANAGE.value}",
                )
                continue
            touch = self._person_touch(principal, person, tag_ids, source)
            if touch is None:
                report.rejected += [
                    RowIssue(
                        row=r.row,
                        code="unresolvable",
                        field=None,
                        reason="the rows carry two different unionids",
                    )
                    for r in person.rows
                ]
            else:
                touches.append(touch)
                touched.append(person)
                cumulative.append(cumulative[-1] + len(person.rows))
        skipped = report.rows - cumulative[-1]  # rejected already: counted as done
        if progress:
            progress(skipped, report.rows)
        results = self._resolver.touch_many(
            touches,
            progress=(lambda n: progress(skipped + cumulative[n], report.rows)) if progress else None,
        )
        for person, result in zip(touched, results, strict=True):
            if result.refused:  # outside the importer's scope: the customer is left as it was
                report.rejected += _refused([r.row for r in person.rows], result.refused)
            elif result.duplicate:
                report.unchanged += 1
            elif result.created:
                report.created += 1
            else:
                report.updated += 1
            if not result.refused:
                report.merged_rows += len(person.rows) - 1
            report.merged += len(result.merged)
        report.rejected.sort(key=lambda i: i.row)
        report.rejected_rows = len(report.rejected)
        report.reasons = dict(Counter(i.code for i in report.rejected))
        return report

    def _person_touch(
        self, principal: Principal, person: PersonRecord, tag_ids: dict[str, str], source: str
    ) -> Touch | None:
        if person.unionid_conflict:
            return None  # a person cannot carry two unionids: a human decides (reported per row)
        content = hashlib.sha256(person.model_dump_json().encode()).hexdigest()[:32]
        draft = person.to_draft()

        def update(customer: Customer) -> None:
            # Fill what the customer lacks; never overwrite what staff or other sources already set.
            for field in ("gender", "birthday", "region", "store"):
                if getattr(customer, field) in (None, Gender.UNKNOWN):
                    setattr(customer, field, getattr(draft, field))
            if is_placeholder_name(customer.name):
                customer.name = draft.name
            for key, value in draft.attributes.items():
                customer.attributes.setdefault(key, value)
            customer.tags.update({tag_ids[t]: t for t in person.tags if tag_ids[t] not in customer.tags})

        return Touch(
            tenant_id=principal.tenant_id,
            identities=person.identities,
            kind="customer.imported",
            source="import",
            at=self._clock.now(),
            actor=Actor.user(principal.user_id),
            data={"file": source, "rows": [r.row for r in person.rows], "legacy_ids": person.external_ids},
            idempotency_key=f"import:{content}",
            name_hint=draft.name,
            update=update,
            principal=principal,  # the resolver checks every customer the row would change or merge
        )

    def _ensure_tags(self, principal: Principal, names: set[str]) -> dict[str, str]:
        """Tag name → id, creating the missing ones in 「导入标签」 groups (one catalogue read per import)
        when the importer may manage tags; otherwise the missing ones are left out (their rows are
        rejected)."""
        tenant_id = principal.tenant_id
        catalogue = self._tags.catalogue(tenant_id)
        known: dict[str, str] = {}
        for group in catalogue.groups:
            for tag in group.tags:
                known.setdefault(tag.name, tag.id)
        if not principal.has(Permission.TAGS_MANAGE):
            return {n: known[n] for n in names if n in known}
        missing = sorted(names - known.keys())
        groups = [g for g in catalogue.groups if g.name.startswith(IMPORT_TAG_GROUP)]
        now = self._clock.now()
        while missing:
            open_group = next((g for g in groups if len(g.tags) < MAX_TAGS_PER_GROUP), None)
            if open_group is None:
                name = IMPORT_TAG_GROUP if not groups else f"{IMPORT_TAG_GROUP} {len(groups) + 1}"
                group, expected = new_tag_group(tenant_id=tenant_id, name=name, tag_names=[], now=now), None
                groups.append(group)
            else:
                group, expected = open_group, open_group.version
                group.version += 1
            room = MAX_TAGS_PER_GROUP - len(group.tags)
            for tag in group.add_tags(missing[:room]):
                known[tag.name] = tag.id
            missing = missing[room:]
            group.updated_at = now
            self._tags.save_group(group, expected_version=expected)
        return {n: known[n] for n in names}


def _refusal(principal: Principal, customer: Customer) -> str | None:
    """Why the importer may not change this customer (outside their data scope), or None."""
    try:
        authorize_customer_change(
            principal, changed=[customer.ownership], result=customer.ownership, creates=False
        )
    except ForbiddenError as e:
        return e.message
    return None


def summary(report: ImportReport) -> dict[str, Any]:
    return report.model_dump(exclude={"rejected", "warnings"})
