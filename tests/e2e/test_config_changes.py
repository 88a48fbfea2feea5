"""Issue 13, acceptance 1, on the real local stack (an API process and two worker processes, each with its own
caches): a split rule published applies to every order paid after the API answered; a template's new required
skill applies to the very next ticket's assignment."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from chalicelib.integrations.shops.generic import sign
from tests.e2e.conftest import Stack, bearer
from tests.e2e.test_ticket_scenario import ALL_DAY, wait_for

SECRET = "e2e-config-secret"
SHOP = "CFG-1"


def _paid_order(http: httpx.Client, tenant_id: str, n: int, paid_at: datetime) -> None:
    body = json.dumps(
        {
            "event_id": f"cfg-{n}",
            "type": "order.paid",
            "order": {
                "order_id": f"CFG-{n}",
                "shop_id": SHOP,
                "buyer": {"phone": f"1371234{n:04d}"},
                "items": [{"sku": "SKU", "name": "滤芯", "quantity": 1, "unit_price": "100.00"}],
                "total_amount": "100.00",
                "currency": "CNY",
                "created_at": paid_at.isoformat(),
                "paid_at": paid_at.isoformat(),
            },
        }
    ).encode()
    ts = int(time.time())
    headers = {"X-SCRM-Timestamp": str(ts), "X-SCRM-Signature": sign(SECRET, ts, body)}
    resp = http.post(f"/webhooks/shop/generic/{tenant_id}", content=body, headers=headers)
    assert resp.status_code == 200, resp.text


def _split(store: str, platform: str, effective_from: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "order-split",
        "kind": "split",
        "shares": [{"role": "store", "percent": store}, {"role": "platform", "percent": platform}],
    }
    if effective_from:
        rule["effective_from"] = effective_from
    return {"applies_to": "order", "rule": rule}


def test_a_split_rule_applies_to_every_order_paid_after_it_was_acknowledged(stack: Stack) -> None:
    tenant = json.loads(stack.cli("tenant", "create", "--name", "配置即时生效").stdout)
    admin, tid = bearer(tenant["api_key"]), tenant["tenant_id"]
    http = httpx.Client(base_url=stack.url, timeout=30)
    assert (
        http.put("/v1/integrations/shop/generic", headers=admin, json={"secret": SECRET}).status_code == 200
    )
    start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert http.post("/v1/settlement-rules", headers=admin, json=_split("90", "10", start)).status_code == 201
    period = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")  # periods are China time
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    for n in range(6):  # both workers settle some under version 1 and cache it
        _paid_order(http, tid, n, earlier)

    def store_statement() -> dict[str, Any]:
        resp = http.get(f"/v1/settlements/statements?party=store:{SHOP}&period={period}", headers=admin)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    wait_for("version 1's splits", lambda: store_statement()["closing_balance"] == "540.00")

    # WHEN version 2 (70/30 from now) is acknowledged and 50 orders are paid right after
    resp = http.post("/v1/settlement-rules", headers=admin, json=_split("70", "30"))
    assert resp.status_code == 201, resp.text
    after = datetime.fromisoformat(resp.json()["rule"]["effective_from"]) + timedelta(milliseconds=1)
    for n in range(100, 150):
        _paid_order(http, tid, n, after)

    # THEN every one of them is split by version 2, and nothing waits unsettled
    expected = Decimal("540.00") + 50 * Decimal("70.00")
    wait_for(
        "version 2's splits",
        lambda: Decimal(store_statement()["closing_balance"]) == expected,
        timeout=120,
    )
    rec = http.get(f"/v1/settlements/reconciliation?period={period}", headers=admin).json()
    assert rec["unsettled"] == [] and rec["balanced"] is True
    assert rec["settled"] == f"{Decimal('600.00') + 50 * Decimal('100.00'):.2f}"


def test_a_templates_new_required_skill_applies_to_the_next_assignment(stack: Stack) -> None:
    tenant = json.loads(stack.cli("tenant", "create", "--name", "模板即时生效").stdout)
    admin = bearer(tenant["api_key"])
    http = httpx.Client(base_url=stack.url, timeout=30)
    engineers: dict[str, str] = {}
    for skill in ("appliance_repair", "refrigeration"):
        resp = http.post("/v1/users", headers=admin, json={"name": skill, "role": "engineer", "scope": "all"})
        assert resp.status_code == 201, resp.text
        engineers[skill] = resp.json()["id"]
        profile = {"skills": {skill: 4}, "capacity": 5, "shifts": {str(d): ALL_DAY for d in range(7)}}
        assert http.put(f"/v1/staff/{engineers[skill]}", headers=admin, json=profile).status_code == 200
    resp = http.post("/v1/customers", headers=admin, json={"name": "李雷", "phone": "13700001111"})
    assert resp.status_code == 201, resp.text
    customer = resp.json()["id"]

    def open_ticket() -> str:
        body = {"template_id": "repair", "customer_id": customer, "fields": {"fault_description": "不制冷"}}
        resp = http.post("/v1/tickets", headers=admin, json=body)
        assert resp.status_code == 201, resp.text
        ticket_id = str(resp.json()["ticket"]["id"])
        # 受理: entering the repair workflow's dispatch step asks the engine for an engineer
        resp = http.post(f"/v1/tickets/{ticket_id}/transitions", headers=admin, json={"action": "accept"})
        assert resp.status_code == 200, resp.text
        return ticket_id

    def assignee(ticket_id: str) -> str | None:
        ticket = http.get(f"/v1/tickets/{ticket_id}", headers=admin).json()["ticket"]
        return (ticket.get("assignment") or {}).get("assignee_id")

    first = open_ticket()
    assert wait_for("the first assignment", lambda: assignee(first)) == engineers["appliance_repair"]

    # WHEN the repair template now requires refrigeration
    template = http.get("/v1/ticket-templates/repair", headers=admin).json()
    template["required_skills"] = [{"skill": "refrigeration", "min_level": 2}]
    resp = http.put("/v1/ticket-templates/repair", headers=admin, json=template)
    assert resp.status_code == 200, resp.text

    # THEN the next ticket goes to the refrigeration engineer
    second = open_ticket()
    assert wait_for("the second assignment", lambda: assignee(second)) == engineers["refrigeration"]
