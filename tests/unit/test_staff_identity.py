"""Staff users carry their WeCom UserID (one user per UserID, found without a scan) and permissions granted
beyond their role (service over the in-memory repository)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.domain.access import Permission
from chalicelib.domain.common import ConflictError
from chalicelib.services.tenants import IssuedCredentials, TenantService, UserDraft, UserPatch
from tests.fakes.clock import FrozenClock
from tests.fakes.tenants import FakeTenantRepository


class _Tags:
    def save_group(self, group: Any, expected_version: int | None) -> None:
        pass


@pytest.fixture
def repo() -> FakeTenantRepository:
    return FakeTenantRepository()


@pytest.fixture
def svc(repo: FakeTenantRepository) -> TenantService:
    return TenantService(tenants=repo, tags=_Tags(), clock=FrozenClock())  # type: ignore[arg-type]


@pytest.fixture
def tenant(svc: TenantService) -> IssuedCredentials:
    return svc.create_tenant(name="Acme")


def _user(svc: TenantService, tenant: IssuedCredentials, **fields: Any) -> IssuedCredentials:
    draft = UserDraft.model_validate({"name": "张三", "role": "agent", **fields})
    return svc.create_user(tenant_id=tenant.tenant_id, draft=draft)


def test_a_wecom_userid_names_one_user_found_in_one_read(
    svc: TenantService, tenant: IssuedCredentials, repo: FakeTenantRepository
) -> None:
    zhang = _user(svc, tenant, wecom_userid="zhangsan")
    before = repo.requests["GetItem"]
    assert svc.staff_for_wecom(tenant.tenant_id, "zhangsan") == zhang.user.id
    assert svc.staff_for_wecom(tenant.tenant_id, "lisi") is None
    assert repo.requests["GetItem"] - before == 2 and repo.requests["Query"] == 0  # no listing, no scan
    with pytest.raises(ConflictError):
        _user(svc, tenant, wecom_userid="zhangsan")  # one user per UserID


def test_changing_a_wecom_userid_moves_it(svc: TenantService, tenant: IssuedCredentials) -> None:
    admin = svc.authenticate(f"Bearer {tenant.api_key}")
    zhang = _user(svc, tenant, wecom_userid="zhangsan")
    other = _user(svc, tenant)
    svc.update_user(principal=admin, user_id=zhang.user.id, patch=UserPatch(wecom_userid="zhang.san"))
    assert svc.staff_for_wecom(tenant.tenant_id, "zhang.san") == zhang.user.id
    assert svc.staff_for_wecom(tenant.tenant_id, "zhangsan") is None
    with pytest.raises(ConflictError):
        svc.update_user(principal=admin, user_id=other.user.id, patch=UserPatch(wecom_userid="zhang.san"))
    cleared = svc.update_user(
        principal=admin, user_id=zhang.user.id, patch=UserPatch.model_validate({"wecom_userid": None})
    )
    assert cleared.wecom_userid is None and svc.staff_for_wecom(tenant.tenant_id, "zhang.san") is None


def test_grants_reach_the_principal_and_only_grantable_ones(
    svc: TenantService, tenant: IssuedCredentials
) -> None:
    admin = svc.authenticate(f"Bearer {tenant.api_key}")
    engineer = _user(svc, tenant, role="engineer", scope="store:SH-001")
    assert not svc.authenticate(f"Bearer {engineer.api_key}").has(Permission.TICKETS_ACT_IN_SCOPE)
    svc.update_user(
        principal=admin,
        user_id=engineer.user.id,
        patch=UserPatch.model_validate({"grants": ["tickets:act-in-scope"]}),
    )
    assert svc.authenticate(f"Bearer {engineer.api_key}").has(Permission.TICKETS_ACT_IN_SCOPE)
    for bad in ({"grants": ["users:manage"]}, {"grants": None}, {"wecom_userid": "张 三"}):
        with pytest.raises(ValidationError):
            UserPatch.model_validate(bad)
    with pytest.raises(ValidationError):
        UserDraft.model_validate({"name": "x", "role": "agent", "grants": ["settlement:manage"]})
