"""A completed repair ticket is billed (region price, rush, VIP, warranty), its parts consumed, its bill split
among store / engineer / platform in the ledger; statements, CSV, scopes, reconciliation; an order's split
reversed by its refund. Redeliveries post nothing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalicelib import bootstrap
from chalicelib.domain.ledger import SourceType
from chalicelib.domain.orders import Order, OrderStatus
from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys, drain

SPLIT = {
    "id": "ticket-split",
    "kind": "split",
    "name": "维修工单分成",
    "effective_from": "2026-11-01T00:00:00+08:00",
    "shares": [
        {"role": "store", "percent": "35"},
        {"role": "engineer", "percent": "45"},
        {"role": "platform", "percent": "20"},
    ],
}


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.body
    return resp.data


def _setup(api: Api, tenant: TenantKeys) -> str:
    for body in (
        {"item": "repair", "city": "上海", "price": "188.00"},
        {"item": "repair", "city": "成都", "price": "158.00"},
        {"item": "FAN-MOTOR", "city": "上海", "price": "285.50"},
    ):
        _ok(api.call("POST", "/v1/price-rules", tenant, body, role="finance"), 201)
    for body in (
        {
            "kind": "rush",
            "modifier_id": "rush",
            "name": "加急 +20%",
            "percent": "20",
            "requires_rush": True,
            "items": ["repair"],
        },
        {
            "kind": "member",
            "modifier_id": "vip",
            "name": "VIP 95 折",
            "percent": "5",
            "customer_types": ["VIP"],
        },
    ):
        _ok(api.call("POST", "/v1/price-modifiers", tenant, body, role="finance"), 201)
    for sku, name, price, months in (
        ("CAP-35UF", "启动电容", "45.00", 36),
        ("FAN-MOTOR", "风机电机", "268.30", 18),
    ):
        part = {"sku": sku, "name": name, "unit_cost": "10.00", "price": price, "warranty_months": months}
        _ok(api.call("PUT", f"/v1/parts/{sku}", tenant, part))
        _ok(api.call("POST", f"/v1/parts/{sku}/stock", tenant, {"warehouse": "SH-WH", "delta": 5}))
    _ok(
        api.call(
            "POST", "/v1/settlement-rules", tenant, {"applies_to": "ticket", "rule": SPLIT}, role="finance"
        ),
        201,
    )
    group = _ok(api.call("POST", "/v1/tag-groups", tenant, {"name": "会员等级", "tags": ["VIP"]}), 201)
    vip = group["tags"][0]["id"]
    eng = tenant.user_ids["engineer"]
    staff = {"region": "华东", "skills": {"appliance_repair": 3}, "shifts": {"0": [["00:00", "23:59"]]}}
    _ok(api.call("PUT", f"/v1/staff/{eng}", tenant, staff))
    body = {"name": "王芳", "phone": "13900000002", "region": "华东", "store": "SH-001", "tags": [vip]}
    return str(_ok(api.call("POST", "/v1/customers", tenant, body), 201)["id"])


def _complete_ticket(
    api: Api, tenant: TenantKeys, cid: str, city: str = "上海", province: str = "上海"
) -> str:
    body = {
        "template_id": "repair",
        "customer_id": cid,
        "priority": "urgent",
        "fields": {
            "fault_description": "空调不制冷",
            "province": province,
            "city": city,
            "purchase_date": "2024-05-20",
            "warranty": "保内",  # the agent's 保修状态: checked against the purchase date on the bill
        },
    }
    tid = str(_ok(api.call("POST", "/v1/tickets", tenant, body, role="agent_all"), 201)["ticket"]["id"])
    parts = {"parts": [{"sku": "CAP-35UF"}, {"sku": "FAN-MOTOR"}]}
    _ok(api.call("POST", f"/v1/tickets/{tid}/parts", tenant, parts, role="agent_all"))
    eng = tenant.user_ids["engineer"]
    _ok(api.call("POST", f"/v1/tickets/{tid}/assign", tenant, {"user_id": eng, "reason": "on shift"}))
    for role, action in (("agent_all", "assign"), ("engineer", "resolve"), ("agent_all", "confirm")):
        view = _ok(api.call("POST", f"/v1/tickets/{tid}/transitions", tenant, {"action": action}, role=role))
    assert view["ticket"]["status"] == "closed"
    drain("scrm-events")
    return tid


def test_a_completed_ticket_is_billed_split_and_stated(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    cid = _setup(api, tenant)
    tid = _complete_ticket(api, tenant, cid)
    eng = tenant.user_ids["engineer"]

    bill = _ok(api.call("GET", f"/v1/tickets/{tid}/bill", tenant, role="agent_all"))["bill"]
    lines = {ln["item"]: ln for ln in bill["lines"]}
    # Labour 188.00 + 20 % rush (37.60) = 225.60, VIP −5 % (11.28) = 214.32; the capacitor (36-month
    # warranty from 2024-05-20) is free; the fan motor (18 months) is out: Shanghai rule 285.50 −5 % = 271.22.
    assert lines["repair"]["total"] == "214.32"
    assert lines["CAP-35UF"]["in_warranty"] is True and lines["CAP-35UF"]["total"] == "0.00"
    assert lines["CAP-35UF"]["waived"] == "42.75"
    assert lines["FAN-MOTOR"]["total"] == "271.22"
    assert bill["total"] == "485.54"
    # the ticket is urgent and the tenant's rush modifier charges for it: the bill says both
    assert bill["rush_reason"] == "priority urgent"
    assert [
        (a["modifier_id"], a["reason"]) for a in lines["repair"]["adjustments"] if a["kind"] == "rush"
    ] == [("rush", "the job is a rush job")]
    assert bill["warranty_note"].startswith("warranty counted from the ticket's purchase_date 2024-05-20")
    assert bill["warranty_note"].endswith("保内 used: the dates agree")  # the capacitor is covered

    # The parts left the warehouse; the customer was told the bill.
    cap = _ok(api.call("GET", "/v1/parts/CAP-35UF", tenant))
    assert (cap["stock"][0]["on_hand"], cap["stock"][0]["reserved"]) == (4, 0)
    told = [
        d
        for d in container.notifications.log_for_ticket(tenant.tenant_id, tid)
        if d.request.event == "ticket.billed"
    ]
    assert len(told) == 1 and told[0].request.data["total"] == "485.54"
    assert "no template" not in (told[0].reason or "")  # (this tenant has no WeChat/SMS set up to send it)

    # 485.54 split 35 / 45 / 20 (largest remainder): 169.94 + 218.49 + 97.11.
    mine = _ok(
        api.call(
            "GET", f"/v1/settlements/statements?party=engineer:{eng}&period=2026-11", tenant, role="engineer"
        )
    )
    assert [(r["source_id"], r["amount"], r["rule"]) for r in mine["rows"]] == [
        (tid, "218.49", "ticket-split v1")
    ]
    assert mine["rows"][0]["share"] == "45% of 485.54 (ticket-split v1)"
    # times in the tenant's zone (Asia/Shanghai by default), not UTC
    assert mine["timezone"] == "Asia/Shanghai" and mine["rows"][0]["at"].endswith("+08:00")
    assert mine["closing_balance"] == "218.49" and mine["opening_balance"] == "0.00"
    store = _ok(
        api.call(
            "GET", "/v1/settlements/statements?party=store:SH-001&period=2026-11", tenant, role="store_mgr"
        )
    )
    assert store["closing_balance"] == "169.94"
    # A partner sees only their own statement.
    assert (
        api.call(
            "GET", "/v1/settlements/statements?party=store:SH-001&period=2026-11", tenant, role="engineer"
        ).status_code
        == 403
    )
    assert (
        api.call(
            "GET", f"/v1/settlements/statements?party=engineer:{eng}&period=2026-11", tenant, role="store_mgr"
        ).status_code
        == 403
    )
    bad = api.call("GET", "/v1/settlements/statements?party=boss:x&period=2026-13", tenant, role="finance")
    assert bad.status_code == 400

    # CSV export, every line traceable to the ticket and the rule version.
    resp = api.call(
        "GET",
        f"/v1/settlements/statements?party=engineer:{eng}&period=2026-11&format=csv",
        tenant,
        role="engineer",
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.body.decode("utf-8-sig"))))
    assert rows[2][:8] == ["time", "posting", "source_type", "source_id", "rule", "memo", "amount", "balance"]
    assert rows[2][8] == "share"
    assert rows[3][3:5] == [tid, "ticket-split v1"]
    assert rows[3][6:] == ["218.49", "218.49", "45% of 485.54 (ticket-split v1)"]

    # Reconciliation: Σ party balances = what was settled.
    rec = _ok(api.call("GET", "/v1/settlements/reconciliation?period=2026-11", tenant, role="finance"))
    assert rec["settled"] == "485.54" and rec["parties_total"] == "485.54" and rec["balanced"] is True
    assert {p["party"]: p["balance"] for p in rec["parties"]} == {
        f"engineer:{eng}": "218.49",
        "platform:hq": "97.11",
        "store:SH-001": "169.94",
    }

    # The 360 view lists the bill and the settlement: whole for finance, each partner's own share for them.
    view = _ok(api.call("GET", f"/v1/customers/{cid}", tenant, role="finance"))
    assert [b["total"] for b in view["bills"]] == ["485.54"]
    assert [s["amount"] for s in view["settlements"]] == ["485.54"]
    for role, seen in (("engineer", ["218.49"]), ("store_mgr", ["169.94"]), ("agent_all", [])):
        view = _ok(api.call("GET", f"/v1/customers/{cid}", tenant, role=role))
        assert [s["amount"] for s in view["settlements"]] == seen, role

    # A redelivered completion posts nothing and bills nothing again.
    with count_requests() as again:
        container.settlement.ticket_closed(tenant.tenant_id, tid)
    assert "PutItem" not in again.calls
    assert len(container.ledger.postings_for_source(tenant.tenant_id, "ticket", tid)) == 1
    assert (
        _ok(
            api.call(
                "GET",
                f"/v1/settlements/statements?party=engineer:{eng}&period=2026-11",
                tenant,
                role="engineer",
            )
        )["closing_balance"]
        == "218.49"
    )


def test_an_order_refund_reverses_its_split_and_nets_to_zero(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    order = _paid_order_under_a_split(api, tenant, "O-1", "99.99")
    settle = container.settlement
    assert len(settle.order_changed(tenant.tenant_id, order)) == 1
    assert settle.order_changed(tenant.tenant_id, order) == []  # redelivered: nothing new
    refunded = order.model_copy(update={"status": OrderStatus.REFUNDED})
    [mirror] = settle.order_changed(tenant.tenant_id, refunded)
    assert mirror.reverses is not None
    assert settle.order_changed(tenant.tenant_id, refunded) == []  # reversed once
    postings = container.ledger.postings_for_source(tenant.tenant_id, SourceType.ORDER.value, "generic:O-1")
    assert len(postings) == 2
    statement = _ok(
        api.call(
            "GET", "/v1/settlements/statements?party=store:SH-001&period=2026-11", tenant, role="finance"
        )
    )
    # 99.99 × 90 % = 89.991 → 89.99 (the leftover fen goes to the platform's larger fraction: 10.00).
    assert [r["amount"] for r in statement["rows"]] == ["89.99", "-89.99"]
    assert statement["closing_balance"] == "0.00" and statement["reversed"] == "89.99"
    rec = _ok(api.call("GET", "/v1/settlements/reconciliation?period=2026-11", tenant, role="finance"))
    assert rec["settled"] == "0.00" and rec["balanced"] is True


def test_rules_are_versioned_and_validated(api: Api, tenant: TenantKeys) -> None:
    first = _ok(
        api.call(
            "POST", "/v1/settlement-rules", tenant, {"applies_to": "ticket", "rule": SPLIT}, role="finance"
        ),
        201,
    )
    assert first["rule"]["version"] == 1
    later = {**SPLIT, "effective_from": "2026-12-01T00:00:00+08:00"}
    second = _ok(
        api.call(
            "POST", "/v1/settlement-rules", tenant, {"applies_to": "ticket", "rule": later}, role="finance"
        ),
        201,
    )
    assert second["rule"]["version"] == 2
    bad = {**SPLIT, "shares": [{"role": "store", "percent": "60"}, {"role": "platform", "percent": "30"}]}
    resp = api.call(
        "POST", "/v1/settlement-rules", tenant, {"applies_to": "ticket", "rule": bad}, role="finance"
    )
    assert resp.status_code == 400 and "100" in resp.data["error"]["message"]
    assert (
        api.call("POST", "/v1/settlement-rules", tenant, {"rule": SPLIT}, role="agent_all").status_code == 403
    )
    listed = _ok(api.call("GET", "/v1/settlement-rules", tenant, role="finance"))["items"]
    assert [r["rule"]["version"] for r in listed] == [1, 2]


def test_the_same_job_in_chengdu_depreciates_parts_by_the_regions_coefficient(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    cid = _setup(api, tenant)
    coefficient = {"city": "成都", "coefficient": "0.95", "effective_from": "2026-11-23"}
    _ok(api.call("POST", "/v1/depreciation-coefficients", tenant, coefficient, role="finance"), 201)
    tid = _complete_ticket(api, tenant, cid, city="成都", province="四川")
    bill = _ok(api.call("GET", f"/v1/tickets/{tid}/bill", tenant, role="agent_all"))["bill"]
    lines = {ln["item"]: ln for ln in bill["lines"]}
    # Labour 158.00 +20 % (31.60) −5 % (9.48) = 180.12; the fan motor has no Chengdu rule: catalogue 268.30 ×
    # 0.95 = 254.89 (254.885 rounded half up), −5 % (12.74) = 242.15; the capacitor is still free.
    assert lines["repair"]["total"] == "180.12"
    assert lines["FAN-MOTOR"]["total"] == "242.15" and lines["FAN-MOTOR"]["depreciation"] == "13.41"
    assert lines["CAP-35UF"]["total"] == "0.00" and lines["CAP-35UF"]["waived"] == "40.61"
    assert bill["total"] == "422.27"  # the worked example's Chengdu figure (docs/settlement.md)


def test_the_rush_fee_has_its_own_shares_and_a_chargeback_reverses_both(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    cid = _setup(api, tenant)
    rush_rule = {
        "id": "rush-share",
        "kind": "split",
        "effective_from": "2026-11-01T00:00:00+08:00",
        "shares": [{"role": "engineer", "percent": "70"}, {"role": "platform", "percent": "30"}],
    }
    _ok(
        api.call(
            "POST",
            "/v1/settlement-rules",
            tenant,
            {"applies_to": "ticket_rush", "rule": rush_rule},
            role="finance",
        ),
        201,
    )
    tid = _complete_ticket(api, tenant, cid)
    eng = tenant.user_ids["engineer"]
    # The bill is still 485.54; its rush fee (37.60 on the labour) is split 70/30 apart from the rest:
    # 447.94 × 35/45/20 = 156.78 + 201.57 + 89.59 (largest remainder), 37.60 × 70/30 = 26.32 + 11.28.
    rows = _ok(
        api.call(
            "GET", f"/v1/settlements/statements?party=engineer:{eng}&period=2026-11", tenant, role="engineer"
        )
    )["rows"]
    assert sorted((r["source_id"], r["amount"], r["rule"]) for r in rows) == [
        (tid, "201.57", "ticket-split v1"),
        (f"{tid}#rush", "26.32", "rush-share v1"),
    ]
    rec = _ok(api.call("GET", "/v1/settlements/reconciliation?period=2026-11", tenant, role="finance"))
    assert rec["settled"] == "485.54" and rec["balanced"] is True

    # Finance first records a partial refund of the bill (97.11 of 485.54, a fifth): each posting, the rush
    # share's too, gives back that share of itself; the same request again posts nothing more.
    part = {"source_type": "ticket", "source_id": tid, "reason": "部分退款", "refunded_total": "97.11"}
    parts = _ok(api.call("POST", "/v1/settlements/reversals", tenant, part, role="finance"), 201)["items"]
    assert sorted(p["id"].rsplit(":", 1)[1] for p in parts) == ["97.11", "97.11"]
    assert (
        _ok(api.call("POST", "/v1/settlements/reversals", tenant, part, role="finance"), 201)["items"] == []
    )
    taken = {
        (r["source_id"], r["amount"])
        for r in _ok(
            api.call(
                "GET",
                f"/v1/settlements/statements?party=engineer:{eng}&period=2026-11",
                tenant,
                role="engineer",
            )
        )["rows"]
        if r["amount"].startswith("-")
    }
    # 201.57 × 97.11/485.54 = 40.315 → 40.31 (the side's fen went to larger remainders); 26.32 × … → 5.26
    assert taken == {(tid, "-40.31"), (f"{tid}#rush", "-5.26")}
    zero = {"source_type": "ticket", "source_id": tid, "reason": "x", "refunded_total": "0"}
    assert api.call("POST", "/v1/settlements/reversals", tenant, zero, role="finance").status_code == 400

    # Then a chargeback of the rest: what is left of both postings is mirrored, the statement nets to zero.
    body = {"source_type": "ticket", "source_id": tid, "reason": "客户投诉退款"}
    assert api.call("POST", "/v1/settlements/reversals", tenant, body, role="store_mgr").status_code == 403
    mirrored = _ok(api.call("POST", "/v1/settlements/reversals", tenant, body, role="finance"), 201)["items"]
    assert len(mirrored) == 2 and all(p["reverses"] for p in mirrored)
    assert (
        _ok(api.call("POST", "/v1/settlements/reversals", tenant, body, role="finance"), 201)["items"] == []
    )
    after = _ok(
        api.call(
            "GET", f"/v1/settlements/statements?party=engineer:{eng}&period=2026-11", tenant, role="engineer"
        )
    )
    assert after["closing_balance"] == "0.00" and after["reversed"] == "227.89"
    missing = {"source_type": "order", "source_id": "nope", "reason": "x"}
    assert api.call("POST", "/v1/settlements/reversals", tenant, missing, role="finance").status_code == 404


def test_an_open_ticket_shows_what_it_would_be_billed(api: Api, tenant: TenantKeys) -> None:
    cid = _setup(api, tenant)
    body = {
        "template_id": "repair",
        "customer_id": cid,
        "priority": "urgent",
        "fields": {
            "fault_description": "异响",
            "province": "上海",
            "city": "上海",
            "purchase_date": "2024-05-20",
        },
    }
    tid = _ok(api.call("POST", "/v1/tickets", tenant, body, role="agent_all"), 201)["ticket"]["id"]
    parts = {"parts": [{"sku": "CAP-35UF"}, {"sku": "FAN-MOTOR"}]}
    _ok(api.call("POST", f"/v1/tickets/{tid}/parts", tenant, parts, role="agent_all"))
    preview = _ok(api.call("GET", f"/v1/tickets/{tid}/bill/preview", tenant, role="agent_all"))
    assert preview["bill"]["total"] == "485.54" and "485.54" in preview["summary"]
    assert (
        api.call("GET", f"/v1/tickets/{tid}/bill", tenant, role="agent_all").status_code == 404
    )  # not stored


def test_dispatch_waits_for_an_engineer_and_a_flow_without_one_keeps_the_share_visible(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    cid = _setup(api, tenant)
    body = {
        "template_id": "repair",
        "customer_id": cid,
        "fields": {"fault_description": "异响", "city": "上海"},
    }
    # GIVEN a repair at 派单, which dispatches to an engineer, and nobody assigned
    tid = _ok(api.call("POST", "/v1/tickets", tenant, body, role="agent_all"), 201)["ticket"]["id"]
    _ok(api.call("POST", f"/v1/tickets/{tid}/transitions", tenant, {"action": "accept"}, role="agent_all"))
    # WHEN the agent completes the step THEN it is refused, naming the missing assignee
    refused = api.call(
        "POST", f"/v1/tickets/{tid}/transitions", tenant, {"action": "assign"}, role="agent_all"
    )
    assert refused.status_code == 409
    assert refused.data["error"]["details"][0]["field"] == "assignee"
    assert _ok(api.call("GET", f"/v1/tickets/{tid}", tenant))["ticket"]["state"]["active"] == ["dispatch"]

    # GIVEN the tenant's own repair flow with no engineer step (the agent fixes it over the phone)
    flow = _ok(api.call("GET", "/v1/workflows/wf_repair", tenant))
    flow["nodes"] = [n for n in flow["nodes"] if n["id"] in ("new", "triage", "closed", "cancelled")]
    flow["transitions"] = [
        {"from_node": "new", "action": "auto", "to_node": "triage"},
        {"from_node": "triage", "action": "resolve", "to_node": "closed", "label": "电话指导解决"},
        {"from_node": "triage", "action": "cancel", "to_node": "cancelled"},
    ]
    _ok(api.call("POST", "/v1/workflows", tenant, flow), 201)
    remote = _ok(api.call("POST", "/v1/tickets", tenant, body, role="agent_all"), 201)["ticket"]["id"]
    closed = _ok(
        api.call("POST", f"/v1/tickets/{remote}/transitions", tenant, {"action": "resolve"}, role="agent_all")
    )
    assert closed["ticket"]["status"] == "closed"
    drain("scrm-events")
    # THEN, as before, its engineer share waits for finance to assign it
    assert container.ticket_repo.get(tenant.tenant_id, remote).assignment is None  # type: ignore[union-attr]
    # Labour 188.00 (no rush, not VIP-free: −5 % = 178.60); 45 % = 80.37 kept for finance to assign.
    held = _ok(
        api.call(
            "GET",
            "/v1/settlements/statements?party=engineer:unassigned&period=2026-11",
            tenant,
            role="finance",
        )
    )
    assert [r["source_id"] for r in held["rows"]] == [remote] and held["closing_balance"] == "80.37"


def test_partial_refunds_take_back_their_share_and_the_month_end_counts_the_rest(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    order = _paid_order_under_a_split(api, tenant, "O-7", "200.00")
    settle = container.settlement
    assert len(settle.order_changed(tenant.tenant_id, order)) == 1  # store 180.00, platform 20.00

    one_item = order.model_copy(update={"status": OrderStatus.REFUNDED, "refunded_amount": Decimal("33.33")})
    [part] = settle.order_changed(tenant.tenant_id, one_item)
    assert part.id.endswith(":33.33") and part.reverses is not None
    assert settle.order_changed(tenant.tenant_id, one_item) == []  # redelivered: nothing more
    # The month-end run counts the order for what is left of it.
    [facts] = container.ledger.settled_facts(tenant.tenant_id, "2026-11")
    assert facts.amount == Decimal("166.67")

    statement = _ok(
        api.call(
            "GET", "/v1/settlements/statements?party=store:SH-001&period=2026-11", tenant, role="finance"
        )
    )
    # 33.33 × 90 % = 29.997 → 30.00 by largest remainder; the platform gives back 3.33.
    assert [r["amount"] for r in statement["rows"]] == ["180.00", "-30.00"]
    assert statement["closing_balance"] == "150.00"
    rec = _ok(api.call("GET", "/v1/settlements/reconciliation?period=2026-11", tenant, role="finance"))
    assert rec["settled"] == "166.67" and rec["balanced"] is True

    everything = one_item.model_copy(update={"refunded_amount": Decimal("200.00")})
    [rest] = settle.order_changed(tenant.tenant_id, everything)
    assert rest.id == f"rev:{part.reverses}"
    assert settle.order_changed(tenant.tenant_id, everything) == []
    assert list(container.ledger.settled_facts(tenant.tenant_id, "2026-11")) == []  # out of the totals
    statement = _ok(
        api.call(
            "GET", "/v1/settlements/statements?party=store:SH-001&period=2026-11", tenant, role="finance"
        )
    )
    # Both refunds were posted at the test clock's one instant: rows of one instant come in posting id order.
    assert sorted(r["amount"] for r in statement["rows"]) == ["-150.00", "-30.00", "180.00"]
    assert statement["closing_balance"] == "0.00"
    rec = _ok(api.call("GET", "/v1/settlements/reconciliation?period=2026-11", tenant, role="finance"))
    assert rec["settled"] == "0.00" and rec["balanced"] is True


def _paid_order_under_a_split(api: Api, tenant: TenantKeys, order_id: str, total: str) -> Order:
    """A store/platform 90/10 split for orders, and a generic order of SH-001 paid in November."""
    rule = {
        "id": "order-split",
        "kind": "split",
        "effective_from": "2026-11-01T00:00:00+08:00",
        "shares": [{"role": "store", "percent": "90"}, {"role": "platform", "percent": "10"}],
    }
    body = {"applies_to": "order", "rule": rule}
    _ok(api.call("POST", "/v1/settlement-rules", tenant, body, role="finance"), 201)
    paid_at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    return Order(
        tenant_id=tenant.tenant_id,
        platform="generic",
        shop_id="SH-001",
        order_id=order_id,
        status=OrderStatus.PAID,
        total_amount=Decimal(total),
        paid_at=paid_at,
        updated_at=paid_at,
    )
