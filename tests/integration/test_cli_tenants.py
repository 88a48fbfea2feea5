"""`scrm tenant create --timezone` and `scrm tenant backfill-registry`: the tenant registry the month-end
schedule reads, from the operator's command line."""

from __future__ import annotations

from chalicelib import bootstrap
from chalicelib.store import keys
from chalicelib.store.table import TenantRegistryItem
from tests.integration.test_cli_keys import scrm, scrm_fails


def test_a_tenant_is_created_in_its_time_zone_and_registered(container: bootstrap.Container) -> None:
    made = scrm("tenant", "create", "--name", "NY Repairs", "--timezone", "America/New_York")

    stored = container.tenant_repo.get_tenant(made["tenant_id"])
    assert stored is not None and stored.timezone == "America/New_York"
    assert [(t.id, t.timezone) for t in container.tenant_repo.registered_tenants()] == [
        (made["tenant_id"], "America/New_York")
    ]
    line = scrm_fails("tenant", "create", "--name", "Nowhere", "--timezone", "Mars/Olympus")
    assert "timezone" in line and "Mars/Olympus" in line
    assert len(container.tenant_repo.registered_tenants()) == 1  # nothing stored for the refused one


def test_backfill_registers_tenants_from_before_the_registry_once(container: bootstrap.Container) -> None:
    old = scrm("tenant", "create", "--name", "Old")["tenant_id"]
    TenantRegistryItem(keys.TENANT_REGISTRY_PK, keys.tenant_registry_sk(old)).delete()

    assert scrm("tenant", "backfill-registry") == {"registered": 1}
    assert scrm("tenant", "backfill-registry") == {"registered": 0}
    assert [(t.id, t.timezone) for t in container.tenant_repo.registered_tenants()] == [
        (old, "Asia/Shanghai")
    ]
