"""One error shape; nothing stored when a request fails."""

from __future__ import annotations

import boto3

from tests.integration.conftest import Api, TenantKeys


def _shape(data: dict) -> None:
    assert set(data) == {"error"}
    assert set(data["error"]) == {"code", "message", "details"}


def _customer_count(container) -> int:
    items = boto3.client("dynamodb").scan(TableName=container.settings.table_name)["Items"]
    return sum(1 for i in items if i["type"]["S"] == "customer")


def test_401_without_or_with_unknown_key(api: Api, tenant: TenantKeys):
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": f"Bearer scrm.{tenant.tenant_id}.forged"},
    ):
        resp = api.call("GET", "/v1/customers", None, headers=headers)
        assert resp.status_code == 401
        _shape(resp.data)


def test_400_names_every_bad_field_and_stores_nothing(api: Api, tenant: TenantKeys, container):
    body = {
        "name": "",
        "phone": "12345",
        "gender": "x",
        "birthday": "2024-13-45",
        "identities": [{"type": "qq", "value": "1"}],
        "unknown": 1,
    }
    resp = api.call("POST", "/v1/customers", tenant, body)
    assert resp.status_code == 400
    _shape(resp.data)
    fields = {d["field"] for d in resp.data["error"]["details"]}
    assert {"name", "phone", "gender", "birthday", "identities.0.type", "unknown"} <= fields
    assert _customer_count(container) == 0


def test_400_for_bad_json_and_non_object(api: Api, tenant: TenantKeys):
    for raw in (b"{not json", b"[1,2]", b""):
        resp = api.call("POST", "/v1/customers", tenant, raw=raw)
        assert resp.status_code == 400, raw
        _shape(resp.data)


def test_413_for_body_over_256_kib(api: Api, tenant: TenantKeys, container):
    big = {"name": "big", "attributes": {"blob": "x" * (256 * 1024)}}
    resp = api.call("POST", "/v1/customers", tenant, big)
    assert resp.status_code == 413
    _shape(resp.data)
    assert _customer_count(container) == 0


def test_405_for_wrong_method(api: Api, tenant: TenantKeys):
    resp = api.call("PUT", "/v1/customers", tenant, {})
    assert resp.status_code == 405
    _shape(resp.data)
    assert resp.headers["Allow"] == "GET, POST"


def test_404_for_missing_customer_and_unknown_identity_type(api: Api, tenant: TenantKeys):
    for path in (
        "/v1/customers/cus_nope",
        "/v1/customers/by-identity/qq/1",
        "/v1/customers/by-identity/phone/12",
    ):
        resp = api.call("GET", path, tenant)
        assert resp.status_code == 404, path
        _shape(resp.data)


def test_400_for_bad_if_match(api: Api, tenant: TenantKeys):
    c = api.call("POST", "/v1/customers", tenant, {"name": "a"}).data
    resp = api.call("PATCH", f"/v1/customers/{c['id']}", tenant, {"name": "b"}, headers={"If-Match": "abc"})
    assert resp.status_code == 400
    _shape(resp.data)
