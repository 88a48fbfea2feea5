"""The interfaces use cases depend on. Adapters live in store/ and integrations/; fakes in tests/fakes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from chalicelib.domain.assignment import (
    AssignmentWeights,
    QueueReason,
    StaffProfile,
    TicketNeeds,
    WaitingTicket,
)
from chalicelib.domain.billing import Bill, Part, RegionCoefficient
from chalicelib.domain.calendars import BusinessCalendar
from chalicelib.domain.configuration import ConfigKind
from chalicelib.domain.customers import Customer, Identity
from chalicelib.domain.imports_jobs import ImportJob
from chalicelib.domain.inventory import LowStock, Reservation, ReservationStatus, Stock
from chalicelib.domain.ledger import Posting, Source
from chalicelib.domain.notifications import (
    Channel,
    Delivery,
    NotificationPolicy,
    NotificationTemplate,
    Provider,
    RecipientKind,
    Subscription,
)
from chalicelib.domain.orders import Order
from chalicelib.domain.price_book import IssuedQuote
from chalicelib.domain.pricing import Modifier, PriceRule
from chalicelib.domain.privacy import PrivacyRequest
from chalicelib.domain.send_limits import RateLimit
from chalicelib.domain.settlement import AnyPeriodModifier, AnyRule, Facts
from chalicelib.domain.settlement_runs import SettlementRun
from chalicelib.domain.sla import SlaPolicy
from chalicelib.domain.statements import Entry
from chalicelib.domain.tags import TagCatalogue, TagGroup
from chalicelib.domain.tenants import ApiKey, KeyRef, RegisteredTenant, Tenant, User
from chalicelib.domain.ticket_templates import TicketTemplate
from chalicelib.domain.tickets import HistoryEntry, Ticket, TicketSettings
from chalicelib.domain.timeline import TimelineEvent
from chalicelib.domain.unsettled import UnsettledSource
from chalicelib.domain.wecom_org import WeComDepartment, WeComMember
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


@dataclass(frozen=True)
class DeadLetter:
    """A queue message that failed its last try, kept with its raw body for a replay."""

    message_id: str
    receive_count: int
    sent_at_ms: int | None
    tenant_id: str | None
    body: str


class DeadLetters(Protocol):
    def queues(self) -> list[str]: ...
    def peek(self, queue_id: str, *, limit: int, tenant_id: str | None = None) -> list[DeadLetter]: ...
    def redrive(self, queue_id: str, *, limit: int, tenant_id: str | None = None) -> int: ...


class PiiCipher(Protocol):
    def encrypt(self, plaintext: str, *, context: str) -> str: ...
    def decrypt(self, token: str, *, context: str) -> str: ...
    def blind_index(self, value: str) -> str: ...


class TenantRepository(Protocol):
    def create_tenant(self, tenant: Tenant, admin: User, key: ApiKey) -> None:
        """The tenant, its registry row, its first admin and key: one transaction."""
        ...

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    def registered_tenants(self) -> list[RegisteredTenant]:
        """Every tenant, from the registry (the one partition not under a tenant): schedules only."""
        ...

    def register_missing(self) -> int:
        """Backfill: registry rows for tenants without one (operators; a Scan). Idempotent; how many."""
        ...

    def create_user(self, user: User, key: ApiKey) -> None: ...
    def list_users(self, tenant_id: str) -> list[User]: ...
    def get_user(self, tenant_id: str, user_id: str) -> User | None: ...
    def update_user(self, user: User, *, previous: User | None = None) -> None:
        """Conditional on `user.version - 1` being stored: ConflictError otherwise. When the WeCom UserID
        differs from `previous`'s, its index row moves in the same write (ConflictError: another user's)."""
        ...

    def user_for_wecom(self, tenant_id: str, wecom_userid: str) -> str | None:
        """Our user id of the WeCom member: one GetItem."""
        ...

    def get_credentials(self, ref: KeyRef) -> tuple[ApiKey | None, User | None]:
        """The key and its staff user, in ONE request (authentication runs on every call)."""
        ...

    def list_keys(self, tenant_id: str, holder: str) -> list[ApiKey]: ...
    def get_key(self, tenant_id: str, holder: str, key_id: str) -> ApiKey | None: ...
    def add_key(self, key: ApiKey, *, limit: int) -> None:
        """TooManyKeysError when the key's user already holds `limit` active keys."""
        ...

    def revoke_key(self, key: ApiKey, at: datetime) -> bool:
        """False when it was already revoked (nothing written)."""
        ...


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
    def lookup_many(
        self, tenant_id: str, wants: Sequence[tuple[Sequence[Identity], str | None]]
    ) -> list[tuple[dict[tuple[str, str], Customer], bool]]: ...
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
    def with_prefix(self, tenant_id: str, prefix: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """Every setting whose kind starts with `prefix`: (kind, public, secrets), one Query."""
        ...


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
    def open_page(
        self, tenant_id: str, *, assignee: str | None, unassigned: bool, limit: int, cursor: str | None
    ) -> Page[Ticket]: ...
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
    def add_coefficient(self, tenant_id: str, coefficient: RegionCoefficient) -> None: ...
    def coefficients(self, tenant_id: str) -> list[RegionCoefficient]: ...
    def add_quote(self, issued: IssuedQuote) -> None: ...
    def quote(self, tenant_id: str, quote_id: str) -> IssuedQuote | None: ...


class InventoryStore(Protocol):
    def put_part(self, tenant_id: str, part: Part, *, expected_version: int) -> int: ...
    def part(self, tenant_id: str, sku: str) -> tuple[Part | None, int, list[Stock]]: ...
    def list_parts(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Part]: ...
    def move(self, tenant_id: str, changes: list[tuple[Stock, int, int]]) -> None: ...
    def reserve(self, tenant_id: str, stock: Stock, reservation: Reservation) -> None: ...
    def settle_reservation(
        self, tenant_id: str, stock: Stock, reservation: Reservation, status: ReservationStatus
    ) -> None: ...
    def reservations(self, tenant_id: str, ticket_id: str) -> list[Reservation]: ...
    def mark_low(self, tenant_id: str, request: LowStock) -> bool: ...
    def clear_low(self, tenant_id: str, sku: str, warehouse: str) -> None: ...
    def low_stock(self, tenant_id: str) -> list[LowStock]: ...


class SettlementLedger(Protocol):
    def post(
        self,
        tenant_id: str,
        posting: Posting,
        entries: list[Entry],
        *,
        customer_id: str | None,
        facts: Facts | None = None,
        late: bool = False,
    ) -> bool: ...
    def posting(self, tenant_id: str, posting_id: str) -> Posting | None: ...
    def keep_unsettled(self, tenant_id: str, unsettled: UnsettledSource) -> None: ...
    def unsettled(self, tenant_id: str) -> list[UnsettledSource]: ...
    def unsettled_page(
        self, tenant_id: str, *, after: str | None, limit: int
    ) -> tuple[list[UnsettledSource], str | None]: ...
    def note_unsettled(
        self,
        tenant_id: str,
        source: Source,
        *,
        refunded: Decimal | None = None,
        reversed_at: str | None = None,
        rating: int | None = None,
    ) -> bool: ...
    def drop_unsettled(self, tenant_id: str, source: Source) -> None: ...
    def late_accounts(self, tenant_id: str, period: str) -> set[str]: ...
    def postings_for_source(self, tenant_id: str, source_type: str, source_id: str) -> list[Posting]: ...
    def customer_postings(self, tenant_id: str, customer_id: str, *, limit: int) -> list[Posting]: ...
    def entries(self, tenant_id: str, account: str, period: str) -> list[Entry]: ...
    def balance_before(self, tenant_id: str, account: str, period: str) -> Decimal: ...
    def month_totals(
        self, tenant_id: str, accounts: Iterable[str], period: str
    ) -> dict[str, tuple[Decimal, Decimal]]: ...
    def settled_facts(self, tenant_id: str, period: str) -> Iterator[Facts]: ...
    def rate(self, tenant_id: str, period: str, source: Source, score: int) -> None: ...
    def mark_reversed(self, tenant_id: str, period: str, source: Source, at: str) -> None: ...
    def mark_refunded(self, tenant_id: str, period: str, source: Source, refunded: Decimal) -> None: ...
    def add_rule(self, tenant_id: str, applies_to: str, rule: AnyRule | AnyPeriodModifier) -> None: ...
    def rules(self, tenant_id: str) -> list[tuple[str, AnyRule | AnyPeriodModifier]]: ...
    def add_bill(self, tenant_id: str, bill: Bill, created_at: str) -> bool: ...
    def bill(self, tenant_id: str, ticket_id: str) -> Bill | None: ...
    def customer_bills(self, tenant_id: str, customer_id: str, *, limit: int) -> list[Bill]: ...


class SettlementRuns(Protocol):
    def get(self, tenant_id: str, period: str) -> SettlementRun | None: ...
    def save(self, run: SettlementRun, *, expected_version: int | None) -> None: ...
    def put_chunks(self, tenant_id: str, period: str, run_id: str, chunks: list[list[Posting]]) -> None: ...
    def chunk(self, tenant_id: str, period: str, run_id: str, n: int) -> list[Posting]: ...
    def finished_parties(self, tenant_id: str, period: str, parties: Iterable[str]) -> set[str]: ...
    def all_finished(self, tenant_id: str, period: str) -> set[str]: ...
    def finish_party(self, tenant_id: str, period: str, party: str, run_id: str, postings: int) -> None: ...


# -- ticket assignment (services/assignment.py) --------------------------------------------------------
class StaffRecord(BaseModel):
    profile: StaffProfile
    version: int


class QueuedTicket(BaseModel):
    """A ticket waiting for someone to have room (or for a person to step in)."""

    ticket_id: str
    enqueued_at: datetime
    needs: TicketNeeds
    reason: QueueReason
    title: str = ""
    priority: str = ""

    def waiting(self) -> WaitingTicket:
        return WaitingTicket(ticket_id=self.ticket_id, enqueued_at=self.enqueued_at, needs=self.needs)


@dataclass
class Roster:
    """A tenant's staff and assignment weights, as one Query of the staff partition returns them."""

    staff: list[StaffProfile]
    versions: dict[str, int] = field(default_factory=dict)
    weights: AssignmentWeights | None = None

    def get(self, user_id: str) -> StaffProfile | None:
        return next((s for s in self.staff if s.user_id == user_id), None)

    def load_of(self, user_id: str) -> int:
        found = self.get(user_id)
        return found.open_load if found else 0


@dataclass(frozen=True)
class TicketSnapshot:
    ticket: Ticket
    holder: str | None  # who holds the ticket's unit of open_load (None: nobody)


@dataclass(frozen=True)
class AssignmentWrite:
    ticket: Ticket  # the ticket after: `assignment` set, version = expected_version + 1
    expected_version: int
    entry: HistoryEntry
    holder: str | None  # the load holder read: the marker write is conditional on it
    release_holder: bool  # the holder's open_load − 1 (False when it is already 0 or they are the assignee)
    enforce_capacity: bool  # False: a manager's override may push the assignee over capacity


class StaffRepository(Protocol):
    """`get`, `list` and `roster` give profiles with the phone decrypted; `put` stores it encrypted."""

    def roster(self, tenant_id: str, *, consistent: bool = False) -> Roster: ...
    def list(self, tenant_id: str) -> list[StaffRecord]: ...
    def get(self, tenant_id: str, user_id: str) -> StaffRecord | None: ...
    def put(self, tenant_id: str, profile: StaffProfile, *, expected_version: int) -> StaffRecord: ...
    def record_rating(
        self, tenant_id: str, user_id: str, score: Decimal, *, once: str | None = None
    ) -> None: ...
    def put_weights(self, tenant_id: str, weights: AssignmentWeights) -> None: ...


class AssignmentStore(Protocol):
    """Ticket reads and the assignment/queue/release transactions (store/assignments.py)."""

    def snapshot(self, tenant_id: str, ticket_id: str) -> TicketSnapshot | None: ...
    def assign(self, write: AssignmentWrite) -> None: ...  # ConflictError when any condition fails
    def enqueue(self, ticket: Ticket, queued: QueuedTicket) -> None: ...  # ConflictError: ticket changed
    def queue(self, tenant_id: str, limit: int) -> list[QueuedTicket]: ...
    def queued(self, tenant_id: str, ticket_id: str) -> QueuedTicket | None: ...
    def dequeue(self, tenant_id: str, ticket_id: str) -> None: ...
    def release(self, tenant_id: str, ticket_id: str, holder: str, *, decrement: bool) -> bool: ...


class CustomerLookup(Protocol):
    def get(self, tenant_id: str, customer_id: str) -> Customer | None: ...


class UserDirectory(Protocol):
    def list_users(self, tenant_id: str) -> list[User]: ...


class TemplateSource(Protocol):
    def templates(self, tenant_id: str) -> list[TicketTemplate]: ...


# -- notifications (services/notifications.py) ---------------------------------------------------------
class DeliveryRepository(Protocol):
    def create(self, delivery: Delivery) -> tuple[Delivery, bool]: ...
    def get(self, tenant_id: str, delivery_id: str) -> Delivery | None: ...
    def get_by_key(self, tenant_id: str, idempotency_key: str) -> Delivery | None: ...
    def save(self, delivery: Delivery, *, expected_version: int) -> None: ...
    def for_ticket(self, tenant_id: str, ticket_id: str, *, limit: int = 100) -> list[Delivery]: ...


class NotificationConfig(Protocol):
    def templates(self, tenant_id: str) -> list[NotificationTemplate]: ...
    def put_template(self, tenant_id: str, template: NotificationTemplate) -> None: ...
    def policy(self, tenant_id: str) -> NotificationPolicy | None: ...
    def put_policy(self, tenant_id: str, policy: NotificationPolicy) -> None: ...
    def subscription(self, tenant_id: str, ticket_id: str, customer_id: str) -> Subscription | None: ...
    def put_subscription(self, subscription: Subscription) -> None: ...


class ProviderRegistry(Protocol):
    def provider(self, tenant_id: str, channel: Channel) -> Provider | None:
        """The tenant's provider for a channel, or None when the channel is not configured."""
        ...


class AddressBook(Protocol):
    def addresses(self, tenant_id: str, kind: RecipientKind, recipient_id: str) -> dict[Channel, str]:
        """Where the recipient can be reached now, per channel (WeCom userid, openid, E.164 phone)."""
        ...


class DeliveryQueue(Protocol):
    def enqueue(self, tenant_id: str, delivery_id: str, *, delay: timedelta, attempt: int) -> None:
        """One message `{"tenant_id", "delivery_id", "attempt"}`, visible after `delay` (≤ 900 s)."""
        ...


class SendLimiter(Protocol):
    """Per-recipient send windows (domain/send_limits.py), one per tenant, channel and address."""

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
        """Count a send at `at` under `slot` and return None, or return the limit it would break (nothing
        counted). A slot already counted is admitted again without counting twice."""
        ...

    def release(self, tenant_id: str, channel: Channel, address: str, *, slot: str) -> None:
        """A counted send that never reached the provider gives its place back."""
        ...


class StaffContacts(Protocol):
    def contacts(self, tenant_id: str, user_id: str) -> dict[Channel, str]: ...


class ConfigVersions(Protocol):
    """A tenant's configuration counters (services/cache.py; store/config_versions.py)."""

    def read(self, tenant_id: str) -> Mapping[str, int]:
        """Every counter of the tenant, strongly consistent (absent: 0)."""
        ...

    def bump(self, tenant_id: str, kind: ConfigKind) -> None: ...


class PrivacyStore(Protocol):
    """Privacy requests with their exports, and the customers each shop brought (store/privacy.py)."""

    def recorded(self, tenant_id: str, source_key: str) -> str | None:
        """The id of the request a delivery already produced, if any."""
        ...

    def put_request(self, request: PrivacyRequest, export: dict[str, Any] | None) -> bool:
        """False when the delivery (`source_key`) was recorded meanwhile: nothing is kept twice."""
        ...

    def get_request(self, tenant_id: str, request_id: str) -> PrivacyRequest | None: ...
    def list_requests(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[PrivacyRequest]: ...
    def export(self, tenant_id: str, request_id: str) -> dict[str, Any] | None: ...
    def remember_shop_customer(
        self, tenant_id: str, platform: str, shop_id: str, customer_id: str
    ) -> None: ...
    def shop_customers(
        self, tenant_id: str, platform: str, shop_id: str, *, limit: int, cursor: str | None
    ) -> Page[str]: ...
    def forget_shop_customers(
        self, tenant_id: str, platform: str, shop_id: str, customer_ids: Sequence[str]
    ) -> None: ...
    def drop_merge_records(self, tenant_id: str, customer_ids: Sequence[str]) -> int: ...


class KfApi(Protocol):
    """微信客服's `kf/sync_msg` (integrations/wecom/client.py WeComClient)."""

    def kf_sync_msg(
        self, *, open_kfid: str, cursor: str | None = None, token: str | None = None, limit: int = 1000
    ) -> dict[str, Any]: ...


class WeComOrgRepository(Protocol):
    """The tenant's mirrored WeCom members and departments (store/wecom_org.py). Saves are conditional on
    `expected_version` (None: must not exist yet) and raise ConflictError otherwise."""

    def member(self, tenant_id: str, userid: str) -> WeComMember | None: ...
    def save_members(self, tenant_id: str, members: Sequence[tuple[WeComMember, int | None]]) -> None: ...
    def members(self, tenant_id: str) -> list[WeComMember]: ...
    def department(self, tenant_id: str, department_id: int) -> WeComDepartment | None: ...
    def save_department(
        self, tenant_id: str, department: WeComDepartment, *, expected_version: int | None
    ) -> None: ...
    def departments(self, tenant_id: str) -> list[WeComDepartment]: ...
