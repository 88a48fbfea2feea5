"""`scrm import`: legacy CSV exports of customers and orders, and the templates they follow (docs/imports.md).

The summary is JSON on stdout; the progress bar (in file rows) and a one-line account go to stderr. A file
whose header has an unknown or missing column stops before anything is stored, naming the column."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chalicelib.cli._common import connect, emit, fail, note, operator, stderr
from chalicelib.domain.import_columns import EXPORTS, check_file, template_csv
from chalicelib.domain.imports_jobs import ImportKind

imports = typer.Typer(
    name="import",
    help="Import legacy CSV exports (idempotent). Columns: `scrm import template`, docs/imports.md.",
    no_args_is_help=True,
)
GROUPS = (imports,)

File = Annotated[
    Path,
    typer.Argument(
        exists=True,
        dir_okay=False,
        readable=True,
        metavar="FILE.csv",
        help="The CSV (UTF-8 or GB18030), header first.",
    ),
]
Tenant = Annotated[str, typer.Option("--tenant", help="The tenant id (ten_…).")]
Report = Annotated[
    Path | None,
    typer.Option(help="Write the full report here (every rejected row and warning, as JSON)."),
]


@imports.command("customers")
def import_customers(file: File, tenant_id: Tenant, report: Report = None) -> None:
    """Import a customers CSV: rows sharing a phone, unionid or external_id become one customer."""
    _run(ImportKind.CUSTOMERS, file, tenant_id, report)


@imports.command("orders")
def import_orders(file: File, tenant_id: Tenant, report: Report = None) -> None:
    """Import an orders CSV, linked to customers by buyer phone or unionid."""
    _run(ImportKind.ORDERS, file, tenant_id, report)


@imports.command("template")
def template(
    kind: Annotated[ImportKind, typer.Argument(help="Which export.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write it to this file (default: stdout).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --output if it exists.")] = False,
) -> None:
    """Write the CSV an import expects: the header and one example row (UTF-8 with a BOM, for Excel)."""
    text = "\ufeff" + template_csv(EXPORTS[kind.value])
    if output is None:
        typer.echo(text, nl=False)
        return
    if output.exists() and not force:
        fail(f"{output} exists: pass --force to overwrite it")
    output.write_text(text, encoding="utf-8", newline="")
    note(f"wrote {output}: the {kind.value} columns and an example row (docs/imports.md lists the formats)")


def _run(kind: ImportKind, file: Path, tenant_id: str, report_path: Path | None) -> None:
    from chalicelib.domain.imports import decode_export
    from chalicelib.services.imports import summary

    if report_path is not None and not report_path.parent.is_dir():
        fail(f"--report {report_path}: the folder {report_path.parent} does not exist")
    text = decode_export(file.read_bytes())
    check_file(EXPORTS[kind.value], text)  # a wrong header stops here, before anything is connected
    c = connect()
    principal = operator(c, tenant_id)
    run_import = c.imports.import_orders if kind is ImportKind.ORDERS else c.imports.import_customers
    with _progress(f"import {kind.value}") as advance:
        report = run_import(principal=principal, text=text, source=file.name, progress=advance)
    if report_path is not None:
        report_path.write_text(report.model_dump_json(indent=2))
    out = summary(report)
    out["rejected_sample"] = [r.model_dump() for r in report.rejected[:10]]
    note(_account(out) + (f"; the full report: {report_path}" if report_path else ""))
    emit(out)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr counting file rows; the callback `(done, total)` moves it."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _account(out: dict[str, Any]) -> str:
    """The summary in one sentence, for the operator."""
    rows = f"{out['rows']} rows, {out['rejected_rows']} rejected"
    if out["kind"] == "customers":
        return (
            f"{rows}: {out['people']} customers ({out['created']} created, {out['updated']} updated, "
            f"{out['unchanged']} unchanged); {out['merged_rows']} rows merged into another row's customer"
        )
    return (
        f"{rows}: {out['orders']} orders, {out['orders_stored']} stored ({out['linked']} linked to a "
        f"customer, {out['not_linked']} without a buyer), {out['unchanged']} already stored"
    )
