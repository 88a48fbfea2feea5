"""Customer tags in tag groups, as WeCom organises its 企业客户标签."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from chalicelib.domain.common import ConflictError, InvalidInputError, NotFoundError, new_id

MAX_TAGS_PER_GROUP = 200


class Tag(BaseModel):
    id: str
    name: str
    wecom_id: str | None = None  # the tag's id in WeCom (企业客户标签) when it is synced from there


class TagGroup(BaseModel):
    id: str
    tenant_id: str
    name: str
    tags: list[Tag] = Field(default_factory=list)
    wecom_group_id: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 1

    def add_tags(self, names: list[str]) -> list[Tag]:
        existing = {t.name for t in self.tags}
        added: list[Tag] = []
        for name in names:
            if name in existing:
                raise ConflictError(f"tag '{name}' already exists in group '{self.name}'")
            existing.add(name)
            tag = Tag(id=new_id("tag"), name=name)
            self.tags.append(tag)
            added.append(tag)
        if len(self.tags) > MAX_TAGS_PER_GROUP:
            raise InvalidInputError(f"a tag group holds at most {MAX_TAGS_PER_GROUP} tags")
        return added

    def rename_tag(self, tag_id: str, name: str) -> Tag:
        tag = self.tag(tag_id)
        if any(t.name == name and t.id != tag_id for t in self.tags):
            raise ConflictError(f"tag '{name}' already exists in group '{self.name}'")
        tag.name = name
        return tag

    def remove_tag(self, tag_id: str) -> Tag:
        tag = self.tag(tag_id)
        self.tags = [t for t in self.tags if t.id != tag_id]
        return tag

    def tag(self, tag_id: str) -> Tag:
        for tag in self.tags:
            if tag.id == tag_id:
                return tag
        raise NotFoundError(f"tag '{tag_id}' is not in group '{self.id}'")


class TagCatalogue(BaseModel):
    """All tag groups of a tenant; resolves tag ids or names given by callers."""

    groups: list[TagGroup]

    def by_id(self) -> dict[str, tuple[TagGroup, Tag]]:
        return {t.id: (g, t) for g in self.groups for t in g.tags}

    def resolve(self, refs: list[str]) -> dict[str, str]:
        """Tag refs (ids, or names unique across groups) → {tag id: name}; unknown refs name each one."""
        ids = self.by_id()
        by_name: dict[str, list[Tag]] = {}
        for group in self.groups:
            for tag in group.tags:
                by_name.setdefault(tag.name, []).append(tag)
        resolved: dict[str, str] = {}
        errors: list[dict[str, str]] = []
        for ref in refs:
            if ref in ids:
                resolved[ref] = ids[ref][1].name
            elif len(by_name.get(ref, [])) == 1:
                tag = by_name[ref][0]
                resolved[tag.id] = tag.name
            elif ref in by_name:
                errors.append(
                    {"field": "tags", "message": f"tag name '{ref}' is in several groups: use its id"}
                )
            else:
                errors.append({"field": "tags", "message": f"unknown tag '{ref}'"})
        if errors:
            raise InvalidInputError("unknown or ambiguous tags", details=errors)
        return resolved


def new_tag_group(*, tenant_id: str, name: str, tag_names: list[str], now: datetime) -> TagGroup:
    group = TagGroup(id=new_id("tgp"), tenant_id=tenant_id, name=name, created_at=now, updated_at=now)
    group.add_tags(tag_names)
    return group


class WeComTag(BaseModel):
    id: str
    name: str
    deleted: bool = False


class WeComTagGroup(BaseModel):
    """A group as `externalcontact/get_corp_tag_list` returns it."""

    group_id: str
    group_name: str
    deleted: bool = False
    tag: list[WeComTag] = Field(default_factory=list)


def sync_group(group: TagGroup, source: WeComTagGroup) -> tuple[list[Tag], list[Tag]]:
    """Make `group` match WeCom's. Returns (renamed, removed) tags, whose customers need updating."""
    group.name = source.group_name
    mine = {t.wecom_id: t for t in group.tags if t.wecom_id}
    renamed: list[Tag] = []
    removed: list[Tag] = []
    live = {t.id: t for t in source.tag if not t.deleted}
    for wecom_id, tag in mine.items():
        if wecom_id not in live:
            removed.append(group.remove_tag(tag.id))
        elif live[wecom_id].name != tag.name:
            tag.name = live[wecom_id].name
            renamed.append(tag)
    for wecom_id, wt in live.items():
        if wecom_id not in mine:
            group.tags.append(Tag(id=new_id("tag"), name=wt.name, wecom_id=wecom_id))
    return renamed, removed
