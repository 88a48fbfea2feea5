"""One money format on every route (domain/money.py): each bad amount posted to each money field of each
route is a 400 naming that field, and nothing is written; /openapi.json shows every money field as the
one `Money` component."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys

# The acceptance's four, and a JSON integer: request bodies take decimal strings only.
BAD = ["12.345", "1e3", "1" + "0" * 21, 12.3, 12]
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

Path = tuple[str | int, ...]


def _set(body: dict[str, Any], path: Path, value: object) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def _name(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _repair_ticket(customer_id: str) -> dict[str, Any]:
    return {
        "template_id": "repair",
        "customer_id": customer_id,
        "fields": {
            "fault_description": "不制冷",
            "labour_fee": "150.00",
            "parts_used": [{"sku": "CAP-35UF", "name": "电容", "quantity": 1, "unit_price": "35.00"}],
        },
    }


# (method, path, role, a valid body, the money fields in it, how to read back what a route stored)
ROUTES: list[tuple[str, str, str, dict[str, Any], list[Path], Callable[[Api, TenantKeys], object]]] = [
    (
        "POST",
        "/v1/price-rules",
        "finance",
        {"item": "AC-REPAIR", "price": "150.00", "effective_from": "2026-11-23"},
        [("price",)],
        lambda api, t: api.call("GET", "/v1/price-rules", t).data["items"],
    ),
    (
        "POST",
        "/v1/price-modifiers",
        "finance",
        {"kind": "rush", "modifier_id": "rush", "name": "加急", "amount": "50.00", "requires_rush": True},
        [("amount",)],
        lambda api, t: api.call("GET", "/v1/price-modifiers", t).data["items"],
    ),
    (
        "PUT",
        "/v1/parts/CAP-35UF",
        "admin",
        {"sku": "CAP-35UF", "name": "电容", "unit_cost": "12.00", "price": "35.00"},
        [("unit_cost",), ("price",)],
        lambda api, t: api.call("GET", "/v1/parts", t).data["items"],
    ),
    (
        "POST",
        "/v1/settlements/reversals",
        "finance",
        {"source_type": "order", "source_id": "SO-1", "reason": "partial refund", "refunded_total": "5.00"},
        [("refunded_total",)],
        lambda api, t: None,  # nothing to reverse either way; the write count below is the check
    ),
    (
        "POST",
        "/v1/settlement-rules",
        "finance",
        {
            "applies_to": "ticket",
            "rule": {
                "kind": "base_plus_incentive",
                "id": "engineer-base",
                "beneficiary": "engineer",
                "base": "100.00",
                "per_unit": "5.00",
                "incentive_cap": "500.00",
            },
        },
        [("rule", "base"), ("rule", "per_unit"), ("rule", "incentive_cap")],
        lambda api, t: api.call("GET", "/v1/settlement-rules", t).data["items"],
    ),
    (
        "POST",
        "/v1/settlement-rules",
        "finance",
        {
            "applies_to": "order",
            "rule": {
                "kind": "tiered",
                "id": "store-tiers",
                "beneficiary": "store",
                "mode": "marginal",
                "tiers": [
                    {"from_amount": "0", "rate_percent": "5"},
                    {"from_amount": "10000", "rate_percent": "8"},
                ],
            },
        },
        [("rule", "tiers", 1, "from_amount")],
        lambda api, t: api.call("GET", "/v1/settlement-rules", t).data["items"],
    ),
    (
        "POST",
        "/v1/settlement-rules",
        "finance",
        {
            "applies_to": "order",
            "rule": {
                "kind": "threshold_bonus",
                "id": "course-bonus",
                "beneficiary": "store",
                "threshold": "50000",
                "rate_percent": "10",
            },
        },
        [("rule", "threshold")],
        lambda api, t: api.call("GET", "/v1/settlement-rules", t).data["items"],
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "role", "body", "fields", "stored"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_every_bad_amount_is_a_400_naming_its_field_and_nothing_is_stored(
    api: Api,
    tenant: TenantKeys,
    method: str,
    path: str,
    role: str,
    body: dict[str, Any],
    fields: list[Path],
    stored: Callable[[Api, TenantKeys], object],
) -> None:
    before = stored(api, tenant)
    for field in fields:
        for bad in BAD:
            with count_requests() as counted:
                resp = api.call(method, path, tenant, _set(body, field, bad), role=role)
            assert resp.status_code == 400, (field, bad, resp.data)
            error = resp.data["error"]
            assert error["code"] == "validation_error"
            assert [d["field"] for d in error["details"]] == [_name(field)], (field, bad, error)
            assert _name(field) in error["message"] and "body" not in error["message"].split(": ", 1)[1]
            assert not WRITES & set(counted.calls), (field, bad, counted.calls)
    assert stored(api, tenant) == before
    # The same body with good amounts is taken: only the amount made the difference.
    resp = api.call(method, path, tenant, body, role=role)
    assert resp.status_code != 400, resp.data


def test_ticket_money_fields_take_the_same_format(api: Api, tenant: TenantKeys) -> None:
    made = api.call(
        "POST", "/v1/customers", tenant, {"name": "李雷", "phone": "13900000001", "region": "华东"}
    )
    body = _repair_ticket(made.data["id"])
    for field in (("fields", "labour_fee"), ("fields", "parts_used", 0, "unit_price")):
        for bad in BAD:
            with count_requests() as counted:
                resp = api.call("POST", "/v1/tickets", tenant, _set(body, field, bad), role="agent_all")
            assert resp.status_code == 400, (field, bad, resp.data)
            assert [d["field"] for d in resp.data["error"]["details"]] == [_name(field)], resp.data
            assert not WRITES & set(counted.calls), counted.calls
    assert api.call("GET", "/v1/tickets", tenant, role="agent_all").data["items"] == []
    created = api.call("POST", "/v1/tickets", tenant, body, role="agent_all")
    assert created.status_code == 201, created.data
    assert created.data["ticket"]["fields"]["labour_fee"] == "150.00"


def test_a_good_amount_is_stored_and_answered_as_a_two_place_string(api: Api, tenant: TenantKeys) -> None:
    resp = api.call(
        "PUT",
        "/v1/parts/CAP-35UF",
        tenant,
        {"sku": "CAP-35UF", "name": "电容", "unit_cost": "12", "price": "35.5"},
    )
    assert resp.status_code == 200, resp.data
    assert (resp.data["part"]["unit_cost"], resp.data["part"]["price"]) == ("12.00", "35.50")
    negative = api.call(
        "PUT", "/v1/parts/X", tenant, {"sku": "X", "name": "x", "unit_cost": "-1.00", "price": "2.00"}
    )
    assert negative.status_code == 400
    assert negative.data["error"]["details"][0]["field"] == "unit_cost"
    assert "must not be negative" in negative.data["error"]["details"][0]["message"]


# -- /openapi.json --------------------------------------------------------------------------------------

MONEY_REF = "#/components/schemas/Money"
# Property names that read like money but never are amounts, and (by component) the ambiguous ones that
# are not amounts there.
NOT_MONEY = {
    "price_rules",
    "price_source",
    "depreciation_coefficient",
    "low_stock_threshold",
    "dropoff_threshold",
    "settled_sources",
    "balanced",
    "unsettled",
    "ScoreBreakdown.total",  # an assignment score
    "RetryPolicy.base",  # durations
    "RetryPolicy.cap",
    "LowStock.threshold",  # units
    "StatsAlert.threshold",  # durations, rates
    "WorkflowStatsView.threshold",
}
MONEY_NAME = re.compile(
    r"amount|price|cost|total|fee|discount|surcharge|balance|debit|credit|settled|incentive|waived|"
    r"depreciation|threshold|per_unit|^base$|cap$|refunded"
)


def _refs_money(prop: dict[str, Any]) -> bool:
    if prop.get("$ref") == MONEY_REF:
        return True
    if "anyOf" in prop:
        return any(_refs_money(p) for p in prop["anyOf"] if p.get("type") != "null")
    return prop.get("type") == "array" and _refs_money(prop.get("items", {}))


def test_openapi_has_every_money_field_as_a_ref_to_money(api: Api) -> None:
    doc = api.call("GET", "/openapi.json", None).data
    schemas = doc["components"]["schemas"]
    money = schemas["Money"]
    assert money["type"] == "string" and money["pattern"] and money["examples"] == ["12.50"]
    assert "decimal string" in money["description"]
    # The request bodies of the issue, field by field.
    for component, prop in [
        ("PriceRuleDraft", "price"),
        ("ModifierDraft", "amount"),
        ("PartDraft", "unit_cost"),
        ("PartDraft", "price"),
        ("ChargebackCommand", "refunded_total"),
    ]:
        assert _refs_money(schemas[component]["properties"][prop]), (component, prop)
    # Every property of every component that names an amount, requests and responses alike.
    not_money = [
        f"{name}.{prop}"
        for name, schema in schemas.items()
        for prop, spec in schema.get("properties", {}).items()
        if MONEY_NAME.search(prop)
        and not {prop, f"{name.removesuffix('-Input').removesuffix('-Output')}.{prop}"} & NOT_MONEY
        and not _refs_money(spec)
    ]
    assert not_money == []
    # And no Money field anywhere is written as a plain number or string.
    assert sum(str(s).count(MONEY_REF) for s in schemas.values()) > 40
