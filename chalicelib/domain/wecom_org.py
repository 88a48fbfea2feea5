"""The tenant's WeCom org, mirrored: members (成员) and departments (部门), as 通讯录回调 reports them.

Events (developer.work.weixin.qq.com/document/path/90970 成员变更, path/90971 部门变更; WxJava
`WxCpXmlMessage`): create_user carries the member's fields, update_user only those that changed (and
`NewUserID` when the UserID itself was changed, which WeCom allows once for a generated one), delete_user
only the UserID; create/update/delete_party likewise for a department (Id, Name, ParentId, Order).

Rules kept here:
- A member is known by UserID **case-insensitively** (WeCom's uniqueness check ignores case: 创建成员,
  path/90195), so `member_key` lower-cases it; the UserID is kept as WeCom last wrote it.
- Callbacks can arrive late or twice. Each record remembers the CreateTime of the event it last applied;
  an older event changes nothing, the same one again changes nothing new.
- Deletion keeps a tombstone (`deleted`), so a late update cannot bring a removed member back.
- Versions are the store's business (services/wecom_org.py sets them for the conditional writes).
- A member is not a user of ours: `User.wecom_userid` (and its WECOMUSER index) links one to the other; the
  mirror does not copy that link (services/wecom_org.py reads it when it is needed).
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, Field


class MemberStatus(IntEnum):
    """成员状态 (path/90196): 1 activated, 2 disabled, 4 not activated, 5 left the corp."""

    ACTIVE = 1
    DISABLED = 2
    INACTIVE = 4
    LEFT = 5


def member_key(userid: str) -> str:
    return userid.strip().lower()


class WeComMember(BaseModel):
    userid: str
    name: str | None = None
    departments: list[int] = Field(default_factory=list)
    main_department: int | None = None
    position: str | None = None
    status: int | None = None  # MemberStatus, kept as sent (a new value must not break the mirror)
    deleted: bool = False
    renamed_to: str | None = None  # the UserID was changed: this record ends, the new one carries on
    changed_at: datetime  # CreateTime of the last event applied
    version: int = 0


class WeComDepartment(BaseModel):
    id: int
    name: str | None = None
    parent_id: int | None = None
    order: int | None = None
    deleted: bool = False
    changed_at: datetime
    version: int = 0


class MemberChange(BaseModel):
    """One create_user / update_user / delete_user event; None fields were not in it."""

    action: Literal["create", "update", "delete"]
    userid: str = Field(min_length=1)
    new_userid: str | None = None
    name: str | None = None
    departments: list[int] | None = None
    main_department: int | None = None
    position: str | None = None
    status: int | None = None
    at: datetime


class DepartmentChange(BaseModel):
    action: Literal["create", "update", "delete"]
    id: int
    name: str | None = None
    parent_id: int | None = None
    order: int | None = None
    at: datetime


# -- outcomes (past tense) -------------------------------------------------------------------------------
class MemberSaved(BaseModel):
    """The member was added or changed (`before` None: first seen)."""

    before: WeComMember | None
    after: WeComMember


class MemberRenamed(BaseModel):
    """The UserID changed: `old` is closed (tombstone pointing at the new id), `new` carries the data."""

    old: WeComMember
    new: WeComMember
    new_before: WeComMember | None


class MemberRemoved(BaseModel):
    after: WeComMember


class ChangeIgnored(BaseModel):
    """An event older than what is recorded (or one that changes nothing): nothing to write."""

    reason: str


MemberOutcome = MemberSaved | MemberRenamed | MemberRemoved | ChangeIgnored


def _is_stale(current: WeComMember | WeComDepartment | None, at: datetime) -> bool:
    return current is not None and at < current.changed_at


def _merged(current: WeComMember | None, change: MemberChange, userid: str) -> WeComMember:
    base = current or WeComMember(userid=userid, changed_at=change.at)
    fields = {
        "name": change.name,
        "departments": change.departments,
        "main_department": change.main_department,
        "position": change.position,
        "status": change.status,
    }
    return base.model_copy(
        update={
            **{k: v for k, v in fields.items() if v is not None},
            "userid": userid,
            "deleted": False,
            "renamed_to": None,
            "changed_at": change.at,
        }
    )


def apply_member_change(
    current: WeComMember | None, change: MemberChange, *, renamed_target: WeComMember | None = None
) -> MemberOutcome:
    """What the event does to the recorded member (`renamed_target`: the record at NewUserID, if any)."""
    if _is_stale(current, change.at):
        return ChangeIgnored(reason=f"older than the member's last change ({change.action} {change.userid})")
    if change.action == "delete":
        base = current or WeComMember(userid=change.userid, changed_at=change.at)
        gone = base.model_copy(
            update={"deleted": True, "status": MemberStatus.LEFT.value, "changed_at": change.at}
        )
        return ChangeIgnored(reason="already deleted") if current == gone else MemberRemoved(after=gone)
    new_id = change.new_userid
    if new_id and member_key(new_id) != member_key(change.userid):
        if current is not None and current.renamed_to == new_id and current.changed_at == change.at:
            return ChangeIgnored(reason="rename already applied")
        moved = _merged(current, change, new_id)
        old = (current or WeComMember(userid=change.userid, changed_at=change.at)).model_copy(
            update={"deleted": True, "renamed_to": new_id, "changed_at": change.at}
        )
        return MemberRenamed(old=old, new=moved, new_before=renamed_target)
    after = _merged(current, change, new_id or change.userid)
    if current is not None and after == current:
        return ChangeIgnored(reason="no change")
    return MemberSaved(before=current, after=after)


def apply_department_change(
    current: WeComDepartment | None, change: DepartmentChange
) -> WeComDepartment | None:
    """The department after the event, or None when the event is older than the record or changes nothing."""
    if _is_stale(current, change.at):
        return None
    base = current or WeComDepartment(id=change.id, changed_at=change.at)
    if change.action == "delete":
        after = base.model_copy(update={"deleted": True, "changed_at": change.at})
    else:
        fields = {"name": change.name, "parent_id": change.parent_id, "order": change.order}
        after = base.model_copy(
            update={
                **{k: v for k, v in fields.items() if v is not None},
                "deleted": False,
                "changed_at": change.at,
            }
        )
    return None if after == current else after
