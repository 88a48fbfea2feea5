"""/v1/dead-letters and `scrm dlq`: a tenant sees and replays only its own failed messages; the operator's
CLI sees every tenant's; a walk sees past SQS's ten-per-receive."""

from __future__ import annotations

import json

import boto3
from typer.testing import CliRunner

from chalicelib.cli import app
from chalicelib.resources import INGEST_QUEUE
from tests.integration.conftest import Api, TenantKeys


def _urls() -> tuple[str, str]:
    sqs = boto3.client("sqs")
    return (
        sqs.get_queue_url(QueueName=INGEST_QUEUE.name)["QueueUrl"],
        sqs.get_queue_url(QueueName=INGEST_QUEUE.dlq_name)["QueueUrl"],
    )


def _dead(tenant_id: str, n: int, tag: str) -> list[str]:
    """Put n messages of a tenant straight on the ingest DLQ (as SQS does after max_receive_count)."""
    _, dlq = _urls()
    bodies = [json.dumps({"tenant_id": tenant_id, "kind": "poison", "n": f"{tag}-{i}"}) for i in range(n)]
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)
    return bodies


def _count(url: str) -> int:
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _visible(url: str) -> int:
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def test_a_tenant_lists_and_redrives_only_its_own_dead_letters(
    container, api: Api, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    mine = _dead(tenant.tenant_id, 13, "a")  # more than one receive's worth
    theirs = _dead(other_tenant.tenant_id, 12, "b")
    source, dlq = _urls()

    listed = api.call("GET", "/v1/dead-letters?queue=ingest&limit=100", tenant)
    assert listed.status_code == 200, listed.data
    assert sorted(m["body"] for m in listed.data["items"]) == sorted(mine)
    assert all(m["receive_count"] >= 1 for m in listed.data["items"])
    # Looking leaves everything in place and visible again at once.
    assert _visible(dlq) == 25

    limited = api.call("GET", "/v1/dead-letters?queue=ingest&limit=5", tenant)
    assert len(limited.data["items"]) == 5

    moved = api.call("POST", "/v1/dead-letters/redrive", tenant, {"queue": "ingest"})
    assert moved.status_code == 200, moved.data
    assert moved.data == {"queue": "ingest", "redriven": 13}

    sqs = boto3.client("sqs")
    replayed: list[str] = []
    while batch := sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10).get("Messages", []):
        replayed += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=source,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    assert sorted(replayed) == sorted(mine)  # the raw bodies, unchanged
    assert _count(dlq) == 12 and _visible(dlq) == 12  # the other tenant's stay, visible

    left = api.call("GET", "/v1/dead-letters?queue=ingest", other_tenant).data["items"]
    assert sorted(m["body"] for m in left) == sorted(theirs)
    assert api.call("GET", "/v1/dead-letters?queue=ingest", tenant).data["items"] == []


def test_dead_letters_are_for_admins_and_name_a_known_queue(container, api: Api, tenant: TenantKeys) -> None:
    _dead(tenant.tenant_id, 2, "a")
    denied = api.call("GET", "/v1/dead-letters", tenant, role="engineer")
    assert denied.status_code == 403
    assert api.call("POST", "/v1/dead-letters/redrive", tenant, {}, role="agent_all").status_code == 403

    unknown = api.call("GET", "/v1/dead-letters?queue=nope", tenant)
    assert unknown.status_code == 400
    assert "queue" in json.dumps(unknown.data)
    bad = api.call("POST", "/v1/dead-letters/redrive", tenant, {"queue": "ingest", "limit": 0})
    assert bad.status_code == 400 and "limit" in json.dumps(bad.data)
    assert _count(_urls()[1]) == 2  # nothing moved by refused calls


def test_the_cli_lists_every_tenant_or_one_and_redrives_one(
    container, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    mine = _dead(tenant.tenant_id, 3, "a")
    _dead(other_tenant.tenant_id, 2, "b")

    def run(*args: str) -> dict:
        result = CliRunner().invoke(app, ["--aws", "dlq", *args])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    assert run("list", "--queue", "ingest")["count"] == 5
    only = run("list", "--queue", "ingest", "--tenant", tenant.tenant_id)
    assert only["count"] == 3 and sorted(m["body"] for m in only["messages"]) == sorted(mine)
    assert run("redrive", "--queue", "ingest", "--tenant", tenant.tenant_id)["redriven"] == 3
    assert run("list", "--queue", "ingest")["count"] == 2
