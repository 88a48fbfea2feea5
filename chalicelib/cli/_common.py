"""What every `scrm` command shares: where it acts (local stack or AWS), its output and its errors.

stdout carries one JSON document per command (scripts and tests read it); everything for people (errors,
progress, summaries) goes to stderr. An error the operator can act on (bad input, a refused change, an
unreachable stack or AWS) is one line and exit code 1, never a traceback; usage errors are typer's (exit 2).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

if TYPE_CHECKING:
    from chalicelib.bootstrap import Container
    from chalicelib.domain.access import Principal

# Soft wrap: a long message stays one line in a log instead of breaking at the 80 columns of a pipe.
stderr = Console(stderr=True, soft_wrap=True)


@dataclass(frozen=True)
class Target:
    aws: bool
    local_dir: Path


_target = Target(aws=False, local_dir=Path(".local"))


def choose(target: Target) -> None:
    """Set by the root command's options, before any command runs."""
    global _target
    _target = target


def emit(result: Any) -> None:
    """The command's result, as one line of JSON on stdout."""
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A line for people, on stderr (never markup: messages carry user data such as [brackets])."""
    stderr.print(Text(message, style="dim"))


def fail(message: str, code: int = 1) -> NoReturn:
    stderr.print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(code)


def connect() -> Container:
    """The container acting on the target chosen by `--aws` / `--local-dir` (read once per process)."""
    from chalicelib.config import get_settings

    if not _target.aws:
        _use_local_stack(_target.local_dir.resolve())
    elif not get_settings().secret_key:
        fail(
            "SCRM_SECRET_KEY is not set: with --aws, AWS credentials, SCRM_TABLE_NAME and "
            "SCRM_SECRET_KEY come from the environment"
        )
    from chalicelib.bootstrap import container  # after the checks: it builds every adapter

    return container()


def _use_local_stack(local_dir: Path) -> None:
    env_file = local_dir / "stack.env"
    if not env_file.exists():
        fail(f"no local stack found in {local_dir}: start it with `make run`, or pass --aws")
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    endpoint = urlparse(env["SCRM_AWS_ENDPOINT"])
    try:
        socket.create_connection((endpoint.hostname or "127.0.0.1", endpoint.port or 80), timeout=2).close()
    except OSError:
        fail(f"the local stack at {endpoint.geturl()} is not running: start it with `make run`")
    os.environ.update(env)


def operator(c: Container, tenant_id: str) -> Principal:
    """The CLI acts as an admin of the tenant it names (the operator holds the AWS credentials anyway)."""
    from chalicelib.domain.access import Principal, Role, Scope

    if c.tenant_repo.get_tenant(tenant_id) is None:
        fail(f"tenant {tenant_id} does not exist")
    return Principal(tenant_id=tenant_id, user_id="cli-operator", role=Role.ADMIN, scope=Scope.parse("all"))


def describe(error: Exception) -> str | None:
    """One line for an error the operator can act on, or None for a bug (left to show its traceback)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from pydantic import ValidationError
    from pynamodb.exceptions import PynamoDBException

    from chalicelib.domain.common import DomainError

    if isinstance(error, DomainError):
        return f"{error.code}: {error.message}"
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"invalid input: {where + ': ' if where else ''}{first['msg']}"
    if isinstance(error, PynamoDBException):
        cause = error.cause if isinstance(error.cause, Exception) else None
        return (cause and describe(cause)) or f"DynamoDB: {error.msg}"
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"AWS refused the request: {detail.get('Code', '?')}: {detail.get('Message', error)}"
    if isinstance(error, BotoCoreError | ConnectionError):
        return f"cannot reach {_endpoint()}: {error}"
    if isinstance(error, OSError) and error.filename:  # a file the command reads or writes
        return f"{error.filename}: {error.strerror or error}"
    return None


def _endpoint() -> str:
    from chalicelib.config import get_settings

    local = get_settings().aws_endpoint
    return f"the local stack at {local} (is `make run` still running?)" if local else "AWS"


class ScrmGroup(TyperGroup):
    """The root group: errors the operator can act on become one line on stderr and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as e:  # classified by describe(): typer's exits, usage errors and bugs re-raised
            message = describe(e)
            if message is None:
                raise
            fail(message)
