"""/v1/me, /v1/tenant and /v1/users: who am I, my tenant, staff and their API keys."""

from __future__ import annotations

from pydantic import BaseModel

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.schemas import TenantPublic, UserCreate, UserCreatedPublic, UserPublic, UsersPublic
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
    errors=(400, 403),
)
def create_user(ctx: Ctx) -> Result:
    issued = container().tenants.create_user_as(principal=ctx.user, draft=ctx.body)
    return Result(UserCreatedPublic(**UserPublic.of(issued.user).model_dump(), api_key=issued.api_key))
