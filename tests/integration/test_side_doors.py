"""No side doors around roles and scopes: a permission is checked on the effect (a customer created, changed
or merged; a ticket acted on; settlement seen), whichever route brought it — imports, queued events, H5
forms. One test per door."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from chalicelib import bootstrap
from chalicelib.cli import app
from chalicelib.domain.access import KeyKind, Principal, Role, Scope
from chalicelib.domain.common import ForbiddenError
from chalicelib.domain.customers import Identity
from chalicelib.domain.timeline import Actor, ActorType
from chalicelib.resources import INGEST_QUEUE
from chalicelib.services.ingest import IngestMessage
from chalicelib.services.resolver import Touch
from chalicelib.services.tenants import UserDraft
from chalicelib.services.tickets import H5TicketRequest
from tests.integration.conftest import Api, TenantKeys, drain

CUSTOMER_HEADER = "external_id,name,phone,gender,birthday,province,city,store,unionid,tags,first_seen,note\n"
ORDER_HEADER = (
    "platform,order_id,buyer_phone,buyer_unionid,buyer_nick,sku,item_name,quantity,unit_price,total_amount,"
    "status,paid_at,store\n"
)


def _colleague(container: bootstrap.Container, tenant: TenantKeys, name: str = "colleague") -> None:
    """A second `own` agent: the customers they own are not agent_own's."""
    draft = UserDraft(name=name, role=Role.AGENT, scope=Scope.parse("own"))
    issued = container.tenants.create_user(tenant_id=tenant.tenant_id, draft=draft)
    tenant.keys[name], tenant.user_ids[name] = issued.api_key, issued.user.id


def _who(container: bootstrap.Container, tenant: TenantKeys, role: str) -> Principal:
    kind = KeyKind.INTEGRATION if role == "integration" else KeyKind.STAFF
    return container.tenants.authenticate(f"Bearer {tenant.keys[role]}", accepts=kind)


def _customer(api: Api, tenant: TenantKeys, role: str, **body: Any) -> dict[str, Any]:
    resp = api.call("POST", "/v1/customers", tenant, body, role=role)
    assert resp.status_code == 201, resp.data
    return dict(resp.data)


def _import(
    api: Api, tenant: TenantKeys, container: bootstrap.Container, kind: str, csv: str, role: str
) -> Any:
    """Through the API as `role`: create, upload, start, run (the worker), and the stored report."""
    job = api.call("POST", "/v1/imports", tenant, {"kind": kind, "filename": f"{kind}.csv"}, role=role).data
    bucket = container.settings.bucket_imports
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key=f"{tenant.tenant_id}/imports/{job['id']}.csv", Body=csv.encode())
    assert api.call("POST", f"/v1/imports/{job['id']}/start", tenant, role=role).status_code == 202
    drain(INGEST_QUEUE.name)
    done = api.call("GET", f"/v1/imports/{job['id']}", tenant, role=role).data
    assert done["status"] == "done", done
    body = s3.get_object(Bucket=bucket, Key=f"{tenant.tenant_id}/reports/{job['id']}.json")["Body"].read()
    return done["summary"], json.loads(body)


def test_an_own_agents_import_leaves_a_colleagues_customer_unchanged_and_reports_the_rows(
    api: Api, tenant: TenantKeys, container: bootstrap.Container
) -> None:
    # GIVEN a colleague's customer and the tenant's 黑名单 tag
    _colleague(container, tenant)
    assert api.call("POST", "/v1/tag-groups", tenant, {"name": "风险", "tags": ["黑名单"]}).status_code == 201
    theirs = _customer(api, tenant, "colleague", name="张三", phone="13900000011")
    csv = CUSTOMER_HEADER + (
        "L1,张三,13900000011,,,,,,union-x,黑名单,,\n"  # the colleague's customer: a unionid and 黑名单
        "L2,李四,13900000012,,,,,,,,,\n"  # a new customer: the importer's own
        "L3,王五,13900000013,,,,,,,新标签,,\n"  # needs a tag created: agents may not (tags:manage)
    )

    # WHEN an `own` agent imports the file
    summary, report = _import(api, tenant, container, "customers", csv, role="agent_own")

    # THEN those rows are rejected in the report, row by row, and only the agent's own row applies
    assert summary["rejected_rows"] == 2 and summary["created"] == 1 and summary["updated"] == 0
    assert [(r["row"], r["code"]) for r in report["rejected"]] == [(1, "forbidden"), (3, "forbidden")]
    assert (
        "data scope" in report["rejected"][0]["reason"] and "tags:manage" in report["rejected"][1]["reason"]
    )
    after = api.call("GET", f"/v1/customers/{theirs['id']}", tenant, role="colleague").data
    assert after["tags"] == [] and after["version"] == theirs["version"]
    assert {i["type"] for i in after["identities"]} == {i["type"] for i in theirs["identities"]}
    groups = api.call("GET", "/v1/tag-groups", tenant).data["items"]
    assert "新标签" not in {t["name"] for g in groups for t in g["tags"]}
    mine = api.call("GET", "/v1/customers", tenant, role="agent_own").data["items"]
    assert [c["name"] for c in mine] == ["李四"]  # created inside the importer's scope: theirs

    # The same file by an admin applies everything (the check is the caller's scope, not the file).
    summary, _ = _import(api, tenant, container, "customers", csv, role="admin")
    assert summary["rejected_rows"] == 0
    tagged = api.call("GET", f"/v1/customers/{theirs['id']}", tenant).data
    assert [t["name"] for t in tagged["tags"]] == ["黑名单"]


def test_an_own_agents_order_import_does_not_reach_a_colleagues_customer(
    api: Api, tenant: TenantKeys, container: bootstrap.Container
) -> None:
    _colleague(container, tenant)
    theirs = _customer(api, tenant, "colleague", name="张三", phone="13900000021")
    csv = ORDER_HEADER + (
        "legacy,O-1,13900000021,,,SKU-1,水杯,1,10.00,10.00,paid,2026-11-01T10:00:00+08:00,\n"
        "legacy,O-2,13900000022,,,SKU-1,水杯,1,10.00,10.00,paid,2026-11-01T10:00:00+08:00,\n"
    )
    summary, report = _import(api, tenant, container, "orders", csv, role="agent_own")
    assert [(r["row"], r["code"]) for r in report["rejected"]] == [(1, "forbidden")]
    assert summary["linked"] == 1 and summary["rejected_rows"] == 1
    after = api.call("GET", f"/v1/customers/{theirs['id']}", tenant, role="colleague").data
    assert after["recent_orders"] == [] and after["version"] == theirs["version"]
    assert container.order_repo.get(tenant.tenant_id, "legacy", "O-1") is None  # nothing of it stored
    assert container.order_repo.get(tenant.tenant_id, "legacy", "O-2") is not None


def _behaviour(tenant: TenantKeys, sender: Principal, key: str) -> dict[str, Any]:
    event = {
        "event_id": key,
        "type": "page_view",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "identities": [{"type": "phone", "value": "13900000031"}, {"type": "openid", "value": "o-other"}],
    }
    return IngestMessage(
        source="behaviour",
        tenant_id=tenant.tenant_id,
        key=f"behaviour:{key}",
        received_at=datetime(2026, 11, 23, 9, tzinfo=UTC),
        payload=[event],
        sent_by=sender,
    ).model_dump(mode="json")


def test_a_queued_event_from_a_staff_member_cannot_merge_a_colleagues_customer(
    api: Api, tenant: TenantKeys, container: bootstrap.Container
) -> None:
    # GIVEN a colleague's customer (by phone) and another customer (by openid)
    _colleague(container, tenant)
    theirs = _customer(api, tenant, "colleague", name="张三", phone="13900000031")
    other = _customer(
        api, tenant, "admin", name="小程序用户", identities=[{"type": "openid", "value": "o-other"}]
    )
    # WHEN an event carrying both arrives on the queue as sent by an `own` agent (the route takes integration
    # keys only; the worker does not rely on that)
    container.ingest_publisher.publish([_behaviour(tenant, _who(container, tenant, "agent_own"), "ev-staff")])
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    # THEN nothing is merged or changed, and the event is kept, visible, not retried
    for c in (theirs, other):
        now = api.call("GET", f"/v1/customers/{c['id']}", tenant).data
        assert now["version"] == c["version"] and now["merged_from"] == []
    kept = container.inbox.list(tenant.tenant_id, "2026-11", 10)
    assert [r["kind"] for r in kept] == ["behaviour:refused"]

    # An integration's event acts tenant-wide, as a signed webhook does: the two are one customer.
    container.ingest_publisher.publish([_behaviour(tenant, _who(container, tenant, "integration"), "ev-int")])
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    merged = api.call("GET", f"/v1/customers/{theirs['id']}", tenant).data
    assert merged["merged_from"] == [other["id"]]


@pytest.mark.parametrize("role", ["engineer", "finance"])
def test_staff_without_customers_write_cannot_create_or_merge_customers_through_h5(
    api: Api, tenant: TenantKeys, container: bootstrap.Container, role: str
) -> None:
    who = _who(container, tenant, role)
    form = H5TicketRequest(
        request_id="h5-req-0001",
        identities=[{"type": "phone", "value": "13900000041"}],  # type: ignore[list-item]
        template_id="maintenance_booking",
        fields={"preferred_date": "2026-12-01", "time_slot": "上午"},
    )
    with pytest.raises(ForbiddenError):
        container.tickets.from_h5(principal=who, request=form)
    # The effect itself is checked too, whatever service reaches the resolver with this caller:
    touch = Touch(
        tenant_id=tenant.tenant_id,
        identities=[Identity(type="phone", value="+8613900000041")],
        kind="h5.ticket_requested",
        source="h5",
        at=container.clock.now(),
        actor=Actor(type=ActorType.INTEGRATION, id="h5"),
        idempotency_key="h5:h5-req-0001",
        principal=who,
    )
    with pytest.raises(ForbiddenError, match="may not create customers"):
        container.resolver.touch(touch)
    assert api.call("GET", "/v1/customers", tenant).data["items"] == []
    # …while the integration key's form creates the customer and the ticket.
    opened = container.tickets.from_h5(principal=_who(container, tenant, "integration"), request=form)
    assert opened.ticket.customer_id


def test_an_engineer_sees_no_commission_rules(api: Api, tenant: TenantKeys) -> None:
    assert api.call("GET", "/v1/settlement-rules", tenant, role="engineer").status_code == 403
    for role in ("finance", "store_mgr", "admin"):
        assert api.call("GET", "/v1/settlement-rules", tenant, role=role).status_code == 200


def test_a_wecom_contact_is_owned_by_our_user_so_their_own_scope_covers_it(
    api: Api, tenant: TenantKeys, container: bootstrap.Container, clock: Any, wecom_api: Any
) -> None:
    # GIVEN WeCom connected, and an `own` agent who is WeCom member staff0
    from tests.integration.test_wecom_webhooks import VECTORS, post

    settings = {k: VECTORS[k] for k in ("corp_id", "token", "encoding_aes_key")}
    settings["secret"] = "app-secret-0123456789"
    assert api.call("PUT", "/v1/integrations/wecom", tenant, settings).status_code == 200
    wecom_api.contacts["wmEXT00000000AAAA"] = {"name": "张三", "unionid": "oUnionAAAA", "gender": 1}
    body = {"name": "张三", "role": "agent", "scope": "own", "wecom_userid": "staff0"}
    created = api.call("POST", "/v1/users", tenant, body)
    assert created.status_code == 201 and created.data["wecom_userid"] == "staff0"
    taken = api.call("POST", "/v1/users", tenant, {**body, "name": "李四"})
    assert taken.status_code == 409 and taken.data["error"]["details"][0]["field"] == "wecom_userid"
    staff0 = created.data["api_key"]
    # WHEN staff0 adds a customer on WeCom (the signed callback, through the webhook route and the worker)
    add = next(v for v in VECTORS["callbacks"] if v["kind"] == "add_external_contact")
    assert post(api, tenant.tenant_id, add, clock).status_code == 200
    drain(INGEST_QUEUE.name)
    # THEN the customer is owned by our user id, so the agent's `own` scope covers it
    [customer] = api.call("GET", "/v1/customers", tenant).data["items"]
    assert customer["owner_id"] == created.data["id"]
    headers = {"Authorization": f"Bearer {staff0}", "If-Match": str(customer["version"])}
    edit = api.call("PATCH", f"/v1/customers/{customer['id']}", None, {"name": "张先生"}, headers=headers)
    assert edit.status_code == 200, edit.data
    mine = api.call("GET", "/v1/customers", None, headers={"Authorization": f"Bearer {staff0}"}).data
    assert [c["id"] for c in mine["items"]] == [customer["id"]]
    # The operator's CLI sets it too.
    argv = ["user", "create", "--tenant", tenant.tenant_id, "--role", "agent", "--wecom-userid", "staff1"]
    result = CliRunner().invoke(app, ["--aws", *argv])
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)
    assert container.tenants.staff_for_wecom(tenant.tenant_id, "staff1") == made["user_id"]


def _ticket_in(api: Api, tenant: TenantKeys, store: str) -> str:
    body = {"name": "李雷", "phone": f"1390000{store[-3:]:0>4}", "region": "华东", "store": store}
    cid = _customer(api, tenant, "admin", **body)["id"]
    t = {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "漏水"}}  # → 派单
    resp = api.call("POST", "/v1/tickets", tenant, t, role="agent_all")
    assert resp.status_code == 201, resp.data
    return str(resp.data["ticket"]["id"])


def _assign(api: Api, tenant: TenantKeys, ticket_id: str, who: str) -> None:
    user = tenant.user_ids[who]
    profile = {"region": "华东", "skills": {"appliance_repair": 3}, "shifts": {"0": [["08:00", "20:00"]]}}
    api.call("PUT", f"/v1/staff/{user}", tenant, profile)  # 409 once it exists: fine
    body = {"user_id": user, "reason": "on shift"}
    assert api.call("POST", f"/v1/tickets/{ticket_id}/assign", tenant, body).status_code == 200


def test_engineers_act_on_their_own_tickets_and_with_a_grant_on_their_stores(
    api: Api, tenant: TenantKeys, container: bootstrap.Container
) -> None:
    # GIVEN two engineers of store SH-001 and a ticket there assigned to the first, at 上门维修
    for name in ("eng_a", "eng_b"):
        draft = UserDraft(name=name, role=Role.ENGINEER, scope=Scope.parse("store:SH-001"))
        issued = container.tenants.create_user(tenant_id=tenant.tenant_id, draft=draft)
        tenant.keys[name], tenant.user_ids[name] = issued.api_key, issued.user.id
    tid = _ticket_in(api, tenant, "SH-001")
    _assign(api, tenant, tid, "eng_a")
    move = {"action": "assign"}
    assert (
        api.call("POST", f"/v1/tickets/{tid}/transitions", tenant, move, role="agent_all").status_code == 200
    )

    # WHEN the colleague acts THEN 403 naming the assignee; they see no actions on it
    resolve = {"action": "resolve"}
    refused = api.call("POST", f"/v1/tickets/{tid}/transitions", tenant, resolve, role="eng_b")
    assert refused.status_code == 403 and refused.data["error"]["details"][0]["field"] == "assignee"
    assert api.call("GET", f"/v1/tickets/{tid}", tenant, role="eng_b").data["allowed_actions"] == []

    # WHEN an admin grants them tickets:act-in-scope THEN they act in their store, and still not beyond it
    grant = {"grants": ["tickets:act-in-scope"]}
    granted = api.call("PATCH", f"/v1/users/{tenant.user_ids['eng_b']}", tenant, grant)
    assert granted.status_code == 200 and granted.data["grants"] == ["tickets:act-in-scope"]
    elsewhere = _ticket_in(api, tenant, "SH-002")
    _assign(api, tenant, elsewhere, "engineer")
    api.call("POST", f"/v1/tickets/{elsewhere}/transitions", tenant, move, role="agent_all")
    ok = api.call("POST", f"/v1/tickets/{tid}/transitions", tenant, resolve, role="eng_b")
    assert ok.status_code == 200, ok.data
    far = api.call("POST", f"/v1/tickets/{elsewhere}/transitions", tenant, resolve, role="eng_b")
    assert far.status_code == 404
