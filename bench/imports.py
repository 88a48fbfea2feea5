"""`make bench`: the legacy CSV imports (2,207 customer rows, 4,000 orders) in-process on moto — rows/s,
DynamoDB requests per row, and a re-import. Request counts carry over to AWS; moto's timings grow with the
table (these runs end near 14k items)."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
from moto import mock_aws

import tests.conftest  # noqa: F401 - test settings before chalicelib loads
from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.local.provision import create_bucket, create_queue, create_table
from chalicelib.resources import BUCKETS, QUEUES
from tests.fakes.dynamo import count_requests

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:imports:start -->", "<!-- bench:imports:end -->"


def main() -> None:
    rows = []
    with mock_aws():
        create_table(boto3.client("dynamodb"), get_settings().table_name)
        for q in QUEUES:
            create_queue(boto3.client("sqs"), q)
        for b in BUCKETS:
            create_bucket(boto3.client("s3"), b)
        c = bootstrap.Container()
        bootstrap.set_container(c)
        issued = c.tenants.create_tenant(name="bench-import")
        admin = c.tenants.authenticate(f"Bearer {issued.api_key}")
        for label, run, name in (
            ("customers", c.imports.import_customers, "customers_legacy.csv"),
            ("orders", c.imports.import_orders, "orders_legacy.csv"),
            ("customers, again", c.imports.import_customers, "customers_legacy.csv"),
            ("orders, again", c.imports.import_orders, "orders_legacy.csv"),
        ):
            text = (DATA / name).read_text(encoding="utf-8-sig")
            with count_requests() as n:
                started = time.perf_counter()
                report = run(principal=admin, text=text, source=name)
                seconds = time.perf_counter() - started
            calls = ", ".join(f"{k} {v}" for k, v in sorted(n.calls.items()))
            result = (
                f"created {report.created}, unchanged {report.unchanged}, "
                f"rejected rows {report.rejected_rows}"
                if report.kind == "customers"
                else f"linked {report.linked}, not linked {report.not_linked}, unchanged {report.unchanged}"
            )
            rows.append(
                f"| {label} | {report.rows} | {result} | {seconds:.1f} | {report.rows / seconds:.0f} | "
                f"**{n.total / report.rows:.2f}** | {calls} |"
            )
    table = "\n".join(
        [
            "| import | rows | result | seconds | rows/s | DynamoDB requests/row | requests |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    block = (
        f"{START}\nMeasured by `make bench` on {time.strftime('%Y-%m-%d')} "
        f"(`bench/imports.py`, in-process on moto; target ≤ 3 requests per new row).\n\n{table}\n{END}"
    )
    print(block)
    text = DOC.read_text()
    if START in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text += "\n## Imports\n\n" + block + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    main()
