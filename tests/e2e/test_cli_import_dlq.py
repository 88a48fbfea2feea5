"""`scrm import customers|orders` and `scrm dlq list|redrive` against the running local stack."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import httpx

from tests.e2e.conftest import Stack, bearer

DATA = Path(__file__).resolve().parents[1] / "data" / "customers_legacy.csv"
ORDERS = DATA.with_name("orders_legacy.csv")


def test_cli_import_reports_rejected_rows_and_reimport_changes_nothing(stack: Stack, tmp_path: Path):
    tenant = json.loads(stack.cli("tenant", "create", "--name", "导入测试").stdout)
    sample = tmp_path / "sample.csv"
    lines = DATA.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    sample.write_text("".join(lines[:301]), encoding="utf-8")  # the header and 300 records
    first = stack.cli(
        "import",
        "customers",
        str(sample),
        "--tenant",
        tenant["tenant_id"],
        "--report",
        str(tmp_path / "report.json"),
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["created"] > 0 and summary["created"] == summary["people"]
    assert (
        summary["rows"] == 300
        and summary["merged_rows"] == 300 - summary["rejected_rows"] - summary["people"]
    )
    assert "300/300 rows" in first.stderr  # the progress bar counts file rows
    assert "rows merged into another row's customer" in first.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["rejected"]) == summary["rejected_rows"] and all(
        r["reason"] for r in report["rejected"]
    )
    again = json.loads(stack.cli("import", "customers", str(sample), "--tenant", tenant["tenant_id"]).stdout)
    assert again["unchanged"] == summary["people"] and again["created"] == 0
    listed = httpx.get(f"{stack.url}/v1/customers?limit=100", headers=bearer(tenant["api_key"])).json()[
        "items"
    ]
    assert len(listed) == min(100, summary["people"])

    orders = tmp_path / "orders.csv"
    order_lines = ORDERS.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    orders.write_text("".join(order_lines[:201]), encoding="utf-8")
    imported = stack.cli("import", "orders", str(orders), "--tenant", tenant["tenant_id"])
    assert imported.returncode == 0, imported.stderr
    result = json.loads(imported.stdout)
    assert result["linked"] + result["not_linked"] > 0
    assert result["orders_stored"] == result["orders"] > 0 and "200/200 rows" in imported.stderr
    replay = json.loads(stack.cli("import", "orders", str(orders), "--tenant", tenant["tenant_id"]).stdout)
    assert replay["linked"] == 0 and replay["unchanged"] > 0 and replay["orders_stored"] == 0


def test_cli_import_with_a_wrong_header_exits_non_zero_naming_the_column(stack: Stack, tmp_path: Path):
    """Acceptance 3, as an operator runs it: nothing of the file is stored."""
    tenant = json.loads(stack.cli("tenant", "create", "--name", "表头测试").stdout)
    bad = tmp_path / "customers.csv"
    bad.write_text("external_id,name,mobile,unionid\nA1,张伟,13812345678,\n", encoding="utf-8")
    result = stack.cli("import", "customers", str(bad), "--tenant", tenant["tenant_id"])
    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "mobile: unknown column" in line
    listed = httpx.get(f"{stack.url}/v1/customers", headers=bearer(tenant["api_key"])).json()["items"]
    assert listed == []

    missing = stack.cli("import", "orders", str(tmp_path / "nope.csv"), "--tenant", tenant["tenant_id"])
    assert (
        missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    )

    # The template is what the import expects: its example row imports as one customer.
    template = tmp_path / "template.csv"
    assert stack.cli("import", "template", "customers", "-o", str(template)).returncode == 0
    done = stack.cli("import", "customers", str(template), "--tenant", tenant["tenant_id"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 1 and "1/1 rows" in done.stderr


def test_dlq_list_and_redrive(stack: Stack, admin_key: str):
    me = httpx.get(f"{stack.url}/v1/me", headers=bearer(admin_key)).json()
    sqs = boto3.client(
        "sqs",
        endpoint_url=f"http://127.0.0.1:{stack.aws_port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    dlq_url = sqs.get_queue_url(QueueName="scrm-ingest-dlq")["QueueUrl"]
    event = {
        "event_id": "dlq-e2e-1",
        "type": "page_view",
        "occurred_at": datetime.now(UTC).isoformat(),
        "identities": [{"type": "openid", "value": "o-dlq-e2e"}],
        "properties": {},
    }
    message = {
        "source": "behaviour",
        "tenant_id": me["tenant_id"],
        "key": "behaviour:dlq-e2e-1",
        "received_at": datetime.now(UTC).isoformat(),
        "payload": [event],
        # what /v1/events records: the integration that sent it (a message without a sender is never applied)
        "sent_by": {
            "tenant_id": me["tenant_id"],
            "user_id": "key_dlq_e2e",
            "role": "integration",
            "scope": {"kind": "all"},
            "kind": "integration",
        },
    }
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(message))
    listed = json.loads(stack.cli("dlq", "list").stdout)
    assert listed["queue"] == "scrm-ingest-dlq" and any("dlq-e2e-1" in m["body"] for m in listed["messages"])
    # The tenant's admin sees it through the API too (the stack passes the DLQ URLs like infra/ does).
    seen = httpx.get(f"{stack.url}/v1/dead-letters?queue=ingest", headers=bearer(admin_key))
    assert seen.status_code == 200, seen.text
    assert any("dlq-e2e-1" in m["body"] for m in seen.json()["items"])
    redriven = json.loads(stack.cli("dlq", "redrive").stdout)
    assert redriven["redriven"] >= 1
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = httpx.get(f"{stack.url}/v1/customers/by-identity/openid/o-dlq-e2e", headers=bearer(admin_key))
        if found.status_code == 200:
            return
        time.sleep(0.3)
    raise AssertionError("the redriven message was not processed")


def test_import_through_the_api_with_a_presigned_upload(stack: Stack, admin_key: str):
    h = bearer(admin_key)
    job = httpx.post(
        f"{stack.url}/v1/imports", headers=h, json={"kind": "customers", "filename": "c.csv"}
    ).json()
    lines = DATA.read_bytes().splitlines(keepends=True)
    put = httpx.put(job["upload_url"], content=b"".join(lines[:51]), headers={"Content-Type": "text/csv"})
    assert put.status_code == 200, put.text
    assert httpx.post(f"{stack.url}/v1/imports/{job['id']}/start", headers=h).status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = httpx.get(f"{stack.url}/v1/imports/{job['id']}", headers=h).json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.3)
    assert status["status"] == "done", status
    assert status["summary"]["rows"] == 50
    report = httpx.get(status["report_url"])
    assert report.status_code == 200 and report.json()["kind"] == "customers"
