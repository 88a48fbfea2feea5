"""/v1/me, /v1/tenant, /v1/users and /v1/integration-keys: who am I, my tenant, staff and their API keys
(created, listed, revoked; a user disabled), and the integration keys that feed ingestion."""

from __future__ import annotations

from pydantic import BaseModel

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.schemas import (
    ApiKeyCreatedPublic,
    ApiKeyPublic,
    ApiKeysPublic,
    IntegrationKeyCreate,
    TenantPublic,
    UserCreate,
    UserCreatedPublic,
    UserPublic,
    UsersPublic,
    UserUpdate,
)
from chalicelib.bootstrap import container
from chalicelib.domain.access import Principal

api = Api(__name__, tag="tenant")
bp = api.blueprint


class MePublic(BaseModel):
    tenant_id: str
    user_id: str
    role: str
    scope: str
    department: str | None = None

    @classmethod
    def of(cls, p: Principal) -> MePublic:
        return cls(
            tenant_id=p.tenant_id,
            user_id=p.user_id,
            role=p.role.value,
            scope=str(p.scope),
            department=p.department,
        )


@api.route("/v1/me", "GET", summary="The caller: tenant, user, role and data scope", response=MePublic)
def me(ctx: Ctx) -> Result:
    return Result(MePublic.of(ctx.user))


@api.route("/v1/tenant", "GET", summary="The caller's tenant", response=TenantPublic)
def tenant(ctx: Ctx) -> Result:
    t = container().tenants.get_tenant(principal=ctx.user)
    return Result(TenantPublic(id=t.id, name=t.name, timezone=t.timezone, created_at=t.created_at))


@api.route("/v1/users", "GET", summary="List staff users (admin)", response=UsersPublic, errors=(403,))
def list_users(ctx: Ctx) -> Result:
    users = container().tenants.list_users(principal=ctx.user)
    return Result(UsersPublic(items=[UserPublic.of(u) for u in users]))


@api.route(
    "/v1/users",
    "POST",
    summary="Create a staff user and its API key (admin; the key is shown once)",
    body=UserCreate,
    response=UserCreatedPublic,
    status=201,
    errors=(400, 403, 409),
)
def create_user(ctx: Ctx) -> Result:
    issued = container().tenants.create_user_as(principal=ctx.user, draft=ctx.body)
    return Result(UserCreatedPublic(**UserPublic.of(issued.user).model_dump(), api_key=issued.api_key))


@api.route(
    "/v1/users/{user_id}",
    "PATCH",
    summary="Disable or enable a user, or change their role, scope, department, WeCom UserID or grants "
    "(admin; applies to the user's next request: a disabled user's keys all get 401)",
    body=UserUpdate,
    response=UserPublic,
    errors=(400, 403, 404, 409),
)
def update_user(ctx: Ctx, user_id: str) -> Result:
    user = container().tenants.update_user(principal=ctx.user, user_id=user_id, patch=ctx.body)
    return Result(UserPublic.of(user))


@api.route(
    "/v1/users/{user_id}/keys",
    "GET",
    summary="A user's API keys, revoked ones too, never the secrets (admin; anyone their own)",
    response=ApiKeysPublic,
    errors=(403, 404),
)
def list_keys(ctx: Ctx, user_id: str) -> Result:
    keys = container().tenants.list_keys(principal=ctx.user, user_id=user_id)
    return Result(ApiKeysPublic(items=[ApiKeyPublic.of(k) for k in keys]))


@api.route(
    "/v1/users/{user_id}/keys",
    "POST",
    summary="A new API key for a user, shown once (admin; at most 2 active per user, so a key can be "
    "rotated: create the new one, deploy it, revoke the old one)",
    response=ApiKeyCreatedPublic,
    status=201,
    errors=(403, 404, 409),
)
def create_key(ctx: Ctx, user_id: str) -> Result:
    issued = container().tenants.create_key(principal=ctx.user, user_id=user_id)
    return Result(ApiKeyCreatedPublic(**ApiKeyPublic.of(issued.key).model_dump(), api_key=issued.secret))


@api.route(
    "/v1/users/{user_id}/keys/{key_id}",
    "DELETE",
    summary="Revoke a user's API key: its next request gets 401 (admin; anyone their own; idempotent)",
    response=ApiKeyPublic,
    errors=(403, 404),
)
def revoke_key(ctx: Ctx, user_id: str, key_id: str) -> Result:
    key = container().tenants.revoke_key(principal=ctx.user, user_id=user_id, key_id=key_id)
    return Result(ApiKeyPublic.of(key))


@api.route(
    "/v1/integration-keys",
    "POST",
    summary="A new integration key, shown once (admin): accepted only by /v1/events and /v1/h5/tickets",
    body=IntegrationKeyCreate,
    response=ApiKeyCreatedPublic,
    status=201,
    errors=(400, 403),
)
def create_integration_key(ctx: Ctx) -> Result:
    issued = container().tenants.create_integration_key(principal=ctx.user, draft=ctx.body)
    return Result(ApiKeyCreatedPublic(**ApiKeyPublic.of(issued.key).model_dump(), api_key=issued.secret))


@api.route(
    "/v1/integration-keys",
    "GET",
    summary="The tenant's integration keys, revoked ones too, never the secrets (admin)",
    response=ApiKeysPublic,
    errors=(403,),
)
def list_integration_keys(ctx: Ctx) -> Result:
    keys = container().tenants.list_integration_keys(principal=ctx.user)
    return Result(ApiKeysPublic(items=[ApiKeyPublic.of(k) for k in keys]))


@api.route(
    "/v1/integration-keys/{key_id}",
    "DELETE",
    summary="Revoke an integration key: its next request gets 401 (admin; idempotent)",
    response=ApiKeyPublic,
    errors=(403, 404),
)
def revoke_integration_key(ctx: Ctx, key_id: str) -> Result:
    key = container().tenants.revoke_integration_key(principal=ctx.user, key_id=key_id)
    return Result(ApiKeyPublic.of(key))
