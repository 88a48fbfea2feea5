"""The mirrored WeCom org (domain/wecom_org.py, services/wecom_org.py) on in-memory fakes: members and
departments follow 通讯录回调, late and repeated events change nothing, a changed UserID moves the record
and the staff user linked to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.access import Role, Scope
from chalicelib.domain.tenants import User
from chalicelib.domain.wecom_org import (
    ChangeIgnored,
    DepartmentChange,
    MemberChange,
    MemberRemoved,
    MemberRenamed,
    MemberSaved,
    MemberStatus,
)
from chalicelib.services.wecom_org import WeComOrgService
from tests.fakes.clock import FrozenClock
from tests.fakes.tenants import FakeTenantRepository
from tests.fakes.wecom_org import FakeWeComOrg

T = "t1"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def change(action: str, userid: str = "ZhangSan", at: datetime = T0, **fields: Any) -> MemberChange:
    return MemberChange.model_validate({"action": action, "userid": userid, "at": at, **fields})


@pytest.fixture
def org() -> FakeWeComOrg:
    return FakeWeComOrg()


@pytest.fixture
def tenants() -> FakeTenantRepository:
    return FakeTenantRepository()


@pytest.fixture
def service(org: FakeWeComOrg, tenants: FakeTenantRepository) -> WeComOrgService:
    return WeComOrgService(org=org, tenants=tenants, clock=FrozenClock(T0))


def test_create_then_update_keeps_what_the_update_did_not_name(service: WeComOrgService):
    created = service.apply_member(
        T, change("create", name="张三", departments=[1, 2], status=1, position="店长")
    )
    assert isinstance(created, MemberSaved) and created.before is None
    updated = service.apply_member(T, change("update", at=T0 + timedelta(seconds=5), departments=[3]))
    assert isinstance(updated, MemberSaved)
    view = service.member(T, "zhangsan")  # UserIDs are case-insensitive
    assert view is not None
    assert (view.member.name, view.member.departments, view.member.position) == ("张三", [3], "店长")
    assert view.member.version == 2


def test_a_late_or_repeated_event_changes_nothing(service: WeComOrgService, org: FakeWeComOrg):
    service.apply_member(T, change("create", name="张三", at=T0 + timedelta(minutes=1)))
    assert isinstance(service.apply_member(T, change("update", name="旧名")), ChangeIgnored)  # older
    again = service.apply_member(T, change("create", name="张三", at=T0 + timedelta(minutes=1)))
    assert isinstance(again, ChangeIgnored)
    member = org.member(T, "ZhangSan")
    assert member is not None and (member.name, member.version) == ("张三", 1)


def test_delete_keeps_a_tombstone_that_a_late_update_cannot_revive(
    service: WeComOrgService, org: FakeWeComOrg
):
    service.apply_member(T, change("create", name="张三"))
    removed = service.apply_member(T, change("delete", at=T0 + timedelta(minutes=2)))
    assert isinstance(removed, MemberRemoved)
    assert isinstance(
        service.apply_member(T, change("update", name="x", at=T0 + timedelta(minutes=1))), ChangeIgnored
    )
    member = org.member(T, "ZhangSan")
    assert member is not None and member.deleted and member.status == MemberStatus.LEFT


def test_a_changed_userid_moves_the_member_and_the_user_linked_to_it(
    service: WeComOrgService, org: FakeWeComOrg, tenants: FakeTenantRepository
):
    user = User(
        id="u1", tenant_id=T, name="张三", role=Role.AGENT, scope=Scope.parse("own"), created_at=T0,
        wecom_userid="ZhangSan",
    )  # fmt: skip
    tenants.users[(T, "u1")] = user
    tenants.wecom[(T, "ZhangSan")] = "u1"
    service.apply_member(T, change("create", name="张三", departments=[2]))
    renamed = service.apply_member(
        T, change("update", at=T0 + timedelta(seconds=1), new_userid="zhangsan_sh")
    )
    assert isinstance(renamed, MemberRenamed)
    old, new = org.member(T, "ZhangSan"), org.member(T, "zhangsan_sh")
    assert old is not None and old.deleted and old.renamed_to == "zhangsan_sh"
    assert new is not None and (new.name, new.departments, new.deleted) == ("张三", [2], False)
    assert tenants.users[(T, "u1")].wecom_userid == "zhangsan_sh"
    view = service.member(T, "zhangsan_sh")
    assert view is not None and view.user_id == "u1"  # linked through the user's index, not a copy
    again = service.apply_member(T, change("update", at=T0 + timedelta(seconds=1), new_userid="zhangsan_sh"))
    assert isinstance(again, ChangeIgnored)


def test_departments_follow_create_update_delete(service: WeComOrgService):
    at = T0
    for action, fields in (
        ("create", {"name": "华东区", "parent_id": 1}),
        ("update", {"name": "华东大区"}),
        ("delete", {}),
    ):
        at += timedelta(seconds=1)
        service.apply_department(
            T, DepartmentChange.model_validate({"action": action, "id": 2, "at": at, **fields})
        )
    [dept] = service.departments(T)
    assert (dept.name, dept.parent_id, dept.deleted, dept.version) == ("华东大区", 1, True, 3)
    late = DepartmentChange(action="update", id=2, name="x", at=T0)
    assert service.apply_department(T, late) is None
