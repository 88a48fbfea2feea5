"""The system as a newcomer meets it: `make run`'s stack, over HTTP and the `scrm` CLI."""

from __future__ import annotations

import json
import re
import time

import httpx

from tests.e2e.conftest import Stack, bearer


def test_health_reports_versions_and_store(stack: Stack):
    resp = httpx.get(f"{stack.url}/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok" and body["store"]["reachable"] is True
    assert {"python", "chalice", "pydantic", "pynamodb"} <= set(body["versions"])


def test_demo_key_is_printed_and_works(stack: Stack, admin_key: str):
    demo = stack.demo()
    assert demo["SCRM_API_URL"] == stack.url
    resp = httpx.get(f"{stack.url}/v1/customers", headers=bearer(admin_key))
    assert resp.status_code == 200
    assert len(resp.json()["items"]) >= 4
    assert "demo admin API key: " + admin_key in (stack.local_dir / "stack.log").read_text()


def test_cli_tenant_create_key_works_at_once_and_tenants_are_isolated(stack: Stack, admin_key: str):
    out = stack.cli("tenant", "create", "--name", "E2E 连锁")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert created["tenant_id"].startswith("ten_") and created["api_key"].startswith("scrm.")
    key = created["api_key"]
    me = httpx.get(f"{stack.url}/v1/me", headers=bearer(key)).json()
    assert me == {
        "tenant_id": created["tenant_id"],
        "user_id": created["user_id"],
        "role": "admin",
        "scope": "all",
        "department": None,
    }
    c = httpx.post(
        f"{stack.url}/v1/customers", headers=bearer(key), json={"name": "新租户客户", "phone": "13655556666"}
    )
    assert c.status_code == 201
    # The demo tenant cannot see it, and vice versa.
    assert (
        httpx.get(f"{stack.url}/v1/customers/{c.json()['id']}", headers=bearer(admin_key)).status_code == 404
    )
    demo_ids = [
        x["id"] for x in httpx.get(f"{stack.url}/v1/customers", headers=bearer(admin_key)).json()["items"]
    ]
    assert httpx.get(f"{stack.url}/v1/customers/{demo_ids[0]}", headers=bearer(key)).status_code == 404

    user = stack.cli("user", "create", "--tenant", created["tenant_id"], "--role", "engineer")
    assert user.returncode == 0, user.stderr
    eng = json.loads(user.stdout)
    assert eng["role"] == "engineer" and eng["scope"] == "own"  # least privilege unless --scope says so
    seen = httpx.get(f"{stack.url}/v1/customers/{c.json()['id']}", headers=bearer(eng["api_key"])).json()
    assert seen["phone"] == "136****6666"


def test_demo_integration_key_feeds_ingestion_and_a_revoked_key_stops(stack: Stack, admin_key: str):
    demo = json.loads((stack.local_dir / "demo.json").read_text())
    event = {
        "event_id": "e2e-keys-1",
        "type": "page_view",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "identities": [{"type": "openid", "value": "o-e2e-keys"}],
    }
    events = f"{stack.url}/v1/events"
    sent = httpx.post(events, headers=bearer(demo["key_integration"]), json={"events": [event]})
    assert sent.status_code == 202, sent.text
    staff = httpx.post(events, headers=bearer(admin_key), json={"events": [event]})
    assert staff.status_code == 403 and "integration key" in staff.json()["error"]["message"]
    # an admin-issued key of the demo agent works, then stops on the request after its revocation
    me = httpx.get(f"{stack.url}/v1/me", headers=bearer(demo["key_agent"])).json()
    made = httpx.post(f"{stack.url}/v1/users/{me['user_id']}/keys", headers=bearer(admin_key)).json()
    assert httpx.get(f"{stack.url}/v1/me", headers=bearer(made["api_key"])).status_code == 200
    revoke = f"{stack.url}/v1/users/{me['user_id']}/keys/{made['id']}"
    assert httpx.delete(revoke, headers=bearer(admin_key)).status_code == 200
    assert httpx.get(f"{stack.url}/v1/me", headers=bearer(made["api_key"])).status_code == 401


def test_cli_reports_bad_input(stack: Stack):
    bad = stack.cli("user", "create", "--tenant", "ten_nope", "--role", "agent")
    assert bad.returncode != 0 and "does not exist" in bad.stderr
    scope = stack.cli("user", "create", "--tenant", "ten_nope", "--role", "agent", "--scope", "planet:x")
    assert scope.returncode != 0 and "invalid input" in scope.stderr


def test_http_errors_share_one_shape(stack: Stack, admin_key: str):
    for method, path, kwargs, status in (
        ("GET", "/v1/nothing-here", {}, 404),
        ("GET", "/", {}, 404),
        ("PUT", "/v1/customers", {"headers": bearer(admin_key)}, 405),
        ("GET", "/v1/customers", {}, 401),
        ("POST", "/v1/customers", {"headers": bearer(admin_key), "content": b"x" * (300 * 1024)}, 413),
        ("POST", "/v1/customers", {"headers": bearer(admin_key), "json": {"name": ""}}, 400),
    ):
        resp = httpx.request(method, stack.url + path, **kwargs)
        assert resp.status_code == status, (method, path, resp.text)
        assert set(resp.json()["error"]) == {"code", "message", "details"}


def test_openapi_is_generated_and_docs_render(stack: Stack):
    doc = httpx.get(f"{stack.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"post", "get"} <= set(doc["paths"]["/v1/customers"])
    assert "CustomerDraft" in doc["components"]["schemas"]
    props = doc["components"]["schemas"]["CustomerDraft"]["properties"]
    assert {"name", "phone", "identities", "tags"} <= set(props)
    assert "/v1/customers/by-identity/{id_type}/{value}" in doc["paths"]
    # /docs is Swagger UI from vendored files: each linked with its hash, cached for good, revalidated else.
    page = httpx.get(f"{stack.url}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    links = re.findall(r"docs/static/([\w.-]+)\?v=(\w+)", page.text)
    assert {name for name, _ in links} == {"swagger-ui-bundle.js", "swagger-ui.css", "docs.js"}
    for name, digest in links:
        asset = httpx.get(f"{stack.url}/docs/static/{name}", params={"v": digest})
        assert asset.status_code == 200, name
        assert asset.headers["content-type"].startswith(
            "text/css" if name.endswith(".css") else "text/javascript"
        )
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        again = httpx.get(f"{stack.url}/docs/static/{name}", headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
    assert httpx.get(f"{stack.url}/docs/static/app.py").status_code == 404


def test_the_event_runner_delivers_queue_messages_to_the_consumer(stack: Stack, admin_key: str):
    h = bearer(admin_key)
    group = httpx.post(
        f"{stack.url}/v1/tag-groups", headers=h, json={"name": "e2e口味", "tags": ["辣"]}
    ).json()
    tag = group["tags"][0]["id"]
    cid = httpx.post(f"{stack.url}/v1/customers", headers=h, json={"name": "嗜辣", "tags": [tag]}).json()[
        "id"
    ]
    resp = httpx.patch(
        f"{stack.url}/v1/tag-groups/{group['id']}",
        headers=h,
        json={"rename_tags": [{"id": tag, "name": "特辣"}]},
    )
    assert resp.status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        tags = httpx.get(f"{stack.url}/v1/customers/{cid}", headers=h).json()["tags"]
        if tags == [{"id": tag, "name": "特辣"}]:
            return
        time.sleep(0.3)
    raise AssertionError(f"the rename did not reach the customer: {tags}")
