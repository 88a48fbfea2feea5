"""Parts inventory: catalogue, stock, reservations held by tickets, transfers, low stock — never negative."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib import bootstrap
from chalicelib.domain.access import Principal, Role, Scope
from chalicelib.domain.common import ConflictError
from chalicelib.domain.inventory import PartLine
from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys


def _part(api: Api, tenant: TenantKeys, sku: str = "CAP-35UF", **extra: Any) -> dict[str, Any]:
    body = {
        "sku": sku,
        "name": "压缩机启动电容",
        "unit_cost": "18.00",
        "price": "45.00",
        "warranty_months": 36,
        "low_stock_threshold": 2,
        **extra,
    }
    resp = api.call("PUT", f"/v1/parts/{sku}", tenant, body)
    assert resp.status_code == 200, resp.body
    return resp.data  # type: ignore[no-any-return]


def _stock(api: Api, tenant: TenantKeys, sku: str, warehouse: str, delta: int) -> Any:
    return api.call("POST", f"/v1/parts/{sku}/stock", tenant, {"warehouse": warehouse, "delta": delta})


def _ticket(api: Api, tenant: TenantKeys) -> str:
    resp = api.call(
        "POST",
        "/v1/tickets",
        tenant,
        {"template_id": "repair", "fields": {"fault_description": "空调不制冷"}},
    )
    assert resp.status_code == 201, resp.body
    return str(resp.data["ticket"]["id"])


def test_reserve_consume_release_and_transfer(api: Api, tenant: TenantKeys) -> None:
    _part(api, tenant)
    assert _stock(api, tenant, "CAP-35UF", "SH-WH", 5).status_code == 200
    ticket = _ticket(api, tenant)
    held = api.call(
        "POST", f"/v1/tickets/{ticket}/parts", tenant, {"parts": [{"sku": "CAP-35UF", "quantity": 2}]}
    )
    assert held.status_code == 200, held.body
    assert held.data["items"][0]["warehouse"] == "SH-WH"
    # A retried reservation holds nothing more.
    again = api.call(
        "POST", f"/v1/tickets/{ticket}/parts", tenant, {"parts": [{"sku": "CAP-35UF", "quantity": 2}]}
    )
    assert again.status_code == 200, again.body
    view = api.call("GET", "/v1/parts/CAP-35UF", tenant).data
    assert view["stock"][0] == {**view["stock"][0], "on_hand": 5, "reserved": 2}
    assert view["available"] == 3
    # Writing off held units is refused; a transfer moves only what is available.
    assert _stock(api, tenant, "CAP-35UF", "SH-WH", -4).status_code == 409
    moved = api.call(
        "POST",
        "/v1/parts/CAP-35UF/transfers",
        tenant,
        {"from_warehouse": "SH-WH", "to_warehouse": "CD-WH", "quantity": 3},
    )
    assert moved.status_code == 200, moved.body
    by_wh = {s["warehouse"]: s for s in moved.data["stock"]}
    assert (by_wh["SH-WH"]["on_hand"], by_wh["SH-WH"]["reserved"], by_wh["CD-WH"]["on_hand"]) == (2, 2, 3)
    too_many = api.call(
        "POST",
        "/v1/parts/CAP-35UF/transfers",
        tenant,
        {"from_warehouse": "SH-WH", "to_warehouse": "CD-WH", "quantity": 1},
    )
    assert too_many.status_code == 409


def test_consume_on_completion_and_release_on_cancel(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    _part(api, tenant)
    _stock(api, tenant, "CAP-35UF", "SH-WH", 10)
    inv = container.inventory
    done, cancelled = _ticket(api, tenant), _ticket(api, tenant)
    inv.reserve_for_ticket(tenant.tenant_id, done, [PartLine(sku="CAP-35UF", quantity=3)])
    inv.reserve_for_ticket(tenant.tenant_id, cancelled, [PartLine(sku="CAP-35UF", quantity=4)])
    assert [r.status for r in inv.consume_for_ticket(tenant.tenant_id, done)] == ["consumed"]
    assert [r.status for r in inv.consume_for_ticket(tenant.tenant_id, done)] == ["consumed"]  # redelivery
    inv.release_for_ticket(tenant.tenant_id, cancelled)
    inv.release_for_ticket(tenant.tenant_id, cancelled)
    view = api.call("GET", "/v1/parts/CAP-35UF", tenant).data
    assert (view["stock"][0]["on_hand"], view["stock"][0]["reserved"], view["available"]) == (7, 0, 7)
    listed = api.call("GET", f"/v1/tickets/{done}/parts", tenant).data["items"]
    assert [(r["sku"], r["quantity"], r["status"]) for r in listed] == [("CAP-35UF", 3, "consumed")]


def test_concurrent_reservations_of_the_last_unit_exactly_one_succeeds(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    _part(api, tenant)
    _stock(api, tenant, "CAP-35UF", "SH-WH", 1)
    tickets = [_ticket(api, tenant) for _ in range(6)]
    barrier = threading.Barrier(len(tickets))
    won: list[str] = []
    lost: list[str] = []

    def race(ticket_id: str) -> None:
        barrier.wait()
        try:
            container.inventory.reserve_for_ticket(tenant.tenant_id, ticket_id, [PartLine(sku="CAP-35UF")])
            won.append(ticket_id)
        except ConflictError:
            lost.append(ticket_id)

    threads = [threading.Thread(target=race, args=(t,)) for t in tickets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 5
    view = api.call("GET", "/v1/parts/CAP-35UF", tenant).data
    assert (view["stock"][0]["on_hand"], view["stock"][0]["reserved"], view["available"]) == (1, 1, 0)


def test_low_stock_makes_one_replenishment_request_and_one_notification(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    _part(api, tenant, low_stock_threshold=2)
    _stock(api, tenant, "CAP-35UF", "SH-WH", 4)
    sent: list[Any] = []
    container.notifier.notify = lambda requests: sent.extend(requests)  # type: ignore[method-assign]
    for _ in range(3):  # 4 → 3 (fine) → 2 (low: alert) → 1 (still low: no second alert)
        container.inventory.reserve_for_ticket(
            tenant.tenant_id, _ticket(api, tenant), [PartLine(sku="CAP-35UF")]
        )
    low = api.call("GET", "/v1/parts/low-stock", tenant).data["items"]
    # the stock of now (1 left: order 3 to be back at twice the threshold), not of when it became low (2)
    assert [(i["sku"], i["warehouse"], i["available"], i["suggested_quantity"]) for i in low] == [
        ("CAP-35UF", "SH-WH", 1, 3)
    ]
    assert {r.event for r in sent} == {"inventory.low_stock"} and len({r.idempotency_key for r in sent}) == 1
    _stock(api, tenant, "CAP-35UF", "SH-WH", 10)  # restocked: the request is done
    assert api.call("GET", "/v1/parts/low-stock", tenant).data["items"] == []


def test_validation_permissions_and_requests(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    bad = api.call("PUT", "/v1/parts/X", tenant, {"sku": "X", "name": "x", "unit_cost": 1.5, "price": "2.00"})
    assert bad.status_code == 400 and "unit_cost" in str(bad.data["error"]["details"])
    engineer = api.call(
        "PUT",
        "/v1/parts/X",
        tenant,
        {"sku": "X", "name": "x", "unit_cost": "1.00", "price": "2.00"},
        role="engineer",
    )
    assert engineer.status_code == 403
    _part(api, tenant)
    _stock(api, tenant, "CAP-35UF", "SH-WH", 10)
    ticket = _ticket(api, tenant)
    with count_requests() as counted:
        container.inventory.reserve_for_ticket(tenant.tenant_id, ticket, [PartLine(sku="CAP-35UF")])
    assert counted.calls == {"Query": 1, "TransactWriteItems": 1}  # read part + stock, write both
    principal = Principal(
        tenant_id=tenant.tenant_id, user_id="x", role=Role.ENGINEER, scope=Scope.parse("all")
    )
    assert container.inventory.get_part(principal=principal, sku="CAP-35UF").available == 9


def test_a_reopened_ticket_can_hold_the_parts_it_released(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    _part(api, tenant)
    _stock(api, tenant, "CAP-35UF", "SH-WH", 5)
    inv, ticket = container.inventory, _ticket(api, tenant)
    inv.reserve_for_ticket(tenant.tenant_id, ticket, [PartLine(sku="CAP-35UF", quantity=2)])
    inv.release_for_ticket(tenant.tenant_id, ticket)
    [again] = inv.reserve_for_ticket(tenant.tenant_id, ticket, [PartLine(sku="CAP-35UF", quantity=2)])
    assert again.status == "reserved"
    view = api.call("GET", "/v1/parts/CAP-35UF", tenant).data
    assert (view["stock"][0]["reserved"], view["available"]) == (2, 3)
    listed = api.call("GET", f"/v1/tickets/{ticket}/parts", tenant).data["items"]
    assert [(r["quantity"], r["status"]) for r in listed] == [(2, "reserved")]
