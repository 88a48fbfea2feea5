"""Per-step workflow statistics through the API: tickets opened and moved, the events worker counting each
step once (redeliveries included), GET /v1/workflows/{id}/stats with drop-off rates and alerts."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib import bootstrap
from tests.fakes.clock import FrozenClock
from tests.integration.conftest import Api, TenantKeys, drain
from tests.integration.test_tickets import act, customer, open_ticket

QUEUE = "scrm-events"


def _stats(api: Api, tenant: TenantKeys, query: str = "") -> dict[str, Any]:
    resp = api.call("GET", f"/v1/workflows/wf_repair/stats{query}", tenant, role="agent_all")
    assert resp.status_code == 200, resp.data
    return dict(resp.data)


def _nodes(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["node"]: n for n in stats["nodes"]}


def _take_all(queue: str) -> list[str]:
    """Receive (and delete) every message on the queue: their bodies, to deliver them again."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        for m in got:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _send(queue: str, bodies: list[str]) -> None:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)


def test_per_step_counts_drop_off_and_alerts(
    api: Api, tenant: TenantKeys, container: bootstrap.Container, clock: FrozenClock
):
    cid = customer(api, tenant)
    ids = [
        open_ticket(
            api,
            tenant,
            {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "异响"}},
        )["ticket"]["id"]
        for _ in range(5)
    ]
    clock.advance(minutes=10)
    for tid in ids[:2]:
        assert act(api, tenant, tid, "agent_all", "cancel").status_code == 200
    clock.advance(minutes=10)
    for tid in ids[2:]:
        assert act(api, tenant, tid, "agent_all", "accept").status_code == 200

    # every step event delivered twice (at least once delivery), and the queue drained twice
    bodies = _take_all(QUEUE)
    assert sum('"type":"ticket.' in b for b in bodies) == 10
    _send(QUEUE, bodies + bodies)
    assert drain(QUEUE)["failed"] == 0
    _send(QUEUE, bodies)
    drain(QUEUE)
    drain(QUEUE)

    stats = _stats(api, tenant)
    assert stats["workflow_id"] == "wf_repair" and stats["version"] == 1
    assert stats["from"] < stats["to"]
    nodes = _nodes(stats)
    assert list(nodes)[:2] == ["new", "triage"]
    triage = nodes["triage"]
    assert (triage["entries"], triage["exits"], triage["dropped"]) == (5, 5, 2)
    assert triage["drop_off_rate"] == "0.4000"
    # 2 × 600 s and 3 × 1200 s: the median is in 1200 s's bucket, within the documented factor
    assert 1200 / 1.48 <= triage["median_seconds"] <= 1200 * 1.48
    assert (nodes["new"]["entries"], nodes["new"]["exits"]) == (5, 0)
    assert (nodes["dispatch"]["entries"], nodes["dispatch"]["exits"], nodes["dispatch"]["dropped"]) == (
        3,
        0,
        0,
    )
    assert nodes["cancelled"]["entries"] == 2 and nodes["closed"]["entries"] == 0
    assert stats["threshold"] == "0.15"
    assert stats["alerts"] == []  # 5 entries: below the 20 an alert needs by default

    small = _stats(api, tenant, "?min_entries=5")
    assert [(a["node"], a["drop_off_rate"]) for a in small["alerts"]] == [("triage", "0.4000")]
    lenient = _stats(api, tenant, "?min_entries=5&threshold=0.5")
    assert lenient["alerts"] == [] and lenient["threshold"] == "0.5"

    # the counters are per day: a period that ends before today's counts is empty
    clock.advance(days=40)
    later = _nodes(_stats(api, tenant, "?days=7"))
    assert later["triage"]["entries"] == 0 and later["triage"]["median_seconds"] is None


def test_stats_need_a_known_workflow_and_valid_parameters(
    api: Api, tenant: TenantKeys, other_tenant: TenantKeys
):
    assert api.call("GET", "/v1/workflows/nope/stats", tenant).status_code == 404
    assert api.call("GET", "/v1/workflows/wf_repair/stats?threshold=2", tenant).status_code == 400
    assert api.call("GET", "/v1/workflows/wf_repair/stats?days=0", tenant).status_code == 400
    assert api.call("GET", "/v1/workflows/wf_repair/stats?version=9", tenant).status_code == 404
    assert api.call("GET", "/v1/workflows/wf_repair/stats", None).status_code == 401
    empty = api.call("GET", "/v1/workflows/wf_repair/stats", other_tenant).data
    assert all(n["entries"] == 0 for n in empty["nodes"])
