"""/v1/integrations: a tenant's WeCom and shop settings (secrets encrypted at rest, never returned), and
/v1/inbox: payloads received and verified that no handler maps yet."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.bootstrap import container
from chalicelib.domain.access import Permission
from chalicelib.services.integrations import WeComSettingsIn, WeComSettingsPublic

api = Api(__name__, tag="integrations")
bp = api.blueprint


@api.route(
    "/v1/integrations/wecom",
    "PUT",
    summary="Set WeCom callback and API credentials (admin)",
    body=WeComSettingsIn,
    response=WeComSettingsPublic,
    errors=(400, 403),
)
def put_wecom(ctx: Ctx) -> Result:
    return Result(container().integrations.set_wecom(principal=ctx.user, settings=ctx.body))


@api.route(
    "/v1/integrations/wecom",
    "GET",
    summary="WeCom settings, secrets masked (admin)",
    response=WeComSettingsPublic,
    errors=(403, 404),
)
def get_wecom(ctx: Ctx) -> Result:
    return Result(container().integrations.get_wecom_public(principal=ctx.user))


class InboxQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
    limit: int = Field(default=50, ge=1, le=100)


class InboxPublic(BaseModel):
    items: list[dict[str, object]]


@api.route(
    "/v1/inbox",
    "GET",
    summary="Received payloads no handler maps yet, newest first (admin)",
    query=InboxQuery,
    response=InboxPublic,
    errors=(400, 403),
)
def inbox(ctx: Ctx) -> Result:
    ctx.user.require(Permission.USERS_MANAGE)
    q: InboxQuery = ctx.query
    return Result(InboxPublic(items=container().inbox.list(ctx.user.tenant_id, q.month, q.limit)))
