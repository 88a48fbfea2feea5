"""Nothing the local stack acknowledged is lost: a stream of signed shop orders while its processes are
killed (`kill -9`) and restarted, and every acknowledged order has exactly one effect.

The sender behaves like a shop: it retries an order until it gets a 2xx (a connection refused or reset
while a process is down is retried), so some orders arrive twice; the effect must still be single.

Each buyer's first order goes out before anything is killed, and is in: the stream tests the stack's
durability, not the resolver's recovery from a writer that died mid-customer (its own redelivery takes the
claim back at once, tested in tests/integration/test_touch_without_transaction.py; another touch waits for
`ORPHAN_AFTER`)."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from chalicelib.integrations.shops.generic import sign
from tests.e2e.conftest import Stack, bearer, free_port

ORDERS = 500  # per test
BUYERS = 25  # 20 orders each per test: the buyers' timelines show whether any order counted twice
SECRET = "durability-generic-secret-0123456789"
SENDERS = 4
VISIBILITY_TIMEOUT = 5  # s: how long the messages a killed worker held stay hidden (120 s as declared)


def _phone(buyer: int) -> str:
    return f"1390077{buyer:04d}"


def _order_id(i: int) -> str:
    return f"SO-DUR-{i:05d}"


def _delivery(tenant_id: str, i: int, placed: int) -> tuple[str, dict[str, str], bytes]:
    """A shop's retry sends the same event again, signed anew (the signature's timestamp is checked)."""
    ts = int(time.time())
    at = datetime.fromtimestamp(placed, tz=UTC).isoformat()
    event = {
        "event_id": f"evt-dur-{i:05d}",
        "type": "order.paid",
        "occurred_at": at,
        "order": {
            "order_id": _order_id(i),
            "shop_id": "flagship",
            "buyer": {"phone": _phone(i % BUYERS)},
            "items": [{"sku": "TEA-LJ-250", "name": "明前龙井 250g", "quantity": 1, "unit_price": "25.10"}],
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
        "X-SCRM-Signature": sign(SECRET, ts, body),
    }
    return f"/webhooks/shop/generic/{tenant_id}", headers, body


class Shop:
    """Posts the orders from a few threads, each until acknowledged; `acked` counts them."""

    def __init__(self, stack: Stack, tenant_id: str) -> None:
        self.stack, self.tenant_id = stack, tenant_id
        self.placed = int(time.time())  # when the orders were paid
        self.acked = 0
        self.retries = 0
        self._lock = threading.Lock()

    def send(self, http: httpx.Client, i: int, deadline: float) -> None:
        while True:
            path, headers, body = _delivery(self.tenant_id, i, self.placed)
            try:
                if http.post(path, headers=headers, content=body).is_success:
                    with self._lock:
                        self.acked += 1
                    return
            except httpx.TransportError:  # the API or the whole stack is down for a moment
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"order {i} was never acknowledged")
            with self._lock:
                self.retries += 1
            time.sleep(0.2)

    @contextmanager
    def streaming(self, orders: range) -> Iterator[None]:
        """The orders go out in the background while the block runs; on leaving, all are acknowledged.
        `acked` and `retries` count this stream's."""
        self.acked = self.retries = 0
        with (
            httpx.Client(base_url=self.stack.url, timeout=30) as http,
            ThreadPoolExecutor(SENDERS) as pool,
        ):
            deadline = time.monotonic() + 120  # for the whole stream, restarts included
            futures = [pool.submit(self.send, http, i, deadline) for i in orders]
            yield
            for f in futures:
                f.result()

    def wait_for(self, acked: int) -> None:
        deadline = time.monotonic() + 120
        while self.acked < acked:
            assert time.monotonic() < deadline, f"only {self.acked} orders acknowledged"
            time.sleep(0.05)


def _children(pid: int) -> dict[int, str]:
    """The stack's processes (pid → `api` / `worker …`), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and "chalicelib.local.serve" in cmd:
            found[int(entry.name)] = " ".join(cmd[cmd.index("chalicelib.local.serve") + 1 :]).strip()
    return found


def _alive(pid: int) -> bool:
    try:  # a zombie (killed, not yet reaped by whoever adopted it) is gone for this purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _prepare(stack: Stack) -> Shop:
    """The shop's secret set, and each buyer a customer (its first order in)."""
    key = stack.demo()["SCRM_API_KEY"]
    put = httpx.put(f"{stack.url}/v1/integrations/shop/generic", headers=bearer(key), json={"secret": SECRET})
    assert put.status_code == 200, put.text
    shop = Shop(stack, key.split(".")[1])
    with shop.streaming(range(BUYERS)):
        pass
    _wait_for_orders(stack, key, range(BUYERS))
    return shop


def _wait_for_orders(stack: Stack, key: str, orders: range) -> None:
    """Until every order is stored, each with one status change."""
    with httpx.Client(base_url=stack.url, headers=bearer(key), timeout=30) as http:
        missing = list(orders)
        deadline = time.monotonic() + 90  # what the workers still have to do, and redeliveries
        while missing:
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda i: http.get(f"/v1/orders/generic/{_order_id(i)}"), missing))
            for response in codes:
                assert response.status_code in (200, 404), response.text
                if response.status_code == 200:
                    assert len(response.json()["history"]) == 1, response.json()
            missing = [i for i, r in zip(missing, codes, strict=True) if r.status_code == 404]
            assert not missing or time.monotonic() < deadline, f"{len(missing)} orders never arrived"
            time.sleep(0.5 if missing else 0)


def _assert_each_order_once(stack: Stack, orders: range) -> None:
    """Every order is stored once with one status change, and each buyer's timeline shows each of its
    orders exactly once (a second effect would add a second `order.paid` there)."""
    key = stack.demo()["SCRM_API_KEY"]
    _wait_for_orders(stack, key, orders)
    with httpx.Client(base_url=stack.url, headers=bearer(key), timeout=30) as http:

        def orders_on_timeline(buyer: int) -> Counter[str]:
            found = http.get(f"/v1/customers/by-identity/phone/{quote('+86' + _phone(buyer), safe='')}")
            assert found.status_code == 200, found.text
            seen: Counter[str] = Counter()
            cursor = None
            while True:
                params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
                page = http.get(f"/v1/customers/{found.json()['id']}/timeline", params=params).json()
                seen.update(e["data"]["order_id"] for e in page["items"] if e["kind"] == "order.paid")
                cursor = page.get("next_cursor")
                if not cursor:
                    return seen

        with ThreadPoolExecutor(8) as pool:
            timelines = list(pool.map(orders_on_timeline, range(BUYERS)))
    sent = {_order_id(i) for i in orders}  # the other test's orders are on the same timelines
    for buyer, seen in enumerate(timelines):
        mine = {order_id: n for order_id, n in seen.items() if order_id in sent}
        expected = {_order_id(i): 1 for i in orders if i % BUYERS == buyer}
        assert mine == expected, (buyer, set(expected.items()) ^ set(mine.items()))


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """A stack of its own (it gets killed), with each buyer a customer; one for both tests, as starting a
    stack is most of their time."""
    settings = {"SCRM_LOCAL_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}
    stack = Stack(tmp_path_factory.mktemp("durable"), free_port(), free_port(), settings=settings)
    stack.start()
    try:
        yield _prepare(stack)
    finally:
        stack.stop()


def test_a_killed_worker_or_api_is_restarted_alone_and_no_acknowledged_order_is_lost(durable: Shop) -> None:
    shop, stack = durable, durable.stack
    assert stack.process is not None
    before = _children(stack.process.pid)
    [worker] = [pid for pid, role in before.items() if role == "worker"]  # not the schedules one
    [api] = [pid for pid, role in before.items() if role == "api"]
    orders = range(ORDERS, 2 * ORDERS)
    with shop.streaming(orders):
        shop.wait_for(ORDERS // 3)
        os.kill(worker, signal.SIGKILL)  # mid-batch, most likely: it holds messages it never deletes
        shop.wait_for(2 * ORDERS // 3)
        os.kill(api, signal.SIGKILL)
    assert shop.acked == ORDERS
    assert stack.process.poll() is None  # the stack itself kept running
    after = _children(stack.process.pid)
    assert sorted(after.values()) == sorted(before.values()) and not {worker, api} & set(after)
    log = (stack.local_dir / "stack.log").read_text()
    assert "`worker` restarted" in log and "`api` restarted" in log
    _assert_each_order_once(stack, orders)


def test_the_whole_stack_killed_or_stopped_mid_stream_keeps_every_acknowledged_order(durable: Shop) -> None:
    shop, stack = durable, durable.stack
    assert stack.process is not None
    orders = range(2 * ORDERS, 3 * ORDERS)
    with shop.streaming(orders):
        shop.wait_for(ORDERS // 3)
        # A crash of everything at once: the moto server (tables, queues) and every child.
        pids = [stack.process.pid, *_children(stack.process.pid)]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        stack.process.wait()
        _wait_until(lambda: not any(_alive(p) for p in pids), "processes linger")
        stack.start()
        shop.wait_for(2 * ORDERS // 3)
        stack.stop()  # Ctrl-C while orders are queued
        stack.start()
    assert shop.acked == ORDERS and shop.retries > 0
    _assert_each_order_once(stack, orders)
    starts = re.findall(r"(\d+) journal records replayed", (stack.local_dir / "stack.log").read_text())
    assert len(starts) == 3 and int(starts[1]) > 0  # after the crash, the journal brought it back
