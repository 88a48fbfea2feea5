"""Imports through the API: create (presigned upload URL), upload, start, the worker runs it, the report."""

from __future__ import annotations

from pathlib import Path

import boto3

from chalicelib.resources import INGEST_QUEUE
from tests.integration.conftest import Api, TenantKeys, drain

DATA = Path(__file__).resolve().parents[1] / "data" / "customers_legacy.csv"


def test_import_job_lifecycle(api: Api, tenant: TenantKeys, container):
    created = api.call("POST", "/v1/imports", tenant, {"kind": "customers", "filename": "legacy.csv"})
    assert created.status_code == 201, created.data
    job = created.data
    assert job["status"] == "awaiting_upload" and "X-Amz-Signature" in job["upload_url"]
    early = api.call("POST", f"/v1/imports/{job['id']}/start", tenant)
    assert early.status_code == 400  # nothing uploaded yet
    lines = DATA.read_bytes().splitlines(keepends=True)
    key = f"{tenant.tenant_id}/imports/{job['id']}.csv"  # what the presigned URL points at
    boto3.client("s3").put_object(
        Bucket=container.settings.bucket_imports, Key=key, Body=b"".join(lines[:101])
    )
    started = api.call("POST", f"/v1/imports/{job['id']}/start", tenant)
    assert started.status_code == 202 and started.data["status"] == "queued"
    assert api.call("POST", f"/v1/imports/{job['id']}/start", tenant).status_code == 409  # one run per job
    drain(INGEST_QUEUE.name)
    done = api.call("GET", f"/v1/imports/{job['id']}", tenant).data
    assert done["status"] == "done", done
    assert done["summary"]["rows"] == 100 and done["summary"]["created"] > 0 and done["report_url"]
    assert api.call("GET", f"/v1/imports/{job['id']}", tenant, role="engineer").status_code == 403


def test_import_job_validation_and_isolation(api: Api, tenant: TenantKeys, other_tenant: TenantKeys):
    bad = api.call("POST", "/v1/imports", tenant, {"kind": "products", "filename": ""})
    assert bad.status_code == 400 and {d["field"] for d in bad.data["error"]["details"]} == {
        "kind",
        "filename",
    }
    job = api.call("POST", "/v1/imports", tenant, {"kind": "orders", "filename": "o.csv"}).data
    assert api.call("GET", f"/v1/imports/{job['id']}", other_tenant).status_code == 404


def test_an_import_job_whose_header_does_not_fit_fails_naming_the_column(
    api: Api, tenant: TenantKeys, container
):
    job = api.call("POST", "/v1/imports", tenant, {"kind": "customers", "filename": "c.csv"}).data
    boto3.client("s3").put_object(
        Bucket=container.settings.bucket_imports,
        Key=f"{tenant.tenant_id}/imports/{job['id']}.csv",
        Body="姓名,phnoe\n张伟,13812345678\n".encode(),
    )
    assert api.call("POST", f"/v1/imports/{job['id']}/start", tenant).status_code == 202
    drain(INGEST_QUEUE.name)
    failed = api.call("GET", f"/v1/imports/{job['id']}", tenant).data
    assert failed["status"] == "failed" and failed["report_url"] is None
    assert (
        "姓名: unknown column" in failed["error"]
        and "phnoe: unknown column (did you mean phone?)" in (failed["error"])
    )
    listed = api.call("GET", "/v1/customers", tenant).data["items"]
    assert listed == []  # nothing of the file was stored
