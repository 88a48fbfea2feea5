"""Keys and users that can be stopped, over HTTP on moto: revocation, disabled users, rotation, key kinds."""

from __future__ import annotations

import pytest

from chalicelib.domain.tenants import MAX_ACTIVE_KEYS, TooManyKeysError, issue_api_key, parse_api_key
from chalicelib.store.tenants import DynamoTenantRepository
from tests.fakes.dynamo import count_requests
from tests.fakes.dynamo_faults import transaction_conflicts
from tests.integration.conftest import Api, TenantKeys

EVENT = {
    "event_id": "ev-1",
    "type": "page_view",
    "occurred_at": "2026-11-20T10:00:00+08:00",
    "identities": [{"type": "openid", "value": "o-1"}],
}
H5_FORM = {
    "request_id": "h5-keys-1",
    "identities": [{"type": "phone", "value": "13800138000"}],
    "template_id": "maintenance_booking",
    "fields": {"preferred_date": "2026-12-01", "time_slot": "上午"},
}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def get_me(api: Api, secret: str):
    return api.call("GET", "/v1/me", None, headers=bearer(secret))


def only_key(api: Api, tenant: TenantKeys, user_id: str) -> dict:
    (key,) = api.call("GET", f"/v1/users/{user_id}/keys", tenant).data["items"]
    return key


def test_a_revoked_key_gets_401_on_its_next_request_while_the_rotated_one_works(api: Api, tenant: TenantKeys):
    # GIVEN an agent with their first key, and a second one an admin issued for a rotation
    uid, old = tenant.user_ids["agent_all"], tenant.keys["agent_all"]
    created = api.call("POST", f"/v1/users/{uid}/keys", tenant)
    assert created.status_code == 201, created.data
    new = created.data["api_key"]
    assert get_me(api, old).status_code == 200 and get_me(api, new).status_code == 200
    listed = api.call("GET", f"/v1/users/{uid}/keys", tenant).data["items"]
    assert len(listed) == 2 and all("api_key" not in k and k["kind"] == "staff" for k in listed)
    assert api.call("POST", f"/v1/users/{uid}/keys", tenant).status_code == 409  # at most two active
    # WHEN the old key is revoked
    old_id = next(k["id"] for k in listed if k["id"] != created.data["id"])
    revoked = api.call("DELETE", f"/v1/users/{uid}/keys/{old_id}", tenant)
    assert revoked.status_code == 200 and revoked.data["revoked_at"]
    # THEN its very next request is refused, and the new key still works
    refused = get_me(api, old)
    assert refused.status_code == 401 and "revoked" in refused.data["error"]["message"]
    assert get_me(api, new).status_code == 200
    # AND revoking it again answers the same, changing nothing
    again = api.call("DELETE", f"/v1/users/{uid}/keys/{old_id}", tenant)
    assert again.status_code == 200 and again.data == revoked.data


def test_a_disabled_users_keys_all_get_401_until_enabled(api: Api, tenant: TenantKeys):
    uid = tenant.user_ids["manager_east"]
    second = api.call("POST", f"/v1/users/{uid}/keys", tenant).data["api_key"]
    keys = (tenant.keys["manager_east"], second)
    resp = api.call("PATCH", f"/v1/users/{uid}", tenant, {"disabled": True})
    assert resp.status_code == 200 and resp.data["disabled"] is True
    for secret in keys:
        refused = api.call("GET", "/v1/customers", None, headers=bearer(secret))
        assert refused.status_code == 401 and "disabled" in refused.data["error"]["message"]
    users = {u["id"]: u for u in api.call("GET", "/v1/users", tenant).data["items"]}
    assert users[uid]["disabled"] is True
    assert api.call("PATCH", f"/v1/users/{uid}", tenant, {"disabled": False}).status_code == 200
    assert all(get_me(api, secret).status_code == 200 for secret in keys)


def test_a_role_change_applies_to_the_next_request(api: Api, tenant: TenantKeys):
    uid = tenant.user_ids["agent_own"]
    assert get_me(api, tenant.keys["agent_own"]).data["role"] == "agent"
    changed = api.call("PATCH", f"/v1/users/{uid}", tenant, {"role": "manager", "scope": "store:SH-001"})
    assert changed.status_code == 200, changed.data
    me = get_me(api, tenant.keys["agent_own"]).data
    assert (me["role"], me["scope"]) == ("manager", "store:SH-001")


def test_staff_keys_get_403_on_ingestion_and_integration_keys_403_elsewhere(api: Api, tenant: TenantKeys):
    for path, body in (("/v1/events", {"events": [EVENT]}), ("/v1/h5/tickets", H5_FORM)):
        for staff in ("admin", "agent_all", "engineer"):
            resp = api.call("POST", path, tenant, body, role=staff)
            assert resp.status_code == 403, (path, staff)
            assert "integration key" in resp.data["error"]["message"]
    assert api.call("POST", "/v1/events", tenant, {"events": [EVENT]}, role="integration").status_code == 202
    assert api.call("POST", "/v1/h5/tickets", tenant, H5_FORM, role="integration").status_code == 201
    for method, path in (("GET", "/v1/customers"), ("GET", "/v1/me"), ("GET", "/v1/integration-keys")):
        resp = api.call(method, path, tenant, role="integration")
        assert resp.status_code == 403 and "ingestion routes" in resp.data["error"]["message"], path


def test_integration_keys_are_created_listed_and_revoked_by_admins(api: Api, tenant: TenantKeys):
    assert (
        api.call("POST", "/v1/integration-keys", tenant, {"name": "小程序"}, role="manager_east").status_code
        == 403
    )
    bad = api.call("POST", "/v1/integration-keys", tenant, {"name": ""})
    assert bad.status_code == 400 and bad.data["error"]["details"][0]["field"] == "name"
    created = api.call("POST", "/v1/integration-keys", tenant, {"name": "小程序"})
    assert created.status_code == 201 and created.data["kind"] == "integration"
    secret = created.data["api_key"]
    send = {"events": [EVENT]}
    assert api.call("POST", "/v1/events", None, send, headers=bearer(secret)).status_code == 202
    names = [k["name"] for k in api.call("GET", "/v1/integration-keys", tenant).data["items"]]
    assert sorted(names) == ["H5 backend", "小程序"]
    gone = api.call("DELETE", f"/v1/integration-keys/{created.data['id']}", tenant)
    assert gone.status_code == 200 and gone.data["revoked_at"]
    assert api.call("POST", "/v1/events", None, send, headers=bearer(secret)).status_code == 401
    assert api.call("DELETE", "/v1/integration-keys/key_nope", tenant).status_code == 404


def test_users_revoke_their_own_keys_only_admins_mint_them(api: Api, tenant: TenantKeys):
    me, other = tenant.user_ids["agent_all"], tenant.user_ids["engineer"]
    assert api.call("POST", f"/v1/users/{me}/keys", tenant, role="agent_all").status_code == 403
    assert api.call("GET", f"/v1/users/{other}/keys", tenant, role="agent_all").status_code == 403
    assert (
        api.call("PATCH", f"/v1/users/{other}", tenant, {"disabled": True}, role="agent_all").status_code
        == 403
    )
    key = only_key(api, tenant, me)
    theirs = only_key(api, tenant, other)
    assert (
        api.call("DELETE", f"/v1/users/{other}/keys/{theirs['id']}", tenant, role="agent_all").status_code
        == 403
    )
    own = api.call("DELETE", f"/v1/users/{me}/keys/{key['id']}", tenant, role="agent_all")
    assert own.status_code == 200
    assert get_me(api, tenant.keys["agent_all"]).status_code == 401


def test_bad_user_edits_are_400_naming_the_field_and_change_nothing(api: Api, tenant: TenantKeys):
    uid = tenant.user_ids["finance"]
    for body, field in (
        ({"disabled": "maybe"}, "disabled"),
        ({"role": "integration"}, "role"),
        ({"scope": "planet:mars"}, "scope"),
        ({"disabled": None}, "disabled"),
        ({"nickname": "x"}, "nickname"),
    ):
        resp = api.call("PATCH", f"/v1/users/{uid}", tenant, body)
        assert resp.status_code == 400, body
        assert field in {d["field"] for d in resp.data["error"]["details"]}, resp.data
    assert api.call("PATCH", "/v1/users/usr_nobody", tenant, {"disabled": True}).status_code == 404
    admin = tenant.user_ids["admin"]
    # an admin cannot disable themselves (another admin can)
    assert api.call("PATCH", f"/v1/users/{admin}", tenant, {"disabled": True}).status_code == 403
    assert get_me(api, tenant.keys["finance"]).data["role"] == "finance"


def test_authentication_stays_one_request(api: Api, tenant: TenantKeys):
    for who, call in (("staff", "BatchGetItem"), ("integration", "GetItem")):
        secret = tenant.keys["agent_all" if who == "staff" else "integration"]
        with count_requests() as counter:
            resp = (
                get_me(api, secret)
                if who == "staff"
                else api.call("POST", "/v1/events", None, {"events": [EVENT]}, headers=bearer(secret))
            )
        assert resp.status_code in (200, 202)
        assert dict(counter.calls) == {call: 1}, who  # /v1/me and /v1/events read nothing else


def test_the_store_counts_active_keys_and_a_stale_revocation_writes_nothing(container, tenant: TenantKeys):
    repo = DynamoTenantRepository()
    ref = parse_api_key(tenant.keys["store_mgr"])
    key, user = repo.get_credentials(ref)
    assert key is not None and user is not None and user.id == ref.user_id
    now = container.clock.now()
    assert repo.revoke_key(key, now) is True
    assert repo.revoke_key(key, now) is False  # a stale copy: nothing written
    revoked, _ = repo.get_credentials(ref)
    assert revoked is not None and revoked.revoked_at == now
    # the revoked key gave its place back: two new keys fit, a third does not
    for _ in range(MAX_ACTIVE_KEYS):
        repo.add_key(issue_api_key(user, now)[1], limit=MAX_ACTIVE_KEYS)
    with pytest.raises(TooManyKeysError):
        repo.add_key(issue_api_key(user, now)[1], limit=MAX_ACTIVE_KEYS)
    assert sum(k.active for k in repo.list_keys(tenant.tenant_id, user.id)) == MAX_ACTIVE_KEYS


def test_the_api_document_names_the_key_each_route_takes(api: Api):
    paths = api.call("GET", "/openapi.json", None).data["paths"]
    for path, method in (("/v1/events", "post"), ("/v1/h5/tickets", "post")):
        assert paths[path][method]["security"] == [{"integrationKey": []}]
    assert paths["/v1/customers"]["get"]["security"] == [{"bearer": []}]
    assert {"401", "403"} <= set(paths["/v1/users/{user_id}/keys/{key_id}"]["delete"]["responses"])


def test_contention_on_a_key_write_is_retried_and_takes_effect_once(api: Api, tenant: TenantKeys):
    uid = tenant.user_ids["engineer"]
    with transaction_conflicts(1) as faults:
        created = api.call("POST", f"/v1/users/{uid}/keys", tenant)
    assert created.status_code == 201 and len(faults.cancelled) == 1 and faults.sent == 1
    with transaction_conflicts(1) as faults:
        revoked = api.call("DELETE", f"/v1/users/{uid}/keys/{created.data['id']}", tenant)
    assert revoked.status_code == 200 and faults.sent == 1
    keys = api.call("GET", f"/v1/users/{uid}/keys", tenant).data["items"]
    assert len(keys) == 2 and [k["revoked_at"] is None for k in keys].count(True) == 1
    # the user's count went up once and down once: a second new key still fits
    assert api.call("POST", f"/v1/users/{uid}/keys", tenant).status_code == 201
    assert api.call("POST", f"/v1/users/{uid}/keys", tenant).status_code == 409
