"""An in-memory WeComOrgRepository with the store's semantics: case-insensitive member keys, writes
conditional on the version read (ConflictError otherwise), a rename's two records written together."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.common import ConflictError
from chalicelib.domain.wecom_org import WeComDepartment, WeComMember, member_key


class FakeWeComOrg:
    def __init__(self) -> None:
        self.member_rows: dict[tuple[str, str], WeComMember] = {}
        self.department_rows: dict[tuple[str, int], WeComDepartment] = {}

    def member(self, tenant_id: str, userid: str) -> WeComMember | None:
        return self.member_rows.get((tenant_id, member_key(userid)))

    def save_members(self, tenant_id: str, members: Sequence[tuple[WeComMember, int | None]]) -> None:
        for member, expected in members:  # all conditions first: the store writes them in one transaction
            current = self.member(tenant_id, member.userid)
            if (current.version if current else None) != expected:
                raise ConflictError(f"WeCom member {member.userid} changed meanwhile")
        for member, _ in members:
            self.member_rows[(tenant_id, member_key(member.userid))] = member

    def members(self, tenant_id: str) -> list[WeComMember]:
        return [m for (t, _), m in sorted(self.member_rows.items()) if t == tenant_id]

    def department(self, tenant_id: str, department_id: int) -> WeComDepartment | None:
        return self.department_rows.get((tenant_id, department_id))

    def save_department(
        self, tenant_id: str, department: WeComDepartment, *, expected_version: int | None
    ) -> None:
        current = self.department(tenant_id, department.id)
        if (current.version if current else None) != expected_version:
            raise ConflictError(f"WeCom department {department.id} changed meanwhile")
        self.department_rows[(tenant_id, department.id)] = department

    def departments(self, tenant_id: str) -> list[WeComDepartment]:
        return [d for (t, _), d in sorted(self.department_rows.items()) if t == tenant_id]
