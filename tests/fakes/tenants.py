"""An in-memory TenantRepository with the store's semantics (conditional writes, one request per call)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from chalicelib.domain.common import ConflictError, NotFoundError
from chalicelib.domain.tenants import ApiKey, KeyRef, RegisteredTenant, Tenant, TooManyKeysError, User


class FakeTenantRepository:
    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.registry: dict[str, RegisteredTenant] = {}  # tenant id → its registry row
        self.users: dict[tuple[str, str], User] = {}
        self.active_keys: Counter[tuple[str, str]] = Counter()
        self.keys: dict[tuple[str, str], ApiKey] = {}  # (tenant, hash) → key
        self.wecom: dict[tuple[str, str], str] = {}  # (tenant, WeCom UserID) → user id
        self.requests: Counter[str] = Counter()  # what DynamoDB would be asked, by operation

    def create_tenant(self, tenant: Tenant, admin: User, key: ApiKey) -> None:
        self.requests["TransactWriteItems"] += 1
        if tenant.id in self.tenants:
            raise ConflictError(f"tenant {tenant.id} already exists")
        self.tenants[tenant.id] = tenant
        self.registry[tenant.id] = RegisteredTenant.of(tenant)
        self._add_user(admin, key)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        self.requests["GetItem"] += 1
        return self.tenants.get(tenant_id)

    def registered_tenants(self) -> list[RegisteredTenant]:
        self.requests["Query"] += 1
        return [self.registry[t] for t in sorted(self.registry)]

    def register_missing(self) -> int:
        self.requests["Scan"] += 1
        missing = [t for t in self.tenants.values() if t.id not in self.registry]
        self.registry.update({t.id: RegisteredTenant.of(t) for t in missing})
        return len(missing)

    def create_user(self, user: User, key: ApiKey) -> None:
        self.requests["TransactWriteItems"] += 1
        if user.tenant_id not in self.tenants:
            raise NotFoundError(f"tenant {user.tenant_id} does not exist")
        if user.wecom_userid and (user.tenant_id, user.wecom_userid) in self.wecom:
            raise ConflictError(f"WeCom UserID {user.wecom_userid} belongs to another user")
        if user.wecom_userid:
            self.wecom[(user.tenant_id, user.wecom_userid)] = user.id
        self._add_user(user, key)

    def _add_user(self, user: User, key: ApiKey) -> None:
        self.users[(user.tenant_id, user.id)] = user
        self.active_keys[(user.tenant_id, user.id)] = 1
        self.keys[(key.tenant_id, key.key_hash)] = key

    def list_users(self, tenant_id: str) -> list[User]:
        self.requests["Query"] += 1
        return [u for (t, _), u in self.users.items() if t == tenant_id]

    def get_user(self, tenant_id: str, user_id: str) -> User | None:
        self.requests["GetItem"] += 1
        return self.users.get((tenant_id, user_id))

    def update_user(self, user: User, *, previous: User | None = None) -> None:
        moves = previous is not None and previous.wecom_userid != user.wecom_userid
        self.requests["TransactWriteItems" if moves else "UpdateItem"] += 1
        stored = self.users.get((user.tenant_id, user.id))
        if stored is None or stored.version != user.version - 1:
            raise ConflictError(f"user {user.id} was changed meanwhile: read it again")
        if moves and user.wecom_userid:
            if self.wecom.get((user.tenant_id, user.wecom_userid), user.id) != user.id:
                raise ConflictError(f"WeCom UserID {user.wecom_userid} belongs to another user")
            self.wecom[(user.tenant_id, user.wecom_userid)] = user.id
        if moves and previous is not None and previous.wecom_userid:
            self.wecom.pop((user.tenant_id, previous.wecom_userid), None)
        self.users[(user.tenant_id, user.id)] = user

    def user_for_wecom(self, tenant_id: str, wecom_userid: str) -> str | None:
        self.requests["GetItem"] += 1
        return self.wecom.get((tenant_id, wecom_userid))

    def get_credentials(self, ref: KeyRef) -> tuple[ApiKey | None, User | None]:
        self.requests["BatchGetItem" if ref.user_id else "GetItem"] += 1
        key = self.keys.get((ref.tenant_id, ref.key_hash))
        user = self.users.get((ref.tenant_id, ref.user_id)) if ref.user_id else None
        return key, user

    def list_keys(self, tenant_id: str, holder: str) -> list[ApiKey]:
        self.requests["Query"] += 1
        return sorted(
            (k for k in self.keys.values() if k.tenant_id == tenant_id and k.listed_under == holder),
            key=lambda k: k.id,
        )

    def get_key(self, tenant_id: str, holder: str, key_id: str) -> ApiKey | None:
        self.requests["GetItem"] += 1
        return next(
            (
                k
                for k in self.keys.values()
                if k.tenant_id == tenant_id and (k.listed_under, k.id) == (holder, key_id)
            ),
            None,
        )

    def add_key(self, key: ApiKey, *, limit: int) -> None:
        self.requests["TransactWriteItems"] += 1
        if key.user_id is not None:
            slot = (key.tenant_id, key.user_id)
            if slot not in self.users:
                raise NotFoundError(f"no user {key.user_id}")
            if self.active_keys[slot] >= limit:
                raise TooManyKeysError()
            self.active_keys[slot] += 1
        elif key.tenant_id not in self.tenants:
            raise NotFoundError("no such tenant")
        self.keys[(key.tenant_id, key.key_hash)] = key

    def revoke_key(self, key: ApiKey, at: datetime) -> bool:
        self.requests["TransactWriteItems"] += 1
        stored = self.keys[(key.tenant_id, key.key_hash)]
        if not stored.active:
            return False
        self.keys[(key.tenant_id, key.key_hash)] = stored.model_copy(update={"revoked_at": at})
        if key.user_id is not None:
            self.active_keys[(key.tenant_id, key.user_id)] -= 1
        return True
