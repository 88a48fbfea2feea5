"""Tenants, users and API keys."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ConflictError, NotFoundError
from chalicelib.domain.tenants import ApiKey, KeyRef, RegisteredTenant, Tenant, TooManyKeysError, User
from chalicelib.store import keys
from chalicelib.store.table import ApiKeyItem, Item, TenantItem, TenantRegistryItem, UserItem, WeComUserItem
from chalicelib.store.transactions import write_transaction


def _user_item(user: User, *, active_keys: int) -> UserItem:
    return UserItem(
        keys.tenant_pk(user.tenant_id),
        keys.user_sk(user.id),
        doc=user.model_dump_json(),
        version=user.version,
        active_keys=active_keys,
    )


def _key_items(key: ApiKey) -> tuple[ApiKeyItem, ApiKeyItem]:
    """The authentication row and the listing row of a key (the same doc)."""
    doc = key.model_dump_json()
    revoked = key.revoked_at.isoformat() if key.revoked_at else None
    return (
        ApiKeyItem(
            keys.api_key_pk(key.tenant_id, key.key_hash), keys.API_KEY_SK, doc=doc, revoked_at=revoked
        ),
        ApiKeyItem(
            keys.tenant_pk(key.tenant_id),
            keys.api_key_listing_sk(key.listed_under, key.id),
            doc=doc,
            revoked_at=revoked,
        ),
    )


def _wecom_row(user: User, wecom_userid: str) -> WeComUserItem:
    return WeComUserItem(keys.tenant_pk(user.tenant_id), keys.wecom_user_sk(wecom_userid), user_id=user.id)


def _registry_row(tenant: Tenant) -> TenantRegistryItem:
    return TenantRegistryItem(
        keys.TENANT_REGISTRY_PK,
        keys.tenant_registry_sk(tenant.id),
        doc=RegisteredTenant.of(tenant).model_dump_json(),
    )


def _key(item: Item) -> ApiKey:
    return ApiKey.model_validate_json(item.doc or "")


def _user(item: Item) -> User:
    user = User.model_validate_json(item.doc or "")
    return user.model_copy(update={"version": int(getattr(item, "version", None) or 0)})


class DynamoTenantRepository:
    def create_tenant(self, tenant: Tenant, admin: User, key: ApiKey) -> None:
        item = TenantItem(keys.tenant_pk(tenant.id), keys.TENANT_SK, doc=tenant.model_dump_json())

        def build(tx: TransactWrite) -> None:
            tx.save(item, condition=TenantItem.pk.does_not_exist())
            tx.save(_registry_row(tenant), condition=TenantRegistryItem.pk.does_not_exist())
            tx.save(_user_item(admin, active_keys=1), condition=UserItem.pk.does_not_exist())
            for row in _key_items(key):
                tx.save(row, condition=ApiKeyItem.pk.does_not_exist())

        try:
            write_transaction(build, what=f"tenant {tenant.id}")
        except TransactWriteError as e:
            raise ConflictError(f"tenant {tenant.id} already exists") from e

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        try:
            item = TenantItem.get(keys.tenant_pk(tenant_id), keys.TENANT_SK)
        except TenantItem.DoesNotExist:
            return None
        return Tenant.model_validate_json(item.doc or "")

    def registered_tenants(self) -> list[RegisteredTenant]:
        """Every tenant, from the registry: one Query per 1 MB page (≈ 10,000 tenants)."""
        return [
            RegisteredTenant.model_validate_json(i.doc or "")
            for i in TenantRegistryItem.query(keys.TENANT_REGISTRY_PK)
        ]

    def register_missing(self) -> int:
        """Registry rows for tenants created before the registry existed; how many were written. An operator
        path (it Scans the whole table), idempotent: a row is put only where none is."""
        written = 0
        for item in TenantItem.scan(TenantItem.sk == keys.TENANT_SK):
            try:
                _registry_row(Tenant.model_validate_json(item.doc or "")).save(
                    condition=TenantRegistryItem.pk.does_not_exist()
                )
            except PutError as e:
                if e.cause_response_code != "ConditionalCheckFailedException":
                    raise
                continue
            written += 1
        return written

    def create_user(self, user: User, key: ApiKey) -> None:
        def build(tx: TransactWrite) -> None:
            tx.condition_check(
                TenantItem, keys.tenant_pk(user.tenant_id), keys.TENANT_SK, TenantItem.pk.exists()
            )
            tx.save(_user_item(user, active_keys=1), condition=UserItem.pk.does_not_exist())
            for row in _key_items(key):
                tx.save(row, condition=ApiKeyItem.pk.does_not_exist())
            if user.wecom_userid:
                tx.save(_wecom_row(user, user.wecom_userid), condition=WeComUserItem.pk.does_not_exist())

        try:
            write_transaction(build, what=f"user {user.id}")
        except TransactWriteError as e:
            if self._held_by_another(user):
                raise _taken(str(user.wecom_userid)) from e
            raise NotFoundError(f"tenant {user.tenant_id} does not exist") from e

    def list_users(self, tenant_id: str) -> list[User]:
        return [
            _user(i)
            for i in UserItem.query(keys.tenant_pk(tenant_id), UserItem.sk.startswith(keys.USER_PREFIX))
        ]

    def get_user(self, tenant_id: str, user_id: str) -> User | None:
        try:
            item = UserItem.get(keys.tenant_pk(tenant_id), keys.user_sk(user_id), consistent_read=True)
        except UserItem.DoesNotExist:
            return None
        return _user(item)

    def update_user(self, user: User, *, previous: User | None = None) -> None:
        """One UpdateItem conditional on the version read (`user.version - 1`); leaves the key count alone.
        A changed WeCom UserID moves its index row in the same transaction."""
        read = user.version - 1
        same = (
            (UserItem.version == read)
            if read
            else (UserItem.version.does_not_exist() | (UserItem.version == 0))
        )
        if previous is not None and previous.wecom_userid != user.wecom_userid:
            self._update_with_wecom(user, previous.wecom_userid, same)
            return
        try:
            UserItem(keys.tenant_pk(user.tenant_id), keys.user_sk(user.id)).update(
                actions=[UserItem.doc.set(user.model_dump_json()), UserItem.version.set(user.version)],
                condition=UserItem.pk.exists() & same,
            )
        except UpdateError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                raise ConflictError(f"user {user.id} was changed meanwhile: read it again") from e
            raise

    def _update_with_wecom(self, user: User, old: str | None, same: Condition) -> None:
        def build(tx: TransactWrite) -> None:
            tx.update(
                UserItem(keys.tenant_pk(user.tenant_id), keys.user_sk(user.id)),
                actions=[UserItem.doc.set(user.model_dump_json()), UserItem.version.set(user.version)],
                condition=UserItem.pk.exists() & same,
            )
            if old:
                tx.delete(_wecom_row(user, old), condition=WeComUserItem.user_id == user.id)
            if user.wecom_userid:
                tx.save(_wecom_row(user, user.wecom_userid), condition=WeComUserItem.pk.does_not_exist())

        try:
            write_transaction(build, what=f"user {user.id}")
        except TransactWriteError as e:
            if self._held_by_another(user):
                raise _taken(str(user.wecom_userid)) from e
            raise ConflictError(f"user {user.id} was changed meanwhile: read it again") from e

    def _held_by_another(self, user: User) -> bool:
        holder = self.user_for_wecom(user.tenant_id, user.wecom_userid) if user.wecom_userid else None
        return holder not in (None, user.id)

    def user_for_wecom(self, tenant_id: str, wecom_userid: str) -> str | None:
        try:
            item = WeComUserItem.get(keys.tenant_pk(tenant_id), keys.wecom_user_sk(wecom_userid))
        except WeComUserItem.DoesNotExist:
            return None
        return item.user_id

    def get_credentials(self, ref: KeyRef) -> tuple[ApiKey | None, User | None]:
        """The key and, for a staff key, its user: one strongly consistent request (BatchGetItem of two
        items, or a GetItem), so a revocation or a disabled user holds from the very next request."""
        key_pk = keys.api_key_pk(ref.tenant_id, ref.key_hash)
        if ref.user_id is None:
            try:
                return _key(ApiKeyItem.get(key_pk, keys.API_KEY_SK, consistent_read=True)), None
            except ApiKeyItem.DoesNotExist:
                return None, None
        pairs = [(key_pk, keys.API_KEY_SK), (keys.tenant_pk(ref.tenant_id), keys.user_sk(ref.user_id))]
        found = {i.pk: i for i in Item.batch_get(pairs, consistent_read=True)}
        key_item, user_item = found.get(key_pk), found.get(keys.tenant_pk(ref.tenant_id))
        return (
            _key(key_item) if isinstance(key_item, ApiKeyItem) else None,
            _user(user_item) if isinstance(user_item, UserItem) else None,
        )

    def list_keys(self, tenant_id: str, holder: str) -> list[ApiKey]:
        prefix = keys.api_keys_prefix(holder)
        return [
            _key(i) for i in ApiKeyItem.query(keys.tenant_pk(tenant_id), ApiKeyItem.sk.startswith(prefix))
        ]

    def get_key(self, tenant_id: str, holder: str, key_id: str) -> ApiKey | None:
        try:
            item = ApiKeyItem.get(
                keys.tenant_pk(tenant_id), keys.api_key_listing_sk(holder, key_id), consistent_read=True
            )
        except ApiKeyItem.DoesNotExist:
            return None
        return _key(item)

    def add_key(self, key: ApiKey, *, limit: int) -> None:
        """Both rows of a new key; a staff key also counts against its user's `limit` of active keys, in
        the same transaction (two concurrent creations cannot both take the last place)."""

        def build(tx: TransactWrite) -> None:
            if key.user_id is not None:
                tx.update(
                    UserItem(keys.tenant_pk(key.tenant_id), keys.user_sk(key.user_id)),
                    actions=[UserItem.active_keys.add(1)],
                    condition=UserItem.pk.exists()
                    & (UserItem.active_keys.does_not_exist() | (UserItem.active_keys < limit)),
                )
            else:
                tx.condition_check(
                    TenantItem, keys.tenant_pk(key.tenant_id), keys.TENANT_SK, TenantItem.pk.exists()
                )
            for row in _key_items(key):
                tx.save(row, condition=ApiKeyItem.pk.does_not_exist())

        try:
            write_transaction(build, what=f"the keys of {key.holder}")
        except TransactWriteError as e:
            # A failed condition (contention is retried inside): pynamodb reorders a transaction's items, so
            # tell the causes apart by reading the user.
            if key.user_id is not None and self.get_user(key.tenant_id, key.user_id) is not None:
                raise TooManyKeysError() from e
            raise NotFoundError(f"no user {key.user_id}" if key.user_id else "no such tenant") from e

    def revoke_key(self, key: ApiKey, at: datetime) -> bool:
        """Marks both rows revoked and frees the user's place, in one transaction conditional on the key
        being active. False: it was revoked already (nothing written)."""
        revoked = key.model_copy(update={"revoked_at": at})
        doc, stamp = revoked.model_dump_json(), at.isoformat()

        def build(tx: TransactWrite) -> None:
            for row in _key_items(key):
                tx.update(
                    ApiKeyItem(row.pk, row.sk),
                    actions=[ApiKeyItem.doc.set(doc), ApiKeyItem.revoked_at.set(stamp)],
                    condition=ApiKeyItem.pk.exists() & ApiKeyItem.revoked_at.does_not_exist(),
                )
            if key.user_id is not None:
                tx.update(
                    UserItem(keys.tenant_pk(key.tenant_id), keys.user_sk(key.user_id)),
                    actions=[UserItem.active_keys.add(-1)],
                    condition=UserItem.pk.exists(),
                )

        try:
            write_transaction(build, what=f"key {key.id}")
        except TransactWriteError as e:
            current = self.get_key(key.tenant_id, key.listed_under, key.id)
            if current is not None and not current.active:
                return False
            raise ConflictError(f"key {key.id} could not be revoked: try again") from e
        return True


def _taken(wecom_userid: str) -> ConflictError:
    return ConflictError(
        f"WeCom UserID {wecom_userid} belongs to another user",
        details=[{"field": "wecom_userid", "message": "already another user's"}],
    )
