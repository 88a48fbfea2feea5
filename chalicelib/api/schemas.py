"""API models: XCreate / XUpdate (input, validated in domain/services) and XPublic (output)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.common import DocumentedAs
from chalicelib.domain.customers import CustomerDraft, CustomerPatch, WeComFollow
from chalicelib.domain.ledger import Source
from chalicelib.domain.money import Money
from chalicelib.domain.orders import OrderSummary
from chalicelib.domain.tags import TagGroup
from chalicelib.domain.tenants import ApiKey, User
from chalicelib.domain.tickets import Ticket
from chalicelib.domain.timeline import TimelineEvent
from chalicelib.services.customers import CustomerView
from chalicelib.services.tags import TagGroupDraft, TagGroupPatch
from chalicelib.services.tenants import IntegrationKeyDraft, UserDraft, UserPatch

CustomerCreate = CustomerDraft
CustomerUpdate = CustomerPatch
TagGroupCreate = TagGroupDraft
TagGroupUpdate = TagGroupPatch
UserCreate = UserDraft
UserUpdate = UserPatch
IntegrationKeyCreate = IntegrationKeyDraft


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(default=None, max_length=2048)
    limit: int = Field(default=20, ge=1, le=100)


class CustomerListQuery(PageQuery):
    tag: str | None = Field(default=None, max_length=64, description="tag id or unique tag name")
    q: str | None = Field(default=None, min_length=1, max_length=64, description="name prefix or phone")


class TagsAdd(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tags: list[str] = Field(min_length=1, max_length=50, description="tag ids or unique tag names")


class IdentityPublic(BaseModel):
    type: str
    value: str


class TagPublic(BaseModel):
    id: str
    name: str


class TimelineEventPublic(BaseModel):
    id: str
    kind: str
    at: datetime
    actor: dict[str, str]
    source: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: TimelineEvent) -> TimelineEventPublic:
        return cls(
            id=event.id,
            kind=event.kind,
            at=event.at,
            actor=event.actor.model_dump(mode="json"),
            source=event.source,
            data=event.data,
        )


class CustomerPublic(BaseModel):
    id: str
    name: str
    phone: str | None = Field(description="E.164, or masked (138****1234) for callers without PII rights")
    phone_masked: bool
    email: str | None = Field(None, description="From a shop's customer record; masked like the phone")
    gender: str
    birthday: date | None
    region: str | None
    store: str | None
    owner_id: str | None
    attributes: dict[str, Any]
    identities: list[IdentityPublic]
    tags: list[TagPublic]
    source: str
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, view: CustomerView) -> CustomerPublic:
        c = view.customer
        phone = c.phone if view.reveal_pii else c.phone_masked
        identities = [IdentityPublic(type=i.type, value=i.value) for i in c.identities]
        if phone:
            identities.append(IdentityPublic(type="phone", value=phone))
        return cls(
            id=c.id,
            name=c.name,
            phone=phone,
            phone_masked=bool(c.phone) and not view.reveal_pii,
            email=c.email if view.reveal_pii else c.email_masked,
            gender=c.gender.value,
            birthday=c.birthday,
            region=c.region,
            store=c.store,
            owner_id=c.owner_id,
            attributes={k: v for k, v in c.attributes.items() if not k.startswith("_")},  # _ = internal
            identities=identities,
            tags=[TagPublic(id=k, name=v) for k, v in c.tags.items()],
            source=c.source,
            created_at=c.created_at,
            updated_at=c.updated_at,
            version=c.version,
        )


class CustomerTicketSummary(BaseModel):
    """A ticket as the 360 view lists it (documentation of the `tickets` entries)."""

    id: str
    title: str
    type: str
    priority: str
    status: str
    steps: list[str] = Field(description="the workflow steps the ticket is in")
    assignee_id: str | None
    created_at: datetime


class CustomerBillSummary(BaseModel):
    """A ticket's bill as the 360 view lists it; the whole bill is GET /v1/tickets/{id}/bill."""

    ticket_id: str
    completed_on: date
    total: Money
    waived: Money
    summary: str


class CustomerPostingSummary(BaseModel):
    """A ledger posting as the 360 view lists it (`amount`: this caller's share where it is a partner's)."""

    posting_id: str
    at: datetime
    source: Source
    amount: Money
    memo: str
    reverses: str | None = Field(description="the posting this one reverses")


class Customer360Public(CustomerPublic):
    timeline: list[TimelineEventPublic]
    # Built as dicts (here and in api/customers.py); documented by the models they are dumped from.
    recent_orders: list[Annotated[dict[str, Any], DocumentedAs(OrderSummary)]]
    wecom_follows: list[Annotated[dict[str, Any], DocumentedAs(WeComFollow)]]
    merged_from: list[str]
    tickets: list[Annotated[dict[str, Any], DocumentedAs(CustomerTicketSummary)]] = Field(
        default_factory=list, description="newest first, up to 10"
    )
    bills: list[Annotated[dict[str, Any], DocumentedAs(CustomerBillSummary)]] = Field(
        default_factory=list, description="ticket bills, newest first"
    )
    settlements: list[Annotated[dict[str, Any], DocumentedAs(CustomerPostingSummary)]] = Field(
        default_factory=list,
        description="ledger postings for the customer's tickets/orders, newest first: whole for finance, "
        "only a partner's own share (an engineer's, a store's) for them",
    )

    @classmethod
    def of_360(cls, view: CustomerView, tickets: Sequence[Ticket] = ()) -> Customer360Public:
        base = CustomerPublic.of(view).model_dump()
        c = view.customer
        return cls(
            **base,
            timeline=[TimelineEventPublic.of(e) for e in view.timeline or []],
            recent_orders=c.recent_orders,
            wecom_follows=[f.model_dump(mode="json") for f in c.wecom_follows],
            merged_from=c.merged_from,
            tickets=[
                {
                    "id": t.id,
                    "title": t.title,
                    "type": t.type,
                    "priority": str(t.priority),
                    "status": str(t.status),
                    "steps": t.state.active,
                    "assignee_id": t.assignment.assignee_id if t.assignment else None,
                    "created_at": t.created_at.isoformat(),
                }
                for t in tickets
            ],
        )


class CustomersPublic(BaseModel):
    items: list[CustomerPublic]
    next_cursor: str | None


class TimelinePublic(BaseModel):
    items: list[TimelineEventPublic]
    next_cursor: str | None


class TagGroupPublic(BaseModel):
    id: str
    name: str
    tags: list[TagPublic]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, group: TagGroup) -> TagGroupPublic:
        return cls(
            id=group.id,
            name=group.name,
            tags=[TagPublic(id=t.id, name=t.name) for t in group.tags],
            version=group.version,
            created_at=group.created_at,
            updated_at=group.updated_at,
        )


class TagGroupsPublic(BaseModel):
    items: list[TagGroupPublic]


class UserPublic(BaseModel):
    id: str
    name: str
    role: str
    scope: str
    department: str | None = None
    created_at: datetime
    disabled: bool = False
    wecom_userid: str | None = Field(default=None, description="their WeCom member UserID")
    grants: list[str] = Field(default_factory=list, description="permissions beyond the role's")

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            id=user.id,
            name=user.name,
            role=user.role.value,
            scope=str(user.scope),
            department=user.department,
            created_at=user.created_at,
            disabled=user.disabled,
            wecom_userid=user.wecom_userid,
            grants=sorted(p.value for p in user.grants),
        )


class UsersPublic(BaseModel):
    items: list[UserPublic]


class UserCreatedPublic(UserPublic):
    api_key: str = Field(description="shown once; only its hash is stored")


class ApiKeyPublic(BaseModel):
    """A key as listed: never the secret, only its display prefix."""

    id: str
    kind: str = Field(description="staff (acts as its user) or integration (ingestion routes only)")
    user_id: str | None = None
    name: str | None = None
    display: str
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyPublic:
        return cls(
            id=key.id,
            kind=key.kind.value,
            user_id=key.user_id,
            name=key.name,
            display=key.display,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class ApiKeysPublic(BaseModel):
    items: list[ApiKeyPublic]


class ApiKeyCreatedPublic(ApiKeyPublic):
    api_key: str = Field(description="shown once; only its hash is stored")


class TenantPublic(BaseModel):
    id: str
    name: str
    timezone: str
    created_at: datetime


class HealthPublic(BaseModel):
    status: str
    version: str
    versions: dict[str, str]
    store: dict[str, Any]
