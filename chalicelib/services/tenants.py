"""Tenant onboarding, staff users, API keys and authentication."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.access import Permission, Principal, Role, Scope, ScopeKind
from chalicelib.domain.common import Clock, NotFoundError, UnauthorizedError
from chalicelib.domain.tags import new_tag_group
from chalicelib.domain.tenants import (
    Tenant,
    User,
    hash_api_key,
    issue_api_key,
    new_tenant_id,
    new_user_id,
    tenant_of_api_key,
)
from chalicelib.services.ports import TagRepository, TenantRepository

# Every new tenant starts with these groups (like WeCom's defaults); lifecycle stages drive automation later.
PRESET_TAG_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("客户等级", ("VIP", "普通会员", "非会员")),
    ("生命周期", ("潜在客户", "新客户", "活跃客户", "沉默客户", "流失客户")),
    ("客户来源", ("门店", "企业微信", "小程序", "电商", "转介绍")),
)


class UserDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)
    role: Role
    scope: Scope = Field(default_factory=lambda: Scope.parse("all"))
    department: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")

    @field_validator("scope", mode="before")
    @classmethod
    def _parse_scope(cls, v: object) -> object:
        return Scope.parse(v) if isinstance(v, str) else v


@dataclass
class IssuedCredentials:
    tenant_id: str
    user: User
    api_key: str  # shown once, never stored


class TenantService:
    def __init__(self, *, tenants: TenantRepository, tags: TagRepository, clock: Clock) -> None:
        self._tenants = tenants
        self._tags = tags
        self._clock = clock

    def create_tenant(self, *, name: str, admin_name: str = "管理员") -> IssuedCredentials:
        now = self._clock.now()
        tenant = Tenant(id=new_tenant_id(), name=name, created_at=now)
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

    def create_user(self, *, tenant_id: str, draft: UserDraft) -> IssuedCredentials:
        now = self._clock.now()
        user = User(
            id=new_user_id(),
            tenant_id=tenant_id,
            name=draft.name,
            role=draft.role,
            scope=draft.scope,
            department=draft.department,
            created_at=now,
        )
        secret, key = issue_api_key(user, now)
        self._tenants.create_user(user, key)
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

    def authenticate(self, authorization: str | None) -> Principal:
        """`Authorization: Bearer <key>` → the caller. One GetItem: the key names its tenant."""
        scheme, _, secret = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise UnauthorizedError("send `Authorization: Bearer <api key>`")
        secret = secret.strip()
        key = self._tenants.get_api_key(tenant_of_api_key(secret), hash_api_key(secret))
        if key is None:
            raise UnauthorizedError("the API key is not valid")
        return key.principal()


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
