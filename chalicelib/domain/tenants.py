"""Tenants, staff users and their API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from pydantic import BaseModel

from chalicelib.domain.access import Principal, Role, Scope
from chalicelib.domain.common import UnauthorizedError, new_id

API_KEY_PREFIX = "scrm"


class Tenant(BaseModel):
    id: str
    name: str
    timezone: str = "Asia/Shanghai"
    created_at: datetime


class User(BaseModel):
    id: str
    tenant_id: str
    name: str
    role: Role
    scope: Scope
    department: str | None = None
    created_at: datetime
    disabled: bool = False


class ApiKey(BaseModel):
    """A stored key: only its hash and a short display prefix are kept."""

    key_hash: str
    tenant_id: str
    user_id: str
    role: Role
    scope: Scope
    department: str | None = None
    display: str
    created_at: datetime

    def principal(self) -> Principal:
        return Principal(
            tenant_id=self.tenant_id,
            user_id=self.user_id,
            role=self.role,
            scope=self.scope,
            department=self.department,
        )


def new_tenant_id() -> str:
    return new_id("ten")


def new_user_id() -> str:
    return new_id("usr")


def hash_api_key(secret: str) -> str:
    # Keys carry 256 bits of entropy, so a fast hash is enough (slow hashes are for guessable passwords).
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(user: User, now: datetime) -> tuple[str, ApiKey]:
    """Returns (the secret shown once, what is stored). The key names its tenant so auth is one GetItem."""
    secret = f"{API_KEY_PREFIX}.{user.tenant_id}.{secrets.token_urlsafe(32)}"
    stored = ApiKey(
        key_hash=hash_api_key(secret),
        tenant_id=user.tenant_id,
        user_id=user.id,
        role=user.role,
        scope=user.scope,
        department=user.department,
        display=secret[:24] + "…",
        created_at=now,
    )
    return secret, stored


def tenant_of_api_key(secret: str) -> str:
    parts = secret.split(".")
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1].startswith("ten_"):
        raise UnauthorizedError("the API key is not valid")
    return parts[1]
