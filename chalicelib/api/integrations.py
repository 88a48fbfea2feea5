"""/v1/integrations: a tenant's WeCom and shop settings (secrets encrypted at rest, never returned), and
/v1/inbox: payloads received and verified that no handler maps yet."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chalicelib.api.http import Api, Ctx, Media, Result, parse_json_object
from chalicelib.bootstrap import container
from chalicelib.domain.access import Permission
from chalicelib.domain.common import InvalidInputError, NotFoundError
from chalicelib.integrations.shops import (
    DoudianCredentials,
    GenericCredentials,
    ShopAdapter,
    ShopifyCredentials,
    YouzanCredentials,
    get_adapter,
)
from chalicelib.integrations.shops.intake import SHOP_FIELDS, ShopSettings, shop_of
from chalicelib.services.integrations import (
    BOOKKEEPING,
    DISABLED_AT,
    WeComSettingsIn,
    WeComSettingsPublic,
    mask_secret,
    shop_kind,
)

api = Api(__name__, tag="integrations")
# The bodies of PUT …/shop/{platform}: each platform's credentials model (documented; parsed per platform).
SHOP_CREDENTIALS = YouzanCredentials | DoudianCredentials | ShopifyCredentials | GenericCredentials
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


class ShopSettingsPublic(BaseModel):
    platform: str
    settings: dict[str, object]
    updated_at: str | None = None


class ShopsSettingsPublic(BaseModel):
    items: list[ShopSettingsPublic]


@api.route(
    "/v1/integrations/shop/{platform}",
    "PUT",
    summary="Set a shop platform's credentials (admin; fields as the platform names them)",
    raw_body=Media("application/json", "shop_credentials", SHOP_CREDENTIALS),
    response=ShopSettingsPublic,
    errors=(400, 403, 404),
)
def put_shop(ctx: Ctx, platform: str) -> Result:
    ctx.user.require(Permission.USERS_MANAGE)
    settings = shop_adapter(platform).credentials_model.model_validate(parse_json_object(ctx.body_bytes))
    return Result(_save_shop(ctx, platform, shop_kind(platform), settings))


@api.route(
    "/v1/integrations/shop/{platform}",
    "GET",
    summary="A shop platform's settings, secrets masked (admin)",
    response=ShopSettingsPublic,
    errors=(403, 404),
)
def get_shop(ctx: Ctx, platform: str) -> Result:
    ctx.user.require(Permission.USERS_MANAGE)
    shop_adapter(platform)
    return Result(_shop_public(platform, *shop_settings(ctx.user.tenant_id, platform)))


@api.route(
    "/v1/integrations/shop/{platform}/shops/{shop_id}",
    "PUT",
    summary="Set one shop's credentials (admin): a tenant may have several shops on a platform",
    raw_body=Media("application/json", "shop_credentials", SHOP_CREDENTIALS),
    response=ShopSettingsPublic,
    errors=(400, 403, 404),
)
def put_one_shop(ctx: Ctx, platform: str, shop_id: str) -> Result:
    ctx.user.require(Permission.USERS_MANAGE)
    model, name = _shop_field(platform)
    body = parse_json_object(ctx.body_bytes)
    if body.get(name) not in (None, shop_id):
        raise InvalidInputError(
            f"{name} is the shop in the path", details=[{"field": name, "message": f"must be {shop_id}"}]
        )
    settings = model.model_validate({**body, name: shop_id})  # the model checks the shop id's form
    return Result(_save_shop(ctx, platform, shop_kind(platform, shop_id), settings))


@api.route(
    "/v1/integrations/shop/{platform}/shops",
    "GET",
    summary="A platform's shops with settings of their own, secrets masked (admin)",
    response=ShopsSettingsPublic,
    errors=(403, 404),
)
def list_shops(ctx: Ctx, platform: str) -> Result:
    ctx.user.require(Permission.USERS_MANAGE)
    _shop_field(platform)
    found = container().integrations.shop_settings(ctx.user.tenant_id, platform)
    items = [_shop_public(platform, public, secrets) for shop, public, secrets in found if shop is not None]
    return Result(ShopsSettingsPublic(items=items))


def _shop_field(platform: str) -> tuple[type[BaseModel], str]:
    """The platform's credentials model and the field naming a shop, or a 404 for platforms without shops."""
    model = shop_adapter(platform).credentials_model
    name = SHOP_FIELDS.get(platform)
    if name is None:
        raise NotFoundError(f"{platform} has no shops of its own: use /v1/integrations/shop/{platform}")
    return model, name


def _save_shop(ctx: Ctx, platform: str, kind: str, settings: BaseModel) -> ShopSettingsPublic:
    public, secrets = {}, {}
    for name, value in settings:
        if isinstance(value, SecretStr):
            secrets[name] = value.get_secret_value()
        elif value is not None:
            public[name] = value
    container().integrations.set_raw(principal=ctx.user, kind=kind, public=public, secrets=secrets)
    return _shop_public(platform, public, secrets)


def shop_adapter(platform: str) -> ShopAdapter:
    """The platform's adapter, or a 404 naming the platforms there are."""
    try:
        return get_adapter(platform)
    except KeyError as e:
        raise NotFoundError(str(e.args[0])) from e


def shop_settings(tenant_id: str, platform: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The tenant's settings for a platform saved the original way (public fields, secrets), or a 404."""
    found = container().integrations.get_raw(tenant_id, shop_kind(platform))
    if found is None:
        raise NotFoundError(f"{platform} is not configured for this tenant")
    return found


def all_shop_settings(tenant_id: str, platform: str, adapter: ShopAdapter) -> list[ShopSettings]:
    """Every setting a delivery of the platform may be verified against (the original one and those of
    each shop), or a 404 when there is none."""
    found = container().integrations.shop_settings(tenant_id, platform)
    if not found:
        raise NotFoundError(f"{platform} is not configured for this tenant")
    out = []
    for _, public, secrets in found:
        fields = {k: v for k, v in public.items() if k not in BOOKKEEPING}  # not credentials
        credentials = adapter.credentials_model.model_validate({**fields, **secrets})
        shop = shop_of(platform, credentials)
        out.append(
            ShopSettings(credentials=credentials, shop_id=shop, disabled=bool(public.get(DISABLED_AT)))
        )
    return out


def _shop_public(platform: str, public: dict[str, object], secrets: dict[str, str]) -> ShopSettingsPublic:
    updated = public.get("updated_at")
    shown = {k: v for k, v in public.items() if k != "updated_at"} | {
        k: mask_secret(v) for k, v in secrets.items()
    }
    return ShopSettingsPublic(platform=platform, settings=shown, updated_at=str(updated) if updated else None)
