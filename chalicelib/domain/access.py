"""Roles, data scopes and what each may do or see. Pure rules, unit-tested without AWS."""

from __future__ import annotations

from collections.abc import Sequence
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
    # act on any ticket in the data scope; without it, only on tickets assigned to you (engineers)
    TICKETS_ACT_IN_SCOPE = "tickets:act-in-scope"
    WORKFLOWS_MANAGE = "workflows:manage"  # edit ticket templates, publish workflows
    PRICING_MANAGE = "pricing:manage"  # publish price rules and modifiers
    INVENTORY_MANAGE = "inventory:manage"  # parts catalogue, stock, transfers
    SETTLEMENT_READ = "settlement:read"  # statements: partners see only their own
    SETTLEMENT_MANAGE = "settlement:manage"  # commission rules, period runs, every party's statement
    SETTLEMENT_RULES_READ = "settlement-rules:read"  # every party's commission rules
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
            Permission.TICKETS_ACT_IN_SCOPE,
            Permission.WORKFLOWS_MANAGE,
            Permission.PRICING_MANAGE,
            Permission.INVENTORY_MANAGE,
            Permission.SETTLEMENT_READ,
            Permission.SETTLEMENT_RULES_READ,
        }
    ),
    Role.AGENT: frozenset(
        {
            Permission.CUSTOMERS_READ,
            Permission.CUSTOMERS_WRITE,
            Permission.TICKETS_READ,
            Permission.TICKETS_WRITE,
            Permission.TICKETS_ACT_IN_SCOPE,
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
            Permission.TICKETS_ACT_IN_SCOPE,
            Permission.PRICING_MANAGE,
            Permission.SETTLEMENT_READ,
            Permission.SETTLEMENT_MANAGE,
            Permission.SETTLEMENT_RULES_READ,
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
    grants: frozenset[Permission] = frozenset()  # given to this user beyond the role's (tickets:act-in-scope)

    def has(self, permission: Permission) -> bool:
        return permission in _ROLE_PERMISSIONS[self.role] or permission in self.grants

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


# Permissions an admin may grant a user beyond the role's (least privilege: nothing that manages others).
GRANTABLE = frozenset({Permission.TICKETS_ACT_IN_SCOPE})


def can_act_on_ticket(principal: Principal, ticket: Ownership) -> bool:
    """Act on a ticket (a workflow step, an SLA pause, its parts): inside the scope, and either assigned to
    the caller or with tickets:act-in-scope (every role but engineers; an engineer by grant)."""
    if not principal.has(Permission.TICKETS_WRITE) or not in_scope(principal, ticket):
        return False
    return ticket.owner_id == principal.user_id or principal.has(Permission.TICKETS_ACT_IN_SCOPE)


def new_customer_defaults(principal: Principal) -> Ownership:
    """Where a customer a staff member brings in lands unless the record says otherwise: inside their
    scope (an `own` agent owns it), so what they create stays theirs to see and change."""
    scope = principal.scope
    return Ownership(
        region=scope.value if scope.kind is ScopeKind.REGION else None,
        store=scope.value if scope.kind is ScopeKind.STORE else None,
        owner_id=principal.user_id if scope.kind is ScopeKind.OWN else None,
    )


def authorize_customer_change(
    principal: Principal, *, changed: Sequence[Ownership], result: Ownership, creates: bool
) -> None:
    """The check on an effect on customers, wherever it comes from (a form, an event, an import row): every
    existing customer it changes (updated, merged away, giving up an identity) and the customer it leaves
    must be writable by the caller. Integrations that ingest (signed webhooks, integration keys) are not
    staff: their touches act tenant-wide, as a webhook's do."""
    if principal.has(Permission.INGEST):
        return
    if not principal.has(Permission.CUSTOMERS_WRITE):
        verb = "create" if creates and not changed else "change"
        raise ForbiddenError(f"role '{principal.role}' may not {verb} customers")
    if any(not in_scope(principal, record) for record in changed):
        raise ForbiddenError("this touches a customer outside your data scope")
    if not in_scope(principal, result):
        raise ForbiddenError("the customer would be outside your data scope")
