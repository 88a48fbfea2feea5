"""The interfaces use cases depend on. Adapters live in store/ and integrations/; fakes in tests/fakes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from chalicelib.domain.calendars import BusinessCalendar
from chalicelib.domain.customers import Customer, Identity
from chalicelib.domain.imports_jobs import ImportJob
from chalicelib.domain.orders import Order
from chalicelib.domain.price_book import IssuedQuote
from chalicelib.domain.pricing import Modifier, PriceRule
from chalicelib.domain.sla import SlaPolicy
from chalicelib.domain.tags import TagCatalogue, TagGroup
from chalicelib.domain.tenants import ApiKey, Tenant, User
from chalicelib.domain.ticket_templates import TicketTemplate
from chalicelib.domain.tickets import HistoryEntry, Ticket, TicketSettings
from chalicelib.domain.timeline import TimelineEvent
from chalicelib.domain.workflow_stats import NodeCounters
from chalicelib.domain.workflows import WorkflowDefinition

if TYPE_CHECKING:
    from chalicelib.domain.notifications import NotificationRequest

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass
class CustomerFilter:
    """Scope filters applied by the store while paging (never by a Scan)."""

    region: str | None = None
    store: str | None = None
    owner_id: str | None = None

    def matches(self, customer: Customer) -> bool:
        """The same filter in memory, for pages assembled outside a filtered Query."""
        return (
            (self.region is None or customer.region == self.region)
            and (self.store is None or customer.store == self.store)
            and (self.owner_id is None or customer.owner_id == self.owner_id)
        )


@dataclass
class CustomerChange:
    """Everything one customer write changes, committed atomically with the timeline event."""

    before: Customer | None
    after: Customer
    event: TimelineEvent | None
    tags_added: set[str] = field(default_factory=set)
    tags_removed: set[str] = field(default_factory=set)


@dataclass
class TouchPlan:
    """One resolved touchpoint, committed atomically: the target customer created or updated, identities
    claimed (new, or taken from a loser of a contest), customers absorbed by a merge (left as redirects),
    the timeline events, and the idempotency marker that makes a redelivery a no-op."""

    tenant_id: str
    target_before: Customer | None
    target_after: Customer
    claims: list[Identity]
    contested_from: dict[tuple[str, str], str] = field(default_factory=dict)  # identity → loser id
    losers: list[tuple[Customer, Customer]] = field(default_factory=list)  # (before, after)
    absorbed: list[tuple[Customer, Customer]] = field(default_factory=list)  # (before, tombstone)
    events: list[TimelineEvent] = field(default_factory=list)
    merge_records: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(
        default_factory=list
    )  # {a, b, reason, at}: for a person to review
    idempotency_key: str | None = None

    @property
    def simple(self) -> bool:
        """One customer created or changed, nobody else touched, and a key that makes a retry safe: such a
        plan needs no transaction (`CustomerRepository.apply_simple`), at half the write cost."""
        return bool(self.idempotency_key) and not (
            self.contested_from or self.losers or self.absorbed or self.merge_records or self.candidates
        )


class PiiCipher(Protocol):
    def encrypt(self, plaintext: str, *, context: str) -> str: ...
    def decrypt(self, token: str, *, context: str) -> str: ...
    def blind_index(self, value: str) -> str: ...


class TenantRepository(Protocol):
    def create_tenant(self, tenant: Tenant, admin: User, key: ApiKey) -> None: ...
    def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    def create_user(self, user: User, key: ApiKey) -> None: ...
    def list_users(self, tenant_id: str) -> list[User]: ...
    def get_api_key(self, tenant_id: str, key_hash: str) -> ApiKey | None: ...


class CustomerRepository(Protocol):
    def save(self, change: CustomerChange) -> None: ...
    def get(self, tenant_id: str, customer_id: str) -> Customer | None: ...
    def get_with_timeline(
        self, tenant_id: str, customer_id: str, events: int
    ) -> tuple[Customer, list[TimelineEvent]] | None: ...
    def find_by_identity(self, tenant_id: str, identity: Identity) -> Customer | None: ...
    def owners_of(self, tenant_id: str, identities: Sequence[Identity]) -> dict[tuple[str, str], str]: ...
    def list_recent(
        self, tenant_id: str, *, limit: int, cursor: str | None, where: CustomerFilter
    ) -> Page[Customer]: ...
    def search_by_name(
        self, tenant_id: str, prefix: str, *, limit: int, cursor: str | None, where: CustomerFilter
    ) -> Page[Customer]: ...
    def list_by_tag(
        self, tenant_id: str, tag_id: str, *, limit: int, cursor: str | None, where: CustomerFilter
    ) -> Page[Customer]: ...
    def timeline(
        self,
        tenant_id: str,
        customer_id: str,
        *,
        limit: int,
        cursor: str | None,
        merged_from: Sequence[str] = (),
    ) -> Page[TimelineEvent]: ...
    def holders(self, tenant_id: str, identities: Sequence[Identity]) -> dict[tuple[str, str], Customer]: ...
    def lookup(
        self, tenant_id: str, identities: Sequence[Identity], idempotency_key: str | None
    ) -> tuple[dict[tuple[str, str], Customer], bool]: ...
    def apply_touch(self, plan: TouchPlan) -> bool: ...
    def apply_simple(self, plan: TouchPlan) -> bool: ...
    def seen(self, tenant_id: str, idempotency_keys: Sequence[str]) -> set[str]: ...
    def claim_all(self, tenant_id: str, claims: Sequence[tuple[Identity, str]], at: datetime) -> bool: ...
    def bulk_create(self, plans: Sequence[TouchPlan]) -> None: ...
    def merge_record(self, tenant_id: str, survivor_id: str, absorbed_id: str) -> dict[str, Any] | None: ...
    def apply_unmerge(
        self,
        survivor: tuple[Customer, Customer],
        restored: tuple[Customer, Customer],
        events: list[TimelineEvent],
    ) -> None: ...
    def candidates(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[dict[str, Any]]: ...
    def get_many(self, tenant_id: str, customer_ids: Sequence[str]) -> dict[str, Customer]: ...
    def put_profile(self, customer: Customer, *, expected_version: int) -> bool: ...
    def put_events(self, events: Sequence[TimelineEvent]) -> None: ...
    def mark(self, tenant_id: str, idempotency_keys: Sequence[str], at: datetime) -> None: ...


class TagRepository(Protocol):
    def catalogue(self, tenant_id: str) -> TagCatalogue: ...
    def get_group(self, tenant_id: str, group_id: str) -> TagGroup | None: ...
    def save_group(self, group: TagGroup, *, expected_version: int | None) -> None: ...
    def delete_group(self, group: TagGroup) -> None: ...
    def tag_in_use(self, tenant_id: str, tag_id: str) -> bool: ...
    def member_ids(self, tenant_id: str, tag_id: str, *, limit: int, cursor: str | None) -> Page[str]: ...


class Publisher(Protocol):
    """Puts domain events on the events queue after the write that produced them committed."""

    def publish(self, events: Sequence[dict[str, Any]]) -> None: ...


class IntegrationRepository(Protocol):
    def put(self, tenant_id: str, kind: str, public: dict[str, Any], secrets: dict[str, str]) -> None: ...
    def get(self, tenant_id: str, kind: str) -> tuple[dict[str, Any], dict[str, str]] | None: ...


class ShopBuyerLookup(Protocol):
    """Who bought an order, for platforms whose pushes name no buyer (抖店): the buyer's identities, []
    when the platform names none. Raises the adapter's "unavailable" error (retry later) or its
    "permanent" error (will not change)."""

    def buyer_identities(self, order_id: str) -> list[Identity]: ...


class Inbox(Protocol):
    def put(self, tenant_id: str, *, key: str, received_at: datetime, record: dict[str, Any]) -> None: ...
    def list(self, tenant_id: str, month: str, limit: int) -> list[dict[str, Any]]: ...


class OrderRepository(Protocol):
    def get(self, tenant_id: str, platform: str, order_id: str) -> Order | None: ...
    def save(self, order: Order, *, expected_version: int) -> None: ...
    def for_customer(
        self, tenant_id: str, customer_id: str, *, limit: int, cursor: str | None
    ) -> Page[Order]: ...
    def get_many(self, tenant_id: str, refs: list[tuple[str, str]]) -> dict[tuple[str, str], Order]: ...
    def put_many(self, orders: list[Order]) -> None: ...


class FileStore(Protocol):
    def upload_url(self, key: str, content_type: str) -> str: ...
    def download_url(self, key: str) -> str: ...
    def exists(self, key: str) -> bool: ...
    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes, content_type: str) -> None: ...


class ImportJobRepository(Protocol):
    def get(self, tenant_id: str, job_id: str) -> ImportJob | None: ...
    def save(self, job: ImportJob, *, expected_version: int | None) -> None: ...


class TicketRepository(Protocol):
    """Tickets with their history, the tenant's ticket templates and workflow versions (store/tickets.py)."""

    def create(self, ticket: Ticket, entry: HistoryEntry, event: TimelineEvent | None) -> None: ...
    def save(
        self, ticket: Ticket, *, expected_version: int, entry: HistoryEntry, event: TimelineEvent | None
    ) -> None: ...
    def get(self, tenant_id: str, ticket_id: str) -> Ticket | None: ...
    def get_with_history(
        self, tenant_id: str, ticket_id: str, entries: int
    ) -> tuple[Ticket, list[HistoryEntry]] | None: ...
    def for_customer(
        self, tenant_id: str, customer_id: str, *, limit: int, cursor: str | None
    ) -> Page[Ticket]: ...
    def open_tickets(self, tenant_id: str) -> Iterator[Ticket]: ...
    def put_wait_token(self, tenant_id: str, ticket_id: str, node: str, token: str) -> None: ...
    def settings(self, tenant_id: str) -> TicketSettings | None: ...
    def put_settings(self, tenant_id: str, settings: TicketSettings) -> None: ...
    def pop_wait_token(self, tenant_id: str, ticket_id: str, node: str) -> str | None: ...
    def templates(self, tenant_id: str) -> list[TicketTemplate]: ...
    def put_template(
        self, tenant_id: str, template: TicketTemplate, *, expected_version: int | None
    ) -> None: ...
    def workflow(
        self, tenant_id: str, workflow_id: str, version: int | None = None
    ) -> WorkflowDefinition | None: ...
    def add_workflow_version(self, tenant_id: str, definition: WorkflowDefinition) -> None: ...
    def workflows(self, tenant_id: str) -> Sequence[WorkflowDefinition]: ...


class SlaConfigRepository(Protocol):
    def config(self, tenant_id: str) -> tuple[list[SlaPolicy], list[BusinessCalendar]]: ...
    def put_policy(self, tenant_id: str, policy: SlaPolicy) -> None: ...
    def put_calendar(self, tenant_id: str, calendar: BusinessCalendar) -> None: ...


class WorkflowStarter(Protocol):
    """Step Functions, by the state machine's logical id (chalicelib/resources.py STATE_MACHINES)."""

    def start(self, machine: str, name: str, payload: dict[str, Any]) -> None:
        """Start an execution; one that already exists under this name is left as it is."""
        ...

    def succeed(self, task_token: str, output: dict[str, Any]) -> None: ...
    def fail(self, task_token: str, error: str, cause: str) -> None: ...


class Notifier(Protocol):
    """Queue notifications (at least once, one per idempotency key)."""

    def notify(self, requests: Sequence[NotificationRequest]) -> None: ...


class PeopleDirectory(Protocol):
    def managers_for(self, tenant_id: str, *, region: str | None, store: str | None) -> list[str]:
        """The managers responsible for a store (else its region, else the tenant's admins)."""
        ...


# -- workflow statistics (appended; these imports belong at the top when convenient) --------------------


class WorkflowStatsStore(Protocol):
    """Per-step counters of a workflow version, per day (store/workflow_stats.py)."""

    def add(
        self,
        tenant_id: str,
        workflow_id: str,
        version: int,
        day: date,
        deltas: Mapping[str, NodeCounters],
        *,
        once: str,
        at: datetime,
    ) -> bool:
        """Add the counters atomically, once per `once` key (False: counted before)."""
        ...

    def read(
        self, tenant_id: str, workflow_id: str, version: int, first: date, last: date
    ) -> dict[str, NodeCounters]:
        """The counters of each step summed over the days `first`…`last` (inclusive)."""
        ...


class PriceBookStore(Protocol):
    def add_rule(self, tenant_id: str, rule: PriceRule) -> None: ...
    def rules_for(self, tenant_id: str, items: Iterable[str]) -> list[PriceRule]: ...
    def list_rules(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[PriceRule]: ...
    def add_modifier(self, tenant_id: str, modifier: Modifier) -> None: ...
    def modifiers(self, tenant_id: str) -> list[Modifier]: ...
    def add_quote(self, issued: IssuedQuote) -> None: ...
    def quote(self, tenant_id: str, quote_id: str) -> IssuedQuote | None: ...
