"""The tenant's configuration counters (services/cache.py `ConfigVersions`): one item in the tenant's
partition, one number per kind of configuration, changed only by ADD
(concurrent writers never lose a bump)."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.configuration import ConfigKind
from chalicelib.store import keys
from chalicelib.store.table import ConfigVersionsItem

_KINDS = tuple(ConfigKind)


class DynamoConfigVersions:
    def read(self, tenant_id: str) -> Mapping[str, int]:
        """One strongly consistent GetItem (1 RCU): a change acknowledged before it is always seen."""
        try:
            item = ConfigVersionsItem.get(
                keys.tenant_pk(tenant_id), keys.CONFIG_VERSIONS_SK, consistent_read=True
            )
        except ConfigVersionsItem.DoesNotExist:
            return {}
        return {k.value: int(getattr(item, k.value) or 0) for k in _KINDS}

    def bump(self, tenant_id: str, kind: ConfigKind) -> None:
        ConfigVersionsItem(keys.tenant_pk(tenant_id), keys.CONFIG_VERSIONS_SK).update(
            actions=[
                ConfigVersionsItem.type.set(ConfigVersionsItem),
                getattr(ConfigVersionsItem, kind.value).add(1),
            ]
        )
