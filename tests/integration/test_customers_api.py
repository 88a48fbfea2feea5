"""Customers through the routes (chalice.test.Client) on moto."""

from __future__ import annotations

import threading

import pytest

from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys

ZHANG = {
    "name": "张伟",
    "phone": "+86 138 1234 5678",
    "gender": "男",
    "birthday": "1988-05-03",
    "region": "华东",
    "store": "SH-001",
    "attributes": {"会员卡": "A001"},
    "identities": [{"type": "unionid", "value": "oU_zhang"}, {"type": "youzan_buyer_id", "value": "yz1"}],
    "tags": ["VIP"],
}


def create(api: Api, t: TenantKeys, body: dict | None = None, role: str = "admin"):
    resp = api.call("POST", "/v1/customers", t, body or ZHANG, role=role)
    assert resp.status_code == 201, resp.data
    return resp.data


def test_create_normalises_and_get_360_shows_profile_identities_tags_timeline(api: Api, tenant: TenantKeys):
    created = create(api, tenant)
    assert created["phone"] == "+8613812345678"
    assert created["gender"] == "male"
    assert {"type": "phone", "value": "+8613812345678"} in created["identities"]
    assert [t["name"] for t in created["tags"]] == ["VIP"]

    resp = api.call("GET", f"/v1/customers/{created['id']}", tenant)
    assert resp.status_code == 200
    assert resp.headers["ETag"] == '"1"'
    assert resp.data["name"] == "张伟"
    assert resp.data["attributes"] == {"会员卡": "A001"}
    assert [e["kind"] for e in resp.data["timeline"]] == ["customer.created"]
    assert resp.data["timeline"][0]["actor"] == {"type": "user", "id": tenant.user_ids["admin"]}


def test_get_360_is_one_dynamodb_request_and_lookup_two(container, tenant: TenantKeys):
    from chalicelib.domain.customers import Identity

    admin = container.tenants.authenticate(f"Bearer {tenant.keys['admin']}")
    from chalicelib.domain.customers import CustomerDraft

    view = container.customers.create(principal=admin, draft=CustomerDraft.model_validate(ZHANG))
    with count_requests() as n:
        container.customer_repo.get_with_timeline(tenant.tenant_id, view.customer.id, 20)
    assert n.total == 1
    with count_requests() as n:
        container.customer_repo.find_by_identity(tenant.tenant_id, Identity(type="unionid", value="oU_zhang"))
    assert n.total == 2
    with count_requests() as n:
        container.tenants.authenticate(f"Bearer {tenant.keys['admin']}")
    assert n.total == 1


def test_phone_is_stored_encrypted_not_in_any_key(container, api: Api, tenant: TenantKeys):
    import boto3

    create(api, tenant)
    items = boto3.client("dynamodb").scan(TableName=container.settings.table_name)["Items"]
    dump = str(items)
    assert "13812345678" not in dump and "8613812345678" not in dump


def test_identity_unique_per_tenant_409_names_existing(
    api: Api, tenant: TenantKeys, other_tenant: TenantKeys
):
    first = create(api, tenant)
    dup = api.call("POST", "/v1/customers", tenant, {"name": "Other", "identities": [ZHANG["identities"][0]]})
    assert dup.status_code == 409
    assert first["id"] in dup.data["error"]["message"]
    assert dup.data["error"]["details"][0]["customer_id"] == first["id"]
    same_phone = api.call("POST", "/v1/customers", tenant, {"name": "Other", "phone": "138-1234-5678"})
    assert same_phone.status_code == 409
    assert same_phone.data["error"]["details"][0]["customer_id"] == first["id"]
    # Nothing of the failed create was stored.
    assert api.call("GET", "/v1/customers/by-identity/unionid/oU_zhang", tenant).data["id"] == first["id"]
    listed = api.call("GET", "/v1/customers?q=Other", tenant)
    assert listed.data["items"] == []
    # Another tenant may hold the same identity.
    assert api.call("POST", "/v1/customers", other_tenant, ZHANG).status_code == 201


def test_two_concurrent_creates_with_one_identity_exactly_one_wins(api: Api, tenant: TenantKeys):
    results: list[int] = []
    barrier = threading.Barrier(2)

    def attempt(i: int) -> None:
        barrier.wait()
        body = {"name": f"racer{i}", "identities": [{"type": "openid", "value": "o_same"}]}
        results.append(api.call("POST", "/v1/customers", tenant, body).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]


def test_patch_with_if_match_and_stale_write_conflict(api: Api, tenant: TenantKeys):
    c = create(api, tenant)
    path = f"/v1/customers/{c['id']}"
    ok = api.call(
        "PATCH", path, tenant, {"name": "张伟伟", "attributes": {"level": 3}}, headers={"If-Match": '"1"'}
    )
    assert ok.status_code == 200, ok.data
    assert ok.data["version"] == 2 and ok.headers["ETag"] == '"2"'
    assert ok.data["attributes"] == {"会员卡": "A001", "level": 3}
    stale = api.call("PATCH", path, tenant, {"name": "X"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert stale.data["error"]["code"] == "conflict"
    missing = api.call("PATCH", path, tenant, {"name": "X"})
    assert missing.status_code == 428
    body_version = api.call("PATCH", path, tenant, {"store": "SH-009", "version": 2})
    assert body_version.status_code == 200
    timeline = api.call("GET", f"{path}/timeline", tenant).data["items"]
    assert [e["kind"] for e in timeline] == ["customer.updated", "customer.updated", "customer.created"]
    assert timeline[1]["data"]["changes"]["name"] == ["张伟", "张伟伟"]


def test_patch_phone_moves_the_phone_identity(api: Api, tenant: TenantKeys):
    c = create(api, tenant)
    resp = api.call(
        "PATCH", f"/v1/customers/{c['id']}", tenant, {"phone": "13900001111"}, headers={"If-Match": "1"}
    )
    assert resp.status_code == 200
    assert api.call("GET", "/v1/customers/by-identity/phone/13812345678", tenant).status_code == 404
    found = api.call("GET", "/v1/customers/by-identity/phone/%2B86%20139%200000%201111", tenant)
    assert found.status_code == 200 and found.data["id"] == c["id"]
    # The released phone can be used by a new customer.
    assert (
        api.call("POST", "/v1/customers", tenant, {"name": "新", "phone": "13812345678"}).status_code == 201
    )


def test_tags_add_remove_list_by_tag(api: Api, tenant: TenantKeys):
    a = create(api, tenant)
    b = create(api, tenant, {"name": "李娜", "phone": "13900002222", "tags": []})
    resp = api.call("POST", f"/v1/customers/{b['id']}/tags", tenant, {"tags": ["VIP", "新客户"]})
    assert resp.status_code == 200
    assert sorted(t["name"] for t in resp.data["tags"]) == ["VIP", "新客户"]
    vip = api.call("GET", "/v1/customers?tag=VIP", tenant).data["items"]
    assert sorted(c["id"] for c in vip) == sorted([a["id"], b["id"]])
    vip_id = next(t["id"] for t in a["tags"])
    removed = api.call("DELETE", f"/v1/customers/{a['id']}/tags/{vip_id}", tenant)
    assert removed.status_code == 200 and removed.data["tags"] == []
    assert [c["id"] for c in api.call("GET", f"/v1/customers?tag={vip_id}", tenant).data["items"]] == [
        b["id"]
    ]
    assert api.call("DELETE", f"/v1/customers/{a['id']}/tags/{vip_id}", tenant).status_code == 404
    unknown = api.call("POST", f"/v1/customers/{b['id']}/tags", tenant, {"tags": ["不存在"]})
    assert unknown.status_code == 400 and "不存在" in str(unknown.data)
    kinds = [e["kind"] for e in api.call("GET", f"/v1/customers/{a['id']}", tenant).data["timeline"]]
    assert kinds == ["customer.untagged", "customer.created"]


def test_list_paginates_by_opaque_cursor_and_searches(api: Api, tenant: TenantKeys, clock):
    ids = []
    for i in range(7):
        clock.advance(seconds=1)
        ids.append(create(api, tenant, {"name": f"王{i}", "phone": f"1390000{i:04d}"})["id"])
    seen, cursor = [], None
    while True:
        path = "/v1/customers?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", path, tenant).data
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert [c["name"] for c in api.call("GET", "/v1/customers?q=王3", tenant).data["items"]] == ["王3"]
    assert len(api.call("GET", "/v1/customers?q=王", tenant).data["items"]) == 7
    by_phone = api.call("GET", "/v1/customers?q=139-0000-0005", tenant).data["items"]
    assert [c["id"] for c in by_phone] == [ids[5]]
    assert api.call("GET", "/v1/customers?limit=101", tenant).status_code == 400
    assert api.call("GET", "/v1/customers?cursor=garbage", tenant).status_code == 400


def test_cursor_of_one_tenant_is_rejected_for_another(api: Api, tenant: TenantKeys, other_tenant: TenantKeys):
    for i in range(3):
        create(api, tenant, {"name": f"c{i}"})
    cursor = api.call("GET", "/v1/customers?limit=1", tenant).data["next_cursor"]
    assert cursor
    assert api.call("GET", f"/v1/customers?limit=1&cursor={cursor}", other_tenant).status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/customers/{id}", None),
        ("PATCH", "/v1/customers/{id}", {"name": "hijack", "version": 1}),
        ("POST", "/v1/customers/{id}/tags", {"tags": ["VIP"]}),
        ("DELETE", "/v1/customers/{id}/tags/VIP", None),
        ("GET", "/v1/customers/{id}/timeline", None),
        ("GET", "/v1/customers/by-identity/unionid/oU_zhang", None),
    ],
)
def test_tenant_isolation_other_tenant_sees_404(
    api: Api, tenant: TenantKeys, other_tenant: TenantKeys, method: str, path: str, body
):
    c = create(api, tenant)
    resp = api.call(method, path.format(id=c["id"]), other_tenant, body)
    assert resp.status_code == 404
    assert resp.data["error"]["code"] == "not_found"
    missing = api.call(method, path.format(id="cus_doesnotexist"), other_tenant, body)
    assert missing.status_code == 404
    assert set(resp.data["error"]) == set(missing.data["error"])
    # And it leaks nothing through lists either.
    assert api.call("GET", "/v1/customers?tag=VIP", other_tenant).data["items"] == []
    assert api.call("GET", "/v1/customers?q=张", other_tenant).data["items"] == []
    assert api.call("GET", "/v1/customers/" + c["id"], tenant).data["version"] == 1


def test_tenant_isolation_of_tag_groups(api: Api, tenant: TenantKeys, other_tenant: TenantKeys):
    group = api.call("POST", "/v1/tag-groups", tenant, {"name": "私有", "tags": ["A"]}).data
    for method, body in (("PATCH", {"name": "x"}), ("DELETE", None)):
        assert api.call(method, f"/v1/tag-groups/{group['id']}", other_tenant, body).status_code == 404
    names = [g["name"] for g in api.call("GET", "/v1/tag-groups", other_tenant).data["items"]]
    assert "私有" not in names


def test_pii_masking_per_role(api: Api, tenant: TenantKeys):
    mine = create(api, tenant, {"name": "agent's own", "phone": "13700001234"}, role="agent_own")
    theirs = create(api, tenant)  # owned by the admin
    expect = {
        ("admin", theirs["id"]): "+8613812345678",
        ("finance", theirs["id"]): "+8613812345678",
        ("agent_all", theirs["id"]): "+8613812345678",
        ("engineer", theirs["id"]): "138****5678",
        ("agent_own", theirs["id"]): "138****5678",
        ("agent_own", mine["id"]): "+8613700001234",
    }
    for (role, cid), phone in expect.items():
        data = api.call("GET", f"/v1/customers/{cid}", tenant, role=role).data
        assert data["phone"] == phone, role
        assert data["phone_masked"] == ("*" in phone)
        assert {"type": "phone", "value": phone} in data["identities"]
        assert "13812345678" not in str(data["timeline"])


def test_scopes_hide_write_and_list(api: Api, tenant: TenantKeys):
    east = create(api, tenant)  # region 华东, store SH-001
    west = create(api, tenant, {"name": "西南客户", "region": "西南", "store": "CD-001"})
    assert api.call("GET", f"/v1/customers/{west['id']}", tenant, role="manager_east").status_code == 404
    assert api.call("GET", f"/v1/customers/{east['id']}", tenant, role="manager_east").status_code == 200
    listed = api.call("GET", "/v1/customers", tenant, role="manager_east").data["items"]
    assert [c["id"] for c in listed] == [east["id"]]
    assert [c["id"] for c in api.call("GET", "/v1/customers", tenant, role="store_mgr").data["items"]] == [
        east["id"]
    ]
    # An `own` agent may read a colleague's customer (masked) but not change it.
    assert api.call("GET", f"/v1/customers/{east['id']}", tenant, role="agent_own").status_code == 200
    patch = api.call(
        "PATCH", f"/v1/customers/{east['id']}", tenant, {"name": "x", "version": 1}, role="agent_own"
    )
    assert patch.status_code == 403
    assert api.call("GET", "/v1/customers", tenant, role="agent_own").data["items"] == []
    # A region-scoped manager cannot create outside the region, and defaults to it.
    out = api.call("POST", "/v1/customers", tenant, {"name": "x", "region": "西南"}, role="manager_east")
    assert out.status_code == 403
    assert create(api, tenant, {"name": "默认华东"}, role="manager_east")["region"] == "华东"


def test_roles_that_may_not_write_get_403(api: Api, tenant: TenantKeys):
    c = create(api, tenant)
    for role in ("engineer", "finance"):
        assert api.call("POST", "/v1/customers", tenant, {"name": "x"}, role=role).status_code == 403
        assert (
            api.call(
                "POST", f"/v1/customers/{c['id']}/tags", tenant, {"tags": ["VIP"]}, role=role
            ).status_code
            == 403
        )
    assert api.call("POST", "/v1/tag-groups", tenant, {"name": "g"}, role="agent_all").status_code == 403
    assert (
        api.call("POST", "/v1/users", tenant, {"name": "u", "role": "agent"}, role="manager_east").status_code
        == 403
    )
