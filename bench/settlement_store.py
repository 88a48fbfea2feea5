"""`make bench` (settlement_store): what settling a month of tickets costs in DynamoDB requests, and how long
a month-end run of 10,000 tickets takes on the local stack.

1. In-process on moto (mock_aws, as tests/integration/test_settlement_runs.py): 10,000 completed tickets of
   October 2026 across 500 parties (300 engineers, 199 stores, the platform "hq") under a split rule
   (store / engineer / platform), a marginal tiered rule for engineers, a threshold bonus for stores and a
   satisfaction multiplier on the engineers' tier (ratings on 70 % of the tickets). Real time: each ticket's
   `SettlementService.settle_facts` (one TransactWriteItems: the split posting, its entries, the month totals,
   the facts kept for month-end). Month end: `SettlementRunService.start` (the API), `plan`, `settle_chunk`
   for each chunk and `close`, called as the workers would (tests.fakes.workflows.FakeStarter in place of
   Step Functions), in a fresh container (a cold worker). DynamoDB requests are counted per operation at
   pynamodb's `Connection._make_api_call` (tests/fakes/dynamo.py `count_requests`).
2. The real local stack (`python -m chalicelib.local`, as bench/tickets.py runs it): the same rules published
   over HTTP, the 10,000 tickets settled through the service layer (`settle_facts`) by bench processes
   pointed at the stack's moto server (the stack's own environment, `.local/stack.env`: there is no bulk
   HTTP endpoint for settled tickets), then the month-end run started over HTTP (`POST /v1/settlements/runs`)
   and polled (`GET /v1/settlements/runs/2026-10`) until closed: moto's Step Functions runs plan → Map over
   chunks → close, each step done by the stack's worker processes through the `scrm-settlement` queue. The
   steps' times are read from the execution's history.

Request counts carry over to DynamoDB on AWS; moto's latencies are relative costs only (its cost grows with
the table)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.localstack import running
from tests.e2e.conftest import Stack

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:settlement_store:start -->", "<!-- bench:settlement_store:end -->"
N = int(os.environ.get("SCRM_BENCH_SETTLE_N", "10000"))  # tickets, in-process and on the local stack
LOCAL = os.environ.get("SCRM_BENCH_SETTLE_LOCAL", "1") != "0"  # 0: in-process only
SEEDERS = int(os.environ.get("SCRM_BENCH_SETTLE_SEEDERS", "2"))  # seeding processes (local stack)
THREADS = int(os.environ.get("SCRM_BENCH_SETTLE_THREADS", "4"))  # threads per seeding process
WORKERS = int(os.environ.get("SCRM_BENCH_SETTLE_WORKERS", "2"))  # the stack's worker processes
SEED = 20261031
ENGINEERS, STORES = 300, 199  # + the platform: 500 parties
PERIOD = "2026-10"
MONTH_START = datetime(2026, 9, 30, 16, tzinfo=UTC)  # 2026-10-01 00:00 in Shanghai
TARGET_REQUESTS, TARGET_S = 1.1, 60.0
LOAD = os.getloadavg()[0]
FROM = "2026-10-01T00:00:00+08:00"
RULES: list[dict[str, Any]] = [
    {
        "id": "ticket-split",
        "kind": "split",
        "effective_from": FROM,
        "shares": [
            {"role": "store", "percent": "35"},
            {"role": "engineer", "percent": "45"},
            {"role": "platform", "percent": "20"},
        ],
    },
    {
        "id": "engineer-tiers",
        "kind": "tiered",
        "beneficiary": "engineer",
        "mode": "marginal",
        "effective_from": FROM,
        "tiers": [
            {"from_amount": "0", "rate_percent": "0"},
            {"from_amount": "15000.00", "rate_percent": "2"},
            {"from_amount": "30000.00", "rate_percent": "3.5"},
        ],
    },
    {
        "id": "store-bonus",
        "kind": "threshold_bonus",
        "beneficiary": "store",
        "threshold": "35000.00",
        "rate_percent": "1",
        "effective_from": FROM,
    },
    {
        "id": "happy-customers",
        "kind": "satisfaction",
        "role": "engineer",
        "effective_from": FROM,
        "levels": [
            {"min_average": "1", "multiplier": "0.9"},
            {"min_average": "3.5", "multiplier": "1"},
            {"min_average": "4.5", "multiplier": "1.1"},
        ],
    },
]


def ticket_rows(n: int) -> list[dict[str, Any]]:
    """The month's completed tickets as JSON-like Facts rows (seeded: the same on every run and process)."""
    rng = random.Random(SEED)
    seconds = 31 * 24 * 3600
    rows = []
    for i in range(n):
        engineer = rng.randrange(ENGINEERS)
        store = engineer % STORES if rng.random() < 0.8 else rng.randrange(STORES)
        good = engineer % 3  # some engineers are rated better than others
        rows.append(
            {
                "source": {"type": "ticket", "id": f"tk-{i:06d}"},
                "period": PERIOD,
                "amount": f"{rng.randint(5000, 150000) / 100:.2f}",
                "count": 1,
                "parties": {"store": f"S{store:03d}", "engineer": f"E{engineer:03d}", "platform": "hq"},
                "completed_at": (MONTH_START + timedelta(seconds=rng.randrange(seconds))).isoformat(),
                "rating": rng.choices([5, 4, 3, 2, 1], weights=[5 + 3 * good, 3, 1, 1, 1])[0]
                if rng.random() < 0.7
                else None,
            }
        )
    return rows


def customer_of(i: int) -> str:
    return f"cus_bench{i % 2000:05d}"  # the ticket's customer: its postings are indexed under it (gsi2)


# -- 1. in-process (moto) ---------------------------------------------------------------------------------
@dataclass
class Part:
    name: str
    calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    steps: int = 0

    @property
    def requests(self) -> int:
        return sum(self.calls.values())


@dataclass
class InProcessResult:
    parts: list[Part]
    sources: int
    parties: int
    chunks: int
    planned: int
    written: int
    rerun: Part

    @property
    def realtime(self) -> Part:
        return self.parts[0]

    def month_end(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for p in self.parts[1:]:
            total.update(p.calls)
        return total


def run_in_process() -> InProcessResult:
    import boto3
    from moto import mock_aws

    import tests.conftest  # noqa: F401 - test settings (region, secret) and moto patches before chalicelib
    from chalicelib import bootstrap
    from chalicelib.config import get_settings
    from chalicelib.domain.settlement import Facts
    from chalicelib.local.provision import create_queue, create_table
    from chalicelib.resources import QUEUES
    from chalicelib.services.settlement import RuleDraft
    from tests.fakes.dynamo import count_requests
    from tests.fakes.workflows import FakeStarter

    facts = [Facts.model_validate(r) for r in ticket_rows(N)]
    with mock_aws():
        create_table(boto3.client("dynamodb"), get_settings().table_name)
        for spec in QUEUES:
            create_queue(boto3.client("sqs"), spec)

        def fresh_container() -> bootstrap.Container:
            c = bootstrap.Container()
            c.workflow_starter = FakeStarter()
            bootstrap.set_container(c)
            return c

        c = fresh_container()
        issued = c.tenants.create_tenant(name="结算压测")
        admin = c.tenants.authenticate(f"Bearer {issued.api_key}")
        tid = admin.tenant_id
        for rule in RULES:
            c.settlement.publish_rule(
                principal=admin, draft=RuleDraft.model_validate({"applies_to": "ticket", "rule": rule})
            )

        c = fresh_container()  # real time in a cold process: the rules are read once, then cached
        realtime = Part("real time: `settle_facts` per completed ticket")
        with count_requests() as counter:
            t0 = time.perf_counter()
            for i, one in enumerate(facts):
                posted = c.settlement.settle_facts(tid, one, "ticket", customer_of(i))
                assert len(posted) == 1, posted
            realtime.seconds = time.perf_counter() - t0
        realtime.calls.update(counter.calls)
        realtime.steps = len(facts)

        c = fresh_container()  # month end in a cold worker
        runs = c.settlement_runs
        parts: list[Part] = []

        def step(name: str, fn: Any, **kwargs: Any) -> Any:
            part = next((p for p in parts if p.name == name), None)
            if part is None:
                part = Part(name)
                parts.append(part)
            with count_requests() as counter:
                t0 = time.perf_counter()
                out = fn(**kwargs)
                part.seconds += time.perf_counter() - t0
            part.calls.update(counter.calls)
            part.steps += 1
            return out

        def whole_run(prefix: str) -> tuple[dict[str, Any], int]:
            run = step(f"{prefix}start (the API: the run record)", runs.start, principal=admin, period=PERIOD)
            ids = {"tenant_id": tid, "period": PERIOD, "run_id": run.id}
            plan = step(f"{prefix}plan", runs.plan, **ids)
            written = 0
            for n in plan["chunks"]:
                written += int(
                    step(f"{prefix}settle_chunk (every chunk)", runs.settle_chunk, n=n, **ids)["written"]
                )
            step(f"{prefix}close", runs.close, **ids)
            return runs.get(principal=admin, period=PERIOD).model_dump(), written

        record, written = whole_run("month end: ")
        assert record["status"] == "closed", record
        first = list(parts)
        parts.clear()
        _, rewritten = whole_run("")  # the same period again: posts nothing
        assert rewritten == 0, rewritten
        rerun = Part("the month-end run again, nothing changed (a Query per party paid: posts nothing)")
        for p in parts:
            rerun.calls.update(p.calls)
            rerun.seconds += p.seconds
        bootstrap.set_container(None)
    return InProcessResult(
        parts=[realtime, *first],
        sources=int(record["sources"]),
        parties=int(record["parties"]),
        chunks=int(record["chunks"]),
        planned=int(record["postings_planned"]),
        written=written,
        rerun=rerun,
    )


# -- 2. the real local stack ----------------------------------------------------------------------------
@dataclass
class LocalResult:
    tickets: int
    seed_s: float  # from the seeders' start to the last posting (process start-up included)
    seed_posting_s: float  # the slowest seeder's postings alone
    seed_calls: Counter[str]
    run_s: float  # POST /v1/settlements/runs → GET says closed
    steps: dict[str, float]  # Plan / SettleChunks / Close: seconds, from the execution's history
    run: dict[str, Any]
    items: int
    moto_errors: int
    cpu_seed: dict[str, float]  # CPU seconds during seeding: the moto server (the stack's main process), …
    cpu_run: dict[str, float]  # … and during the run: the moto server, the API and worker processes


def stack_env(stack: Stack) -> dict[str, str]:
    lines = (stack.local_dir / "stack.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def measure_local_stack() -> LocalResult:
    with running("scrm-bench-settle-", workers=WORKERS) as stack:
        return _drive(stack)


def _drive(stack: Stack) -> LocalResult:
    created = stack.cli("tenant", "create", "--name", "结算压测")
    if created.returncode != 0:
        raise RuntimeError(created.stderr)
    tenant = json.loads(created.stdout)
    admin = {"Authorization": f"Bearer {tenant['api_key']}"}
    env = {**stack.env, **stack_env(stack)}
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        for rule in RULES:
            body = {"applies_to": "ticket", "rule": rule}
            http.post("/v1/settlement-rules", headers=admin, json=body).raise_for_status()

        # Real time: the tickets' postings, SEEDERS processes of THREADS threads on the stack's moto server.
        sizes = (str(N), str(SEEDERS), str(THREADS))  # the stack's environment carries no SCRM_BENCH_*
        cpu0 = cpu_seconds(stack)
        t0 = time.perf_counter()
        seeders = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.settlement_store", "seed", tenant["tenant_id"], str(k), *sizes],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(SEEDERS)
        ]
        reports = []
        for p in seeders:
            out, err = p.communicate(timeout=1800)
            if p.returncode != 0:
                raise RuntimeError(f"seeder failed: {err[-3000:]}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        seed_s = time.perf_counter() - t0
        cpu1 = cpu_seconds(stack)
        seed_calls: Counter[str] = Counter()
        for r in reports:
            seed_calls.update(r["calls"])
        posted = sum(int(r["posted"]) for r in reports)
        if posted != N:
            raise RuntimeError(f"{posted} of {N} tickets posted")

        # Month end: the run through the API, executed by moto's Step Functions and the stack's workers.
        errors_before = moto_errors(stack)
        t0 = time.perf_counter()
        started = http.post("/v1/settlements/runs", headers=admin, json={"period": PERIOD})
        started.raise_for_status()
        run_id = started.json()["id"]
        deadline = time.monotonic() + 1800
        while True:
            resp = http.get(f"/v1/settlements/runs/{PERIOD}", headers=admin)
            if resp.status_code == 200 and resp.json()["id"] == run_id and resp.json()["status"] == "closed":
                run = dict(resp.json())
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the run did not close: {resp.text}")
            time.sleep(0.1)
        run_s = time.perf_counter() - t0
        cpu2 = cpu_seconds(stack)
    return LocalResult(
        tickets=N,
        seed_s=seed_s,
        seed_posting_s=max(float(r["seconds"]) for r in reports),
        seed_calls=seed_calls,
        run_s=run_s,
        steps=step_times(env, run_id),
        run=run,
        items=item_count(env),
        moto_errors=moto_errors(stack) - errors_before,
        cpu_seed={**_spent(cpu0, cpu1), "seeders": sum(float(r["cpu"]) for r in reports)},
        cpu_run=_spent(cpu1, cpu2),
    )


def _client(env: dict[str, str], service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=env["SCRM_AWS_ENDPOINT"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def step_times(env: dict[str, str], run_id: str) -> dict[str, float]:
    """Seconds in each state of the run's execution (Plan, SettleChunks, Close), from its history."""
    sfn = _client(env, "stepfunctions")
    executions = sfn.list_executions(stateMachineArn=env["SCRM_STATE_MACHINE_SETTLEMENT_RUN"])["executions"]
    arn = next((e["executionArn"] for e in executions if e["name"].endswith(run_id)), None)
    if arn is None:
        return {}
    entered: dict[str, datetime] = {}
    out: dict[str, float] = {}
    for event in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]:
        if "stateEnteredEventDetails" in event:
            entered.setdefault(event["stateEnteredEventDetails"]["name"], event["timestamp"])
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            if name in entered and name in ("Plan", "SettleChunks", "Close"):
                out[name] = (event["timestamp"] - entered[name]).total_seconds()
    return out


def item_count(env: dict[str, str]) -> int:
    table = _client(env, "dynamodb").describe_table(TableName=env["SCRM_TABLE_NAME"])["Table"]
    return int(table.get("ItemCount", 0))


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time so far of the stack's processes (Linux /proc): the moto server runs in the main process."""
    assert stack.process is not None
    tick = os.sysconf("SC_CLK_TCK")

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    main = stack.process.pid
    out = {"moto server": cpu(main)}
    children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    for pid in children:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        role = "API" if b"api" in args else "workers"
        out[role] = out.get(role, 0.0) + cpu(int(pid))
    return out


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}


def moto_errors(stack: Stack) -> int:
    """Requests the moto server failed with a Python error (logged by werkzeug; the client retried)."""
    return (stack.local_dir / "stack.log").read_text(errors="replace").count("Error on request:")


def seed(tenant_id: str, k: int, n: int, seeders: int, threads: int) -> None:
    """A seeding process (`python -m bench.settlement_store seed TENANT K N SEEDERS THREADS`, in the stack's
    environment): settles every SEEDERS-th of the N tickets from the K-th through the service layer, THREADS
    at a time."""
    from chalicelib import bootstrap
    from chalicelib.domain.settlement import Facts
    from tests.fakes.dynamo import count_requests

    rows = ticket_rows(n)
    mine = [(i, Facts.model_validate(rows[i])) for i in range(k, n, seeders)]
    c = bootstrap.container()
    settle = c.settlement
    settle.rules(tenant_id, "ticket")  # one Query; counted in-process, not here

    def one(item: tuple[int, Any]) -> int:
        i, facts = item
        return len(settle.settle_facts(tenant_id, facts, "ticket", customer_of(i)))

    with count_requests() as counter:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            posted = sum(pool.map(one, mine))
        seconds = time.perf_counter() - t0
    report = {"posted": posted, "seconds": seconds, "cpu": time.process_time(), "calls": dict(counter.calls)}
    print(json.dumps(report))


# -- report ---------------------------------------------------------------------------------------------
def _ok(ok: bool) -> str:
    return "✅" if ok else "❌"


def _ops(calls: Counter[str], per: int) -> str:
    return ", ".join(f"{k} {v / per:.4g}" for k, v in sorted(calls.items())) or "—"


def in_process_section(r: InProcessResult) -> tuple[str, float]:
    n = r.realtime.steps
    rows = [
        "| part | calls | DynamoDB requests | **per ticket** | by operation (per ticket) | "
        "by operation (total) | moto s |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(name: str, calls: Counter[str], steps: int, seconds: float, bold: bool = False) -> None:
        total = sum(calls.values())
        per = f"**{total / n:.4f}**" if bold else f"{total / n:.4f}"
        rows.append(
            f"| {name} | {f'{steps:,}' if steps else ''} | {total:,} | {per} | {_ops(calls, n)} | "
            f"{', '.join(f'{k} {v:,}' for k, v in sorted(calls.items()))} | {seconds:.1f} |"
        )

    row(r.realtime.name, r.realtime.calls, r.realtime.steps, r.realtime.seconds, bold=True)
    for p in r.parts[1:]:
        row(p.name, p.calls, p.steps, p.seconds)
    month = r.month_end()
    month_s = sum(p.seconds for p in r.parts[1:])
    row("**month end, all steps**", month, 0, month_s, bold=True)
    total = Counter(r.realtime.calls)
    total.update(month)
    row("**total: real time + month end**", total, 0, r.realtime.seconds + month_s, bold=True)
    row(r.rerun.name, r.rerun.calls, 0, r.rerun.seconds)
    per_ticket = sum(total.values()) / n
    text = "\n".join(rows) + (
        f"\n\n{n:,} tickets, {r.sources:,} settled sources found by the run, {r.parties} parties with period "
        f"postings ({r.planned} planned, {r.written} written) in {r.chunks} chunks. Target ≤ "
        f"{TARGET_REQUESTS} requests per ticket settled, real time and month end together: "
        f"{per_ticket:.3f} {_ok(per_ticket <= TARGET_REQUESTS)}. Real time is one TransactWriteItems per "
        f"ticket; its Queries ({r.realtime.calls['Query']}) are the rules, read at the first ticket and "
        "again each time the 30 s cache expired (moto is slow; on AWS a warm process reads them twice a "
        "minute). "
        "The month end is about two requests per party with a period posting (its TransactWriteItems and "
        "the PutItem that marks it finished) plus a few per run: a Query page per 1 MB of facts, one "
        "BatchWriteItem for the chunks, one BatchGetItem per 100 parties of a chunk, the run record."
    )
    return text, per_ticket


def local_section(local: LocalResult) -> str:
    steps = local.steps
    split = ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) or "history not available"
    total = local.seed_s + local.run_s
    seed_ops = ", ".join(f"{k} {v:,}" for k, v in sorted(local.seed_calls.items()))
    rows = [
        "| phase | how | wall s |",
        "|---|---|---|",
        f"| seeding: real-time settlement of {local.tickets:,} tickets | {SEEDERS} processes × {THREADS} "
        f"threads, `settle_facts` on the stack's moto server ({seed_ops}; postings alone "
        f"{local.seed_posting_s:.1f} s in the slowest process) | {local.seed_s:.1f} |",
        f"| month-end run: POST → GET says closed | Step Functions on moto, {WORKERS} worker processes "
        f"({split}) | **{local.run_s:.1f}** |",
        f"| total | | **{total:.1f}** |",
    ]
    run = local.run
    return "\n".join(rows) + (
        f"\n\nThe run: {run['sources']:,} sources, {run['parties']} parties, {run['chunks']} chunks, "
        f"{run['postings_planned']} period postings; the table held {local.items:,} items at the end. Target "
        f"≤ {TARGET_S:.0f} s for {local.tickets:,} tickets: month-end run {_ok(local.run_s <= TARGET_S)}, "
        f"seeding + run {_ok(total <= TARGET_S)}. moto server errors during the run (retried by the SDK): "
        f"{local.moto_errors}. CPU seconds spent during the seeding: {_cpu(local.cpu_seed)}; during the run: "
        f"{_cpu(local.cpu_run)}. The seeding is bound by the moto server, one process (its GIL caps it at "
        f"one CPU): {local.cpu_seed.get('moto server', 0) * 1000 / local.tickets:.1f} ms of its CPU per "
        "TransactWriteItems (its four month-total updates take the local stack's fast path for plain "
        "SET/ADD expressions, `chalicelib/local/moto_patches.py`); more seeding processes or threads only "
        "queue for it."
    )


def _cpu(spent: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in spent.items() if v >= 0.05)


def render(r: InProcessResult, local: LocalResult | None) -> str:
    from importlib.metadata import version

    table, _ = in_process_section(r)
    text = (
        f"{START}\nMeasured by `make bench` on {time.strftime('%Y-%m-%d')} (`bench/settlement_store.py`; "
        f"moto {version('moto')}, {os.cpu_count()} CPUs, load average {LOAD:.1f} at the start: wall times "
        "include other processes).\n\n"
        f"**In-process on moto**: {N:,} tickets of {PERIOD} across {ENGINEERS} engineers, {STORES} stores "
        "and the platform; requests counted at pynamodb's connection.\n\n"
        f"{table}\n\n"
    )
    if local is not None:
        text += (
            "**Local stack** (`python -m chalicelib.local`: moto server, API, workers), the same tickets "
            f"and rules.\n\n{local_section(local)}\n"
        )
    return text + END


INTRO = """
## Settlement: store and local stack

`make bench` also runs [`bench/settlement_store.py`](../bench/settlement_store.py) and rewrites the block
below.

- **DynamoDB requests per ticket settled** (target ≤ 1.1: paged queries in, batched postings out), counted
  at pynamodb's connection in-process on moto: real time (`settle_facts`: one TransactWriteItems per
  completed ticket, the rules read once and cached) and the month-end run (`start`, `plan`, `settle_chunk`
  per chunk, `close`, called as the workers do), by operation.
- The month-end run's requests are per party, not per ticket (a Query page per 1 MB of facts, one
  TransactWriteItems and one PutItem per party with a period posting): they shrink per ticket as tickets grow.
- **Wall time on the real local stack** (target ≤ 60 s for 10,000 tickets): the tickets settled in real time
  through the service layer by bench processes on the stack's moto server (no bulk HTTP endpoint), then the
  run started and polled over HTTP, executed by moto's Step Functions and the stack's worker processes.
- moto's times are its own (in-process they hold flat as the table grows; about half of a posting's time
  is moto parsing the update expressions of its month totals): read them as relative, and the request counts
  as what carries over to AWS. The CPU seconds show where the local stack's time goes.
  `SCRM_BENCH_SETTLE_N` shrinks the run, `SCRM_BENCH_SETTLE_LOCAL=0` skips the local stack.
"""


def write_doc(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n" + INTRO + "\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    if sys.argv[1:2] == ["seed"]:
        tenant_id, *numbers = sys.argv[2:]
        k, n, seeders, threads = (int(x) for x in numbers)
        seed(tenant_id, k, n, seeders, threads)
        return
    started = time.perf_counter()
    in_process = run_in_process()
    local = measure_local_stack() if LOCAL else None
    block = render(in_process, local)
    print(block)
    write_doc(block)
    print(f"\n(bench/settlement_store.py took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
