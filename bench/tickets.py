"""`make bench` (tickets): what a work-order ticket step costs in DynamoDB requests, and how many steps per
second the local stack takes.

1. In-process on moto (mock_aws), as the integration tests run (tests/integration/conftest.py): repair
   tickets (a quarter urgent: 漏水 skips triage) opened through `TicketService.create` and moved through
   their steps (accept, assign, resolve, confirm) by the right roles through `TicketService.transition`.
   DynamoDB requests are counted per operation by wrapping pynamodb's `Connection._make_api_call`
   (tests/fakes/dynamo.py `count_requests`), the app's SQS requests by botocore hooks on the container's
   client, Step Functions starts through the container's `workflow_starter` (tests.fakes.workflows.
   FakeStarter: in-process moto cannot run the SLA timer's state machine). After each phase the events
   queue is drained through the app's consumer, as the Lambda event source would, and the worker's work is
   charged to the step that published the event (auto-assignment, capacity release, notifications).
   Rounds on a fresh table, so moto's per-call cost (its Query walks the table, each transaction copies
   it) stays flat; each round starts a fresh container (a cold process) for the opens and another for the
   transitions, so the first of each is reported apart from the warm ones.
2. The real local stack (`python -m chalicelib.local`, as bench/webhooks.py runs it): tickets opened and
   moved over HTTP, one client after another and then 4 concurrent clients.

Request counts carry over to DynamoDB on AWS; moto's latencies are relative costs only."""

from __future__ import annotations

import json
import os
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from moto import mock_aws

import tests.conftest  # noqa: F401 - test settings (region, secret) before chalicelib loads
from bench.localstack import running
from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.access import Principal
from chalicelib.domain.customers import CustomerDraft
from chalicelib.local.provision import create_bucket, create_queue, create_table
from chalicelib.resources import BUCKETS, EVENTS_QUEUE, INGEST_QUEUE, NOTIFY_QUEUE, QUEUES, SLA_QUEUE
from chalicelib.services.assignment import StaffProfileDraft
from chalicelib.services.tenants import UserDraft
from chalicelib.services.tickets import TicketDraft, TransitionCommand
from tests.e2e.conftest import Stack
from tests.fakes.dynamo import count_requests
from tests.fakes.workflows import FakeStarter

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:tickets:start -->", "<!-- bench:tickets:end -->"
ASSIGNMENT_START = "<!-- bench:assignment:start -->"
N = int(os.environ.get("SCRM_BENCH_TICKETS", "200"))  # tickets in-process
ROUND = int(os.environ.get("SCRM_BENCH_TICKETS_ROUND", "50"))  # tickets per fresh table
N_LOCAL = int(os.environ.get("SCRM_BENCH_TICKETS_LOCAL", "50"))
WORKERS = int(
    os.environ.get("SCRM_LOCAL_WORKERS", "2")
)  # the stack's worker processes  # tickets per mode on the local stack
CLIENTS = 4
ENGINEERS = 10
CUSTOMERS = 10
URGENT_EVERY = 4
ALL_DAY = [["00:00", "00:00"]]  # a 24-hour shift every day: the bench runs at any hour
NORMAL_TEXT, URGENT_TEXT = "空调不制冷，开机十分钟后吹热风", "空调漏水，地板都湿了"

OPEN_NORMAL = "open: repair, normal (→ triage)"
OPEN_URGENT = "open: repair, urgent keyword (→ dispatch, triage skipped)"
OPEN_COLD = "open: the first in a fresh process (cold caches)"
STEP_COLD = "accept: the first transition in a fresh process (cold caches)"
STEPS = {  # action → (row, who acts)
    "accept": ("accept (agent: triage → dispatch)", "agent"),
    "assign": ("assign (agent: dispatch → on_site)", "agent"),
    "resolve": ("resolve (the assigned engineer: on_site → resolved)", "assignee"),
    "confirm": ("confirm (agent: resolved → closed)", "agent"),
}
CONFIRM_FIELDS = "confirm with a field change (labour_fee: the template validates it)"
WORKER = "events worker: "
PURGE_SETTING = "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"  # moto allows one purge a minute by default


@dataclass
class Usage:
    calls: Counter[str] = field(default_factory=Counter)  # DynamoDB requests by operation
    sqs: Counter[str] = field(default_factory=Counter)  # the app's SQS requests by operation
    starts: int = 0  # Step Functions StartExecution (the SLA timer)
    times: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.times)

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    def per_op(self, counter: Counter[str]) -> str:
        return ", ".join(f"{k} ×{v / self.n:.3g}" for k, v in sorted(counter.items())) or "—"

    def pct(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class Meter:
    """Charges each measured operation's DynamoDB, SQS and Step Functions requests to its row."""

    def __init__(self) -> None:
        self.usage: dict[str, Usage] = {}
        self.current: Usage | None = None

    @contextmanager
    def measure(self, name: str) -> Iterator[Usage]:
        usage = self.usage.setdefault(name, Usage())
        previous, self.current = self.current, usage
        try:
            with count_requests() as counter:
                start = time.perf_counter()
                try:
                    yield usage
                finally:
                    usage.times.append((time.perf_counter() - start) * 1000)
            usage.calls.update(counter.calls)
        finally:
            self.current = previous

    def on_sqs(self, model: Any, **_: Any) -> None:
        """botocore `before-parameter-build.sqs` hook on the container's client."""
        if self.current is not None:
            self.current.sqs[model.name] += 1


class CountingStarter(FakeStarter):
    def __init__(self, meter: Meter) -> None:
        super().__init__()
        self._meter = meter

    def start(self, machine: str, name: str, payload: dict[str, Any]) -> None:
        if self._meter.current is not None:
            self._meter.current.starts += 1
        super().start(machine, name, payload)


# -- in-process (moto) -----------------------------------------------------------------------------------
@dataclass
class People:
    admin: Principal
    agent: Principal
    engineers: dict[str, Principal]  # user id → principal
    customers: list[str]


class InProcess:
    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.sqs = boto3.client("sqs")  # the bench's own client (drain, purge): not counted
        self.urls = {q.name: create_queue(self.sqs, q) for q in QUEUES}
        for bucket in BUCKETS:
            create_bucket(boto3.client("s3"), bucket)

    def new_container(self) -> bootstrap.Container:
        """A fresh process, as a cold Lambda. Queue URLs injected, as infra/ does (no GetQueueUrl)."""
        settings = get_settings().model_copy(
            update={
                "queue_url_events": self.urls[EVENTS_QUEUE.name],
                "queue_url_ingest": self.urls[INGEST_QUEUE.name],
                "queue_url_sla": self.urls[SLA_QUEUE.name],
                "queue_url_notify": self.urls[NOTIFY_QUEUE.name],
            }
        )
        c = bootstrap.Container(settings)
        c.workflow_starter = CountingStarter(self.meter)
        c.sqs.meta.events.register("before-parameter-build.sqs", self.meter.on_sqs)
        bootstrap.set_container(c)
        return c

    def fresh_table(self) -> None:
        dynamodb = boto3.client("dynamodb")
        table = get_settings().table_name
        if table in dynamodb.list_tables()["TableNames"]:
            dynamodb.delete_table(TableName=table)
        create_table(dynamodb, table)
        for url in self.urls.values():
            self.sqs.purge_queue(QueueUrl=url)

    def people(self, c: bootstrap.Container) -> People:
        issued = c.tenants.create_tenant(name="工单压测")
        tid = issued.tenant_id
        admin = c.tenants.authenticate(f"Bearer {issued.api_key}")

        def user(name: str, role: str, scope: str) -> tuple[str, Principal]:
            draft = UserDraft.model_validate({"name": name, "role": role, "scope": scope})
            u = c.tenants.create_user(tenant_id=tid, draft=draft)
            return u.user.id, c.tenants.authenticate(f"Bearer {u.api_key}")

        _, agent = user("客服", "agent", "all")
        engineers = dict(user(f"师傅{i}", "engineer", "own") for i in range(ENGINEERS))
        for i, uid in enumerate(engineers):
            profile = {
                "region": "华东",
                "skills": {"appliance_repair": 2 + i % 4},
                "capacity": 1000,
                "shifts": {str(d): ALL_DAY for d in range(7)},
            }
            c.assignment.put_staff(
                principal=admin, user_id=uid, draft=StaffProfileDraft.model_validate(profile)
            )
        customers = [
            c.customers.create(
                principal=admin,
                draft=CustomerDraft.model_validate(
                    {"name": f"客户{i}", "phone": f"1370000{i:04d}", "region": "华东", "store": "SH-001"}
                ),
            ).customer.id
            for i in range(CUSTOMERS)
        ]
        return People(admin, agent, engineers, customers)

    def drain(self) -> None:
        """Deliver what is on the events queue to the app's consumer, batch by batch."""
        from app import app
        from chalicelib.local.runner import EventRunner, resolve_handler

        runner = EventRunner(app, self.sqs, poll_wait=0)
        source = next(s for s in runner.sqs_sources if s.queue == EVENTS_QUEUE.name)
        handler = resolve_handler(app, source)
        while runner.poll_once(source, handler, self.urls[EVENTS_QUEUE.name]):
            pass
        if runner.failed:
            raise RuntimeError(f"the events worker failed {runner.failed} messages")


def worker_row(envelope: Any) -> str | None:
    if not envelope.type.startswith("ticket."):
        return None  # the setup's own events (customers created)
    entered = ", ".join(envelope.data.get("entered") or []) or "—"
    assigns = any(e.get("type") == "assign" for e in envelope.data.get("effects", []))
    return f"{WORKER}{envelope.type} (entered {entered}{': auto-assign' if assigns else ''})"


def run_in_process() -> tuple[Meter, int]:
    from app import app  # noqa: F401 - registers the consumers
    from chalicelib.workers import events

    meter = Meter()
    original = events.handle_event

    def attributed(envelope: Any) -> None:
        row = worker_row(envelope)
        if row is None:
            original(envelope)
            return
        with meter.measure(row):
            original(envelope)

    events.handle_event = attributed
    os.environ[PURGE_SETTING] = "false"  # purging is how moto's queues stay short between rounds
    unassigned = 0
    try:
        with mock_aws():
            env = InProcess(meter)
            for offset in range(0, N, ROUND):
                unassigned += run_round(env, meter, offset, min(ROUND, N - offset))
            bootstrap.set_container(None)
    finally:
        events.handle_event = original
        os.environ.pop(PURGE_SETTING, None)
    return meter, unassigned


def run_round(env: InProcess, meter: Meter, offset: int, n: int) -> int:
    env.fresh_table()
    c = env.new_container()
    who = env.people(c)
    env.drain()
    ids: list[str] = []
    for i in range(offset, offset + n):
        urgent = i % URGENT_EVERY == 0
        draft = TicketDraft(
            template_id="repair",
            customer_id=who.customers[i % len(who.customers)],
            fields={"fault_description": URGENT_TEXT if urgent else NORMAL_TEXT, "product": "空调"},
        )
        row = OPEN_COLD if i == offset else OPEN_URGENT if urgent else OPEN_NORMAL
        with meter.measure(row):
            view = c.tickets.create(principal=who.agent, draft=draft)
        assert (view.ticket.priority == "urgent") is urgent, view.ticket.priority
        ids.append(view.ticket.id)
    env.drain()
    c = env.new_container()  # the transitions in another fresh process
    first = True
    unassigned = 0
    for action, (row, actor) in STEPS.items():
        for k, ticket_id in enumerate(ids):
            ticket = c.ticket_repo.get(who.agent.tenant_id, ticket_id)  # not measured: whose turn it is
            assert ticket is not None
            if action == "accept" and "triage" not in ticket.state.active:
                continue  # urgent: triage skipped
            principal = who.agent
            if actor == "assignee":
                if ticket.assignment is None:
                    unassigned += 1
                    principal = who.admin
                else:
                    principal = who.engineers[ticket.assignment.assignee_id]
            fields = {"labour_fee": "80"} if action == "confirm" and k % 2 else {}
            name = STEP_COLD if first else CONFIRM_FIELDS if fields else row
            first = False
            with meter.measure(name):
                c.tickets.transition(
                    principal=principal,
                    ticket_id=ticket_id,
                    command=TransitionCommand(action=action, fields=fields, comment=f"{action} (bench)"),
                )
        env.drain()
    return unassigned


# -- the real local stack -------------------------------------------------------------------------------
@dataclass
class Mode:
    name: str
    clients: int
    tickets: int = 0
    transitions: int = 0
    wall_s: float = 0.0
    ms: list[float] = field(default_factory=list)
    conflicts: int = 0  # 409s retried: the events worker's auto-assignment wrote the ticket first
    moto_errors: int = 0  # moto server requests failed with a Python error during the run (retried)

    @property
    def per_s(self) -> float:
        return self.transitions / self.wall_s

    def pct(self, q: float) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class LocalResult:
    modes: list[Mode]
    open_ms: list[float]
    workers: str


def measure_local_stack() -> LocalResult:
    with running("scrm-bench-tickets-", workers=WORKERS) as stack:
        return _drive(stack)


def moto_errors(stack: Stack) -> int:
    """Requests the moto server failed with a Python error (logged by werkzeug; the client retried)."""
    return (stack.local_dir / "stack.log").read_text(errors="replace").count("Error on request:")


def _drive(stack: Stack) -> LocalResult:
    created = stack.cli("tenant", "create", "--name", "工单压测")
    if created.returncode != 0:
        raise RuntimeError(created.stderr)
    admin = {"Authorization": f"Bearer {json.loads(created.stdout)['api_key']}"}
    with httpx.Client(base_url=stack.url, timeout=60) as http:

        def user(name: str, role: str) -> dict[str, Any]:
            body = {"name": name, "role": role, "scope": "all"}
            return dict(http.post("/v1/users", headers=admin, json=body).raise_for_status().json())

        agent, engineer = user("客服", "agent"), user("师傅", "engineer")
        profile = {
            "region": "华东",
            "skills": {"appliance_repair": 4},
            "capacity": 1000,
            "shifts": {str(d): ALL_DAY for d in range(7)},
        }
        http.put(f"/v1/staff/{engineer['id']}", headers=admin, json=profile).raise_for_status()
        customer = {"name": "韩梅梅", "phone": "13700000001", "region": "华东", "store": "SH-001"}
        cid = http.post("/v1/customers", headers=admin, json=customer).raise_for_status().json()["id"]
        keys = {"agent": bearer(agent), "assignee": bearer(engineer)}
        open_ms: list[float] = []

        def open_tickets(n: int) -> list[str]:
            out = []
            for _ in range(n):
                body = {
                    "template_id": "repair",
                    "customer_id": cid,
                    "fields": {"fault_description": NORMAL_TEXT},
                }
                t0 = time.perf_counter()
                resp = http.post("/v1/tickets", headers=keys["agent"], json=body).raise_for_status()
                open_ms.append((time.perf_counter() - t0) * 1000)
                out.append(resp.json()["ticket"]["id"])
            return out

        modes = [Mode("one client, sequential", 1), Mode(f"{CLIENTS} concurrent clients", CLIENTS)]
        batches = [open_tickets(N_LOCAL) for _ in modes]
    for mode, ids in zip(modes, batches, strict=True):
        run_mode(stack, mode, ids, keys)
    return LocalResult(modes, open_ms, str(WORKERS))


def bearer(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['api_key']}"}


def run_mode(stack: Stack, mode: Mode, ids: list[str], keys: dict[str, dict[str, str]]) -> None:
    """Every ticket through one step, then the next step (as people work a queue: by the time a ticket is
    assigned, the events worker has had a moment to auto-assign it), `mode.clients` clients sharing each."""
    lock = threading.Lock()
    local = threading.local()

    def step(ticket_id: str, action: str, actor: str) -> None:
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = httpx.Client(base_url=stack.url, timeout=60)
        for attempt in range(10):
            if attempt:  # as a person would: the events worker may not have auto-assigned it yet
                time.sleep(min(1.0, 0.05 * 2**attempt))
            t0 = time.perf_counter()
            resp = http.post(
                f"/v1/tickets/{ticket_id}/transitions", headers=keys[actor], json={"action": action}
            )
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                mode.ms.append(ms)
            if resp.status_code != 409:
                resp.raise_for_status()
                with lock:
                    mode.transitions += 1
                return
            with lock:
                mode.conflicts += 1
        raise RuntimeError(f"{ticket_id} {action}: still 409 after 10 attempts: {resp.text}")

    mode.tickets = len(ids)
    errors_before = moto_errors(stack)
    with ThreadPoolExecutor(max_workers=mode.clients) as pool:
        for action, (_, actor) in STEPS.items():
            start = time.perf_counter()
            list(pool.map(lambda tid, a=action, who=actor: step(tid, a, who), ids))
            mode.wall_s += time.perf_counter() - start
    mode.moto_errors = moto_errors(stack) - errors_before


# -- report ---------------------------------------------------------------------------------------------
def _ok(ok: bool) -> str:
    return "✅" if ok else "❌"


def in_process_section(meter: Meter, unassigned: int) -> tuple[str, bool]:
    rows = [
        "| operation | n | DynamoDB requests/op | by operation | SQS requests/op (the app's) | "
        "Step Functions starts/op | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = [OPEN_NORMAL, OPEN_URGENT, OPEN_COLD, *(r for r, _ in STEPS.values()), CONFIRM_FIELDS, STEP_COLD]
    flow = ["created (entered new, triage", "created", "accept", "assign", "resolve", "confirm"]
    workers = sorted(
        (k for k in meter.usage if k.startswith(WORKER)),
        key=lambda k: next((i for i, f in enumerate(flow) if k.startswith(f"{WORKER}ticket.{f}")), 99),
    )
    for name in order + workers:
        u = meter.usage.get(name)
        if u is None or u.n == 0:
            continue
        rows.append(
            f"| {name} | {u.n} | **{u.requests / u.n:.3g}** | {u.per_op(u.calls)} | {u.per_op(u.sqs)} | "
            f"{u.starts / u.n:.3g} | {statistics.median(u.times):.2f} | {u.pct(0.99):.2f} |"
        )
    plain = [meter.usage[r] for r, _ in STEPS.values() if r in meter.usage]
    target = all(u.calls == Counter({"GetItem": u.n, "TransactWriteItems": u.n}) for u in plain)
    fields = meter.usage.get(CONFIRM_FIELDS)
    extra = ""
    if fields is not None and fields.n:
        beyond = fields.calls - Counter({"GetItem": fields.n, "TransactWriteItems": fields.n})
        extra = (
            f" A step that changes fields also reads the tenant's templates to validate them "
            f"({fields.per_op(beyond)} beyond the target, not cached)."
        )
    text = "\n".join(rows) + (
        f"\n\nTarget: a transition is one TransactWriteItems (the ticket at the version read, its history "
        f"entry, the customer's timeline event) plus the ticket's read (GetItem), warm: {_ok(target)}."
        f"{extra} What the entered step's actions need runs in the events worker (rows above): the "
        "auto-assignment of a step that asks for it, the assignee's capacity released on closing (and the "
        "waiting queue offered the room), the notifications of the steps' notify actions, the customer's "
        "ticket-created notice and the rating request on closing. The bench tenant has no notification "
        "channel configured, so each notification is planned and stored as a failed delivery without a "
        "notify-queue message: with a channel, each adds one SendMessage and the notify worker's delivery. "
        "The worker rows include the first-in-process reads of each round (template catalogue, staff "
        "roster). The SLA timer is started by the "
        "step itself (a Step Functions StartExecution at opening, none on a plain step). Each /v1 request "
        "also authenticates its API key (see the customers table: one request)."
        + (f" {unassigned} tickets were not auto-assigned (resolved by the admin)." if unassigned else "")
    )
    return text, target


def local_section(local: LocalResult) -> str:
    rows = [
        "| clients | tickets | transitions | transitions/s | p50 ms | p99 ms | 409s retried | "
        "moto server errors (retried) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in local.modes:
        rows.append(
            f"| {m.name} | {m.tickets} | {m.transitions} | **{m.per_s:.1f}** | "
            f"{statistics.median(m.ms):.1f} | {m.pct(0.99):.1f} | {m.conflicts} | {m.moto_errors} |"
        )
    opens = sorted(local.open_ms)
    return "\n".join(rows) + (
        f"\n\nOpening the {len(opens)} tickets: p50 {statistics.median(opens):.1f} ms, p99 "
        f"{opens[min(len(opens) - 1, int(len(opens) * 0.99))]:.1f} ms. The local API serves requests "
        "concurrently, a thread each (chalicelib/local/http.py), but every process of the stack shares this "
        "machine's two cores and every AWS call is served by the one moto process: more clients raise the "
        "rate only as far as that CPU allows, and each waits longer; on AWS each concurrent request gets its "
        f"own Lambda. The {local.workers} event-worker processes auto-assign, release and notify meanwhile "
        "against the same moto server; a 409 is a step that lost the race with the worker's assignment "
        "(the ticket changed since it was read) and was retried, as a client would. The moto server errors "
        "are its TransactWriteItems failing with `RuntimeError: dictionary changed size during iteration` "
        "(its rollback copy of the table, chalicelib/local/moto_patches.py `deepcopy_once`, racing another "
        "process's write in the threaded server): a 500 the AWS SDK retries, so they add latency, not "
        "failures; DynamoDB has no such race."
    )


def assignment_reference() -> str:
    text = DOC.read_text() if DOC.exists() else ""
    found = re.search(r"\| default weights[^|]*\| \d+ \| \d+ \| [^|]+ \| ([\d.]+) \| \*\*([\d.]+)\*\*", text)
    figures = f" (default weights: p50 {found[1]} ms, p99 {found[2]} ms)" if found else ""
    return (
        f"Assignment of 1 ticket among 1,000 staff{figures}: see [Assignment](#assignment) "
        "(`bench/assignment.py`)."
    )


def render(meter: Meter, unassigned: int, local: LocalResult | None) -> str:
    from importlib.metadata import version

    table, _ = in_process_section(meter, unassigned)
    text = (
        f"{START}\nMeasured by `make bench` on {time.strftime('%Y-%m-%d')} (`bench/tickets.py`; "
        f"in-process on moto {version('moto')}: {N} repair tickets, one in {URGENT_EVERY} urgent, in "
        f"rounds of {ROUND} on a fresh table with {ENGINEERS} engineers and {CUSTOMERS} customers; "
        "latencies are moto's, relative only; request counts carry over to AWS).\n\n"
        f"{table}\n\n"
    )
    if local is not None:
        text += (
            f"**Local stack** (`python -m chalicelib.local`, HTTP, moto server): {N_LOCAL} repair tickets "
            "per run, each taken through accept, assign, resolve and confirm (a step at a time across the "
            "tickets) by an agent and an engineer.\n\n"
            f"{local_section(local)}\n\n"
        )
    return text + f"{assignment_reference()}\n{END}"


INTRO = """
## Tickets

`make bench` also runs [`bench/tickets.py`](../bench/tickets.py) and rewrites the block below: DynamoDB
requests per ticket step (target: one transactional write plus what the step's actions need), the events
worker's share of each step, and ticket steps per second on the local stack.
"""


def write_doc(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n" + INTRO + "\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    started = time.perf_counter()
    meter, unassigned = run_in_process()
    local = measure_local_stack() if N_LOCAL > 0 else None
    block = render(meter, unassigned, local)
    print(block)
    write_doc(block)
    print(f"\n(bench/tickets.py took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
