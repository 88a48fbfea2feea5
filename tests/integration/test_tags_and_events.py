"""Tag groups, and the events-queue consumer that carries renames and deletions to customers."""

from __future__ import annotations

import json

import boto3

from chalicelib.resources import EVENTS_QUEUE
from tests.integration.conftest import Api, TenantKeys


def drain_events_queue(max_batches: int = 20) -> dict:
    """Deliver what is on the events queue to the app's consumer, as the Lambda event source would."""
    from app import app
    from chalicelib.local.runner import EventRunner, resolve_handler

    sqs = boto3.client("sqs")
    runner = EventRunner(app, sqs, poll_wait=0)
    source = runner.sqs_sources[0]
    url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
    for _ in range(max_batches):
        if runner.poll_once(source, resolve_handler(app, source), url) == 0:
            break
    return {"delivered": runner.delivered, "failed": runner.failed}


def test_new_tenant_has_preset_tag_groups(api: Api, tenant: TenantKeys):
    groups = api.call("GET", "/v1/tag-groups", tenant, role="engineer").data["items"]
    assert [g["name"] for g in groups] == ["客户等级", "生命周期", "客户来源"]
    assert "沉默客户" in [t["name"] for t in groups[1]["tags"]]


def test_create_update_delete_group_with_versions(api: Api, tenant: TenantKeys):
    g = api.call("POST", "/v1/tag-groups", tenant, {"name": "口味", "tags": ["火锅", "川菜"]})
    assert g.status_code == 201
    gid = g.data["id"]
    assert api.call("POST", "/v1/tag-groups", tenant, {"name": "口味"}).status_code == 409
    assert api.call("POST", "/v1/tag-groups", tenant, {"name": "x", "tags": ["a", "a"]}).status_code == 409
    upd = api.call("PATCH", f"/v1/tag-groups/{gid}", tenant, {"add_tags": ["甜品"], "version": 1})
    assert upd.status_code == 200 and [t["name"] for t in upd.data["tags"]] == ["火锅", "川菜", "甜品"]
    stale = api.call("PATCH", f"/v1/tag-groups/{gid}", tenant, {"name": "y"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert api.call("DELETE", f"/v1/tag-groups/{gid}", tenant).status_code == 204
    assert api.call("DELETE", f"/v1/tag-groups/{gid}", tenant).status_code == 404


def test_tag_rename_and_delete_reach_customers_through_the_queue(api: Api, tenant: TenantKeys, container):
    g = api.call("POST", "/v1/tag-groups", tenant, {"name": "口味", "tags": ["火锅", "川菜"]}).data
    hotpot, sichuan = (t["id"] for t in g["tags"])
    ids = [
        api.call("POST", "/v1/customers", tenant, {"name": f"c{i}", "tags": [hotpot, sichuan]}).data["id"]
        for i in range(3)
    ]
    drain_events_queue()  # the customer.created events: acknowledged, no consumer yet
    patch = {"rename_tags": [{"id": hotpot, "name": "重庆火锅"}], "remove_tags": [sichuan]}
    assert api.call("PATCH", f"/v1/tag-groups/{g['id']}", tenant, patch).status_code == 200
    stats = drain_events_queue()
    assert stats == {"delivered": 2, "failed": 0}
    for cid in ids:
        c = api.call("GET", f"/v1/customers/{cid}", tenant).data
        assert c["tags"] == [{"id": hotpot, "name": "重庆火锅"}]
        assert c["timeline"][0]["kind"] == "customer.untagged"
        assert c["timeline"][0]["actor"]["type"] == "system"
    assert api.call("GET", f"/v1/customers?tag={sichuan}", tenant).data["items"] == []
    assert not container.tag_repo.tag_in_use(tenant.tenant_id, sichuan)  # its member index is empty


def test_redelivered_tag_event_has_one_effect(api: Api, tenant: TenantKeys, container):
    g = api.call("POST", "/v1/tag-groups", tenant, {"name": "口味", "tags": ["火锅"]}).data
    tag = g["tags"][0]["id"]
    cid = api.call("POST", "/v1/customers", tenant, {"name": "c", "tags": [tag]}).data["id"]
    from chalicelib.services.events import EventEnvelope
    from chalicelib.workers.events import handle_event

    event = EventEnvelope(
        event_id="evt_1", type="tag.deleted", tenant_id=tenant.tenant_id, data={"tag_id": tag, "name": None}
    )
    handle_event(event)
    version = api.call("GET", f"/v1/customers/{cid}", tenant).data["version"]
    handle_event(event)
    after = api.call("GET", f"/v1/customers/{cid}", tenant).data
    assert after["version"] == version
    assert [e["kind"] for e in after["timeline"]].count("customer.untagged") == 1


def test_a_poison_message_fails_alone_and_the_rest_of_the_batch_is_acknowledged(api: Api, tenant: TenantKeys):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=EVENTS_QUEUE.name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    good = {"event_id": "e2", "type": "customer.created", "tenant_id": tenant.tenant_id, "data": {}}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(good))
    stats = drain_events_queue(max_batches=1)
    assert stats == {"delivered": 1, "failed": 1}
