"""Tenant onboarding, staff users, API keys and authentication."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.access import GRANTABLE, KeyKind, Permission, Principal, Role, Scope, ScopeKind
from chalicelib.domain.common import (
    Clock,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)
from chalicelib.domain.tags import new_tag_group
from chalicelib.domain.tenants import (
    DEFAULT_TIMEZONE,
    INTEGRATION_HOLDER,
    MAX_ACTIVE_KEYS,
    ApiKey,
    Tenant,
    User,
    edit_user,
    issue_api_key,
    issue_integration_key,
    new_tenant_id,
    new_user_id,
    parse_api_key,
    principal_for,
)
from chalicelib.services.ports import TagRepository, TenantRepository

# Every new tenant starts with these groups (like WeCom's defaults); lifecycle stages drive automation later.
PRESET_TAG_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("客户等级", ("VIP", "普通会员", "非会员")),
    ("生命周期", ("潜在客户", "新客户", "活跃客户", "沉默客户", "流失客户")),
    ("客户来源", ("门店", "企业微信", "小程序", "电商", "转介绍")),
)


def _staff_role(role: Role | None) -> Role | None:
    if role is Role.INTEGRATION:
        raise ValueError("integration is not a staff role: create an integration key instead")
    return role


def _scope(v: object) -> object:
    return Scope.parse(v) if isinstance(v, str) else v


def _grantable(v: frozenset[Permission] | None) -> frozenset[Permission] | None:
    if v is not None and not v <= GRANTABLE:
        allowed = ", ".join(sorted(p.value for p in GRANTABLE))
        raise ValueError(f"only {allowed} can be granted beyond a role")
    return v


WECOM_USERID = r"^[A-Za-z0-9_.@-]{1,64}$"  # WeCom's member UserID: letters, digits, _ - @ .
WECOM_USERID_DOC = "the member's WeCom UserID (成员账号): customers they add on WeCom are theirs"


class UserDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)
    role: Role
    # Least privilege unless asked: a new user sees only the customers they own.
    scope: Scope = Field(default_factory=lambda: Scope(kind=ScopeKind.OWN))
    department: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    wecom_userid: str | None = Field(default=None, pattern=WECOM_USERID, description=WECOM_USERID_DOC)
    grants: frozenset[Permission] = Field(
        default=frozenset(), description="beyond the role's, e.g. tickets:act-in-scope for an engineer"
    )

    _check_role = field_validator("role")(_staff_role)
    _parse_scope = field_validator("scope", mode="before")(_scope)
    _check_grants = field_validator("grants")(_grantable)


class UserPatch(BaseModel):
    """PATCH /v1/users/{id}: what is sent changes, the rest stays. Takes effect on the user's next request."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    disabled: bool | None = Field(default=None, description="true: every key of the user stops working")
    role: Role | None = None
    scope: Scope | None = None
    department: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$", description="null clears")
    wecom_userid: str | None = Field(
        default=None, pattern=WECOM_USERID, description=f"{WECOM_USERID_DOC}; null clears"
    )
    grants: frozenset[Permission] | None = Field(default=None, description="replaces the user's grants")

    _check_role = field_validator("role")(_staff_role)
    _parse_scope = field_validator("scope", mode="before")(_scope)
    _check_grants = field_validator("grants")(_grantable)

    @field_validator("disabled", "role", "scope", "grants", mode="before")
    @classmethod
    def _not_null(cls, v: object) -> object:
        if v is None:
            raise ValueError("cannot be null: leave it out to keep it")
        return v

    @model_validator(mode="after")
    def _something(self) -> UserPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one of disabled, role, scope, department, wecom_userid, grants")
        return self

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class IntegrationKeyDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64, description="what sends with it, e.g. 官网 H5")


@dataclass
class IssuedCredentials:
    tenant_id: str
    user: User
    api_key: str  # shown once, never stored


@dataclass
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


class TenantService:
    def __init__(self, *, tenants: TenantRepository, tags: TagRepository, clock: Clock) -> None:
        self._tenants = tenants
        self._tags = tags
        self._clock = clock

    def create_tenant(
        self, *, name: str, admin_name: str = "管理员", timezone: str = DEFAULT_TIMEZONE
    ) -> IssuedCredentials:
        """ValidationError: `timezone` is not an IANA zone."""
        now = self._clock.now()
        tenant = Tenant(id=new_tenant_id(), name=name, timezone=timezone, created_at=now)
        admin = User(
            id=new_user_id(),
            tenant_id=tenant.id,
            name=admin_name,
            role=Role.ADMIN,
            scope=Scope.parse("all"),
            created_at=now,
        )
        secret, key = issue_api_key(admin, now)
        self._tenants.create_tenant(tenant, admin, key)
        for group_name, tag_names in PRESET_TAG_GROUPS:
            group = new_tag_group(tenant_id=tenant.id, name=group_name, tag_names=list(tag_names), now=now)
            self._tags.save_group(group, expected_version=None)
        return IssuedCredentials(tenant_id=tenant.id, user=admin, api_key=secret)

    def backfill_registry(self) -> int:
        """Operators: registry rows for tenants created before the registry (idempotent; scans the table)."""
        return self._tenants.register_missing()

    def create_user(self, *, tenant_id: str, draft: UserDraft) -> IssuedCredentials:
        now = self._clock.now()
        user = User(
            id=new_user_id(),
            tenant_id=tenant_id,
            name=draft.name,
            role=draft.role,
            scope=draft.scope,
            department=draft.department,
            wecom_userid=draft.wecom_userid,
            grants=draft.grants,
            created_at=now,
        )
        secret, key = issue_api_key(user, now)
        self._tenants.create_user(user, key)  # ConflictError: the WeCom UserID is another user's
        return IssuedCredentials(tenant_id=tenant_id, user=user, api_key=secret)

    def create_user_as(self, *, principal: Principal, draft: UserDraft) -> IssuedCredentials:
        principal.require(Permission.USERS_MANAGE)
        return self.create_user(tenant_id=principal.tenant_id, draft=draft)

    def list_users(self, *, principal: Principal) -> list[User]:
        principal.require(Permission.USERS_MANAGE)
        return self._tenants.list_users(principal.tenant_id)

    def get_tenant(self, *, principal: Principal) -> Tenant:
        tenant = self._tenants.get_tenant(principal.tenant_id)
        if tenant is None:
            raise NotFoundError("tenant not found")
        return tenant

    def authenticate(self, authorization: str | None, *, accepts: KeyKind = KeyKind.STAFF) -> Principal:
        """`Authorization: Bearer <key>` → the caller, if the route `accepts` its kind of key. One request:
        the key names its tenant and user, and both are read together (401: unknown, revoked, disabled)."""
        scheme, _, secret = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise UnauthorizedError("send `Authorization: Bearer <api key>`")
        ref = parse_api_key(secret.strip())
        key, user = self._tenants.get_credentials(ref)
        principal = principal_for(ref, key, user)
        principal.require_kind(accepts)
        return principal

    # -- users and their keys --------------------------------------------------------------------
    def update_user(self, *, principal: Principal, user_id: str, patch: UserPatch) -> User:
        principal.require(Permission.USERS_MANAGE)
        user = self._user(principal, user_id)
        changed = edit_user(user, principal, patch.changes())
        self._tenants.update_user(changed, previous=user)
        return changed

    def staff_for_wecom(self, tenant_id: str, wecom_userid: str) -> str | None:
        """Our user id of a WeCom member (one GetItem on the index row), or None when no user has it."""
        return self._tenants.user_for_wecom(tenant_id, wecom_userid)

    def list_keys(self, *, principal: Principal, user_id: str) -> list[ApiKey]:
        """A user's keys, revoked ones too (admins; anyone their own)."""
        self._may_handle_keys_of(principal, user_id)
        self._user(principal, user_id)
        return self._tenants.list_keys(principal.tenant_id, user_id)

    def create_key(self, *, principal: Principal, user_id: str) -> IssuedKey:
        """Admins only: a leaked key must not be able to mint its own successor."""
        principal.require(Permission.USERS_MANAGE)
        secret, key = issue_api_key(self._user(principal, user_id), self._clock.now())
        self._tenants.add_key(key, limit=MAX_ACTIVE_KEYS)
        return IssuedKey(key=key, secret=secret)

    def revoke_key(self, *, principal: Principal, user_id: str, key_id: str) -> ApiKey:
        """Idempotent: revoking a revoked key answers it unchanged. Admins; anyone their own."""
        self._may_handle_keys_of(principal, user_id)
        return self._revoke(principal, user_id, key_id)

    def create_integration_key(self, *, principal: Principal, draft: IntegrationKeyDraft) -> IssuedKey:
        principal.require(Permission.USERS_MANAGE)
        secret, key = issue_integration_key(principal.tenant_id, draft.name, self._clock.now())
        self._tenants.add_key(key, limit=MAX_ACTIVE_KEYS)
        return IssuedKey(key=key, secret=secret)

    def list_integration_keys(self, *, principal: Principal) -> list[ApiKey]:
        principal.require(Permission.USERS_MANAGE)
        return self._tenants.list_keys(principal.tenant_id, INTEGRATION_HOLDER)

    def revoke_integration_key(self, *, principal: Principal, key_id: str) -> ApiKey:
        principal.require(Permission.USERS_MANAGE)
        return self._revoke(principal, INTEGRATION_HOLDER, key_id)

    def _revoke(self, principal: Principal, holder: str, key_id: str) -> ApiKey:
        key = self._tenants.get_key(principal.tenant_id, holder, key_id)
        if key is None:
            raise NotFoundError(f"no key {key_id}")
        if not key.active:
            return key
        now = self._clock.now()
        if self._tenants.revoke_key(key, now):
            return key.model_copy(update={"revoked_at": now})
        return self._tenants.get_key(principal.tenant_id, holder, key_id) or key

    def _user(self, principal: Principal, user_id: str) -> User:
        user = self._tenants.get_user(principal.tenant_id, user_id)
        if user is None:
            raise NotFoundError(f"no user {user_id}")
        return user

    @staticmethod
    def _may_handle_keys_of(principal: Principal, user_id: str) -> None:
        if user_id != principal.user_id and not principal.has(Permission.USERS_MANAGE):
            raise ForbiddenError("only an admin handles another user's keys")


class UsersDirectory:
    """`PeopleDirectory` over the tenant's staff list: who manages a store or region (escalations)."""

    def __init__(self, *, tenants: TenantRepository) -> None:
        self._tenants = tenants

    def managers_for(self, tenant_id: str, *, region: str | None, store: str | None) -> list[str]:
        users = [u for u in self._tenants.list_users(tenant_id) if not u.disabled]
        managers = [u for u in users if u.role is Role.MANAGER]
        for kind, value in ((ScopeKind.STORE, store), (ScopeKind.REGION, region)):
            found = [u.id for u in managers if value and u.scope.kind is kind and u.scope.value == value]
            if found:
                return found
        found = [u.id for u in managers if u.scope.kind is ScopeKind.ALL]
        return found or [u.id for u in users if u.role is Role.ADMIN]
