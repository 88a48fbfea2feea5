"""`make bench`: DynamoDB requests and latency per customer operation, and the app's cold import.

In-process on moto (mock_aws). moto's Query walks the whole table and every transaction copies it, so its
latency grows with table size (ARCHITECTURE.md): creates are timed in rounds of 100 on a fresh table and
reads on a fixed table of 200 customers. Request counts are what carry over to DynamoDB on AWS."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

import tests.conftest  # noqa: F401 - test settings (region, secret) before chalicelib loads
from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.access import Principal
from chalicelib.domain.customers import CustomerDraft, Identity
from chalicelib.local.provision import create_queue, create_table
from chalicelib.resources import EVENTS_QUEUE
from tests.fakes.dynamo import count_requests

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:customers:start -->", "<!-- bench:customers:end -->"
N = int(os.environ.get("SCRM_BENCH_N", "1000"))
ROUND = 100
READ_TABLE_CUSTOMERS = 200


class Sample:
    def __init__(self, name: str) -> None:
        self.name = name
        self.times: list[float] = []
        self.calls: dict[str, int] = {}

    def run(self, op: Callable[[int], Any], n: int, offset: int = 0) -> None:
        with count_requests() as counter:
            for i in range(offset, offset + n):
                start = time.perf_counter()
                op(i)
                self.times.append((time.perf_counter() - start) * 1000)
        for k, v in counter.calls.items():
            self.calls[k] = self.calls.get(k, 0) + v

    def row(self) -> str:
        n = len(self.times)
        ordered = sorted(self.times)
        p99 = ordered[min(n - 1, int(n * 0.99))]
        per_op = sum(self.calls.values()) / n
        calls = ", ".join(f"{k} ×{v / n:g}" for k, v in sorted(self.calls.items()))
        return (
            f"| {self.name} | {n} | **{per_op:g}** | {calls} | {statistics.median(ordered):.2f} | {p99:.2f} |"
        )


def fresh_tenant(c: bootstrap.Container) -> tuple[Principal, str]:
    dynamodb = boto3.client("dynamodb")
    table = get_settings().table_name
    if table in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName=table)
    create_table(dynamodb, table)
    issued = c.tenants.create_tenant(name="bench")
    admin = c.tenants.authenticate(f"Bearer {issued.api_key}")
    vip = next(t.id for g in c.tag_repo.catalogue(issued.tenant_id).groups for t in g.tags if t.name == "VIP")
    return admin, vip


def draft(i: int, vip: str) -> CustomerDraft:
    return CustomerDraft.model_validate(
        {
            "name": f"客户{i:05d}",
            "phone": f"139{i:08d}",
            "region": "华东",
            "identities": [{"type": "unionid", "value": f"oU{i:08d}"}],
            "tags": [vip] if i % 2 else [],
        }
    )


def run() -> list[Sample]:
    with mock_aws():
        create_queue(boto3.client("sqs"), EVENTS_QUEUE)
        c = bootstrap.Container()
        bootstrap.set_container(c)

        create = Sample("create customer (phone, unionid; a tag on half)")
        for start in range(0, N, ROUND):
            who, tag = fresh_tenant(c)
            create.run(
                lambda i, who=who, tag=tag: c.customers.create(principal=who, draft=draft(i, tag)),
                ROUND,
                start,
            )

        admin, vip = fresh_tenant(c)
        ids = [
            c.customers.create(principal=admin, draft=draft(i, vip)).customer.id
            for i in range(READ_TABLE_CUSTOMERS)
        ]
        tid = admin.tenant_id
        get360 = Sample("get 360 (profile + 20 newest events)")
        get360.run(lambda i: c.customers.get_360(principal=admin, customer_id=ids[i % len(ids)]), N)
        by_tag = Sample("list by tag (tag id, limit 20)")
        by_tag.run(lambda i: c.customers.list(principal=admin, tag=vip, q=None, limit=20, cursor=None), N)
        lookup = Sample("lookup by identity (unionid)")
        unionid = Identity(type="unionid", value="oU00000007")
        lookup.run(lambda i: c.customer_repo.find_by_identity(tid, unionid), N)
        auth = Sample("authenticate the API key (once per /v1 request)")
        key = c.tenants.create_user(tenant_id=tid, draft=_agent()).api_key
        auth.run(lambda i: c.tenants.authenticate(f"Bearer {key}"), N)
        return [create, get360, by_tag, lookup, auth]


def _agent() -> Any:
    from chalicelib.services.tenants import UserDraft

    return UserDraft.model_validate({"name": "bench", "role": "agent"})


FIRST_REQUEST = (
    "import app, chalicelib.store.customers, chalicelib.store.tenants, chalicelib.integrations.pii"
)


# Installed here for the developer tools only (import-linter, pytest): httpx imports its command-line entry
# point, and with it these, whenever they are importable. The Lambda package does not contain them.
DEV_ONLY = frozenset({"rich", "click", "pygments", "markdown_it", "mdurl"})


def import_time(code: str = "import app", runs: int = 5) -> tuple[float, float, float]:
    """Cold-start proxy: `python -X importtime -c CODE`, the sum of self times (ms): median and min of all
    modules, and the median without the DEV_ONLY packages (what the Lambda package would import)."""
    totals: list[float] = []
    lambda_like: list[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        rows = re.findall(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", out.stderr)
        totals.append(sum(int(us) for us, _ in rows) / 1000)
        lambda_like.append(sum(int(us) for us, name in rows if name.split(".")[0] not in DEV_ONLY) / 1000)
    return statistics.median(totals), min(totals), statistics.median(lambda_like)


def main() -> None:
    samples = run()
    median_ms, min_ms, lambda_ms = import_time()
    first_ms, _, _ = import_time(FIRST_REQUEST)
    header = [
        "| operation | n | DynamoDB requests/op | calls per op | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    table = "\n".join(header + [s.row() for s in samples])
    block = (
        f"{START}\nMeasured by `make bench` on {time.strftime('%Y-%m-%d')} (in-process, moto {_moto()}; "
        f"creates in rounds of {ROUND} on a fresh table, "
        f"reads on a table of {READ_TABLE_CUSTOMERS} customers).\n\n"
        f"{table}\n\n`import app` (`python -X importtime`, sum of self times, 5 runs): "
        f"median {median_ms:.0f} ms, min {min_ms:.0f} ms; without the developer-only packages httpx imports "
        f"when they are installed ({', '.join(sorted(DEV_ONLY))}; not in the Lambda package): median "
        f"**{lambda_ms:.0f} ms** (target < 500 ms {'✅' if lambda_ms < 500 else '❌'}). Every pydantic "
        "model's validator is built on first use (`defer_build`, chalicelib/__init__.py). With the modules "
        f"the first request loads lazily (pynamodb, boto3, cryptography): median {first_ms:.0f} ms.\n{END}"
    )
    print(block)
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text += "\n" + block + "\n"
    DOC.write_text(text)


def _moto() -> str:
    from importlib.metadata import version

    return version("moto")


if __name__ == "__main__":
    main()
