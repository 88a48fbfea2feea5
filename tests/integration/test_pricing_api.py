"""Price rules, modifiers and quotes through the API: explained lines, as_of, immutability, validation."""

from __future__ import annotations

from decimal import Decimal

from chalicelib import bootstrap
from tests.fakes.clock import FrozenClock
from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys


def _rule(api: Api, tenant: TenantKeys, **body: object) -> dict[str, object]:
    resp = api.call("POST", "/v1/price-rules", tenant, body, role="finance")
    assert resp.status_code == 201, resp.body
    return resp.data  # type: ignore[no-any-return]


def _quote(api: Api, tenant: TenantKeys, **body: object) -> dict[str, object]:
    resp = api.call("POST", "/v1/quotes", tenant, body, role="agent_all")
    assert resp.status_code == 201, resp.body
    return resp.data  # type: ignore[no-any-return]


def _book(api: Api, tenant: TenantKeys) -> None:
    _rule(api, tenant, item="AC-REPAIR", price="150.00", effective_from="2026-11-23")
    _rule(api, tenant, item="AC-REPAIR", city="上海", price="200.00", effective_from="2026-11-23")
    _rule(api, tenant, item="AC-REPAIR", city="成都", price="160.00", effective_from="2026-11-23")
    for body in (
        {
            "kind": "member",
            "modifier_id": "vip5",
            "name": "VIP 95 折",
            "percent": "5",
            "customer_types": ["vip"],
        },
        {"kind": "rush", "modifier_id": "rush", "name": "加急", "amount": "50.00", "requires_rush": True},
    ):
        resp = api.call(
            "POST", "/v1/price-modifiers", tenant, {**body, "effective_from": "2026-11-23"}, role="finance"
        )
        assert resp.status_code == 201, resp.body


def test_quote_explains_each_line_and_region_wins(api: Api, tenant: TenantKeys) -> None:
    _book(api, tenant)
    sh = _quote(
        api,
        tenant,
        items=[{"item": "AC-REPAIR"}],
        region={"province": "上海", "city": "上海"},
        customer_types=["vip"],
        rush=True,
    )
    line = sh["quote"]["lines"][0]  # type: ignore[index]
    # 200.00 + 50.00 rush = 250.00, VIP 5 % of 250.00 = 12.50 → 237.50 (stages: rush before member)
    assert line["unit_price"] == "200.00"
    assert [a["amount"] for a in line["adjustments"]] == ["50.00", "12.50"]
    assert sh["quote"]["total"] == "237.50"  # type: ignore[index]
    assert "上海" in line["explain"] and "合计 237.50" in line["explain"]
    cd = _quote(api, tenant, items=[{"item": "AC-REPAIR", "quantity": 2}], region={"city": "成都"})
    assert cd["quote"]["total"] == "320.00"  # type: ignore[index]
    other = _quote(api, tenant, items=[{"item": "AC-REPAIR"}], region={"city": "北京"})
    assert other["quote"]["total"] == "150.00"  # type: ignore[index]
    # The issued quote reads back exactly as issued.
    again = api.call("GET", f"/v1/quotes/{sh['id']}", tenant, role="agent_all")
    assert again.status_code == 200 and again.data == sh


def test_a_new_version_never_changes_the_past_or_an_issued_quote(
    api: Api, tenant: TenantKeys, clock: FrozenClock
) -> None:
    _book(api, tenant)
    first = _quote(api, tenant, items=[{"item": "AC-REPAIR"}], region={"city": "上海"})
    # A price rise from next month: the same rule id gets version 2, version 1 stays as it was.
    rule_id = first["quote"]["lines"][0]["rule_id"]  # type: ignore[index]
    v2 = _rule(
        api,
        tenant,
        rule_id=rule_id,
        item="AC-REPAIR",
        city="上海",
        price="220.00",
        effective_from="2026-12-01",
    )
    assert v2["version"] == 2
    clock.advance(days=10)  # 2026-12-03
    now = _quote(api, tenant, items=[{"item": "AC-REPAIR"}], region={"city": "上海"})
    assert now["quote"]["total"] == "220.00"  # type: ignore[index]
    past = _quote(api, tenant, items=[{"item": "AC-REPAIR"}], region={"city": "上海"}, as_of="2026-11-23")
    assert past["quote"]["total"] == "200.00"  # type: ignore[index]
    assert past["quote"]["lines"] == first["quote"]["lines"]  # type: ignore[index]
    kept = api.call("GET", f"/v1/quotes/{first['id']}", tenant, role="agent_all")
    assert kept.data["quote"]["total"] == "200.00"


def test_publishing_refuses_the_past_ambiguity_and_floats(api: Api, tenant: TenantKeys) -> None:
    _book(api, tenant)
    past = api.call(
        "POST",
        "/v1/price-rules",
        tenant,
        {"item": "AC-REPAIR", "price": "1.00", "effective_from": "2026-01-01"},
        role="finance",
    )
    assert past.status_code == 400 and past.data["error"]["details"][0]["field"] == "effective_from"
    clash = api.call(
        "POST",
        "/v1/price-rules",
        tenant,
        {"rule_id": "other", "item": "AC-REPAIR", "city": "上海", "price": "1.00"},
        role="finance",
    )
    assert clash.status_code == 400 and "ambiguous" in clash.data["error"]["message"]
    floats = api.call("POST", "/v1/price-rules", tenant, {"item": "X", "price": 1.5}, role="finance")
    assert floats.status_code == 400 and "price" in str(floats.data["error"]["details"])
    agent = api.call("POST", "/v1/price-rules", tenant, {"item": "X", "price": "1.00"}, role="agent_all")
    assert agent.status_code == 403
    unpriced = api.call("POST", "/v1/quotes", tenant, {"items": [{"item": "NOPE"}]}, role="agent_all")
    assert unpriced.status_code == 400 and unpriced.data["error"]["details"][0]["field"] == "items[0].item"


def test_quote_requests(container: bootstrap.Container, api: Api, tenant: TenantKeys) -> None:
    """A quote of two items: a Query per item, one for the modifiers, one PutItem (and the API key with its
    user: one BatchGetItem)."""
    _book(api, tenant)
    _rule(api, tenant, item="PART-CAP", price="35.00", effective_from="2026-11-23")
    with count_requests() as counted:
        issued = _quote(api, tenant, items=[{"item": "AC-REPAIR"}, {"item": "PART-CAP", "quantity": 2}])
    assert counted.calls == {"BatchGetItem": 1, "Query": 3, "PutItem": 1}
    assert Decimal(issued["quote"]["total"]) == Decimal("220.00")  # type: ignore[index]
