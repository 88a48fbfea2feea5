"""API keys that can be stopped: revocation, disabled users, rotation, key kinds (service, in-memory repo)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.domain.access import KeyKind, Permission, Principal, Role, ScopeKind
from chalicelib.domain.common import ConflictError, ForbiddenError, NotFoundError, UnauthorizedError
from chalicelib.domain.tenants import MAX_ACTIVE_KEYS, TooManyKeysError, parse_api_key
from chalicelib.services.tenants import (
    IntegrationKeyDraft,
    IssuedCredentials,
    TenantService,
    UserDraft,
    UserPatch,
)
from tests.fakes.clock import FrozenClock
from tests.fakes.tenants import FakeTenantRepository


class _Tags:
    def save_group(self, group: Any, expected_version: int | None) -> None:
        pass


@pytest.fixture
def repo() -> FakeTenantRepository:
    return FakeTenantRepository()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def svc(repo: FakeTenantRepository, clock: FrozenClock) -> TenantService:
    return TenantService(tenants=repo, tags=_Tags(), clock=clock)  # type: ignore[arg-type]


@pytest.fixture
def tenant(svc: TenantService) -> IssuedCredentials:
    return svc.create_tenant(name="Acme")


def admin_of(svc: TenantService, tenant: IssuedCredentials) -> Principal:
    return svc.authenticate(f"Bearer {tenant.api_key}")


def agent(svc: TenantService, tenant: IssuedCredentials, scope: str = "own") -> IssuedCredentials:
    return svc.create_user(
        tenant_id=tenant.tenant_id,
        draft=UserDraft.model_validate({"name": "a", "role": "agent", "scope": scope}),
    )


def unauthorized(svc: TenantService, secret: str) -> str:
    with pytest.raises(UnauthorizedError) as e:
        svc.authenticate(f"Bearer {secret}")
    return e.value.message


def test_authentication_is_one_request_and_uses_the_users_current_role(svc, repo, tenant):
    # GIVEN an agent's key
    user = agent(svc, tenant, scope="own")
    repo.requests.clear()
    # WHEN it authenticates
    p = svc.authenticate(f"Bearer {user.api_key}")
    # THEN one request read the key and the user together
    assert repo.requests == {"BatchGetItem": 1}
    assert (p.user_id, p.role, p.scope.kind, p.kind) == (
        user.user.id,
        Role.AGENT,
        ScopeKind.OWN,
        KeyKind.STAFF,
    )
    # AND a role/scope change applies to the very next request, with the same key
    svc.update_user(
        principal=admin_of(svc, tenant),
        user_id=user.user.id,
        patch=UserPatch.model_validate({"role": "manager", "scope": "region:华东"}),
    )
    p = svc.authenticate(f"Bearer {user.api_key}")
    assert (p.role, str(p.scope)) == (Role.MANAGER, "region:华东")


def test_a_revoked_key_is_refused_at_once_and_revoking_again_changes_nothing(svc, repo, clock, tenant):
    admin = admin_of(svc, tenant)
    user = agent(svc, tenant)
    (key,) = svc.list_keys(principal=admin, user_id=user.user.id)
    revoked = svc.revoke_key(principal=admin, user_id=user.user.id, key_id=key.id)
    assert revoked.revoked_at == clock.now()
    assert "revoked" in unauthorized(svc, user.api_key)
    # idempotent: the same answer, nothing written
    clock.advance(minutes=5)
    repo.requests.clear()
    again = svc.revoke_key(principal=admin, user_id=user.user.id, key_id=key.id)
    assert again.revoked_at == revoked.revoked_at
    assert "TransactWriteItems" not in repo.requests


def test_rotation_two_keys_work_at_once_a_third_is_refused_until_one_is_revoked(svc, tenant):
    admin = admin_of(svc, tenant)
    user = agent(svc, tenant)
    new = svc.create_key(principal=admin, user_id=user.user.id)
    # both the old and the new key work during the rotation
    assert svc.authenticate(f"Bearer {user.api_key}").user_id == user.user.id
    assert svc.authenticate(f"Bearer {new.secret}").user_id == user.user.id
    with pytest.raises(TooManyKeysError):
        svc.create_key(principal=admin, user_id=user.user.id)
    old = next(k for k in svc.list_keys(principal=admin, user_id=user.user.id) if k.id != new.key.id)
    svc.revoke_key(principal=admin, user_id=user.user.id, key_id=old.id)
    unauthorized(svc, user.api_key)
    assert svc.authenticate(f"Bearer {new.secret}").user_id == user.user.id
    svc.create_key(principal=admin, user_id=user.user.id)  # the place is free again
    active = [k for k in svc.list_keys(principal=admin, user_id=user.user.id) if k.active]
    assert len(active) == MAX_ACTIVE_KEYS


def test_a_disabled_users_keys_all_stop_and_work_again_when_enabled(svc, tenant):
    admin = admin_of(svc, tenant)
    user = agent(svc, tenant)
    second = svc.create_key(principal=admin, user_id=user.user.id)
    svc.update_user(principal=admin, user_id=user.user.id, patch=UserPatch(disabled=True))
    for secret in (user.api_key, second.secret):
        assert "disabled" in unauthorized(svc, secret)
    svc.update_user(principal=admin, user_id=user.user.id, patch=UserPatch(disabled=False))
    for secret in (user.api_key, second.secret):
        assert svc.authenticate(f"Bearer {secret}").user_id == user.user.id


def test_a_stale_user_edit_is_a_conflict(svc, repo, tenant):
    admin = admin_of(svc, tenant)
    user = agent(svc, tenant)
    stale = repo.users[(tenant.tenant_id, user.user.id)]
    svc.update_user(principal=admin, user_id=user.user.id, patch=UserPatch(disabled=True))
    with pytest.raises(ConflictError):
        repo.update_user(stale.model_copy(update={"version": stale.version + 1, "disabled": False}))


def test_integration_keys_are_accepted_only_where_a_route_asks_for_them(svc, tenant):
    admin = admin_of(svc, tenant)
    issued = svc.create_integration_key(principal=admin, draft=IntegrationKeyDraft(name="官网 H5"))
    p = svc.authenticate(f"Bearer {issued.secret}", accepts=KeyKind.INTEGRATION)
    assert (p.kind, p.role, p.user_id) == (KeyKind.INTEGRATION, Role.INTEGRATION, issued.key.id)
    assert p.has(Permission.INGEST) and not p.has(Permission.CUSTOMERS_READ)
    with pytest.raises(ForbiddenError, match="ingestion routes"):
        svc.authenticate(f"Bearer {issued.secret}")  # a staff route
    with pytest.raises(ForbiddenError, match="integration key"):
        svc.authenticate(f"Bearer {tenant.api_key}", accepts=KeyKind.INTEGRATION)  # the admin's staff key
    assert not admin.has(Permission.INGEST)  # staff never ingest, not even admins
    svc.revoke_integration_key(principal=admin, key_id=issued.key.id)
    assert "revoked" in unauthorized(svc, issued.secret)
    (listed,) = svc.list_integration_keys(principal=admin)
    assert listed.name == "官网 H5" and not listed.active


def test_keys_that_do_not_match_what_is_stored_are_refused(svc, tenant):
    other = agent(svc, tenant)
    mine = agent(svc, tenant)
    prefix, tid, _, token = mine.api_key.split(".")
    assert "not valid" in unauthorized(svc, f"{prefix}.{tid}.{other.user.id}.{token}")  # another user's id
    assert "not valid" in unauthorized(svc, f"{prefix}.ten_other.{mine.user.id}.{token}")  # another tenant
    assert "not valid" in unauthorized(svc, "nonsense")
    # a key in the format before revocation existed: refused with a way out
    assert "retired format" in unauthorized(svc, f"scrm.{tid}.{token}")
    with pytest.raises(UnauthorizedError):
        svc.authenticate(None)


def test_who_may_handle_keys(svc, tenant):
    admin = admin_of(svc, tenant)
    a, b = agent(svc, tenant), agent(svc, tenant)
    as_a = svc.authenticate(f"Bearer {a.api_key}")
    # a user lists and revokes their own keys, but cannot mint one (a leaked key must not mint its successor)
    (own,) = svc.list_keys(principal=as_a, user_id=a.user.id)
    with pytest.raises(ForbiddenError):
        svc.create_key(principal=as_a, user_id=a.user.id)
    with pytest.raises(ForbiddenError):
        svc.list_keys(principal=as_a, user_id=b.user.id)
    (theirs,) = svc.list_keys(principal=admin, user_id=b.user.id)
    with pytest.raises(ForbiddenError):
        svc.revoke_key(principal=as_a, user_id=b.user.id, key_id=theirs.id)
    with pytest.raises(ForbiddenError):
        svc.update_user(principal=as_a, user_id=b.user.id, patch=UserPatch(disabled=True))
    svc.revoke_key(principal=as_a, user_id=a.user.id, key_id=own.id)
    unauthorized(svc, a.api_key)
    with pytest.raises(NotFoundError):
        svc.revoke_key(principal=admin, user_id=b.user.id, key_id=own.id)  # a's key is not under b
    with pytest.raises(NotFoundError):
        svc.create_key(principal=admin, user_id="usr_nobody")


def test_an_admin_cannot_lock_themselves_out(svc, tenant):
    admin = admin_of(svc, tenant)
    with pytest.raises(ForbiddenError):
        svc.update_user(principal=admin, user_id=admin.user_id, patch=UserPatch(disabled=True))
    with pytest.raises(ForbiddenError):
        svc.update_user(
            principal=admin, user_id=admin.user_id, patch=UserPatch.model_validate({"role": "agent"})
        )
    renamed = svc.update_user(
        principal=admin, user_id=admin.user_id, patch=UserPatch.model_validate({"department": "ops"})
    )
    assert renamed.department == "ops" and renamed.role is Role.ADMIN


def test_new_users_get_the_least_scope_and_never_the_integration_role():
    assert UserDraft.model_validate({"name": "n", "role": "agent"}).scope.kind is ScopeKind.OWN
    with pytest.raises(ValidationError, match="integration"):
        UserDraft.model_validate({"name": "n", "role": "integration"})
    with pytest.raises(ValidationError):
        UserPatch.model_validate({})
    with pytest.raises(ValidationError) as e:
        UserPatch.model_validate({"disabled": None})
    assert e.value.errors()[0]["loc"] == ("disabled",)


def test_the_secret_names_tenant_and_holder_and_the_display_hides_it(svc, tenant):
    ref = parse_api_key(tenant.api_key)
    assert (ref.tenant_id, ref.user_id) == (tenant.tenant_id, tenant.user.id)
    admin = admin_of(svc, tenant)
    (key,) = svc.list_keys(principal=admin, user_id=tenant.user.id)
    assert key.display.endswith("…") and key.display[:-1] in tenant.api_key
    hidden = len(tenant.api_key) - len(key.display[:-1])
    assert hidden >= 37  # of the 43 random characters (256 bits), 37 (222 bits) are never shown
