"""Tag groups (the tenant's catalogue) and each tag's member index."""

from __future__ import annotations

from pynamodb.exceptions import DeleteError, PutError

from chalicelib.domain.common import ConflictError
from chalicelib.domain.tags import TagCatalogue, TagGroup
from chalicelib.services.ports import Page
from chalicelib.store import keys
from chalicelib.store.cursor import CursorCodec
from chalicelib.store.table import TagGroupItem, TagMemberItem


def _group_item(group: TagGroup) -> TagGroupItem:
    return TagGroupItem(
        keys.tenant_pk(group.tenant_id),
        keys.tag_group_sk(group.id),
        doc=group.model_dump_json(),
        version=group.version,
    )


class DynamoTagRepository:
    def __init__(self, *, cursors: CursorCodec) -> None:
        self._cursors = cursors

    def catalogue(self, tenant_id: str) -> TagCatalogue:
        items = TagGroupItem.query(
            keys.tenant_pk(tenant_id), TagGroupItem.sk.startswith(keys.TAG_GROUP_PREFIX)
        )
        groups = [TagGroup.model_validate_json(i.doc or "") for i in items]
        return TagCatalogue(groups=sorted(groups, key=lambda g: g.created_at))

    def get_group(self, tenant_id: str, group_id: str) -> TagGroup | None:
        try:
            item = TagGroupItem.get(keys.tenant_pk(tenant_id), keys.tag_group_sk(group_id))
        except TagGroupItem.DoesNotExist:
            return None
        return TagGroup.model_validate_json(item.doc or "")

    def save_group(self, group: TagGroup, *, expected_version: int | None) -> None:
        condition = (
            TagGroupItem.pk.does_not_exist()
            if expected_version is None
            else TagGroupItem.version == expected_version
        )
        try:
            _group_item(group).save(condition=condition)
        except PutError as e:
            raise ConflictError("the tag group was changed by someone else: reload it and retry") from e

    def delete_group(self, group: TagGroup) -> None:
        try:
            _group_item(group).delete(condition=TagGroupItem.version == group.version)
        except DeleteError as e:
            raise ConflictError("the tag group was changed by someone else: reload it and retry") from e

    def tag_in_use(self, tenant_id: str, tag_id: str) -> bool:
        return any(True for _ in TagMemberItem.query(keys.tag_members_pk(tenant_id, tag_id), limit=1))

    def member_ids(self, tenant_id: str, tag_id: str, *, limit: int, cursor: str | None) -> Page[str]:
        results = TagMemberItem.query(
            keys.tag_members_pk(tenant_id, tag_id),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        ids = [m.customer_id for m in results]
        return Page(ids, self._cursors.encode(tenant_id, results.last_evaluated_key))
