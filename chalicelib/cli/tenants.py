"""`scrm tenant|user|key|integration-key`: tenants, staff users and API keys, through the API's use cases."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from chalicelib.cli._common import connect, emit, operator

tenant = typer.Typer(name="tenant", help="Tenants.", no_args_is_help=True)
user = typer.Typer(name="user", help="Staff users.", no_args_is_help=True)
key = typer.Typer(name="key", help="A staff user's API keys.", no_args_is_help=True)
integration = typer.Typer(
    name="integration-key", help="Keys for /v1/events and /v1/h5/tickets only.", no_args_is_help=True
)
GROUPS = (tenant, user, key, integration)

Tenant = Annotated[str, typer.Option("--tenant", help="The tenant id (ten_…).")]
User = Annotated[str, typer.Option("--user", help="The user id (usr_…).")]
KeyId = Annotated[str, typer.Argument(help="The key id (key_…), as `list` shows it.")]


class StaffRole(StrEnum):  # domain.access.Role without `integration`, which no staff user has
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"
    ENGINEER = "engineer"
    FINANCE = "finance"


@tenant.command("create")
def create_tenant(
    name: Annotated[str, typer.Option(help="The tenant's name.")],
    admin_name: Annotated[str, typer.Option(help="Its first admin's name.")] = "管理员",
    timezone: Annotated[
        str, typer.Option(help="IANA time zone: its month-end run starts at 02:00 on the 1st there.")
    ] = "Asia/Shanghai",
) -> None:
    """Create a tenant and its first admin; prints the admin's key (shown once)."""
    issued = connect().tenants.create_tenant(name=name, admin_name=admin_name, timezone=timezone)
    emit({"tenant_id": issued.tenant_id, "user_id": issued.user.id, "api_key": issued.api_key})


@tenant.command("backfill-registry")
def backfill_registry() -> None:
    """Add tenants created before the tenant registry to it (the month-end schedule finds tenants there).
    Scans the whole table; safe to repeat."""
    emit({"registered": connect().tenants.backfill_registry()})


@user.command("create")
def create_user(
    tenant_id: Tenant,
    role: Annotated[StaffRole, typer.Option(help="What they may do.")],
    scope: Annotated[
        str, typer.Option(help="own (the default: least privilege) | store:<id> | region:<name> | all")
    ] = "own",
    name: Annotated[str | None, typer.Option(help="Their name (default: the role).")] = None,
    department: Annotated[
        str | None, typer.Option(help="e.g. warehouse, finance (who acts in workflow steps)")
    ] = None,
    wecom_userid: Annotated[
        str | None, typer.Option(help="Their WeCom member UserID: customers they add are theirs.")
    ] = None,
) -> None:
    """Create a staff user; prints their API key (shown once)."""
    from chalicelib.services.tenants import UserDraft

    c = connect()
    draft = UserDraft.model_validate(
        {
            "name": name or role.value,
            "role": role.value,
            "scope": scope,
            "department": department,
            "wecom_userid": wecom_userid,
        }
    )
    issued = c.tenants.create_user(tenant_id=tenant_id, draft=draft)
    emit(
        {
            "tenant_id": issued.tenant_id,
            "user_id": issued.user.id,
            "role": issued.user.role.value,
            "scope": str(issued.user.scope),
            "api_key": issued.api_key,
        }
    )


def _set_disabled(tenant_id: str, user_id: str, disabled: bool) -> None:
    from chalicelib.services.tenants import UserPatch

    c = connect()
    found = c.tenants.update_user(
        principal=operator(c, tenant_id), user_id=user_id, patch=UserPatch(disabled=disabled)
    )
    emit({"user_id": found.id, "disabled": found.disabled})


@user.command("disable")
def disable_user(user_id: Annotated[str, typer.Argument(help="The user id.")], tenant_id: Tenant) -> None:
    """Stop every key of the user at once (their next request gets 401)."""
    _set_disabled(tenant_id, user_id, True)


@user.command("enable")
def enable_user(user_id: Annotated[str, typer.Argument(help="The user id.")], tenant_id: Tenant) -> None:
    """Let a disabled user work again."""
    _set_disabled(tenant_id, user_id, False)


@key.command("create")
def create_key(tenant_id: Tenant, user_id: User) -> None:
    """A new API key for the user (shown once; at most 2 active, for a rotation)."""
    c = connect()
    issued = c.tenants.create_key(principal=operator(c, tenant_id), user_id=user_id)
    emit({**_key_out(issued.key), "api_key": issued.secret})


@key.command("list")
def list_keys(tenant_id: Tenant, user_id: User) -> None:
    """The user's keys, revoked ones too (never the secrets)."""
    c = connect()
    found = c.tenants.list_keys(principal=operator(c, tenant_id), user_id=user_id)
    emit({"items": [_key_out(k) for k in found]})


@key.command("revoke")
def revoke_key(key_id: KeyId, tenant_id: Tenant, user_id: User) -> None:
    """Revoke a key: its next request gets 401 (idempotent)."""
    c = connect()
    emit(_key_out(c.tenants.revoke_key(principal=operator(c, tenant_id), user_id=user_id, key_id=key_id)))


@integration.command("create")
def create_integration_key(
    tenant_id: Tenant, name: Annotated[str, typer.Option(help="What sends with it, e.g. 官网 H5.")]
) -> None:
    """A key for /v1/events and /v1/h5/tickets only (shown once)."""
    from chalicelib.services.tenants import IntegrationKeyDraft

    c = connect()
    issued = c.tenants.create_integration_key(
        principal=operator(c, tenant_id), draft=IntegrationKeyDraft(name=name)
    )
    emit({**_key_out(issued.key), "api_key": issued.secret})


@integration.command("list")
def list_integration_keys(tenant_id: Tenant) -> None:
    """The tenant's integration keys, revoked ones too."""
    c = connect()
    found = c.tenants.list_integration_keys(principal=operator(c, tenant_id))
    emit({"items": [_key_out(k) for k in found]})


@integration.command("revoke")
def revoke_integration_key(key_id: KeyId, tenant_id: Tenant) -> None:
    """Revoke an integration key: its next request gets 401."""
    c = connect()
    emit(_key_out(c.tenants.revoke_integration_key(principal=operator(c, tenant_id), key_id=key_id)))


def _key_out(found: Any) -> dict[str, Any]:
    out: dict[str, Any] = found.model_dump(mode="json", exclude={"key_hash"})
    return out
