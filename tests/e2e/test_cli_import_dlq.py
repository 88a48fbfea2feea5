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
    assert "/" in first.stderr  # the progress bar
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
    replay = json.loads(stack.cli("import", "orders", str(orders), "--tenant", tenant["tenant_id"]).stdout)
    assert replay["linked"] == 0 and replay["unchanged"] > 0


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
