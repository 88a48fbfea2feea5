"""Importing the legacy exports into an empty tenant (the README's numbers), and re-importing."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys

DATA = Path(__file__).resolve().parents[1] / "data"


def test_customers_legacy_gives_2000_customers_and_53_rejected_rows(container, tenant: TenantKeys, api: Api):
    admin = container.tenants.authenticate(f"Bearer {tenant.keys['admin']}")
    text = (DATA / "customers_legacy.csv").read_text(encoding="utf-8-sig")
    with count_requests() as n:
        report = container.imports.import_customers(principal=admin, text=text, source="customers_legacy.csv")
    assert report.rows == 2207 and report.rejected_rows == 53 and len(report.rejected) == 53
    assert all(r.reason for r in report.rejected)
    assert report.people == 2000 and report.created == 2000 and report.merged == 0
    assert report.warnings  # e.g. the impossible birthdays, imported without them
    assert "13812345678" not in report.model_dump_json()
    per_row = n.total / report.created
    assert per_row <= 3, n.calls  # the budget: ≤ 3 DynamoDB requests per new row
    again = container.imports.import_customers(principal=admin, text=text, source="customers_legacy.csv")
    assert again.unchanged == 2000 and again.created == again.updated == 0
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
