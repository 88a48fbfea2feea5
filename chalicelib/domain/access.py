"""Roles, data scopes and what each may do or see. Pure rules, unit-tested without AWS."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from chalicelib.domain.common import ForbiddenError


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"
    ENGINEER = "engineer"
    FINANCE = "finance"
    INTEGRATION = "integration"  # an integration key's caller (an H5 backend): never a staff user's


class KeyKind(StrEnum):
    """What an API key (and so its caller) is: a staff user, or an integration that only sends ingestion
    traffic (tracking events, H5 requests). A route accepts exactly one kind."""

    STAFF = "staff"
    INTEGRATION = "integration"


class Permission(StrEnum):
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    TAGS_MANAGE = "tags:manage"
    USERS_MANAGE = "users:manage"
    TICKETS_READ = "tickets:read"
    TICKETS_WRITE = "tickets:write"  # open tickets and act in workflow steps (the step's actor decides)
    WORKFLOWS_MANAGE = "workflows:manage"  # edit ticket templates, publish workflows
    PRICING_MANAGE = "pricing:manage"  # publish price rules and modifiers
    INVENTORY_MANAGE = "inventory:manage"  # parts catalogue, stock, transfers
    SETTLEMENT_READ = "settlement:read"  # statements: partners see only their own
    SETTLEMENT_MANAGE = "settlement:manage"  # commission rules, period runs, every party's statement
    DEAD_LETTERS_MANAGE = "dead-letters:manage"  # see and replay the tenant's failed queue messages
    INGEST = "ingest"  # send tracking events and customers' H5 requests: integration keys only


_ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission) - {Permission.INGEST},
    Role.MANAGER: frozenset(
        {
            Permission.CUSTOMERS_READ,
            Permission.CUSTOMERS_WRITE,
            Permission.TAGS_MANAGE,
            Permission.TICKETS_READ,
            Permission.TICKETS_WRITE,
            Permission.WORKFLOWS_MANAGE,
            Permission.PRICING_MANAGE,
            Permission.INVENTORY_MANAGE,
            Permission.SETTLEMENT_READ,
        }
    ),
    Role.AGENT: frozenset(
        {
            Permission.CUSTOMERS_READ,
            Permission.CUSTOMERS_WRITE,
            Permission.TICKETS_READ,
            Permission.TICKETS_WRITE,
        }
    ),
    Role.ENGINEER: frozenset(
        {
            Permission.CUSTOMERS_READ,
            Permission.TICKETS_READ,
            Permission.TICKETS_WRITE,
            Permission.SETTLEMENT_READ,
        }
    ),
    Role.FINANCE: frozenset(
        {
            Permission.CUSTOMERS_READ,
            Permission.TICKETS_READ,
            Permission.TICKETS_WRITE,
            Permission.PRICING_MANAGE,
            Permission.SETTLEMENT_READ,
            Permission.SETTLEMENT_MANAGE,
        }
    ),
    Role.INTEGRATION: frozenset({Permission.INGEST}),
}


class ScopeKind(StrEnum):
    ALL = "all"
    REGION = "region"
    STORE = "store"
    OWN = "own"


class Scope(BaseModel):
    """A data scope: `all`, `region:<name>`, `store:<id>` or `own`."""

    model_config = ConfigDict(frozen=True)

    kind: ScopeKind
    value: str | None = None

    @model_validator(mode="after")
    def _value_matches_kind(self) -> Scope:
        needs_value = self.kind in (ScopeKind.REGION, ScopeKind.STORE)
        if needs_value and not self.value:
            raise ValueError(f"scope '{self.kind}' needs a value, e.g. '{self.kind}:华东'")
        if not needs_value and self.value:
            raise ValueError(f"scope '{self.kind}' takes no value")
        return self

    @classmethod
    def parse(cls, text: str) -> Scope:
        kind, _, value = text.partition(":")
        return cls(kind=ScopeKind(kind.strip()), value=value.strip() or None)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else str(self.kind)


class Principal(BaseModel):
    """Who is calling: resolved from the API key on every request."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    user_id: str
    role: Role
    scope: Scope
    department: str | None = None  # e.g. warehouse, finance, after_sales: workflow steps may name one
    kind: KeyKind = KeyKind.STAFF

    def has(self, permission: Permission) -> bool:
        return permission in _ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.has(permission):
            raise ForbiddenError(f"role '{self.role}' may not {permission.value.replace(':', ' ')}")

    def require_kind(self, accepted: KeyKind) -> None:
        """Each route takes one kind of key: a leaked integration key reaches no staff data, and staff keys
        cannot feed ingestion (where one event may merge customers outside the sender's scope)."""
        if self.kind is accepted:
            return
        if accepted is KeyKind.INTEGRATION:
            raise ForbiddenError(
                "this route takes an integration key (POST /v1/integration-keys), not a staff user's key"
            )
        raise ForbiddenError(
            "an integration key may only call the ingestion routes: /v1/events, /v1/h5/tickets"
        )


class Ownership(BaseModel):
    """The attributes of a record that scopes are checked against."""

    region: str | None = None
    store: str | None = None
    owner_id: str | None = None


def in_scope(principal: Principal, record: Ownership) -> bool:
    """Whether the record lies inside the caller's data scope."""
    scope = principal.scope
    if scope.kind is ScopeKind.ALL:
        return True
    if scope.kind is ScopeKind.REGION:
        return record.region == scope.value
    if scope.kind is ScopeKind.STORE:
        return record.store == scope.value
    return record.owner_id == principal.user_id


def can_read(principal: Principal, record: Ownership) -> bool:
    """Region/store scopes hide records outside them (they look missing). `own` agents may still open a
    colleague's customer (a call comes in for them) but see it masked and cannot change it."""
    if not principal.has(Permission.CUSTOMERS_READ):
        return False
    return principal.scope.kind is ScopeKind.OWN or in_scope(principal, record)


def can_write(principal: Principal, record: Ownership) -> bool:
    return principal.has(Permission.CUSTOMERS_WRITE) and in_scope(principal, record)


def can_see_pii(principal: Principal, record: Ownership) -> bool:
    """Engineers never see raw phone numbers (they reach customers through tickets); `own` agents see
    them only for their own customers; everyone else within their scope."""
    if principal.role is Role.ENGINEER:
        return False
    return in_scope(principal, record)
