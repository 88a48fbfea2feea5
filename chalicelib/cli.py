"""`scrm`: the operators' command line.

    scrm tenant create --name NAME                      → {"tenant_id", "user_id", "api_key"}
    scrm user create --tenant T --role R [--scope S]    → {"tenant_id", "user_id", "role", "scope", "api_key"}
                                                          (scope defaults to own: least privilege)
    scrm user disable|enable USER --tenant T            (a disabled user's keys all get 401 at once)
    scrm key create|list --tenant T --user U            (create: the new key, shown once; at most 2 active)
    scrm key revoke KEY --tenant T --user U             (its next request gets 401; idempotent)
    scrm integration-key create --tenant T --name N     (for /v1/events and /v1/h5/tickets only)
    scrm integration-key list|revoke [KEY] --tenant T
    scrm import customers|orders FILE.csv --tenant T [--report R.json]   (idempotent; progress on stderr)
    scrm customers merge-candidates --tenant T [--limit N] [--cursor C]
    scrm customers merge SURVIVOR ABSORBED --tenant T [--preview]   (preview changes nothing)
    scrm customers unmerge SURVIVOR ABSORBED --tenant T
    scrm dlq list|redrive [--queue ingest|events|sla|notify|settlement] [--tenant T] [--limit N]

Against the running local stack (`make run` writes `.local/stack.env`; override with SCRM_LOCAL_DIR) by
default, or against AWS with `--aws` (AWS credentials, SCRM_TABLE_NAME and SCRM_SECRET_KEY from the
environment)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


def _use_local_stack(local_dir: Path) -> None:
    env_file = local_dir / "stack.env"
    if not env_file.exists():
        raise SystemExit(f"no local stack found in {local_dir}: start it with `make run`, or pass --aws")
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    endpoint = urlparse(env["SCRM_AWS_ENDPOINT"])
    try:
        socket.create_connection((endpoint.hostname or "127.0.0.1", endpoint.port or 80), timeout=2).close()
    except OSError:
        raise SystemExit(
            f"the local stack at {endpoint.geturl()} is not running: start it with `make run`"
        ) from None
    os.environ.update(env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scrm", description="SCRM operator commands")
    parser.add_argument(
        "--aws", action="store_true", help="use AWS (credentials and SCRM_* from the environment)"
    )
    parser.add_argument("--local-dir", default=os.environ.get("SCRM_LOCAL_DIR", ".local"))
    groups = parser.add_subparsers(dest="group", required=True)

    tenant = groups.add_parser("tenant").add_subparsers(dest="action", required=True)
    create_tenant = tenant.add_parser(
        "create", help="create a tenant and its first admin; prints the admin key"
    )
    create_tenant.add_argument("--name", required=True)
    create_tenant.add_argument("--admin-name", default="管理员")

    user = groups.add_parser("user").add_subparsers(dest="action", required=True)
    create_user = user.add_parser("create", help="create a staff user; prints its API key (shown once)")
    create_user.add_argument("--tenant", required=True)
    create_user.add_argument(
        "--role", required=True, choices=["admin", "manager", "agent", "engineer", "finance"]
    )
    create_user.add_argument(
        "--scope", default="own", help="own (the default: least privilege) | store:<id> | region:<name> | all"
    )
    create_user.add_argument("--name", default=None)
    create_user.add_argument("--department", default=None, help="e.g. warehouse, finance (workflow steps)")
    create_user.add_argument(
        "--wecom-userid", default=None, help="their WeCom member UserID: customers they add are theirs"
    )
    for action, text in (
        ("disable", "stop every key of the user at once"),
        ("enable", "let them work again"),
    ):
        cmd = user.add_parser(action, help=text)
        cmd.add_argument("user_id")
        cmd.add_argument("--tenant", required=True)

    key = groups.add_parser("key").add_subparsers(dest="action", required=True)
    for action, text in (
        ("create", "a new API key for the user (shown once; at most 2 active, for a rotation)"),
        ("list", "the user's keys, revoked ones too (never the secrets)"),
        ("revoke", "revoke KEY: its next request gets 401"),
    ):
        cmd = key.add_parser(action, help=text)
        if action == "revoke":
            cmd.add_argument("key_id")
        cmd.add_argument("--tenant", required=True)
        cmd.add_argument("--user", required=True)

    integration = groups.add_parser("integration-key").add_subparsers(dest="action", required=True)
    for action, text in (
        ("create", "a key for /v1/events and /v1/h5/tickets only (shown once)"),
        ("list", "the tenant's integration keys, revoked ones too"),
        ("revoke", "revoke KEY: its next request gets 401"),
    ):
        cmd = integration.add_parser(action, help=text)
        if action == "revoke":
            cmd.add_argument("key_id")
        if action == "create":
            cmd.add_argument("--name", required=True, help="what sends with it, e.g. 官网 H5")
        cmd.add_argument("--tenant", required=True)

    imports = groups.add_parser("import").add_subparsers(dest="action", required=True)
    for kind, text in (
        ("customers", "import a legacy customers CSV (idempotent)"),
        ("orders", "import a legacy orders CSV, linked by phone or unionid (idempotent)"),
    ):
        cmd = imports.add_parser(kind, help=text)
        cmd.add_argument("file")
        cmd.add_argument("--tenant", required=True)
        cmd.add_argument("--report", help="write the full report (rejected rows, warnings) as JSON here")

    customers = groups.add_parser("customers").add_subparsers(dest="action", required=True)
    candidates = customers.add_parser("merge-candidates", help="customer pairs to review for a merge")
    candidates.add_argument("--tenant", required=True)
    candidates.add_argument("--limit", type=int, default=50)
    candidates.add_argument("--cursor", default=None)
    for action, text in (
        ("merge", "merge ABSORBED into SURVIVOR (the survivor keeps its id; old ids redirect)"),
        ("unmerge", "undo the merge of ABSORBED into SURVIVOR"),
    ):
        cmd = customers.add_parser(action, help=text)
        cmd.add_argument("survivor")
        cmd.add_argument("absorbed")
        cmd.add_argument("--tenant", required=True)
        if action == "merge":
            cmd.add_argument("--preview", action="store_true", help="show the result, change nothing")

    dlq = groups.add_parser("dlq").add_subparsers(dest="action", required=True)
    for action, text in (("list", "show dead letters (left in place)"), ("redrive", "replay dead letters")):
        cmd = dlq.add_parser(action, help=text)
        cmd.add_argument("--queue", default="ingest", help="queue id: ingest, events, sla, notify")
        cmd.add_argument("--limit", type=int, default=50 if action == "list" else 1000)
        cmd.add_argument(
            "--tenant", default=None, help="only this tenant's messages (default: every tenant's)"
        )
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pydantic import ValidationError

    from chalicelib.bootstrap import container
    from chalicelib.domain.common import DomainError
    from chalicelib.services.tenants import UserDraft

    c = container()
    try:
        if args.group == "import":
            return _import(c, args)
        if args.group == "dlq":
            return _dlq(c, args)
        if args.group == "customers":
            return _customers(c, args)
        if args.group == "tenant":
            issued = c.tenants.create_tenant(name=args.name, admin_name=args.admin_name)
            return {"tenant_id": issued.tenant_id, "user_id": issued.user.id, "api_key": issued.api_key}
        if (args.group, args.action) != ("user", "create"):
            return _keys(c, args)
        draft = UserDraft.model_validate(
            {
                "name": args.name or f"{args.role}",
                "role": args.role,
                "scope": args.scope,
                "department": args.department,
                "wecom_userid": args.wecom_userid,
            }
        )
        issued = c.tenants.create_user(tenant_id=args.tenant, draft=draft)
        return {
            "tenant_id": issued.tenant_id,
            "user_id": issued.user.id,
            "role": issued.user.role.value,
            "scope": str(issued.user.scope),
            "api_key": issued.api_key,
        }
    except ValidationError as e:
        raise SystemExit(f"invalid input: {e.errors(include_url=False)[0]['msg']}") from None
    except DomainError as e:
        raise SystemExit(f"{e.code}: {e.message}") from None


def _operator(c: Any, tenant_id: str) -> Any:
    """The CLI acts as an admin of the tenant it names (the operator holds the AWS credentials anyway)."""
    from chalicelib.domain.access import Principal, Role, Scope

    if c.tenant_repo.get_tenant(tenant_id) is None:
        raise SystemExit(f"tenant {tenant_id} does not exist")
    return Principal(tenant_id=tenant_id, user_id="cli-operator", role=Role.ADMIN, scope=Scope.parse("all"))


def _keys(c: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Users disabled/enabled and keys created, listed, revoked: the same use cases as the API's."""
    from chalicelib.services.tenants import IntegrationKeyDraft, UserPatch

    operator, tenants = _operator(c, args.tenant), c.tenants
    if args.group == "user":
        patch = UserPatch(disabled=args.action == "disable")
        user = tenants.update_user(principal=operator, user_id=args.user_id, patch=patch)
        return {"user_id": user.id, "disabled": user.disabled}
    if args.action == "create":
        issued = (
            tenants.create_key(principal=operator, user_id=args.user)
            if args.group == "key"
            else tenants.create_integration_key(principal=operator, draft=IntegrationKeyDraft(name=args.name))
        )
        return {**_key_out(issued.key), "api_key": issued.secret}
    if args.action == "list":
        found = (
            tenants.list_keys(principal=operator, user_id=args.user)
            if args.group == "key"
            else tenants.list_integration_keys(principal=operator)
        )
        return {"items": [_key_out(k) for k in found]}
    revoked = (
        tenants.revoke_key(principal=operator, user_id=args.user, key_id=args.key_id)
        if args.group == "key"
        else tenants.revoke_integration_key(principal=operator, key_id=args.key_id)
    )
    return _key_out(revoked)


def _key_out(key: Any) -> dict[str, Any]:
    out: dict[str, Any] = key.model_dump(mode="json", exclude={"key_hash"})
    return out


def _customers(c: Any, args: argparse.Namespace) -> dict[str, Any]:
    operator = _operator(c, args.tenant)
    if args.action == "merge-candidates":
        page = c.merges.candidates(principal=operator, limit=args.limit, cursor=args.cursor)
        return {"items": page.items, "next_cursor": page.next_cursor}
    if args.action == "merge":
        outcome = c.merges.merge(
            principal=operator, survivor_id=args.survivor, absorbed_id=args.absorbed, preview=args.preview
        )
        return {
            "applied": outcome.applied,
            "survivor": outcome.survivor.model_dump(mode="json"),
            "record": outcome.record,
        }
    survivor, restored = c.merges.unmerge(
        principal=operator, survivor_id=args.survivor, absorbed_id=args.absorbed
    )
    return {"survivor": survivor.model_dump(mode="json"), "restored": restored.model_dump(mode="json")}


def _import(c: Any, args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.domain.imports import decode_export
    from chalicelib.services.imports import summary

    operator = _operator(c, args.tenant)
    text = decode_export(Path(args.file).read_bytes())
    run_import = c.imports.import_orders if args.action == "orders" else c.imports.import_customers
    report = run_import(principal=operator, text=text, source=Path(args.file).name, progress=_progress_bar)
    sys.stderr.write("\n")
    if args.report:
        Path(args.report).write_text(report.model_dump_json(indent=2))
    out = summary(report)
    out["rejected_sample"] = [r.model_dump() for r in report.rejected[:10]]
    return out


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stderr.flush()


def _dlq(c: Any, args: argparse.Namespace) -> dict[str, Any]:
    from dataclasses import asdict

    from chalicelib.integrations.aws import dlq

    try:
        queue = dlq.spec(args.queue)
    except KeyError as e:
        raise SystemExit(str(e.args[0])) from None
    queues = c.dead_letter_queues
    if args.action == "list":
        messages = queues.peek(queue.logical_id, limit=args.limit, tenant_id=args.tenant)
        return {"queue": queue.dlq_name, "count": len(messages), "messages": [asdict(m) for m in messages]}
    moved = queues.redrive(queue.logical_id, limit=args.limit, tenant_id=args.tenant)
    return {"queue": queue.dlq_name, "redriven": moved, "to": queue.name}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not args.aws:
        _use_local_stack(Path(args.local_dir).resolve())
    print(json.dumps(run(args), ensure_ascii=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
