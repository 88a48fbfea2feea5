"""`scrm user|key|integration-key`: the operator stops keys and users, and new users get the least scope."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from chalicelib.cli import app
from chalicelib.domain.access import KeyKind
from chalicelib.domain.common import UnauthorizedError
from tests.integration.conftest import TenantKeys


def scrm(*argv: str) -> dict:
    """`scrm --aws …` in-process (the test's container is the one it acts on): its JSON on stdout."""
    result = CliRunner().invoke(app, ["--aws", *argv])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def scrm_fails(*argv: str) -> str:
    """The one line `scrm` writes on stderr when it refuses (exit code 1, no traceback)."""
    result = CliRunner().invoke(app, ["--aws", *argv])
    assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.stderr, result
    [line] = result.stderr.strip().splitlines()
    return line


def refused(container, secret: str, accepts: KeyKind = KeyKind.STAFF) -> str:
    with pytest.raises(UnauthorizedError) as e:
        container.tenants.authenticate(f"Bearer {secret}", accepts=accepts)
    return e.value.message


def test_user_create_defaults_to_the_own_scope(container, tenant: TenantKeys):
    made = scrm("user", "create", "--tenant", tenant.tenant_id, "--role", "agent")
    assert made["scope"] == "own"
    assert container.tenants.authenticate(f"Bearer {made['api_key']}").scope.kind == "own"
    wide = scrm("user", "create", "--tenant", tenant.tenant_id, "--role", "manager", "--scope", "region:华东")
    assert wide["scope"] == "region:华东"


def test_keys_are_created_listed_revoked_and_users_disabled(container, tenant: TenantKeys):
    t, uid, first = tenant.tenant_id, tenant.user_ids["finance"], tenant.keys["finance"]
    new = scrm("key", "create", "--tenant", t, "--user", uid)
    assert new["api_key"].startswith(f"scrm.{t}.{uid}.") and new["kind"] == "staff"
    assert "at most 2 active keys" in scrm_fails("key", "create", "--tenant", t, "--user", uid)
    listed = scrm("key", "list", "--tenant", t, "--user", uid)["items"]
    assert len(listed) == 2 and all("key_hash" not in k and "api_key" not in k for k in listed)
    old_id = next(k["id"] for k in listed if k["id"] != new["id"])
    assert scrm("key", "revoke", old_id, "--tenant", t, "--user", uid)["revoked_at"]
    assert "revoked" in refused(container, first)
    assert container.tenants.authenticate(f"Bearer {new['api_key']}").user_id == uid

    assert scrm("user", "disable", uid, "--tenant", t) == {"user_id": uid, "disabled": True}
    assert "disabled" in refused(container, new["api_key"])
    assert scrm("user", "enable", uid, "--tenant", t)["disabled"] is False
    assert container.tenants.authenticate(f"Bearer {new['api_key']}").user_id == uid
    assert "not_found" in scrm_fails("user", "disable", "usr_nobody", "--tenant", t)


def test_integration_keys_from_the_cli(container, tenant: TenantKeys):
    t = tenant.tenant_id
    made = scrm("integration-key", "create", "--tenant", t, "--name", "官网 H5")
    p = container.tenants.authenticate(f"Bearer {made['api_key']}", accepts=KeyKind.INTEGRATION)
    assert p.kind is KeyKind.INTEGRATION
    names = {k["name"] for k in scrm("integration-key", "list", "--tenant", t)["items"]}
    assert names == {"H5 backend", "官网 H5"}
    scrm("integration-key", "revoke", made["id"], "--tenant", t)
    assert "revoked" in refused(container, made["api_key"], KeyKind.INTEGRATION)
