"""The mirrored WeCom org in one partition per tenant (`T#t#WECOMORG`): members `M#<userid, lower-cased>`,
departments `D#<id>`. Every write is conditional on the version read; a member renamed (two records) is one
transaction."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ConflictError
from chalicelib.domain.wecom_org import WeComDepartment, WeComMember
from chalicelib.store import keys
from chalicelib.store.table import WeComDepartmentItem, WeComMemberItem
from chalicelib.store.transactions import write_transaction


class DynamoWeComOrg:
    def member(self, tenant_id: str, userid: str) -> WeComMember | None:
        try:
            item = WeComMemberItem.get(
                keys.wecom_org_pk(tenant_id), keys.wecom_member_sk(userid), consistent_read=True
            )
        except WeComMemberItem.DoesNotExist:
            return None
        return WeComMember.model_validate_json(item.doc or "")

    def save_members(self, tenant_id: str, members: Sequence[tuple[WeComMember, int | None]]) -> None:
        def build(tx: TransactWrite) -> None:
            for member, expected in members:
                item, condition = self._member_item(tenant_id, member, expected)
                tx.save(item, condition=condition)

        if len(members) == 1:
            item, condition = self._member_item(tenant_id, *members[0])
            try:
                item.save(condition=condition)
            except PutError as e:
                if e.cause_response_code != "ConditionalCheckFailedException":
                    raise
                raise ConflictError(f"WeCom member {members[0][0].userid} changed meanwhile") from e
            return
        try:
            write_transaction(build, what="WeCom members")
        except TransactWriteError as e:
            raise ConflictError("WeCom members changed meanwhile") from e

    @staticmethod
    def _member_item(
        tenant_id: str, member: WeComMember, expected: int | None
    ) -> tuple[WeComMemberItem, Condition]:
        item = WeComMemberItem(
            keys.wecom_org_pk(tenant_id),
            keys.wecom_member_sk(member.userid),
            doc=member.model_dump_json(),
            version=member.version,
        )
        condition = (
            WeComMemberItem.pk.does_not_exist() if expected is None else WeComMemberItem.version == expected
        )
        return item, condition

    def members(self, tenant_id: str) -> list[WeComMember]:
        items = WeComMemberItem.query(
            keys.wecom_org_pk(tenant_id), WeComMemberItem.sk.startswith(keys.WECOM_MEMBER_PREFIX)
        )
        return [WeComMember.model_validate_json(i.doc or "") for i in items]

    def department(self, tenant_id: str, department_id: int) -> WeComDepartment | None:
        try:
            item = WeComDepartmentItem.get(
                keys.wecom_org_pk(tenant_id), keys.wecom_department_sk(department_id), consistent_read=True
            )
        except WeComDepartmentItem.DoesNotExist:
            return None
        return WeComDepartment.model_validate_json(item.doc or "")

    def save_department(
        self, tenant_id: str, department: WeComDepartment, *, expected_version: int | None
    ) -> None:
        item = WeComDepartmentItem(
            keys.wecom_org_pk(tenant_id),
            keys.wecom_department_sk(department.id),
            doc=department.model_dump_json(),
            version=department.version,
        )
        condition = (
            WeComDepartmentItem.pk.does_not_exist()
            if expected_version is None
            else WeComDepartmentItem.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as e:
            if e.cause_response_code != "ConditionalCheckFailedException":
                raise
            raise ConflictError(f"WeCom department {department.id} changed meanwhile") from e

    def departments(self, tenant_id: str) -> list[WeComDepartment]:
        items = WeComDepartmentItem.query(
            keys.wecom_org_pk(tenant_id), WeComDepartmentItem.sk.startswith(keys.WECOM_DEPARTMENT_PREFIX)
        )
        return [WeComDepartment.model_validate_json(i.doc or "") for i in items]
