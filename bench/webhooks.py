"""`make bench` (webhooks): what one webhook event costs — the ack, the worker, capacity units, dollars.

1. Ack latency and the AWS requests made before the ack, in-process on moto through chalice.test.Client, for
   a WeCom add_external_contact callback and a generic-shop order webhook: the first call (the tenant's
   settings not yet in the 60 s in-process cache) and warm calls.
2. Events per second through the ingest worker: mixed events enqueued through the routes, then delivered to
   the app's SQS handler as the Lambda event source would (`drain`), in rounds on a fresh table so moto's
   per-call cost stays flat; and on the real local stack (`python -m chalicelib.local`) over HTTP.
3. DynamoDB capacity units per event, computed from the items each request carries and returns (moto's
   ConsumedCapacity is not DynamoDB's): pynamodb's Connection._make_api_call is wrapped, as in
   tests/fakes/dynamo.py.
4. The cost per 1M events at AWS list prices (us-east-1), with the arithmetic.

moto's latency grows with table size (its Query walks the table, each transaction copies it): read the
timings as relative costs. Request counts and computed capacity units are what carry over to AWS."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
from chalice.test import Client
from moto import mock_aws
from pynamodb.connection.base import Connection

import tests.conftest  # noqa: F401 - test settings (region, secret) before chalicelib loads
from bench.localstack import running
from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.integrations.shops.generic import sign
from chalicelib.integrations.wecom.crypto import WeComCrypto
from chalicelib.local.provision import create_queue, create_table
from chalicelib.resources import EVENTS_QUEUE, INGEST_QUEUE, QUEUES, QueueSpec
from chalicelib.services.resolver import IdentityResolver
from tests.e2e.conftest import Stack
from tests.fakes.clock import FrozenClock
from tests.fakes.wecom_api import FakeWeComApi

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:webhooks:start -->", "<!-- bench:webhooks:end -->"
N_ACK = int(os.environ.get("SCRM_BENCH_ACKS", "1000"))  # deliveries per webhook kind
ROUNDS = int(os.environ.get("SCRM_BENCH_WORKER_ROUNDS", "10"))  # worker: rounds on a fresh table
MIX = {"wecom": 20, "shop": 20, "behaviour": 20}  # events per round, by type (a small table: ≤ ~300 items)
N_LOCAL = int(os.environ.get("SCRM_BENCH_LOCAL_N", "300"))  # events over HTTP on the local stack
# Runs on the local stack, each on a fresh stack (a small, fixed table); the median is reported. One run on
# a 2-core machine swings by ±20% with what else the machine does; the median of three is steady.
LOCAL_RUNS = int(os.environ.get("SCRM_BENCH_LOCAL_RUNS", "5"))
PURGE_EVERY = 100
PURGE_SETTING = "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"  # moto allows one purge a minute by default
BEHAVIOUR_PER_REQUEST = 25
TYPES = {
    "wecom": "WeCom add_external_contact (callback + detail fetch)",
    "shop": "generic-shop order.paid",
    "behaviour": "behaviour event (product_view)",
}
ENTITIES = {
    "#PROFILE": "profile",
    "EV": "timeline event",
    "ID": "identity claim",
    "IDEM": "idempotency marker",
    "ORDER": "order",
}
WORKER_BUCKETS = {"wecom": ("wecom", "wecom_detail"), "shop": ("shop",), "behaviour": ("behaviour",)}

CORP_ID = "wwbench0123456789"
WECOM_TOKEN = "BenchToken0123456789"
AES_KEY = base64.b64encode(hashlib.sha256(b"scrm-bench").digest()).decode()[:43]
SHOP_SECRET = "bench-generic-secret-0123456789"
CRYPTO = WeComCrypto(WECOM_TOKEN, AES_KEY, CORP_ID)

# AWS list prices, us-east-1 (USD). DynamoDB on-demand since 2024-11-01 (was $1.25 / $0.25 per million).
PRICES = {
    "apigw_http": 1.00,  # per 1M requests (HTTP API, first 300M a month): infra/'s WebhookHttpApi
    "apigw_rest": 3.50,  # per 1M requests (REST API, first 333M): the /v1 API, and webhooks sent there
    "lambda_request": 0.20,  # per 1M invocations
    "lambda_gb_s": 0.0000166667,  # per GB-second, x86_64 (no architecture is set: x86_64)
    "sqs": 0.40,  # per 1M requests, standard queue (each 64 KB chunk is one request)
    "wru": 0.625,  # per 1M write request units, on-demand
    "rru": 0.125,  # per 1M read request units, on-demand
}
OLD_DYNAMODB = {"wru": 1.25, "rru": 0.25}
LAMBDA_BATCH = INGEST_QUEUE.batch_size


# -- DynamoDB capacity computed from the items -------------------------------------------------------
KB, READ_UNIT = 1024, 4096
GSI_KEYS = (("gsi1pk", "gsi1sk"), ("gsi2pk", "gsi2sk"))  # both GSIs project ALL attributes


def number_size(text: str) -> int:
    digits = text.lstrip("-").split("E")[0].split("e")[0].replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


_SCALAR_SIZE: dict[str, Callable[[Any], int]] = {
    "S": lambda v: len(v.encode()),
    "N": number_size,
    "B": lambda v: len(v),
    "BOOL": lambda v: 1,
    "NULL": lambda v: 1,
    "SS": lambda v: sum(len(s.encode()) for s in v),
    "NS": lambda v: sum(number_size(n) for n in v),
    "BS": lambda v: sum(len(b) for b in v),
}


def attr_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "L":
        return 3 + sum(attr_size(e) + 1 for e in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attr_size(e) + 1 for k, e in v.items())
    return _SCALAR_SIZE[kind](v)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (UTF-8), numbers ~1 byte per 2 digits + 1."""
    return sum(len(name.encode()) + attr_size(v) for name, v in item.items())


def units(size: float, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def _index_keys(item: dict[str, Any]) -> tuple[tuple[str, str] | None, ...]:
    return tuple((item[h]["S"], item[r]["S"]) if h in item and r in item else None for h, r in GSI_KEYS)


@dataclass
class Usage:
    calls: Counter[str] = field(default_factory=Counter)  # DynamoDB requests by operation
    failed: int = 0
    sqs: Counter[str] = field(default_factory=Counter)  # the app's SQS requests by operation
    sent: Counter[str] = field(default_factory=Counter)  # messages sent, by queue name
    wru_table: float = 0.0  # transactional writes at 2×
    wru_gsi: float = 0.0  # index propagation at 1×
    rru: float = 0.0
    items_written: int = 0
    ms: float = 0.0  # handler time (worker buckets)
    aws_ms: float = 0.0  # of which inside DynamoDB and SQS calls (moto, in-process)
    sqs_ms: float = 0.0  # of which inside SQS calls
    messages: int = 0  # queue messages handled (worker buckets)

    def add(self, other: Usage) -> Usage:
        out = Usage()
        for name in ("calls", "sqs", "sent"):
            getattr(out, name).update(getattr(self, name))
            getattr(out, name).update(getattr(other, name))
        numbers = ("failed", "wru_table", "wru_gsi", "rru", "items_written", "ms", "aws_ms", "sqs_ms")
        for name in (*numbers, "messages"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        return out

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    @property
    def wru(self) -> float:
        return self.wru_table + self.wru_gsi


class Ledger:
    """Every DynamoDB request pynamodb makes and every SQS request of the app's client, charged to the
    current bucket, with capacity units computed from the items (a shadow of each item's size and index
    keys gives the before-image that DynamoDB bills replacements and index updates by)."""

    def __init__(self) -> None:
        self.shadow: dict[tuple[str, str], tuple[int, tuple[tuple[str, str] | None, ...]]] = {}
        self.usage: defaultdict[str, Usage] = defaultdict(Usage)
        self.bucket = "unattributed"
        self._sqs_started = 0.0

    @contextmanager
    def installed(self) -> Iterator[Ledger]:
        original = Connection._make_api_call
        ledger = self

        def recording(conn: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
            start = time.perf_counter()
            try:
                result = original(conn, operation_name, operation_kwargs)
            except Exception:
                ledger.now.calls[operation_name] += 1
                ledger.now.failed += 1
                raise
            finally:
                ledger.now.aws_ms += (time.perf_counter() - start) * 1000
            ledger.record(operation_name, operation_kwargs, result)
            return result

        Connection._make_api_call = recording  # type: ignore[method-assign]
        try:
            yield self
        finally:
            Connection._make_api_call = original  # type: ignore[method-assign]

    @contextmanager
    def charge(self, bucket: str) -> Iterator[Usage]:
        previous, self.bucket = self.bucket, bucket
        try:
            yield self.usage[bucket]
        finally:
            self.bucket = previous

    @property
    def now(self) -> Usage:
        return self.usage[self.bucket]

    def on_sqs(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """botocore `before-parameter-build.sqs` hook on the container's client."""
        self._sqs_started = time.perf_counter()
        self.now.sqs[model.name] += 1
        if model.name in ("SendMessageBatch", "SendMessage"):
            queue = str(params["QueueUrl"]).rsplit("/", 1)[-1]
            self.now.sent[queue] += len(params.get("Entries", [None]))

    def after_sqs(self, **_: Any) -> None:
        """botocore `after-call.sqs` hook: the time the call took."""
        elapsed = (time.perf_counter() - self._sqs_started) * 1000
        self.now.aws_ms += elapsed
        self.now.sqs_ms += elapsed

    # -- requests --------------------------------------------------------------------------------
    def record(self, op: str, kw: dict[str, Any], result: dict[str, Any]) -> None:
        self.now.calls[op] += 1
        handler = {
            "GetItem": self._get,
            "BatchGetItem": self._batch_get,
            "Query": self._query,
            "Scan": self._query,
            "TransactGetItems": self._transact_get,
            "PutItem": lambda kw, _: self._write(kw["Item"], 1),
            "DeleteItem": lambda kw, _: self._delete(kw["Key"], 1),
            "UpdateItem": lambda kw, _: self._update(kw["Key"], 1),
            "BatchWriteItem": self._batch_write,
            "TransactWriteItems": lambda kw, _: self._transact_write(kw),
        }.get(op)
        if handler is not None:
            handler(kw, result)

    def _get(self, kw: dict[str, Any], result: dict[str, Any]) -> None:
        factor = 1.0 if kw.get("ConsistentRead") else 0.5
        item = result.get("Item")
        self.now.rru += units(item_size(item) if item else 0, READ_UNIT) * factor

    def _batch_get(self, kw: dict[str, Any], result: dict[str, Any]) -> None:
        for table, request in kw["RequestItems"].items():
            factor = 1.0 if request.get("ConsistentRead") else 0.5
            found = result.get("Responses", {}).get(table, [])
            unprocessed = len(result.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
            missing = max(0, len(request["Keys"]) - len(found) - unprocessed)  # billed like a GetItem miss
            self.now.rru += (sum(units(item_size(i), READ_UNIT) for i in found) + missing) * factor

    def _query(self, kw: dict[str, Any], result: dict[str, Any]) -> None:
        factor = 1.0 if kw.get("ConsistentRead") else 0.5
        items = result.get("Items", [])
        size = sum(item_size(i) for i in items)
        scanned = int(result.get("ScannedCount", len(items)))
        if items and scanned > len(items):  # filtered out items were read too: scale by the average
            size = size * scanned / len(items)
        self.now.rru += units(size, READ_UNIT) * factor  # a Query rounds its total, not each item

    def _transact_get(self, kw: dict[str, Any], result: dict[str, Any]) -> None:
        for response in result.get("Responses", []):
            item = response.get("Item")
            self.now.rru += units(item_size(item) if item else 0, READ_UNIT) * 2

    def _write(self, item: dict[str, Any], factor: int) -> None:
        key = (item["pk"]["S"], item["sk"]["S"])
        size, indexes = item_size(item), _index_keys(item)
        old = self.shadow.get(key)
        old_size, old_indexes = old if old else (0, (None,) * len(GSI_KEYS))
        self.now.wru_table += units(max(size, old_size), KB) * factor  # a replacement bills the larger
        for new_key, old_key in zip(indexes, old_indexes, strict=True):
            if new_key and new_key == old_key:
                self.now.wru_gsi += units(max(size, old_size), KB)  # updated in place
                continue
            if old_key:
                self.now.wru_gsi += units(old_size, KB)  # removed from the index (or key changed)
            if new_key:
                self.now.wru_gsi += units(size, KB)  # put into the index
        self.now.items_written += 1
        self.shadow[key] = (size, indexes)

    def _delete(self, raw_key: dict[str, Any], factor: int) -> None:
        old = self.shadow.pop((raw_key["pk"]["S"], raw_key["sk"]["S"]), None)
        old_size, old_indexes = old if old else (0, (None,) * len(GSI_KEYS))
        self.now.wru_table += units(old_size, KB) * factor
        self.now.wru_gsi += sum(units(old_size, KB) for k in old_indexes if k)
        self.now.items_written += 1

    def _update(self, raw_key: dict[str, Any], factor: int) -> None:
        """Not used by the store today; billed at the item's known size (an approximation)."""
        old = self.shadow.get((raw_key["pk"]["S"], raw_key["sk"]["S"]))
        self.now.wru_table += units(old[0] if old else 0, KB) * factor
        self.now.items_written += 1

    def _batch_write(self, kw: dict[str, Any], result: dict[str, Any]) -> None:
        for table, requests in kw["RequestItems"].items():
            retried = result.get("UnprocessedItems", {}).get(table, [])
            for request in requests:
                if request in retried:  # pynamodb sends it again: charged then
                    continue
                if "PutRequest" in request:
                    self._write(request["PutRequest"]["Item"], 1)
                else:
                    self._delete(request["DeleteRequest"]["Key"], 1)

    def _transact_write(self, kw: dict[str, Any]) -> None:
        for entry in kw["TransactItems"]:
            if "Put" in entry:
                self._write(entry["Put"]["Item"], 2)
            elif "Delete" in entry:
                self._delete(entry["Delete"]["Key"], 2)
            elif "Update" in entry:
                self._update(entry["Update"]["Key"], 2)
            else:  # ConditionCheck: billed as a transactional write of the checked item
                k = entry["ConditionCheck"]["Key"]
                old = self.shadow.get((k["pk"]["S"], k["sk"]["S"]))
                self.now.wru_table += units(old[0] if old else 0, KB) * 2


# -- deliveries ----------------------------------------------------------------------------------------
@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


def wecom_delivery(tenant_id: str, i: int, ts: int) -> Delivery:
    """An add_external_contact callback, encrypted and signed as WeCom sends it."""
    plaintext = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        f"<UserID><![CDATA[staff{i % 20}]]></UserID>"
        f"<ExternalUserID><![CDATA[{external_id(i)}]]></ExternalUserID>"
        f"<State><![CDATA[store_{i % 5}]]></State><WelcomeCode><![CDATA[WC{i:08d}]]></WelcomeCode></xml>"
    )
    nonce = f"{i:010d}"
    encrypted, signature = CRYPTO.encrypt(plaintext, nonce=nonce, timestamp=str(ts))
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
        "<AgentID><![CDATA[]]></AgentID></xml>"
    )
    query = urlencode({"msg_signature": signature, "timestamp": str(ts), "nonce": nonce})
    return Delivery(f"/webhooks/wecom/{tenant_id}?{query}", {"Content-Type": "text/xml"}, body.encode())


def external_id(i: int) -> str:
    return f"wmBench{i:010d}"


def shop_delivery(tenant_id: str, i: int, ts: int) -> Delivery:
    """A generic-format order.paid webhook, signed with the tenant's secret; a distinct buyer each."""
    at = datetime.fromtimestamp(ts, tz=UTC).isoformat()
    event = {
        "event_id": f"evt-bench-{i:08d}",
        "type": "order.paid",
        "occurred_at": at,
        "order": {
            "order_id": f"SO-BENCH-{i:08d}",
            "shop_id": "flagship",
            "buyer": {"phone": f"139{i:08d}"},
            "items": [
                {"sku": "TEA-LJ-250", "name": "明前龙井 250g", "quantity": 2, "unit_price": "12.50"},
                {"sku": "CUP-01", "name": "品茗杯", "quantity": 1, "unit_price": "0.10"},
            ],
            "total_amount": "25.10",
            "currency": "CNY",
            "created_at": at,
            "paid_at": at,
        },
    }
    body = json.dumps(event, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "X-SCRM-Timestamp": str(ts),
        "X-SCRM-Signature": sign(SHOP_SECRET, ts, body),
    }
    return Delivery(f"/webhooks/shop/generic/{tenant_id}", headers, body)


def behaviour_events(start: int, count: int, ts: int, *, per_visitor: int) -> list[dict[str, Any]]:
    at = datetime.fromtimestamp(ts, tz=UTC).isoformat()
    return [
        {
            "event_id": f"bev-{i:08d}",
            "type": "product_view",
            "occurred_at": at,
            "identities": [{"type": "openid", "value": f"o-visitor-{i // per_visitor:08d}"}],
            "properties": {"category": "奶粉", "sku": f"MILK-{i % 7}"},
        }
        for i in range(start, start + count)
    ]


WECOM_SETTINGS = {
    "corp_id": CORP_ID,
    "token": WECOM_TOKEN,
    "encoding_aes_key": AES_KEY,
    "secret": "bench-app-secret-0123456789",
}


# -- in-process (moto) -----------------------------------------------------------------------------------
@dataclass
class Drain:
    wall_s: float = 0.0
    invocations: list[float] = field(default_factory=list)  # handler ms per Lambda-like invocation
    delivered: int = 0
    failed: int = 0


class InProcess:
    def __init__(self, ledger: Ledger, client: Client) -> None:
        self.ledger = ledger
        self.client = client
        self.clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        self.wecom_api = FakeWeComApi()
        self.sqs = boto3.client("sqs")  # the bench's own client (purge, drain): not counted
        self.urls = {q.name: create_queue(self.sqs, q) for q in QUEUES}
        self.api_key = ""
        self.integration_key = ""
        self.tenant_id = ""

    @property
    def ts(self) -> int:
        return int(self.clock.now().timestamp())

    def new_container(self) -> bootstrap.Container:
        """A fresh process, as a cold Lambda: no cached settings. Queue URLs injected, as infra/ does."""
        settings = get_settings().model_copy(
            update={
                "queue_url_ingest": self.urls[INGEST_QUEUE.name],
                "queue_url_events": self.urls[EVENTS_QUEUE.name],
            }
        )
        c = bootstrap.Container(settings, clock=self.clock)
        c.http = httpx.Client(transport=self.wecom_api.transport())  # the WeCom API, faked
        c.sqs.meta.events.register("before-parameter-build.sqs", self.ledger.on_sqs)
        c.sqs.meta.events.register("after-call.sqs", self.ledger.after_sqs)
        bootstrap.set_container(c)
        return c

    def fresh_table(self) -> None:
        dynamodb = boto3.client("dynamodb")
        table = get_settings().table_name
        if table in dynamodb.list_tables()["TableNames"]:
            dynamodb.delete_table(TableName=table)
        create_table(dynamodb, table)
        self.ledger.shadow.clear()
        for url in self.urls.values():
            self.sqs.purge_queue(QueueUrl=url)

    def setup_tenant(self) -> None:
        c = self.new_container()
        with self.ledger.charge("setup"):
            issued = c.tenants.create_tenant(name="bench")
            self.api_key, self.tenant_id = issued.api_key, issued.tenant_id
            auth = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
            for path, body in (
                ("/v1/integrations/wecom", WECOM_SETTINGS),
                ("/v1/integrations/shop/generic", {"secret": SHOP_SECRET}),
            ):
                resp = self.client.http.put(path, headers=auth, body=json.dumps(body).encode())
                assert resp.status_code == 200, resp.body
            # /v1/events takes integration keys only
            resp = self.client.http.post(
                "/v1/integration-keys", headers=auth, body=json.dumps({"name": "bench"}).encode()
            )
            assert resp.status_code == 201, resp.body
            self.integration_key = json.loads(resp.body)["api_key"]

    def post(self, d: Delivery) -> tuple[int, float]:
        start = time.perf_counter()
        resp = self.client.http.post(d.path, headers=d.headers, body=d.body)
        ms = (time.perf_counter() - start) * 1000
        assert resp.status_code in (200, 202), resp.body
        return resp.status_code, ms

    def post_behaviour(self, events: list[dict[str, Any]]) -> None:
        headers = {"Authorization": f"Bearer {self.integration_key}", "Content-Type": "application/json"}
        self.post(Delivery("/v1/events", headers, json.dumps({"events": events}).encode()))

    def drain(self, spec: QueueSpec, out: Drain) -> None:
        """Deliver what is on the queue to the app's consumer, batch by batch, as the event source would."""
        from app import app
        from chalicelib.local.runner import EventRunner, resolve_handler

        runner = EventRunner(app, self.sqs, poll_wait=0)
        source = next(s for s in runner.sqs_sources if s.queue == spec.name)
        handler = resolve_handler(app, source)

        def timed(event: dict[str, Any], context: Any) -> Any:
            start = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                out.invocations.append((time.perf_counter() - start) * 1000)

        start = time.perf_counter()
        while runner.poll_once(source, timed, self.urls[spec.name]):
            pass
        out.wall_s += time.perf_counter() - start
        out.delivered += runner.delivered
        out.failed += runner.failed


@dataclass
class AckResult:
    kind: str
    times: list[float]
    first_ms: float
    first: Usage
    warm: Usage

    def pct(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    @property
    def billed_ms(self) -> float:
        """Mean Lambda billed duration (1 ms granularity) of the warm acks."""
        return statistics.fmean(math.ceil(t) for t in self.times)


def measure_acks(env: InProcess) -> list[AckResult]:
    env.fresh_table()
    env.setup_tenant()
    results = []
    builders = {"wecom": wecom_delivery, "shop": shop_delivery}
    for kind, build in builders.items():
        env.new_container()  # the tenant's settings are not cached yet: the first ack reads them
        times, first_ms = [], 0.0
        for i in range(N_ACK + 1):
            delivery = build(env.tenant_id, i, env.ts)  # built (encrypted, signed) outside the timing
            with env.ledger.charge(f"ack:{kind}:first" if i == 0 else f"ack:{kind}"):
                _, ms = env.post(delivery)
            if i == 0:
                first_ms = ms
            else:
                times.append(ms)
            if i % PURGE_EVERY == 0:
                env.sqs.purge_queue(QueueUrl=env.urls[INGEST_QUEUE.name])
        usage = env.ledger.usage
        results.append(AckResult(kind, times, first_ms, usage[f"ack:{kind}:first"], usage[f"ack:{kind}"]))
    return results


@dataclass
class WorkerResult:
    events: Counter[str]
    ingest: Drain
    domain: Drain
    per_type: dict[str, Usage]
    domain_usage: Usage
    max_items: int
    sizes: dict[str, list[int]]  # item sizes (bytes) by entity, at the end of each round

    @property
    def events_per_s(self) -> float:
        return sum(self.events.values()) / self.ingest.wall_s

    @property
    def handler_events_per_s(self) -> float:
        return sum(self.events.values()) / (sum(self.ingest.invocations) / 1000)

    @property
    def app_events_per_s(self) -> float:
        """Handler time minus the time inside moto's DynamoDB and SQS calls: the app's own CPU."""
        aws = sum(u.aws_ms for u in self.per_type.values())
        return sum(self.events.values()) / ((sum(self.ingest.invocations) - aws) / 1000)

    def overhead_ms_per_message(self) -> float:
        """Invocation time outside `handle` (Powertools batch processing, JSON), per message."""
        handled = sum(u.ms for u in self.per_type.values())
        messages = sum(u.messages for u in self.per_type.values())
        return max(0.0, sum(self.ingest.invocations) - handled) / max(1, messages)


def measure_worker(env: InProcess) -> WorkerResult:
    from chalicelib.workers import ingest as worker

    original = worker.handle

    def attributed(message: Any) -> None:  # charges each message's requests and time to its source
        with env.ledger.charge(f"worker:{message.source}") as usage:
            start = time.perf_counter()
            try:
                original(message)
            finally:
                usage.ms += (time.perf_counter() - start) * 1000
                usage.messages += 1

    # The batch's closing writes (idempotency markers, domain events: `IdentityResolver.batch`) belong to
    # no single message: they are shared among the batch's messages by the touches each made.
    original_batch = IdentityResolver.batch
    touches: Counter[str] = Counter()

    @contextmanager
    def shared_batch(resolver: IdentityResolver) -> Iterator[None]:
        touches.clear()
        closing = original_batch(resolver)
        closing.__enter__()
        try:
            yield
        finally:
            start = time.perf_counter()
            with env.ledger.charge("worker:batch-close") as usage:
                closing.__exit__(None, None, None)
                usage.ms += (time.perf_counter() - start) * 1000
            share_out(env.ledger, env.ledger.usage.pop("worker:batch-close"), touches)

    # The batch's shared lookup (`IdentityResolver.prefetch`: one BatchGet for every message's claims and
    # markers) is shared the same way, with the closing writes.
    # The batch's shared orders read (`OrderService.prefetch`) too.
    from chalicelib.services.orders import OrderService

    original_prefetch = IdentityResolver.prefetch
    original_orders_prefetch = OrderService.prefetch

    def charged(prefetch: Any) -> Any:
        def run(self: Any, tenant_id: str, wanted: Any) -> None:
            start = time.perf_counter()
            with env.ledger.charge("worker:batch-close") as usage:
                prefetch(self, tenant_id, wanted)
                usage.ms += (time.perf_counter() - start) * 1000

        return run

    charged_prefetch = charged(original_prefetch)

    def counted(message: Any) -> None:
        touches[message.source] += len(message.payload) if message.source == "behaviour" else 1
        attributed(message)

    worker.handle = counted
    IdentityResolver.batch = shared_batch  # type: ignore[method-assign,assignment]
    IdentityResolver.prefetch = charged_prefetch  # type: ignore[method-assign]
    OrderService.prefetch = charged(original_orders_prefetch)  # type: ignore[method-assign]
    events: Counter[str] = Counter()
    ingest, domain, max_items, offset = Drain(), Drain(), 0, 0
    sizes: defaultdict[str, list[int]] = defaultdict(list)
    try:
        for _ in range(ROUNDS):
            env.fresh_table()
            env.setup_tenant()
            with env.ledger.charge("enqueue"):
                enqueue_round(env, offset)
            for kind, n in MIX.items():
                events[kind] += n
            offset += max(MIX.values())
            env.drain(INGEST_QUEUE, ingest)
            with env.ledger.charge("worker:domain-events"):
                env.drain(EVENTS_QUEUE, domain)
            max_items = max(max_items, len(env.ledger.shadow))
            for (_, sk), (size, _) in env.ledger.shadow.items():
                entity = ENTITIES.get(sk.split("#")[0] or "#" + sk.split("#")[1])
                if entity:
                    sizes[entity].append(size)
    finally:
        worker.handle = original
        IdentityResolver.batch = original_batch  # type: ignore[method-assign]
        IdentityResolver.prefetch = original_prefetch  # type: ignore[method-assign]
        OrderService.prefetch = original_orders_prefetch  # type: ignore[method-assign]
    usage = env.ledger.usage
    per_type = {kind: _sum(usage[f"worker:{b}"] for b in buckets) for kind, buckets in WORKER_BUCKETS.items()}
    return WorkerResult(events, ingest, domain, per_type, usage["worker:domain-events"], max_items, sizes)


def enqueue_round(env: InProcess, offset: int) -> None:
    for i in range(offset, offset + MIX["wecom"]):
        contact = {"name": f"张三{i}", "unionid": f"oUnionBench{i:08d}", "gender": 1, "type": 1}
        env.wecom_api.contacts[external_id(i)] = contact
        env.post(wecom_delivery(env.tenant_id, i, env.ts))
    for i in range(offset, offset + MIX["shop"]):
        env.post(shop_delivery(env.tenant_id, i, env.ts))
    for start in range(offset, offset + MIX["behaviour"], BEHAVIOUR_PER_REQUEST):
        count = min(BEHAVIOUR_PER_REQUEST, offset + MIX["behaviour"] - start)
        env.post_behaviour(behaviour_events(start, count, env.ts, per_visitor=2))


def share_out(ledger: Ledger, usage: Usage, weights: Counter[str]) -> None:
    """Add `usage` to the worker buckets of `weights`' sources in proportion (messages are not counted)."""
    total = sum(weights.values())
    for source, weight in weights.items():
        f = weight / total
        part = Usage(
            calls=Counter({k: v * f for k, v in usage.calls.items()}),  # type: ignore[misc]
            sqs=Counter({k: v * f for k, v in usage.sqs.items()}),  # type: ignore[misc]
            sent=Counter({k: v * f for k, v in usage.sent.items()}),  # type: ignore[misc]
        )
        for name in ("wru_table", "wru_gsi", "rru", "items_written", "ms", "aws_ms", "sqs_ms"):
            setattr(part, name, getattr(usage, name) * f)
        bucket = f"worker:{source}"
        ledger.usage[bucket] = ledger.usage[bucket].add(part)


def _sum(usages: Any) -> Usage:
    total = Usage()
    for u in usages:
        total = total.add(u)
    return total


# -- the real local stack -------------------------------------------------------------------------------
@dataclass
class LocalResult:
    events: int
    customers: int
    post_s: float
    done_s: float
    ack_ms: list[float]
    backlog: int  # ingest messages waiting when the last POST returned
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per stack process over the run
    all_rates: list[float] = field(default_factory=list)  # events/s of every run, this one the median

    def cpu_text(self) -> str:
        return ", ".join(f"{name} {secs:.1f} s" for name, secs in self.cpu.items()) or "not measured"

    @property
    def events_per_s(self) -> float:
        return self.events / self.done_s


WORKERS = 2  # SCRM_LOCAL_WORKERS for the run


def _stack_cpu(root: int) -> dict[str, float]:
    """CPU seconds (user + system) of the stack process and its children, by role (Linux /proc)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid != root and ppid != root:
            continue
        role = "moto + stack" if pid == root else " ".join(c.decode() for c in cmd[3:] if c)
        out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def measure_local_stack(runs: int = 1) -> LocalResult:
    """The median run of `runs`, each on a fresh stack; it carries every run's rate."""
    results = []
    for _ in range(max(1, runs)):
        with running("scrm-bench-", workers=WORKERS) as stack:
            results.append(_drive_local_stack(stack))
    results.sort(key=lambda r: r.events_per_s)
    median = results[len(results) // 2]
    median.all_rates = [r.events_per_s for r in results]
    return median


def _drive_local_stack(stack: Stack) -> LocalResult:
    key = stack.demo()["SCRM_API_KEY"]
    tenant_id = key.split(".")[1]
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        for path, body in (
            ("/v1/integrations/wecom", WECOM_SETTINGS),
            ("/v1/integrations/shop/generic", {"secret": SHOP_SECRET}),
        ):
            http.put(path, headers=auth, json=body).raise_for_status()
        made = http.post("/v1/integration-keys", headers=auth, json={"name": "bench"}).raise_for_status()
        ingest = {"Authorization": f"Bearer {made.json()['api_key']}"}  # /v1/events takes no staff key
        baseline = _count_customers(http, auth)
        cpu_before = _stack_cpu(stack.process.pid) if stack.process else {}
        third = N_LOCAL // 3
        ack_ms: list[float] = []
        # Built (signed, encrypted) before the clock starts: WeCom and the shops do that on their machines,
        # and this client shares the stack's two cores.
        now = int(time.time())
        sends: list[Delivery | list[dict[str, Any]]] = []
        for i in range(third):  # interleaved, as they would arrive; each event makes one new customer
            sends += [wecom_delivery(tenant_id, i, now), shop_delivery(tenant_id, i, now)]
            if (i + 1) % BEHAVIOUR_PER_REQUEST == 0 or i == third - 1:
                first = (i // BEHAVIOUR_PER_REQUEST) * BEHAVIOUR_PER_REQUEST
                sends.append(behaviour_events(first, i + 1 - first, now, per_visitor=1))
        start = time.perf_counter()
        for send in sends:
            if isinstance(send, list):
                http.post("/v1/events", headers=ingest, json={"events": send}).raise_for_status()
                continue
            t0 = time.perf_counter()
            http.post(send.path, headers=send.headers, content=send.body).raise_for_status()
            ack_ms.append((time.perf_counter() - t0) * 1000)
        posted = time.perf_counter() - start
        backlog = _ingest_depth(stack)[0]
        found, deadline = 0, time.monotonic() + 180
        while time.monotonic() < deadline:
            if _ingest_settled(stack, failing=third):
                found = _count_customers(http, auth) - baseline  # confirm (the queue may be mid-batch)
                if found >= 3 * third:
                    break
            time.sleep(0.1)
        done = time.perf_counter() - start
        cpu_after = _stack_cpu(stack.process.pid) if stack.process else {}
    if found < 3 * third:
        raise RuntimeError(f"local stack: {found} of {3 * third} customers after {done:.0f} s")
    cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_after.items()}
    return LocalResult(3 * third, found, posted, done, ack_ms, backlog, cpu)


def _ingest_settled(stack: Stack, *, failing: int) -> bool:
    """The ingest queue holds nothing visible and no more in flight than the detail fetches that failed
    (WeCom is unreachable locally): asked of the moto server directly, so polling does not load the API."""
    visible, in_flight = _ingest_depth(stack)
    return visible == 0 and in_flight <= failing


def _ingest_depth(stack: Stack) -> tuple[int, int]:
    sqs, url = _ingest_queue(stack.aws_port)
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attrs[names[0]]), int(attrs[names[1]])


@functools.cache
def _ingest_queue(aws_port: int) -> tuple[Any, str]:
    """One client for the whole run: the drain loop asks every 0.1 s, and creating a boto3 client costs
    ~50 ms of CPU, taken from the two cores the stack under test runs on."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=f"http://127.0.0.1:{aws_port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return sqs, sqs.get_queue_url(QueueName=INGEST_QUEUE.name)["QueueUrl"]


def _count_customers(http: httpx.Client, auth: dict[str, str]) -> int:
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = http.get("/v1/customers", headers=auth, params=params).raise_for_status().json()
        total += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


# -- cost -----------------------------------------------------------------------------------------------
def memory_gb() -> tuple[float, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    mb = int(config["stages"]["prod"].get("lambda_memory_size", config.get("lambda_memory_size", 128)))
    return mb / 1024, f"{mb} MB (stage prod, `.chalice/config.json`; every function)"


@dataclass
class CostLine:
    label: str
    formula: str
    usd: float


def cost_lines(kind: str, ack: AckResult, w: WorkerResult, gb: float) -> list[CostLine]:
    """Dollars per 1M events of one kind, line by line."""
    n = w.events[kind]
    u = w.per_type[kind]
    messages = u.messages / n  # ingest messages per event (WeCom: the callback and its detail fetch)
    domain = u.sent[EVENTS_QUEUE.name] / n  # domain events published per event
    worker_ms = (u.ms + w.overhead_ms_per_message() * u.messages) / n
    domain_ms = sum(w.domain.invocations) / max(1, w.domain.delivered) * domain
    worker_sqs = sum(u.sqs.values()) / n + 2 * (messages + domain) / LAMBDA_BATCH
    invocations = (messages + domain) / LAMBDA_BATCH
    ack_sqs = sum(ack.warm.sqs.values()) / len(ack.times)
    p = PRICES
    gbs_m = p["lambda_gb_s"] * 1e6
    return [
        CostLine("API Gateway (HTTP API)", f"1 request × ${p['apigw_http']:.2f}", p["apigw_http"]),
        CostLine("Lambda, ack: requests", f"1 × ${p['lambda_request']:.2f}", p["lambda_request"]),
        CostLine(
            "Lambda, ack: duration",
            f"{gb:g} GB × {ack.billed_ms:.2f} ms × ${gbs_m:.4f}/M GB-s",
            gb * ack.billed_ms / 1000 * gbs_m,
        ),
        CostLine("SQS, ack", f"{ack_sqs:g} SendMessageBatch × ${p['sqs']:.2f}", ack_sqs * p["sqs"]),
        CostLine(
            "Lambda, workers: requests",
            f"({messages:g} ingest + {domain:g} domain messages) / {LAMBDA_BATCH} "
            f"× ${p['lambda_request']:.2f}",
            invocations * p["lambda_request"],
        ),
        CostLine(
            "Lambda, workers: duration",
            f"{gb:g} GB × ({worker_ms:.2f} + {domain_ms:.2f}) ms × ${gbs_m:.4f}/M GB-s",
            gb * (worker_ms + domain_ms) / 1000 * gbs_m,
        ),
        CostLine(
            "SQS, workers",
            f"({sum(u.sqs.values()) / n:g} sends + 2 × {messages + domain:g} messages / {LAMBDA_BATCH} "
            f"receive+delete) × ${p['sqs']:.2f}",
            worker_sqs * p["sqs"],
        ),
        CostLine("DynamoDB writes", f"{u.wru / n:.2f} WRU × ${p['wru']:.3f}", u.wru / n * p["wru"]),
        CostLine("DynamoDB reads", f"{u.rru / n:.2f} RRU × ${p['rru']:.3f}", u.rru / n * p["rru"]),
        CostLine("Step Functions", "no raw event starts an execution", 0.0),
    ]


# -- report ---------------------------------------------------------------------------------------------
def _ops(calls: Counter[str], n: float) -> str:
    return ", ".join(f"{k} ×{v / n:.3g}" for k, v in sorted(calls.items())) or "—"


def _ok(ok: bool) -> str:
    return "✅" if ok else "❌"


def ack_section(acks: list[AckResult]) -> str:
    rows = [
        "| webhook | n | p50 ms | p99 ms | first call ms | DynamoDB before the ack: first call | "
        "warm, per ack | SQS before the ack: first call | warm, per ack |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in acks:
        n = len(a.times)
        rows.append(
            f"| {TYPES[a.kind].split(' (')[0]} | {n} | {statistics.median(a.times):.2f} | "
            f"**{a.pct(0.99):.2f}** | {a.first_ms:.2f} | {_ops(a.first.calls, 1)} "
            f"({a.first.rru:g} RRU) | **{a.warm.requests / n:g}** | {_ops(a.first.sqs, 1)} | "
            f"**{_ops(a.warm.sqs, n)}** |"
        )
    p99_ok = all(a.pct(0.99) < 50 for a in acks)
    ddb_ok = all(a.warm.requests == 0 for a in acks)
    sqs_ok = all(a.warm.sqs == Counter({"SendMessageBatch": len(a.times)}) for a in acks)
    first_ok = all(a.first.calls == Counter({"GetItem": 1}) for a in acks)
    return "\n".join(rows) + (
        f"\n\nTargets: p99 < 50 ms {_ok(p99_ok)}; no DynamoDB request on a warm ack {_ok(ddb_ok)} and only "
        f"the tenant's settings (one GetItem) on the first {_ok(first_ok)}; exactly one SendMessageBatch per "
        f"ack {_ok(sqs_ok)}."
    )


def worker_section(w: WorkerResult, local: LocalResult | None) -> str:
    total = sum(w.events.values())
    rows = [
        "| event type | events | ingest messages/event | handler ms/event | of which in moto's calls | "
        "DynamoDB requests/event | by operation | SQS requests/event (the app's) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, u in w.per_type.items():
        n = w.events[kind]
        rows.append(
            f"| {TYPES[kind]} | {n} | {u.messages / n:.3g} | {u.ms / n:.2f} | {u.aws_ms / n:.2f} | "
            f"**{u.requests / n:.3g}** | {_ops(u.calls, n)} | {_ops(u.sqs, n)} |"
        )
    every = _sum(w.per_type.values())
    ddb_ms = (every.aws_ms - every.sqs_ms) / max(1, every.requests)
    sqs_ms = every.sqs_ms / max(1, sum(every.sqs.values()))
    mix = ", ".join(f"{v} {k}" for k, v in w.events.items())
    text = (
        f"In-process: **{w.events_per_s:.0f} events/s** (target ≥ 100/s {_ok(w.events_per_s >= 100)}): "
        f"{total} events ({mix}) in {ROUNDS} rounds of {sum(MIX.values())} on a fresh table (at most "
        f"{w.max_items} items), delivered in batches of {LAMBDA_BATCH} through the app's SQS handler in "
        f"{w.ingest.wall_s:.2f} s, moto's receive/delete included ({w.ingest.delivered} messages, "
        f"{w.ingest.failed} failed; {w.handler_events_per_s:.0f} events/s counting handler time only). "
        f"{every.aws_ms / every.ms:.0%} of the handler time is spent inside moto's in-process calls "
        f"({ddb_ms:.1f} ms per DynamoDB request, {sqs_ms:.1f} ms per SQS request); without it the app's own "
        f"CPU handles **{w.app_events_per_s:.0f} events/s** per worker. On AWS the rate is the number of "
        f"concurrent batches times the per-batch rate (the SQS event source scales out up to the function's "
        f"reserved concurrency). The domain events the worker publishes ({w.domain.delivered}) were then "
        f"drained in {w.domain.wall_s:.2f} s ({w.domain_usage.requests} DynamoDB requests: nothing consumes "
        "customer events yet).\n\n" + "\n".join(rows)
    )
    if local is not None:
        p50 = statistics.median(local.ack_ms)
        p99 = sorted(local.ack_ms)[min(len(local.ack_ms) - 1, int(len(local.ack_ms) * 0.99))]
        text += (
            f"\n\nLocal stack (`python -m chalicelib.local`, HTTP, moto server): **{local.events_per_s:.0f} "
            f"events/s** (target ≥ 100/s {_ok(local.events_per_s >= 100)}), the median of "
            f"{len(local.all_rates)} runs on fresh stacks ({', '.join(f'{r:.0f}' for r in local.all_rates)} "
            f"events/s; one run swings by about a fifth on this shared 2-core machine). The median run: "
            f"{local.events} events (a third "
            f"each, every one a new customer) posted one by one in {local.post_s:.1f} s while the runner "
            f"worked ({local.events / local.post_s:.0f}/s offered, one at a time from one client), "
            f"{WORKERS} worker processes, all {local.customers} "
            "customers present "
            f"{local.done_s:.1f} s after the first POST; {local.backlog} ingest messages were still waiting "
            f"when the posting ended and took {local.done_s - local.post_s:.1f} s more. "
            f"Webhook acks over HTTP: p50 {p50:.1f} ms, p99 {p99:.1f} ms. CPU seconds per process over the "
            f"run: {local.cpu_text()} — {sum(local.cpu.values()):.1f} CPU s in {local.done_s:.1f} s of wall "
            f"time, {sum(local.cpu.values()) * 1000 / max(1, local.events):.0f} ms per event on a "
            f"{os.cpu_count()}-core machine that also runs this benchmark's own client: the stack is bound "
            "by the machine's CPU (more worker processes only contend for it), not by one process. On AWS "
            "the calls are served apart and the rate is set by the number of concurrent worker invocations. "
            "WeCom's API is not "
            "reachable locally, so the detail fetches fail at once and wait for retry (as in a WeCom "
            "outage); the contacts exist from the callback alone."
        )
    return text


def capacity_section(w: WorkerResult) -> str:
    rows = [
        "| event type | items written/event | WRU table (transactions 2×) | WRU GSI | **WRU total** | RRU |",
        "|---|---|---|---|---|---|",
    ]
    for kind, u in w.per_type.items():
        n = w.events[kind]
        rows.append(
            f"| {TYPES[kind]} | {u.items_written / n:.3g} | {u.wru_table / n:.2f} | {u.wru_gsi / n:.2f} | "
            f"**{u.wru / n:.2f}** | {u.rru / n:.2f} |"
        )
    failed = sum(u.failed for u in w.per_type.values())
    sizes = "; ".join(
        f"{name} {statistics.median(v):.0f} B (max {max(v)})" for name, v in w.sizes.items() if v
    )
    return "\n".join(rows) + (
        f"\n\nItem sizes written (median, max): {sizes}. Every item under 1 KB costs 1 WRU (2 in a "
        f"transaction); a profile crossing 1 KB (more orders, counters, attributes) doubles its share. "
        f"Failed DynamoDB requests (retried, not charged above): {failed}."
    )


def cost_section(acks: list[AckResult], w: WorkerResult) -> tuple[str, dict[str, float]]:
    gb, memory = memory_gb()
    by_kind = {a.kind: cost_lines(a.kind, a, w, gb) for a in acks}
    kinds = list(by_kind)
    rows = [
        "| per 1M events | " + " | ".join(TYPES[k].split(" (")[0] for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for i, line in enumerate(by_kind[kinds[0]]):
        cells = [f"{by_kind[k][i].formula} = ${by_kind[k][i].usd:.3f}" for k in kinds]
        rows.append(f"| {line.label} | " + " | ".join(cells) + " |")
    totals = {k: sum(c.usd for c in lines) for k, lines in by_kind.items()}
    rows.append(
        "| **total** | " + " | ".join(f"**${totals[k]:.2f}** {_ok(totals[k] <= 8)}" for k in kinds) + " |"
    )
    old = {
        k: totals[k]
        + w.per_type[k].wru / w.events[k] * (OLD_DYNAMODB["wru"] - PRICES["wru"])
        + w.per_type[k].rru / w.events[k] * (OLD_DYNAMODB["rru"] - PRICES["rru"])
        for k in kinds
    }
    rest = PRICES["apigw_rest"] - PRICES["apigw_http"]
    rows.append(
        "| total if a sender still posts to the REST API's /webhooks routes ($3.50/M) | "
        + " | ".join(f"${totals[k] + rest:.2f}" for k in kinds)
        + " |"
    )
    rows.append(
        "| total at the pre-2024-11 DynamoDB price ($1.25 / $0.25) | "
        + " | ".join(f"${old[k]:.2f}" for k in kinds)
        + " |"
    )
    prices = (
        "| price (us-east-1, list) | USD |\n|---|---|\n"
        f"| API Gateway HTTP API, per 1M requests | {PRICES['apigw_http']:.2f} |\n"
        f"| API Gateway REST API, per 1M requests | {PRICES['apigw_rest']:.2f} |\n"
        f"| Lambda, per 1M requests | {PRICES['lambda_request']:.2f} |\n"
        f"| Lambda, per GB-s (x86_64) | {PRICES['lambda_gb_s']} |\n"
        f"| SQS standard, per 1M requests | {PRICES['sqs']:.2f} |\n"
        f"| DynamoDB on-demand, per 1M WRU (since 2024-11-01; was 1.25) | {PRICES['wru']:.3f} |\n"
        f"| DynamoDB on-demand, per 1M RRU (since 2024-11-01; was 0.25) | {PRICES['rru']:.3f} |\n"
        "| Step Functions | not used per event |"
    )
    text = (
        f"Lambda memory: {memory}. Durations are the in-process handler times above (warm acks, billed in "
        f"1 ms steps; worker time per event including its share of batch overhead, plus the domain-event "
        f"consumer), a proxy: on AWS the ack also waits one SQS round trip (each extra 10 ms at {gb:g} GB "
        f"adds ${gb * 0.01 * PRICES['lambda_gb_s'] * 1e6:.2f} per 1M). Batches assumed full "
        f"({LAMBDA_BATCH} messages) as under load.\n\n{prices}\n\n" + "\n".join(rows)
    )
    shares = ", ".join(
        f"{by_kind[k][-3].usd / totals[k]:.0%} for {TYPES[k].split(' (')[0]}" for k in kinds
    )  # the DynamoDB writes line
    text += f"\n\nTarget ≤ $8 per 1M webhook events. DynamoDB writes are {shares} of the total."
    return text, totals


def render(acks: list[AckResult], w: WorkerResult, local: LocalResult | None) -> str:
    from importlib.metadata import version

    cost, _ = cost_section(acks, w)
    return (
        f"{START}\nMeasured by `make bench` on {time.strftime('%Y-%m-%d')} (`bench/webhooks.py`; in-process "
        f"on moto {version('moto')} unless noted; {N_ACK} deliveries per webhook, {sum(w.events.values())} "
        f"worker events, {local.events if local else 0} on the local stack). moto's timings grow with table "
        "size (its Query walks the table and each transaction copies it): read them as relative costs; the "
        "request counts and the computed capacity units carry over to AWS.\n\n"
        f"**Ack** (chalice.test.Client → the app; ingest queue purged every {PURGE_EVERY} deliveries)\n\n"
        f"{ack_section(acks)}\n\n**Worker throughput**\n\n{worker_section(w, local)}\n\n"
        f"**DynamoDB capacity per event**, computed from the items (the worker's; a warm ack makes no "
        "DynamoDB request)\n\n"
        f"{capacity_section(w)}\n\n**Cost per 1M events**, us-east-1 list prices\n\n{cost}\n{END}"
    )


INTRO = """
## Webhooks

`make bench` also runs [`bench/webhooks.py`](../bench/webhooks.py) and rewrites the block below: what a
webhook event costs from the ack to the customer data pool.

- **Ack**: a WeCom `add_external_contact` callback (encrypted, signed) and a generic-shop `order.paid`
  webhook through `chalice.test.Client`, 1,000 deliveries each. The tenant's settings are cached in-process
  for 60 s, so the first call reads them (one GetItem) and warm acks must read nothing; every ack sends
  exactly one SendMessageBatch to the ingest queue. SQS requests are counted by botocore event hooks on
  the container's client; queue URLs are injected as infra/ does on AWS (no GetQueueUrl).
- **Worker**: WeCom add-contacts (distinct ExternalUserIDs; the WeCom API is faked in-process, so each
  contact's detail fetch runs too), shop orders (distinct buyers) and behaviour events (`POST /v1/events`,
  25 per request, two per visitor) are enqueued through the routes, then delivered in batches of 10 through
  the app's SQS handler as the Lambda event source does. Requests and time are charged to each message's
  source. The local-stack run posts over HTTP, waits for the ingest queue to settle (asked of the moto
  server) and confirms that every customer exists.
- **Capacity units** are computed from the items each request writes and reads, not taken from moto:
  1 WRU per started KB of each item written (a replacement bills the larger of old and new), 2× inside
  TransactWriteItems; each GSI the item is in adds its projected size (both GSIs project ALL; a changed index
  key is a delete plus a put), assumed billed at the standard rate; reads 0.5 RRU per started 4 KB
  (eventually consistent; 1 strongly consistent, 2 transactional), a Query rounding its total, a missing
  key costing the minimum.
- **Cost** per 1M events at us-east-1 list prices, line by line, with API Gateway at the HTTP API price:
  infra/ serves the webhook routes through an HTTP API of their own (`WebhookHttpApi`, output
  `WebhookEndpointURL`); the /v1 API stays a REST API (a row shows the total for a sender still posting to
  the REST API's copy of the routes). No raw event starts a Step Functions execution. Not included:
  CloudWatch Logs, data transfer, free tiers.
"""


def write_doc(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n" + INTRO + "\n" + block + "\n"
    DOC.write_text(text)


def run_in_process() -> tuple[list[AckResult], WorkerResult]:
    from app import app
    from chalicelib.local import moto_patches

    moto_patches.install()  # as the tests and the local stack do: moto's own hot spots, not ours

    ledger = Ledger()
    os.environ[PURGE_SETTING] = "false"  # purging is how moto's queues stay short between rounds
    try:
        with mock_aws(), ledger.installed(), Client(app) as client:
            env = InProcess(ledger, client)
            acks = measure_acks(env)
            worker = measure_worker(env)
            bootstrap.set_container(None)
    finally:
        os.environ.pop(PURGE_SETTING, None)
    return acks, worker


def main() -> None:
    started = time.perf_counter()
    acks, worker = run_in_process()
    local = measure_local_stack(LOCAL_RUNS) if N_LOCAL > 0 else None
    block = render(acks, worker, local)
    print(block)
    write_doc(block)
    print(f"\n(bench/webhooks.py took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
