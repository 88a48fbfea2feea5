"""`scrm` through typer's CliRunner, without AWS: help, templates, and errors as one line and an exit code."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pynamodb.exceptions import GetError
from typer.testing import CliRunner

from chalicelib.cli import app
from chalicelib.cli._common import describe
from chalicelib.domain.import_columns import CUSTOMERS, ORDERS, check_file
from chalicelib.domain.imports import parse_customers, parse_orders

ROOT = Path(__file__).resolve().parents[2]


def scrm(*argv: str, local_dir: Path | None = None):
    """Runs scrm against a local stack directory that holds no stack: nothing may get as far as connecting."""
    target = ["--local-dir", str(local_dir)] if local_dir else []
    return CliRunner().invoke(app, [*target, *argv])


def one_line_error(result) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_help_lists_every_command_group_and_the_import_template():
    result = scrm("--help")
    assert result.exit_code == 0
    for group in ("tenant", "user", "key", "integration-key", "import", "customers", "dlq"):
        assert group in result.stdout
    assert "template" in scrm("import", "--help").stdout
    assert scrm("import").exit_code == 2  # a group alone shows its help, as a usage error


@pytest.mark.parametrize("spec", [CUSTOMERS, ORDERS], ids=lambda s: s.kind)
def test_the_template_is_the_header_and_an_example_that_imports(spec, tmp_path: Path):
    result = scrm("import", "template", spec.kind)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("\ufeff")  # Excel opens UTF-8 as GBK without it
    header, example = list(csv.reader(io.StringIO(result.stdout.removeprefix("\ufeff"))))
    assert header == list(spec.names) and len(example) == len(header)
    parse = parse_customers if spec is CUSTOMERS else parse_orders
    [row] = parse(result.stdout.removeprefix("\ufeff"))
    assert not getattr(row, "warnings", ["rejected"])

    out = tmp_path / f"{spec.kind}.csv"
    assert scrm("import", "template", spec.kind, "-o", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8-sig").splitlines()[0] == ",".join(spec.names)
    assert check_file(spec, out.read_text(encoding="utf-8-sig")) == list(spec.names)
    assert "exists: pass --force" in one_line_error(scrm("import", "template", spec.kind, "-o", str(out)))
    assert scrm("import", "template", spec.kind, "-o", str(out), "--force").exit_code == 0


def test_a_wrong_header_exits_non_zero_naming_the_column(tmp_path: Path):
    """Acceptance 3: checked before anything is connected, so no stack is needed to see it."""
    bad = tmp_path / "customers.csv"
    bad.write_text("external_id,name,phnoe,birthday\nA1,张伟,13812345678,1990-05-03\n", encoding="utf-8")
    line = one_line_error(scrm("import", "customers", str(bad), "--tenant", "ten_x", local_dir=tmp_path))
    assert "phnoe: unknown column (did you mean phone?)" in line
    assert "phone or unionid: missing column" in line

    orders = tmp_path / "orders.csv"
    orders.write_text("platform,order_id,sku,quantity,status\ntmall,O1,MILK,1,paid\n", encoding="utf-8")
    line = one_line_error(scrm("import", "orders", str(orders), "--tenant", "ten_x", local_dir=tmp_path))
    assert "unit_price: missing required column" in line


def test_a_file_that_is_missing_or_not_text_is_a_clear_error(tmp_path: Path):
    missing = scrm("import", "customers", str(tmp_path / "nope.csv"), "--tenant", "ten_x")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x80\x81\xfe")
    line = one_line_error(scrm("import", "customers", str(binary), "--tenant", "ten_x"))
    assert "neither UTF-8 nor GB18030" in line
    report = tmp_path / "no-such-folder" / "report.json"
    line = one_line_error(scrm("import", "customers", str(binary), "--tenant", "t", "--report", str(report)))
    assert "no-such-folder does not exist" in line  # said before the import runs, not after


def test_no_local_stack_or_a_stopped_one_is_one_line(tmp_path: Path):
    line = one_line_error(scrm("tenant", "create", "--name", "x", local_dir=tmp_path))
    assert "no local stack found" in line and "make run" in line
    # a stack.env whose moto server is gone: port 9 (discard) has no listener here
    (tmp_path / "stack.env").write_text("SCRM_AWS_ENDPOINT=http://127.0.0.1:9\n")
    line = one_line_error(scrm("dlq", "list", local_dir=tmp_path))
    assert "is not running" in line


def test_aws_errors_are_one_line_naming_what_failed():
    down = EndpointConnectionError(endpoint_url="https://dynamodb.cn-north-1.amazonaws.com.cn/")
    assert describe(GetError("Failed to get item", cause=down)) == f"cannot reach AWS: {down}"
    refused = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetItem"
    )
    assert describe(refused) == "AWS refused the request: AccessDeniedException: not authorized"
    assert describe(GetError("Failed to get item", cause=refused)).startswith("AWS refused")
    denied = PermissionError(13, "Permission denied", "/srv/r.json")
    assert describe(denied) == "/srv/r.json: Permission denied"
    assert describe(ZeroDivisionError()) is None  # a bug keeps its traceback


def test_the_lambda_never_imports_the_cli_or_its_libraries():
    """typer and rich are developer tools (requirements-dev.txt): nothing Chalice deploys may import them."""
    operator_only = (ROOT / "chalicelib" / "cli", ROOT / "chalicelib" / "local")  # never on a Lambda's path
    deployed = [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]
    for path in deployed:
        if any(folder in path.parents for folder in operator_only):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in {"typer", "rich"}, path
                assert not name.startswith("chalicelib.cli"), path
    runtime = (ROOT / "requirements.txt").read_text()
    assert "typer" not in runtime and "rich" not in runtime
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "typer==" in dev and "rich==" in dev
