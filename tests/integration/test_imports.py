"""Importing the legacy exports into an empty tenant (the README's numbers), and re-importing."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys

DATA = Path(__file__).resolve().parents[1] / "data"


def test_customers_legacy_gives_2000_customers_and_53_rejected_rows(container, tenant: TenantKeys, api: Api):
    admin = container.tenants.authenticate(f"Bearer {tenant.keys['admin']}")
    text = (DATA / "customers_legacy.csv").read_text(encoding="utf-8-sig")
    progress: list[tuple[int, int]] = []
    with count_requests() as n:
        report = container.imports.import_customers(
            principal=admin,
            text=text,
            source="customers_legacy.csv",
            progress=lambda done, total: progress.append((done, total)),
        )
    assert report.rows == 2207 and report.rejected_rows == 53 and len(report.rejected) == 53
    # rows sharing a phone, unionid or external id went into one customer: every row is accounted for
    assert report.merged_rows == 2207 - 53 - 2000
    assert report.rows == report.rejected_rows + report.created + report.updated + report.unchanged + (
        report.merged_rows
    )
    # progress counts file rows: it starts with the rejected ones done and ends at every row
    assert progress[0] == (53, 2207) and progress[-1] == (2207, 2207) and len(progress) > 2
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert all(r.reason for r in report.rejected)
    assert report.people == 2000 and report.created == 2000 and report.merged == 0
    assert report.warnings  # e.g. the impossible birthdays, imported without them
    assert "13812345678" not in report.model_dump_json()
    per_row = n.total / report.created
    assert per_row <= 3, n.calls  # the budget: ≤ 3 DynamoDB requests per new row
    again = container.imports.import_customers(principal=admin, text=text, source="customers_legacy.csv")
    assert again.unchanged == 2000 and again.created == again.updated == 0 and again.merged_rows == 154
    listed, cursor = 0, None
    while True:
        page = container.customer_repo.list_recent(
            tenant.tenant_id,
            limit=100,
            cursor=cursor,
            where=__import__("chalicelib.services.ports", fromlist=["x"]).CustomerFilter(),
        )
        listed += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    assert listed == 2000


def test_orders_legacy_links_every_order_with_a_usable_phone_or_unionid(
    container, tenant: TenantKeys, api: Api
):
    admin = container.tenants.authenticate(f"Bearer {tenant.keys['admin']}")
    customers = (DATA / "customers_legacy.csv").read_text(encoding="utf-8-sig")
    container.imports.import_customers(principal=admin, text=customers, source="customers_legacy.csv")
    orders = (DATA / "orders_legacy.csv").read_text(encoding="utf-8-sig")
    progress: list[tuple[int, int]] = []
    with count_requests() as n:
        report = container.imports.import_orders(
            principal=admin,
            text=orders,
            source="orders_legacy.csv",
            progress=lambda done, total: progress.append((done, total)),
        )
    assert report.rows == 4000 and report.rejected_rows == 0
    assert report.orders == 4000 and report.orders_stored == 4000
    assert progress[0] == (0, 4000) and progress[-1] == (4000, 4000)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert report.linked == 3344 and report.not_linked == 656  # every order with a phone or unionid is linked
    assert n.total / 4000 <= 3, n.calls
    again = container.imports.import_orders(principal=admin, text=orders, source="orders_legacy.csv")
    assert again.unchanged == 4000 and again.linked == 0 and again.orders_stored == 0
    # a linked order is on its customer's 360 view and in the customer's order list
    order = api.call("GET", "/v1/orders/tmall/O230000000", tenant).data
    assert order["customer_id"] and order["status"] == "completed" and order["total_amount"] == "328.50"
    view = api.call("GET", f"/v1/customers/{order['customer_id']}", tenant).data
    assert "O230000000" in [o["order_id"] for o in view["recent_orders"]]
    assert any(e["kind"] == "order.completed" for e in view["timeline"])
    listed = api.call("GET", f"/v1/customers/{order['customer_id']}/orders", tenant).data["items"]
    assert "O230000000" in [o["order_id"] for o in listed]
