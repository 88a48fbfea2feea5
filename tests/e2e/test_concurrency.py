"""The local API serves requests concurrently, as API Gateway does, and moto's conditional writes stay
atomic under it: a burst of clients is served, and races for the last units of a part have the answer
DynamoDB would give."""

from __future__ import annotations

import socket
import threading
import uuid
from collections import Counter
from typing import Any

import httpx

from tests.e2e.conftest import Stack, bearer

CLIENTS = 50


def _together(n: int, work: Any) -> list[Any]:
    """`work(i)` on n threads released at once; each thread's result or exception."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as e:  # kept for the assertion, which names it
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_fifty_concurrent_clients_are_all_served(stack: Stack, admin_key: str) -> None:
    def client(_: int) -> list[int]:
        # A connection of its own per client, opened at the same moment as the others'.
        with httpx.Client(base_url=stack.url, headers=bearer(admin_key), timeout=60) as http:
            return [http.get("/v1/me").status_code for _ in range(3)]

    results = _together(CLIENTS, client)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, f"{len(errors)} clients failed, e.g. {errors[0]!r}"
    assert all(r == [200, 200, 200] for r in results)


def test_a_slow_request_does_not_hold_up_the_others(stack: Stack, admin_key: str) -> None:
    head = (
        "POST /v1/customers HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {admin_key}\r\nContent-Length: 64\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.api_port)) as slow:
        slow.sendall(head.encode() + b'{"name": "')  # the rest of the body is still on its way
        # One request at a time, this would wait for that body (the timeout is only a failure detector).
        assert httpx.get(f"{stack.url}/health", timeout=20).status_code == 200


def test_ten_concurrent_reservations_of_the_last_three_units(stack: Stack, admin_key: str) -> None:
    sku = f"E2E-RACE-{uuid.uuid4().hex[:8].upper()}"
    with httpx.Client(base_url=stack.url, headers=bearer(admin_key), timeout=60) as http:
        part = {"sku": sku, "name": "压缩机启动电容", "unit_cost": "18.00", "price": "45.00"}
        assert http.put(f"/v1/parts/{sku}", json={**part, "version": 0}).status_code == 200
        stocked = http.post(f"/v1/parts/{sku}/stock", json={"warehouse": "SH-WH", "delta": 3})
        assert stocked.status_code == 200, stocked.text
        tickets = []
        for _ in range(10):
            created = http.post(
                "/v1/tickets", json={"template_id": "repair", "fields": {"fault_description": "不制冷"}}
            )
            assert created.status_code == 201, created.text
            tickets.append(created.json()["ticket"]["id"])

    def reserve(i: int) -> int:
        with httpx.Client(base_url=stack.url, headers=bearer(admin_key), timeout=60) as http:
            body = {"parts": [{"sku": sku, "quantity": 1}]}
            return http.post(f"/v1/tickets/{tickets[i]}/parts", json=body).status_code

    results = _together(len(tickets), reserve)
    assert Counter(results) == Counter({200: 3, 409: 7})
    with httpx.Client(base_url=stack.url, headers=bearer(admin_key), timeout=60) as http:
        view = http.get(f"/v1/parts/{sku}").json()
    assert (view["stock"][0]["on_hand"], view["stock"][0]["reserved"], view["available"]) == (3, 3, 0)
