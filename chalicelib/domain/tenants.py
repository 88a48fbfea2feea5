"""Tenants, staff users and their API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, field_validator

from chalicelib.domain.access import KeyKind, Permission, Principal, Role, Scope, ScopeKind
from chalicelib.domain.common import ConflictError, ForbiddenError, UnauthorizedError, new_id

API_KEY_PREFIX = "scrm"
# A user holds at most two working keys: during a rotation the new one is deployed before the old is revoked.
MAX_ACTIVE_KEYS = 2
INTEGRATION_HOLDER = "integration"  # integration keys are listed together, under this holder


DEFAULT_TIMEZONE = "Asia/Shanghai"


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone, e.g. Asia/Shanghai") from None
    return name


class Tenant(BaseModel):
    id: str
    name: str
    timezone: str = DEFAULT_TIMEZONE  # its local time: the month-end run starts at 02:00 on the 1st there
    created_at: datetime

    _check_timezone = field_validator("timezone")(check_timezone)


class RegisteredTenant(BaseModel):
    """A tenant's row in the tenant registry, the one partition not under a tenant: what work across all
    tenants (the month-end schedule) needs to know without reading each tenant."""

    id: str
    timezone: str

    @classmethod
    def of(cls, tenant: Tenant) -> RegisteredTenant:
        return cls(id=tenant.id, timezone=tenant.timezone)


class User(BaseModel):
    id: str
    tenant_id: str
    name: str
    role: Role
    scope: Scope
    department: str | None = None
    created_at: datetime
    disabled: bool = False  # read on every request: a disabled user's keys all stop at once
    version: int = 0  # edits (role, scope, disabled) are conditional on the version read
    # Their WeCom member id (成员 UserID): WeCom names staff by it, the data scopes by our id; an index row
    # per tenant and UserID maps one to the other (customers a member adds are owned by our user).
    wecom_userid: str | None = None
    grants: frozenset[Permission] = frozenset()  # beyond the role's: access.GRANTABLE only


class ApiKey(BaseModel):
    """A stored key: its hash (what authentication looks up) and a short display prefix, never the secret.
    Staff keys carry no role or scope: the caller gets the user's current ones, read with the key."""

    id: str
    key_hash: str
    tenant_id: str
    kind: KeyKind
    user_id: str | None = None  # the staff user it acts as; None for an integration key
    name: str | None = None  # what an integration key is for
    display: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def holder(self) -> str:
        """The middle part of the secret: the user id of a staff key, the key's own id otherwise."""
        return self.user_id or self.id

    @property
    def listed_under(self) -> str:
        return self.user_id or INTEGRATION_HOLDER

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class KeyRef:
    """What a presented secret names before anything is read: its tenant, holder and hash."""

    tenant_id: str
    holder: str
    key_hash: str

    @property
    def user_id(self) -> str | None:
        return self.holder if self.holder.startswith("usr_") else None


def new_tenant_id() -> str:
    return new_id("ten")


def new_user_id() -> str:
    return new_id("usr")


def hash_api_key(secret: str) -> str:
    # Keys carry 256 bits of entropy, so a fast hash is enough (slow hashes are for guessable passwords).
    return hashlib.sha256(secret.encode()).hexdigest()


def _issue(tenant_id: str, holder: str, key: dict[str, object]) -> tuple[str, ApiKey]:
    token = secrets.token_urlsafe(32)
    secret = f"{API_KEY_PREFIX}.{tenant_id}.{holder}.{token}"
    stored = ApiKey.model_validate(
        {
            **key,
            "key_hash": hash_api_key(secret),
            "tenant_id": tenant_id,
            "display": f"{API_KEY_PREFIX}.{tenant_id}.{holder}.{token[:6]}…",
        }
    )
    return secret, stored


def issue_api_key(user: User, now: datetime) -> tuple[str, ApiKey]:
    """Returns (the secret shown once, what is stored). The secret names its tenant and user, so
    authentication reads the key and the user in one request."""
    key = {"id": new_id("key"), "kind": KeyKind.STAFF, "user_id": user.id, "created_at": now}
    return _issue(user.tenant_id, user.id, key)


def issue_integration_key(tenant_id: str, name: str, now: datetime) -> tuple[str, ApiKey]:
    key_id = new_id("key")
    key = {"id": key_id, "kind": KeyKind.INTEGRATION, "name": name, "created_at": now}
    return _issue(tenant_id, key_id, key)


def parse_api_key(secret: str) -> KeyRef:
    parts = secret.split(".")
    if len(parts) == 3 and parts[0] == API_KEY_PREFIX and parts[1].startswith("ten_"):
        # Keys issued before revocation existed name no user and cannot be listed or revoked one by one.
        raise UnauthorizedError(
            "this API key has a retired format that cannot be revoked: ask an admin for a new one"
        )
    if (
        len(parts) != 4
        or parts[0] != API_KEY_PREFIX
        or not parts[1].startswith("ten_")
        or not parts[2].startswith(("usr_", "key_"))
        or not parts[3]
    ):
        raise UnauthorizedError("the API key is not valid")
    return KeyRef(tenant_id=parts[1], holder=parts[2], key_hash=hash_api_key(secret))


def principal_for(ref: KeyRef, key: ApiKey | None, user: User | None) -> Principal:
    """The caller of a key, from the key and its user as they are now: revoked keys and disabled users are
    refused, and a role or scope change applies to the next request."""
    if key is None or key.tenant_id != ref.tenant_id or key.holder != ref.holder:
        raise UnauthorizedError("the API key is not valid")
    if not key.active:
        raise UnauthorizedError("the API key has been revoked")
    if key.kind is KeyKind.INTEGRATION:
        return Principal(
            tenant_id=key.tenant_id,
            user_id=key.id,
            role=Role.INTEGRATION,
            scope=Scope(kind=ScopeKind.ALL),
            kind=KeyKind.INTEGRATION,
        )
    if user is None or user.id != key.user_id:
        raise UnauthorizedError("the API key is not valid")
    if user.disabled:
        raise UnauthorizedError("the user of this API key is disabled")
    return Principal(
        tenant_id=user.tenant_id,
        user_id=user.id,
        role=user.role,
        scope=user.scope,
        department=user.department,
        grants=user.grants,
    )


def edit_user(user: User, by: Principal, changes: dict[str, object]) -> User:
    """The user with `changes` (field → new value) applied. Admins cannot disable or demote themselves, so a
    tenant is never locked out by its only admin's own mistake."""
    if user.id == by.user_id:
        if changes.get("disabled") is True:
            raise ForbiddenError("you cannot disable yourself: another admin can")
        if "role" in changes and changes["role"] is not user.role:
            raise ForbiddenError("you cannot change your own role: another admin can")
    return User.model_validate({**user.model_dump(), **changes, "version": user.version + 1})


class TooManyKeysError(ConflictError):
    def __init__(self) -> None:
        super().__init__(
            f"a user holds at most {MAX_ACTIVE_KEYS} active keys: revoke one before creating another"
        )
