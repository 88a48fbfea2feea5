"""Keep the tenant's WeCom org (members, departments) as 通讯录回调 reports it (domain/wecom_org.py).

The sales issue's org sync and handover build on this mirror. A member is linked to our staff user through
`User.wecom_userid` and its WECOMUSER index (one GetItem), never through a copy: when WeCom changes a
member's UserID (update_user with NewUserID), the user carrying the old one is moved to the new one, so
customers the member adds later still find their owner."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.common import Clock, ConflictError
from chalicelib.domain.wecom_org import (
    ChangeIgnored,
    DepartmentChange,
    MemberChange,
    MemberOutcome,
    MemberRemoved,
    MemberRenamed,
    MemberSaved,
    WeComDepartment,
    WeComMember,
    apply_department_change,
    apply_member_change,
)
from chalicelib.observability import logger
from chalicelib.services.ports import TenantRepository, WeComOrgRepository


@dataclass(frozen=True)
class MemberView:
    member: WeComMember
    user_id: str | None  # our staff user carrying this UserID, if any


class WeComOrgService:
    def __init__(self, *, org: WeComOrgRepository, tenants: TenantRepository, clock: Clock) -> None:
        self._org = org
        self._tenants = tenants
        self._clock = clock

    def apply_member(self, tenant_id: str, change: MemberChange) -> MemberOutcome:
        """Idempotent: the same event again, or an older one, changes nothing. ConflictError when the
        record changed meanwhile (the queue retries the message)."""
        current = self._org.member(tenant_id, change.userid)
        target = self._org.member(tenant_id, change.new_userid) if change.new_userid else None
        outcome = apply_member_change(current, change, renamed_target=target)
        if isinstance(outcome, MemberSaved):
            self._org.save_members(tenant_id, [_next(outcome.after, outcome.before)])
        elif isinstance(outcome, MemberRemoved):
            self._org.save_members(tenant_id, [_next(outcome.after, current)])
        elif isinstance(outcome, MemberRenamed):
            self._org.save_members(
                tenant_id, [_next(outcome.old, current), _next(outcome.new, outcome.new_before)]
            )
            self._relink_user(tenant_id, outcome.old.userid, outcome.new.userid)
        return outcome

    def apply_department(self, tenant_id: str, change: DepartmentChange) -> WeComDepartment | None:
        current = self._org.department(tenant_id, change.id)
        after = apply_department_change(current, change)
        if after is not None:
            version = current.version if current else None
            after = after.model_copy(update={"version": (version or 0) + 1})
            self._org.save_department(tenant_id, after, expected_version=version)
        return after

    def member(self, tenant_id: str, userid: str) -> MemberView | None:
        found = self._org.member(tenant_id, userid)
        if found is None:
            return None
        return MemberView(member=found, user_id=self._tenants.user_for_wecom(tenant_id, found.userid))

    def members(self, tenant_id: str) -> list[WeComMember]:
        return self._org.members(tenant_id)

    def departments(self, tenant_id: str) -> list[WeComDepartment]:
        return self._org.departments(tenant_id)

    def _relink_user(self, tenant_id: str, old_userid: str, new_userid: str) -> None:
        user_id = self._tenants.user_for_wecom(tenant_id, old_userid)
        user = self._tenants.get_user(tenant_id, user_id) if user_id else None
        if user is None:
            return
        moved = user.model_copy(update={"wecom_userid": new_userid, "version": user.version + 1})
        try:
            self._tenants.update_user(moved, previous=user)
        except ConflictError:  # the new UserID is already another user's: an admin decides
            logger.warning("wecom userid changed but is held by another user", extra={"user_id": user.id})


def _next(member: WeComMember, before: WeComMember | None) -> tuple[WeComMember, int | None]:
    version = before.version if before is not None else None
    return member.model_copy(update={"version": (version or 0) + 1}), version


__all__ = ["ChangeIgnored", "MemberView", "WeComOrgService"]
