"""`make bench` (imports): what a historic-data import costs — rows/s and DynamoDB requests per row.

1. The legacy CSVs (2,207 customer rows, 4,000 orders) in-process on moto, then each again.
2. Synthetic customer and order files (deterministic: a seeded `random.Random`) on the real local stack
   (`python -m chalicelib.local`, moto in server mode), imported the way an operator does it:
   `python -m chalicelib.cli import customers FILE --tenant T --report R` as a subprocess, then each file
   again (which must write nothing). The CLI runs the import in its own process, so it runs under a small
   wrapper (`COUNTING_CLI`, run with `python -c`) that counts pynamodb's requests there.

The data-pool issue asks for 10,000 rows: on moto that takes ~15 min and ~11 GB, so `make bench` runs 2,000
(`SCRM_BENCH_IMPORT_N`, 0 skips the stack) and carries the last 10,000-row section of the doc over; run
`SCRM_BENCH_IMPORT_N=10000 .venv/bin/python -m bench.imports` to redo it. Request counts carry over to AWS;
moto's timings grow with the table (each transaction copies it), so read the seconds as moto's, not AWS's."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

import tests.conftest  # noqa: F401 - test settings before chalicelib loads
from bench.localstack import new_stack
from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.imports import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    CustomerRow,
    OrderRow,
    cluster_people,
    parse_customers,
    parse_orders,
)
from chalicelib.local.provision import create_bucket, create_queue, create_table
from chalicelib.resources import BUCKETS, QUEUES
from tests.e2e.conftest import Stack
from tests.fakes.dynamo import count_requests

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:imports:start -->", "<!-- bench:imports:end -->"
FULL = 10_000  # the size the data-pool issue asks about: minutes on moto, more than `make bench` should take
DEFAULT_N = 2000  # what fits `make bench` (≈ 1.5 min on the local stack)
N_LOCAL = int(os.environ.get("SCRM_BENCH_IMPORT_N", str(DEFAULT_N)))  # rows per synthetic file; 0: no stack
FULL_COMMAND = f"`SCRM_BENCH_IMPORT_N={FULL} .venv/bin/python -m bench.imports`"
FULL_START, FULL_END = "<!-- bench:imports:10k:start -->", "<!-- bench:imports:10k:end -->"
SEED = 20260101
CLI_TIMEOUT = 1800  # seconds per CLI run (tests/e2e's Stack.cli allows 60)
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
TARGET = 3  # DynamoDB requests per new row


def _ok(ok: bool) -> str:
    return "✅" if ok else "❌"


def _calls(calls: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "—"


# -- 1. the legacy files, in-process on moto ----------------------------------------------------------
def in_process_rows() -> list[str]:
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
            result = (
                f"created {report.created}, unchanged {report.unchanged}, "
                f"rejected rows {report.rejected_rows}"
                if report.kind == "customers"
                else f"linked {report.linked}, not linked {report.not_linked}, unchanged {report.unchanged}"
            )
            rows.append(
                f"| {label} | {report.rows} | {result} | {seconds:.1f} | {report.rows / seconds:.0f} | "
                f"**{n.total / report.rows:.2f}** | {_calls(n.calls)} |"
            )
        bootstrap.set_container(None)
    return rows


# -- 2a. synthetic legacy exports ---------------------------------------------------------------------
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "慕容")
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩凯健俊帆帅旭宁婷雪琳晶欣怡"
    "佳悦思涵子轩梓萱一诺浩然雨泽欣妍诗雨嘉怡俊杰文博天佑晨曦若汐昊然"
)
PLACES = (
    ("上海", "上海"),
    ("北京", "北京"),
    ("广东", "深圳"),
    ("广东", "广州"),
    ("四川", "成都"),
    ("江苏", "苏州"),
    ("江苏", "南京"),
    ("浙江", "杭州"),
    ("湖北", "武汉"),
    ("湖南", "长沙"),
    ("陕西", "西安"),
    ("河南", "洛阳"),
    ("黑龙江", "哈尔滨"),
    ("吉林", "长春"),
    ("广西", "桂林"),
    ("山东", "青岛"),
)
STORES = ("SH-001", "SH-002", "BJ-001", "SZ-003", "GZ-001", "CD-001", "SZ-001", "HZ-001", "WH-001", "XA-001")
TAGS = (
    "潜在VIP",
    "母婴",
    "复购",
    "价格敏感",
    "贷款购车意向",
    "冬季服饰意向",
    "关注师资力量",
    "少糖多冰",
    "VIP",
)
NOTES = ("老客户", "只在周末来", '喜欢"少冰", 常点大杯', "介绍过朋友,可回访", "电话回访过", "对价格敏感")
CN_MOBILE = [(130, 140), (150, 154), (155, 160), (166, 167), (173, 174), (175, 179), (180, 190), (191, 192)]
CN_MOBILE.append((198, 200))
MOBILE_PREFIXES = tuple(p for lo, hi in CN_MOBILE for p in range(lo, hi))  # prefixes phonenumbers accepts
BAD_PHONES = ("1381234567", "021-6234-5678", "电话未留", "138123456789", "12345678901", "无")
PRODUCTS = (
    ("TEA-L", "大杯奶茶", "18.00"),
    ("MILK-3", "婴儿奶粉3段", "328.50"),
    ("AC-CLEAN", "空调清洗", "128.00"),
    ("AC-REPAIR", "空调维修", "260.00"),
    ("COURSE-PIANO", "钢琴体验课", "99.00"),
    ("DJ-01", "羽绒服", "899.00"),
    ("FILTER-X", "净化器滤芯", "159.90"),
)
PLATFORMS = ("tmall", "jd", "doudian", "youzan", "store_pos")
STATUSES = ("completed",) * 6 + ("paid", "refunded", "closed", "已完成")
CN = timezone(timedelta(hours=8))


@dataclass
class Person:
    name: str
    phone: str | None  # 11 digits
    unionid: str | None


@dataclass
class Synthetic:
    customers: str
    orders: str
    made: Counter[str] = field(default_factory=Counter)  # how the rows were made, for the text


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.phones: set[str] = set()
        self.unionids: set[str] = set()

    def name(self) -> str:
        r = self.rng
        surname = r.choice(COMPOUND_SURNAMES) if r.random() < 0.01 else r.choice(SURNAMES)
        return surname + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2, 2))))

    def phone(self) -> str:
        while True:
            number = f"{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def unionid(self) -> str:
        while True:
            value = "oU" + "".join(self.rng.choice("0123456789abcdef") for _ in range(20))
            if value not in self.unionids:
                self.unionids.add(value)
                return value

    def typed(self, phone: str) -> str:
        """A mobile as people type it: bare, +86, 86, (+86), 0086, spaces, dashes, padding."""
        a, b, c = phone[:3], phone[3:7], phone[7:]
        return self.rng.choice(
            (
                phone,
                phone,
                phone,
                f"+86 {a} {b} {c}",
                f"+86{phone}",
                f"86{phone}",
                f"{a}-{b}-{c}",
                f"{a} {b} {c}",
                f"(+86) {phone}",
                f"0086 {a} {b} {c}",
                f" {phone} ",
                f"+86-{a}-{b}-{c}",
            )
        )

    def day(self, first: date, days: int) -> date:
        return first + timedelta(days=self.rng.randrange(days))

    def birthday(self) -> str:
        r = self.rng
        if r.random() < 0.45:
            return ""
        if r.random() < 0.01:
            return "2024-13-45"  # imported without it, with a warning
        d = self.day(date(1960, 1, 1), 365 * 45)
        return r.choice((d.isoformat(), d.strftime("%Y/%m/%d"), d.strftime("%Y年%m月%d日")))

    def customer_row(self, external_id: str, person: Person, *, phone: str | None) -> dict[str, str]:
        r = self.rng
        province, city = r.choice(PLACES)
        tags = r.sample(TAGS, k=r.choice((0, 0, 1, 1, 2, 3)))
        return {
            "external_id": external_id,
            "name": person.name,
            "phone": phone or "",
            "gender": r.choice(("男", "女", "男", "女", "M", "F", "")),
            "birthday": self.birthday(),
            "province": province if r.random() < 0.9 else "",
            "city": city,
            "store": r.choice(STORES) if r.random() < 0.85 else "",
            "unionid": person.unionid or "",
            "tags": ";".join(tags),
            "first_seen": self.day(date(2021, 1, 1), 365 * 5).isoformat(),
            "note": r.choice(NOTES) if r.random() < 0.2 else "",
        }

    def customers(self, n: int) -> tuple[str, list[Person], Counter[str]]:
        """`n` rows: ~1% without a usable identity, ~3% a second record of an earlier person (same phone in
        another format, or the same unionid, under another system's id), the rest distinct people, ~30% of
        rows with a unionid (some of them without a phone)."""
        r = self.rng
        kinds = ["invalid"] * (n // 100) + ["duplicate"] * (n * 3 // 100)
        kinds += ["new"] * (n - len(kinds))
        r.shuffle(kinds)
        people: list[Person] = []
        made: Counter[str] = Counter()
        rows = []
        for i, kind in enumerate(kinds):
            external_id = f"CRM-{i + 1:06d}"
            if kind == "duplicate" and people:
                p = r.choice(people)
                external_id = f"POS-{i + 1:06d}"  # the same person exported from the till system
                twin = Person(name=p.name, phone=p.phone, unionid=p.unionid)
                if r.random() < 0.3:
                    twin.name = twin.name[0] + r.choice(("先生", "女士"))  # a salutation, not a name
                if p.phone and (not p.unionid or r.random() < 0.5):
                    made["duplicate by phone"] += 1
                    twin.unionid = p.unionid if r.random() < 0.3 else None
                    rows.append(self.customer_row(external_id, twin, phone=self.typed(p.phone)))
                else:
                    made["duplicate by unionid"] += 1
                    rows.append(self.customer_row(external_id, twin, phone=None))
            elif kind == "invalid":
                made["invalid"] += 1
                nobody = Person(name=self.name(), phone=None, unionid=None)
                bad = r.choice(BAD_PHONES) if r.random() < 0.7 else ""
                rows.append(self.customer_row(external_id, nobody, phone=bad))
            else:
                made["new"] += 1
                u = r.random()
                has_phone, has_unionid = (
                    (True, False) if u < 0.7 else (True, True) if u < 0.95 else (False, True)
                )
                p = Person(
                    name=self.name(),
                    phone=self.phone() if has_phone else None,
                    unionid=self.unionid() if has_unionid else None,
                )
                people.append(p)
                rows.append(self.customer_row(external_id, p, phone=self.typed(p.phone) if p.phone else None))
        made["with unionid"] = sum(1 for row in rows if row["unionid"])
        return _csv(CUSTOMER_COLUMNS, rows), people, made

    def orders(self, n: int, people: list[Person]) -> tuple[str, Counter[str]]:
        """`n` rows referencing the customers by phone (as typed) and/or unionid, ~5% of orders with two
        lines; ~10% of rows by buyers not in the customer file: two thirds with a phone or unionid no customer
        has (new customers, some buying twice), one third with only a shop nickname (kept, not linked)."""
        r = self.rng
        strangers = [Person(name=self.name(), phone=self.phone(), unionid=None) for _ in range(n // 20)]
        strangers += [Person(name=self.name(), phone=None, unionid=self.unionid()) for _ in range(n // 60)]
        regulars = people[: max(1, len(people) // 5)]  # a fifth of the customers buy half the orders
        made: Counter[str] = Counter()
        rows: list[dict[str, str]] = []
        seq = 0
        while len(rows) < n:
            seq += 1
            u = r.random()
            if u < 0.0333:
                buyer, kind = Person(name=self.name(), phone=None, unionid=None), "no buyer identity"
            elif u < 0.1:
                buyer, kind = r.choice(strangers), "unknown buyer"
            else:
                buyer, kind = r.choice(regulars if r.random() < 0.5 else people), "known customer"
            by = r.random()
            phone = self.typed(buyer.phone) if buyer.phone and (not buyer.unionid or by < 0.7) else ""
            unionid = buyer.unionid if buyer.unionid and (not phone or by < 0.3) else ""
            platform = r.choice(PLATFORMS)
            status = r.choice(STATUSES)
            paid = datetime(2023, 1, 1, tzinfo=CN) + timedelta(minutes=r.randrange(60 * 24 * 365 * 3))
            lines = 2 if r.random() < 0.05 and len(rows) < n - 1 else 1
            for sku, item, price in r.sample(PRODUCTS, k=lines):
                quantity = r.choice((1, 1, 1, 2, 3))
                made[kind] += 1
                rows.append(
                    {
                        "platform": platform,
                        "order_id": f"S{seq:09d}",
                        "buyer_phone": phone,
                        "buyer_unionid": unionid,
                        "buyer_nick": f"{buyer.name}的店铺账号"
                        if r.random() < 0.4 or not (phone or unionid)
                        else "",
                        "sku": sku,
                        "item_name": item,
                        "quantity": str(quantity),
                        "unit_price": price,
                        "total_amount": "",  # the sum of the lines
                        "status": status,
                        "paid_at": paid.isoformat(timespec="seconds"),
                        "store": r.choice(STORES),
                    }
                )
        return _csv(ORDER_COLUMNS, rows), made


def _csv(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def synthetic(n: int) -> Synthetic:
    g = Generator(SEED)
    customers, people, made = g.customers(n)
    orders, order_made = g.orders(n, people)
    made.update({f"orders: {k}": v for k, v in order_made.items()})
    return Synthetic(customers=customers, orders=orders, made=made)


def expected(data: Synthetic) -> dict[str, int]:
    """What the importer's pure part makes of the files (parse + cluster), to check the reports against."""
    rows = [r for r in parse_customers(data.customers) if isinstance(r, CustomerRow)]
    orders = [o for o in parse_orders(data.orders) if isinstance(o, OrderRow)]
    return {
        "customer rows": len(rows),
        "people": len(cluster_people(rows)),
        "orders": len(orders),
        "linkable orders": sum(1 for o in orders if o.linkable),
    }


# -- 2b. the CLI on the local stack, counted inside its process ----------------------------------------
# Run as `python -c COUNTING_CLI OUT.json ARGS...`: counts every pynamodb request (and its time) made by
# `chalicelib.cli.main(ARGS)` and writes them to OUT.json.
COUNTING_CLI = r"""
import json, sys, time
from collections import Counter
from pathlib import Path

from pynamodb.connection.base import Connection

out, argv = Path(sys.argv[1]), sys.argv[2:]
calls, ms, ms_by_op = Counter(), [], Counter()
original = Connection._make_api_call


def counting(self, operation_name, operation_kwargs):
    calls[operation_name] += 1
    started = time.perf_counter()
    try:
        return original(self, operation_name, operation_kwargs)
    finally:
        ms.append((time.perf_counter() - started) * 1000)
        ms_by_op[operation_name] += ms[-1]


Connection._make_api_call = counting

from chalicelib import cli


started = time.perf_counter()
try:
    cli.main(argv)
finally:
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"calls": calls, "ms": ms, "ms_by_op": ms_by_op, "seconds": seconds}))
"""


@dataclass
class CliRun:
    label: str
    stdout: str
    wall_s: float  # the subprocess: interpreter start and imports included
    import_s: float  # inside the wrapper, around the CLI's work
    calls: Counter[str]
    ms: list[float]  # each DynamoDB request's time, in order
    ms_by_op: Counter[str]
    report: dict[str, Any] = field(default_factory=dict)
    rows: int = 0  # records in the file (an order of two lines is two rows)
    items: int = 0  # items in moto's table afterwards (all tenants, demo data included)

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    @property
    def writes(self) -> int:
        return sum(v for k, v in self.calls.items() if k in WRITES)

    @property
    def again(self) -> bool:
        return self.label.endswith("again")

    @property
    def new_rows(self) -> int:
        """A first import: every accepted row is new. A re-import: none is."""
        return 0 if self.again else self.rows - int(self.report["rejected_rows"])


def run_cli(stack: Stack, work: Path, label: str, *args: str) -> CliRun:
    counts = work / f"counts-{label.replace(', ', '-')}.json"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", COUNTING_CLI, str(counts), *args],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"scrm {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    measured = json.loads(counts.read_text())
    return CliRun(
        label,
        done.stdout,
        wall,
        measured["seconds"],
        Counter(measured["calls"]),
        measured["ms"],
        Counter(measured["ms_by_op"]),
    )


def run_import(stack: Stack, work: Path, label: str, file: Path, tenant: str) -> CliRun:
    kind = label.split(",")[0]
    report = work / f"report-{label.replace(', ', '-')}.json"
    run = run_cli(stack, work, label, "import", kind, str(file), "--tenant", tenant, "--report", str(report))
    run.report = json.loads(report.read_text())
    run.items = _item_count(stack)
    run.rows = sum(1 for _ in csv.reader(io.StringIO(file.read_text(encoding="utf-8")))) - 1
    print(f"  {label}: {run.rows} rows in {run.wall_s:.1f} s, {run.requests} DynamoDB requests", flush=True)
    return run


@dataclass
class LocalResult:
    runs: list[CliRun]
    expected: dict[str, int]
    made: Counter[str]
    start_s: float
    peak_gb: float  # the stack process's peak memory
    measured_on: str = ""
    total_s: float = 0.0  # stack start to stop

    @property
    def n(self) -> int:
        return self.runs[0].rows


def measure_local_stack(n: int) -> LocalResult:
    data = synthetic(n)
    want = expected(data)
    stack = new_stack("scrm-bench-imports-")
    work = stack.local_dir
    started = time.perf_counter()
    try:
        files = {"customers": work / "customers_synthetic.csv", "orders": work / "orders_synthetic.csv"}
        files["customers"].write_text(data.customers, encoding="utf-8")
        files["orders"].write_text(data.orders, encoding="utf-8")
        stack.start()
        start_s = time.perf_counter() - started
        tenant = run_cli(stack, work, "tenant", "tenant", "create", "--name", "bench-import")
        tenant_id = json.loads(tenant.stdout.strip().splitlines()[-1])["tenant_id"]
        runs = [
            run_import(stack, work, label, files[label.split(",")[0]], tenant_id)
            for label in ("customers", "orders", "customers, again", "orders, again")
        ]
        result = LocalResult(runs, want, data.made, start_s, stack.peak_rss_gb(), time.strftime("%Y-%m-%d"))
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)
    result.total_s = time.perf_counter() - started
    return result


def _item_count(stack: Stack) -> int:
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{stack.aws_port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return int(client.describe_table(TableName="scrm")["Table"]["ItemCount"])


# -- report -------------------------------------------------------------------------------------------
def _result(run: CliRun) -> str:
    r = run.report
    if r["kind"] == "customers":
        folded = run.rows - int(r["rejected_rows"]) - int(r["people"])
        return (
            f"{r['people']} people: created {r['created']}, updated {r['updated']}, "
            f"unchanged {r['unchanged']}; {folded} rows merged into another row's person, "
            f"{r['merged']} stored customers merged; rejected rows {r['rejected_rows']}"
        )
    orders = int(r["linked"]) + int(r["not_linked"]) + int(r["unchanged"])
    return (
        f"{orders} orders: linked {r['linked']}, not linked {r['not_linked']}, unchanged {r['unchanged']}; "
        f"rejected rows {r['rejected_rows']}"
    )


def _target(run: CliRun) -> str:
    if run.again:
        return f"writes {run.writes} {_ok(run.writes == 0)} (must change nothing)"
    per = run.requests / max(1, run.new_rows)
    return f"**{per:.2f}** per new row {_ok(per <= TARGET)}"


def _time_by_operation(run: CliRun) -> str:
    ops = sorted(run.calls, key=lambda k: -run.ms_by_op[k])
    parts = [f"{k} {run.calls[k]} × {run.ms_by_op[k] / run.calls[k]:.1f} ms" for k in ops]
    in_ddb = sum(run.ms) / 1000
    return (
        f"{run.label}: {', '.join(parts)} ({in_ddb:.0f} s of the {run.wall_s:.0f} s; the table then held "
        f"{run.items} items)"
    )


def local_section(local: LocalResult) -> str:
    rows = [
        f"| import (local stack, {local.n / 1000:g}k synthetic) | rows | result | seconds | rows/s | "
        f"DynamoDB requests/row | target ≤ {TARGET} per new row | requests |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in local.runs:
        rows.append(
            f"| {run.label} | {run.rows} | {_result(run)} | {run.wall_s:.1f} | {run.rows / run.wall_s:.0f} | "
            f"**{run.requests / run.rows:.2f}** | {_target(run)} | {_calls(run.calls)} |"
        )
    m, want = local.made, local.expected
    by_label = {r.label: r for r in local.runs}
    customers, orders = by_label["customers"], by_label["orders"]
    people_ok = int(customers.report["created"]) == want["people"]
    linked_ok = int(orders.report["linked"]) == want["linkable orders"]
    startup = statistics.mean(r.wall_s - r.import_s for r in local.runs)
    duplicates = m["duplicate by phone"] + m["duplicate by unionid"]
    cost = (
        f"{local.total_s / 60:.1f} min from stack start to stop on {os.cpu_count()} CPUs, the stack process "
        f"peaking at {local.peak_gb:.1f} GB"
    )
    if local.n == FULL:
        heading = (
            f"**Local stack, {FULL:,} synthetic rows per file**, measured on {local.measured_on} with "
            f"{FULL_COMMAND} ({cost}): longer than every `make bench` should take; it runs "
            f"{DEFAULT_N:,} rows and keeps this section until the next {FULL:,}-row run."
        )
    else:
        heading = (
            f"**Local stack, {local.n:,} synthetic rows per file** ({cost}). `make bench` runs "
            f"{DEFAULT_N:,} rows: {FULL:,} take minutes on moto, more than every run should; the last "
            f"{FULL:,}-row run follows, with its time and memory ({FULL_COMMAND} redoes it)."
        )
    intro = (
        f"Local stack (`python -m chalicelib.local`: moto server, API and worker processes, demo data "
        f"seeded; a fresh tenant), synthetic files from `random.Random({SEED})`: {customers.rows} customer "
        f"rows — {m['new']} distinct people with Chinese names, mobiles typed bare or with +86, 86, (+86), "
        f"0086, spaces, dashes ({m['with unionid']} rows with a unionid, some with no phone), region, city, "
        f"store, tags, birthdays in three formats (1% impossible), {duplicates} second records of an "
        f"earlier person under another system's id ({m['duplicate by phone']} by phone in another format, "
        f"{m['duplicate by unionid']} by unionid; some named 王先生-style) and {m['invalid']} rows with no "
        f"usable identity (a bad phone or none, no unionid); {orders.rows} order rows — "
        f"{m['orders: known customer']} by customers of the file (a fifth of them buy half), "
        f"{m['orders: unknown buyer']} by buyers not in it (a phone or unionid no customer has: created on "
        f"the live path), {m['orders: no buyer identity']} with only a shop nickname; ~5% of orders have two "
        "lines. Each import runs as the operator runs it, `python -m chalicelib.cli import customers|orders "
        "FILE --tenant T --report R.json`, in a subprocess under a wrapper (`COUNTING_CLI`) that counts "
        "pynamodb's requests inside the CLI's process. "
        f"Seconds: the subprocess's wall clock, ~{startup:.1f} s of interpreter start and imports "
        "included; rows/s are file rows (an order of two lines is two rows)."
    )
    checks = (
        f"Checks: people created = people the parser and clustering find ({want['people']}) "
        f"{_ok(people_ok)}; orders linked = orders with a buyer phone or unionid "
        f"({want['linkable orders']}) {_ok(linked_ok)}; "
        "the re-imports write nothing "
        f"{_ok(all(r.writes == 0 for r in local.runs if r.again))}."
    )
    timing = (
        "Where the time goes (DynamoDB requests in the CLI's process, moto server): "
        + "; ".join(_time_by_operation(r) for r in local.runs if not r.again)
        + ". A TransactWriteItems is slow on moto (the local stack backs up only the items it names, where "
        "moto would copy the whole table) and moto's requests slow down as the table grows, so the seconds "
        "are moto's, not DynamoDB's; the request counts carry over to AWS."
    )
    section = f"{heading}\n\n{intro}\n\n" + "\n".join(rows) + f"\n\n{checks} {timing}"
    return f"{FULL_START}\n{section}\n{FULL_END}" if local.n == FULL else section


def render(in_process: list[str], local: LocalResult | None, kept: str | None) -> str:
    """`kept`: the last 10,000-row section from the doc, carried over when this run used fewer rows."""
    table = "\n".join(
        [
            "| import | rows | result | seconds | rows/s | DynamoDB requests/row | requests |",
            "|---|---|---|---|---|---|---|",
            *in_process,
        ]
    )
    text = (
        f"{START}\nMeasured by `make bench` on {time.strftime('%Y-%m-%d')} (`bench/imports.py`; target ≤ "
        f"{TARGET} DynamoDB requests per new row).\n\nIn-process on moto, the legacy files "
        f"(`tests/data/`):\n\n{table}"
    )
    if local is not None:
        text += "\n\n" + local_section(local)
    if local is None or local.n != FULL:
        text += "\n\n" + (kept or f"(No {FULL:,}-row local-stack run recorded yet: {FULL_COMMAND}.)")
    return text + f"\n{END}"


def kept_full_section() -> str | None:
    text = DOC.read_text() if DOC.exists() else ""
    if FULL_START in text and FULL_END in text:
        return text[text.index(FULL_START) : text.index(FULL_END) + len(FULL_END)]
    return None


def write_doc(block: str) -> None:
    text = DOC.read_text()
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text += "\n## Imports\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    started = time.perf_counter()
    in_process = in_process_rows()
    print(f"in-process: {time.perf_counter() - started:.0f} s", flush=True)
    local = measure_local_stack(N_LOCAL) if N_LOCAL > 0 else None
    block = render(in_process, local, kept_full_section())
    print(block)
    write_doc(block)
    print(f"\n(bench/imports.py took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
