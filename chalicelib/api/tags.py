"""/v1/tag-groups: the tenant's tag catalogue."""

from __future__ import annotations

from chalicelib.api.http import Api, Ctx, Result, if_match_version
from chalicelib.api.schemas import TagGroupCreate, TagGroupPublic, TagGroupsPublic, TagGroupUpdate
from chalicelib.bootstrap import container

api = Api(__name__, tag="tags")
bp = api.blueprint


@api.route("/v1/tag-groups", "GET", summary="List tag groups and their tags", response=TagGroupsPublic)
def list_tag_groups(ctx: Ctx) -> Result:
    catalogue = container().tags.catalogue(principal=ctx.user)
    return Result(TagGroupsPublic(items=[TagGroupPublic.of(g) for g in catalogue.groups]))


@api.route(
    "/v1/tag-groups",
    "POST",
    summary="Create a tag group",
    body=TagGroupCreate,
    response=TagGroupPublic,
    status=201,
    errors=(400, 403, 409),
)
def create_tag_group(ctx: Ctx) -> Result:
    group = container().tags.create_group(principal=ctx.user, draft=ctx.body)
    return Result(TagGroupPublic.of(group), headers={"ETag": f'"{group.version}"'})


@api.route(
    "/v1/tag-groups/{group_id}",
    "PATCH",
    summary="Rename a group, add, rename or remove tags (renames and removals reach customers async)",
    body=TagGroupUpdate,
    response=TagGroupPublic,
    headers=("If-Match",),
    errors=(400, 403, 404, 409),
)
def update_tag_group(ctx: Ctx, group_id: str) -> Result:
    group = container().tags.update_group(
        principal=ctx.user, group_id=group_id, patch=ctx.body, if_match=if_match_version(ctx)
    )
    return Result(TagGroupPublic.of(group), headers={"ETag": f'"{group.version}"'})


@api.route(
    "/v1/tag-groups/{group_id}",
    "DELETE",
    summary="Delete a tag group (its tags leave customers async)",
    status=204,
    errors=(403, 404, 409),
)
def delete_tag_group(ctx: Ctx, group_id: str) -> Result:
    container().tags.delete_group(principal=ctx.user, group_id=group_id)
    return Result(None)
