"""Tenants, users and API keys."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ConflictError, NotFoundError
from chalicelib.domain.tenants import ApiKey, Tenant, User
from chalicelib.store import keys
from chalicelib.store.table import ApiKeyItem, TenantItem, UserItem, connection


def _user_item(user: User) -> UserItem:
    return UserItem(keys.tenant_pk(user.tenant_id), keys.user_sk(user.id), doc=user.model_dump_json())


def _key_item(key: ApiKey) -> ApiKeyItem:
    return ApiKeyItem(
        keys.api_key_pk(key.tenant_id, key.key_hash), keys.API_KEY_SK, doc=key.model_dump_json()
    )


class DynamoTenantRepository:
    def create_tenant(self, tenant: Tenant, admin: User, key: ApiKey) -> None:
        item = TenantItem(keys.tenant_pk(tenant.id), keys.TENANT_SK, doc=tenant.model_dump_json())
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(item, condition=TenantItem.pk.does_not_exist())
                tx.save(_user_item(admin), condition=UserItem.pk.does_not_exist())
                tx.save(_key_item(key), condition=ApiKeyItem.pk.does_not_exist())
        except TransactWriteError as e:
            raise ConflictError(f"tenant {tenant.id} already exists") from e

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        try:
            item = TenantItem.get(keys.tenant_pk(tenant_id), keys.TENANT_SK)
        except TenantItem.DoesNotExist:
            return None
        return Tenant.model_validate_json(item.doc or "")

    def create_user(self, user: User, key: ApiKey) -> None:
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.condition_check(
                    TenantItem, keys.tenant_pk(user.tenant_id), keys.TENANT_SK, TenantItem.pk.exists()
                )
                tx.save(_user_item(user), condition=UserItem.pk.does_not_exist())
                tx.save(_key_item(key), condition=ApiKeyItem.pk.does_not_exist())
        except TransactWriteError as e:
            raise NotFoundError(f"tenant {user.tenant_id} does not exist") from e

    def list_users(self, tenant_id: str) -> list[User]:
        return [
            User.model_validate_json(i.doc or "")
            for i in UserItem.query(keys.tenant_pk(tenant_id), UserItem.sk.startswith(keys.USER_PREFIX))
        ]

    def get_api_key(self, tenant_id: str, key_hash: str) -> ApiKey | None:
        try:
            item = ApiKeyItem.get(keys.api_key_pk(tenant_id, key_hash), keys.API_KEY_SK)
        except ApiKeyItem.DoesNotExist:
            return None
        return ApiKey.model_validate_json(item.doc or "")
