"""A month-end settlement run on the real local stack: paid orders arrive by webhook and are split at once;
the run's state machine (plan → Map over chunks of parties → close) runs on moto and pays the month's
threshold bonus once, however often it is started."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from chalicelib.integrations.shops.generic import sign
from tests.e2e.conftest import Stack, bearer
from tests.e2e.test_ticket_scenario import wait_for

SECRET = "e2e-settlement-secret"


def _order(http: httpx.Client, tenant_id: str, n: int, shop: str, amount: str) -> None:
    body = json.dumps(
        {
            "event_id": f"ev-{shop}-{n}",
            "type": "order.paid",
            "order": {
                "order_id": f"O-{shop}-{n}",
                "shop_id": shop,
                "buyer": {"phone": f"1390000{n:04d}"},
                "items": [{"sku": "COURSE", "name": "钢琴课", "quantity": 1, "unit_price": amount}],
                "total_amount": amount,
                "currency": "CNY",
                "created_at": "2026-10-15T10:00:00+08:00",
                "paid_at": "2026-10-15T10:05:00+08:00",
            },
        }
    ).encode()
    ts = int(time.time())
    headers = {"X-SCRM-Timestamp": str(ts), "X-SCRM-Signature": sign(SECRET, ts, body)}
    resp = http.post(f"/webhooks/shop/generic/{tenant_id}", content=body, headers=headers)
    assert resp.status_code == 200, resp.text


def test_month_end_run_on_step_functions(stack: Stack) -> None:
    tenant = json.loads(stack.cli("tenant", "create", "--name", "结算验收").stdout)
    admin = bearer(tenant["api_key"])
    tid = tenant["tenant_id"]
    http = httpx.Client(base_url=stack.url, timeout=30)
    assert (
        http.put("/v1/integrations/shop/generic", headers=admin, json={"secret": SECRET}).status_code == 200
    )
    start = "2026-10-01T00:00:00+08:00"
    for rule in (
        {
            "id": "order-split",
            "kind": "split",
            "effective_from": start,
            "shares": [{"role": "store", "percent": "90"}, {"role": "platform", "percent": "10"}],
        },
        {
            "id": "course-bonus",
            "kind": "threshold_bonus",
            "name": "月课程销售满 1,000 奖励 10%",
            "beneficiary": "store",
            "threshold": "1000.00",
            "rate_percent": "10",
            "effective_from": start,
        },
    ):
        resp = http.post("/v1/settlement-rules", headers=admin, json={"applies_to": "order", "rule": rule})
        assert resp.status_code == 201, resp.text
    for n, (shop, amount) in enumerate((("BJ-1", "600.00"), ("BJ-1", "450.00"), ("SZ-2", "300.00"))):
        _order(http, tid, n, shop, amount)

    def statement(party: str) -> dict[str, Any]:
        resp = http.get(f"/v1/settlements/statements?party={party}&period=2026-10", headers=admin)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    # Real time: each paid order's split posts as it arrives (90 % to the store).
    wait_for("the orders' splits", lambda: statement("store:BJ-1")["closing_balance"] == "945.00")

    def run_closed() -> dict[str, Any] | None:
        resp = http.get("/v1/settlements/runs/2026-10", headers=admin)
        return dict(resp.json()) if resp.status_code == 200 and resp.json()["status"] == "closed" else None

    for _ in range(2):  # the second run posts nothing new
        started = http.post("/v1/settlements/runs", headers=admin, json={"period": "2026-10"})
        assert started.status_code == 202, started.text
        run = wait_for(
            "the run to close",
            lambda started=started: (r := run_closed()) and r["id"] == started.json()["id"] and r,
            timeout=90,
        )
        assert run["sources"] == 3 and run["parties"] == 1
        # BJ-1 sold 1,050.00 ≥ 1,000.00: 10 % = 105.00, once. SZ-2 (300.00) reaches nothing.
        bj = statement("store:BJ-1")
        assert [r["amount"] for r in bj["rows"] if r["source_type"] == "settlement_run"] == ["105.00"]
        assert bj["closing_balance"] == "1050.00"
    rec = http.get("/v1/settlements/reconciliation?period=2026-10", headers=admin).json()
    assert rec["balanced"] is True and rec["settled"] == "1350.00" and rec["incentives"] == "105.00"
