"""`scrm`: the operators' command line (typer + rich; a developer tool, never imported by the Lambda).

    scrm tenant create --name NAME [--timezone ZONE]    → {"tenant_id", "user_id", "api_key"}
    scrm tenant backfill-registry                       (tenants from before the registry; idempotent)
    scrm user create --tenant T --role R [--scope S]    → {"tenant_id", "user_id", "role", "scope", "api_key"}
                                                          (scope defaults to own: least privilege)
    scrm user disable|enable USER --tenant T            (a disabled user's keys all get 401 at once)
    scrm key create|list --tenant T --user U            (create: the new key, shown once; at most 2 active)
    scrm key revoke KEY --tenant T --user U             (its next request gets 401; idempotent)
    scrm integration-key create --tenant T --name N     (for /v1/events and /v1/h5/tickets only)
    scrm integration-key list|revoke [KEY] --tenant T
    scrm import customers|orders FILE.csv --tenant T [--report R.json]   (idempotent; progress on stderr)
    scrm import template customers|orders [--output FILE.csv]            (the header and an example row)
    scrm customers merge-candidates --tenant T [--limit N] [--cursor C]
    scrm customers merge SURVIVOR ABSORBED --tenant T [--preview]   (preview changes nothing)
    scrm customers unmerge SURVIVOR ABSORBED --tenant T
    scrm dlq list|redrive [--queue ingest|events|sla|notify|settlement] [--tenant T] [--limit N]
    scrm outbox [--tenant T] [--limit N]                (local: the notifications caught, newest first)

Against the running local stack (`make run` writes `.local/stack.env`; override with SCRM_LOCAL_DIR) by
default, or against AWS with `--aws` (AWS credentials, SCRM_TABLE_NAME and SCRM_SECRET_KEY from the
environment). Each command group is a module of this package; `_common` holds output and error handling."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chalicelib.cli import customers, dlq, imports, outbox, tenants
from chalicelib.cli._common import ScrmGroup, Target, choose

app = typer.Typer(
    cls=ScrmGroup,
    name="scrm",
    help="SCRM operator commands. Output: JSON on stdout; messages and progress on stderr.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals hold API keys and customers' data
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _target(
    aws: Annotated[
        bool, typer.Option("--aws", help="Act on AWS (credentials and SCRM_* from the environment).")
    ] = False,
    local_dir: Annotated[
        Path, typer.Option(envvar="SCRM_LOCAL_DIR", help="Where `make run` keeps the local stack.")
    ] = Path(".local"),
) -> None:
    choose(Target(aws=aws, local_dir=local_dir))


for module in (tenants, imports, customers, dlq, outbox):
    for group in module.GROUPS:
        app.add_typer(group)


def main(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="scrm")
