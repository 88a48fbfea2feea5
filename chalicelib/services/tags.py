"""Tag group use cases. Renames and deletions reach customers through the events queue (TagSync)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import Clock, ConflictError, NotFoundError, new_id
from chalicelib.domain.tags import TagCatalogue, TagGroup, WeComTagGroup, new_tag_group, sync_group
from chalicelib.services.events import envelope
from chalicelib.services.ports import Publisher, TagRepository


class TagGroupDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=30)
    tags: list[str] = Field(default_factory=list, max_length=200)


class TagRename(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    name: str = Field(min_length=1, max_length=30)


class TagGroupPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=30)
    add_tags: list[str] = Field(default_factory=list, max_length=200)
    rename_tags: list[TagRename] = Field(default_factory=list, max_length=200)
    remove_tags: list[str] = Field(default_factory=list, max_length=200)
    version: int | None = Field(default=None, ge=1)


class TagService:
    def __init__(self, *, tags: TagRepository, publisher: Publisher, clock: Clock) -> None:
        self._tags = tags
        self._publisher = publisher
        self._clock = clock

    def catalogue(self, *, principal: Principal) -> TagCatalogue:
        principal.require(Permission.CUSTOMERS_READ)
        return self._tags.catalogue(principal.tenant_id)

    def create_group(self, *, principal: Principal, draft: TagGroupDraft) -> TagGroup:
        principal.require(Permission.TAGS_MANAGE)
        catalogue = self._tags.catalogue(principal.tenant_id)
        if any(g.name == draft.name for g in catalogue.groups):
            raise ConflictError(f"tag group '{draft.name}' already exists")
        group = new_tag_group(
            tenant_id=principal.tenant_id, name=draft.name, tag_names=draft.tags, now=self._clock.now()
        )
        self._tags.save_group(group, expected_version=None)
        return group

    def update_group(
        self, *, principal: Principal, group_id: str, patch: TagGroupPatch, if_match: int | None
    ) -> TagGroup:
        principal.require(Permission.TAGS_MANAGE)
        group = self._group(principal, group_id)
        expected = if_match if if_match is not None else patch.version
        if expected is not None and expected != group.version:
            raise ConflictError(f"version {expected} is stale; current is {group.version}")
        before = group.version
        if patch.name is not None:
            group.name = patch.name
        renamed = [group.rename_tag(r.id, r.name) for r in patch.rename_tags]
        removed = [group.remove_tag(t) for t in patch.remove_tags]
        group.add_tags(patch.add_tags)
        group.version += 1
        group.updated_at = self._clock.now()
        self._tags.save_group(group, expected_version=before)
        self._publisher.publish(
            [self._tag_event(principal, "tag.renamed", t.id, t.name) for t in renamed]
            + [self._tag_event(principal, "tag.deleted", t.id, None) for t in removed]
        )
        return group

    def delete_group(self, *, principal: Principal, group_id: str) -> None:
        principal.require(Permission.TAGS_MANAGE)
        group = self._group(principal, group_id)
        self._tags.delete_group(group)
        self._publisher.publish([self._tag_event(principal, "tag.deleted", t.id, None) for t in group.tags])

    def _group(self, principal: Principal, group_id: str) -> TagGroup:
        group = self._tags.get_group(principal.tenant_id, group_id)
        if group is None:
            raise NotFoundError(f"tag group {group_id} not found")
        return group

    @staticmethod
    def _tag_event(principal: Principal, kind: str, tag_id: str, name: str | None) -> dict[str, object]:
        return _tag_event(principal.tenant_id, kind, tag_id, name)


class WeComTagSync:
    """Keeps the tag catalogue in step with WeCom's 企业客户标签 (change_external_tag callbacks). Renamed and
    removed tags reach customers through the events queue, as for tags edited here."""

    def __init__(self, *, tags: TagRepository, publisher: Publisher, clock: Clock) -> None:
        self._tags = tags
        self._publisher = publisher
        self._clock = clock

    def upsert(self, tenant_id: str, groups: list[WeComTagGroup]) -> None:
        catalogue = self._tags.catalogue(tenant_id)
        by_wecom = {g.wecom_group_id: g for g in catalogue.groups if g.wecom_group_id}
        now = self._clock.now()
        events: list[dict[str, object]] = []
        for source in groups:
            group = by_wecom.get(source.group_id)
            if source.deleted:
                if group is not None:
                    self._delete(group, events)
                continue
            expected = group.version if group else None
            if group is None:
                group = new_tag_group(tenant_id=tenant_id, name=source.group_name, tag_names=[], now=now)
                group.wecom_group_id = source.group_id
            renamed, removed = sync_group(group, source)
            group.version += 0 if expected is None else 1
            group.updated_at = now
            self._tags.save_group(group, expected_version=expected)
            events += [_tag_event(tenant_id, "tag.renamed", t.id, t.name) for t in renamed]
            events += [_tag_event(tenant_id, "tag.deleted", t.id, None) for t in removed]
        self._publisher.publish(events)

    def remove(self, tenant_id: str, *, wecom_id: str, is_group: bool) -> None:
        events: list[dict[str, object]] = []
        for group in self._tags.catalogue(tenant_id).groups:
            if is_group and group.wecom_group_id == wecom_id:
                self._delete(group, events)
            elif not is_group and any(t.wecom_id == wecom_id for t in group.tags):
                expected = group.version
                tag = group.remove_tag(next(t.id for t in group.tags if t.wecom_id == wecom_id))
                group.version += 1
                group.updated_at = self._clock.now()
                self._tags.save_group(group, expected_version=expected)
                events.append(_tag_event(tenant_id, "tag.deleted", tag.id, None))
        self._publisher.publish(events)

    def _delete(self, group: TagGroup, events: list[dict[str, object]]) -> None:
        self._tags.delete_group(group)
        events += [_tag_event(group.tenant_id, "tag.deleted", t.id, None) for t in group.tags]


def _tag_event(tenant_id: str, kind: str, tag_id: str, name: str | None) -> dict[str, object]:
    return envelope(kind, tenant_id, new_id("evt"), {"tag_id": tag_id, "name": name})
