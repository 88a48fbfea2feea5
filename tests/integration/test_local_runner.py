"""The local event runner delivers like the Lambda event sources: batches, partial failures, DLQ redrive,
and schedules — read from the Chalice app object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
from chalice.app import Chalice, Cron, Rate

from chalicelib.local.provision import create_queue
from chalicelib.local.runner import EventRunner, resolve_handler
from chalicelib.resources import QueueSpec

runner_app = Chalice(app_name="runner-test")
SEEN: list[str] = []
FIRED: list[str] = []
QUEUE = QueueSpec(logical_id="t", name="runner-test", visibility_timeout=0, max_receive_count=2, batch_size=5)


@runner_app.on_sqs_message(queue=QUEUE.name, batch_size=QUEUE.batch_size)
def consume(event):  # type: ignore[no-untyped-def]
    failures = []
    for record in event:
        if record.body.startswith("bad"):
            failures.append({"itemIdentifier": record.to_dict()["messageId"]})
        else:
            SEEN.append(record.body)
    return {"batchItemFailures": failures}


@runner_app.schedule(Rate(5, unit=Rate.MINUTES))
def every_five_minutes(event):  # type: ignore[no-untyped-def]
    FIRED.append(f"rate:{event.time}")


@runner_app.schedule(Cron(0, 1, "*", "*", "?", "*"))
def nightly(event):  # type: ignore[no-untyped-def]
    FIRED.append(f"cron:{event.time}")


def test_sqs_batches_partial_failures_and_dlq_redrive(aws):
    sqs = boto3.client("sqs")
    url = create_queue(sqs, QUEUE)
    for body in ("a", "b", "bad-1", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    runner = EventRunner(runner_app, sqs, poll_wait=0)
    [source] = runner.sqs_sources
    handler = resolve_handler(runner_app, source)
    for _ in range(6):
        runner.poll_once(source, handler, url)
    assert sorted(SEEN) == ["a", "b", "c"]  # each good message delivered once, never redelivered
    dlq_url = sqs.get_queue_url(QueueName=QUEUE.dlq_name)["QueueUrl"]
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["bad-1"]  # the poison message ended in the DLQ, nothing lost
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_schedules_fire_from_the_app_declarations():
    runner = EventRunner(runner_app, sqs=None)
    assert {s.name for s in runner.schedules} == {"every_five_minutes", "nightly"}
    start = datetime(2026, 11, 23, 0, 58, tzinfo=UTC)
    rate = next(s for s in runner.schedules if s.name == "every_five_minutes")
    runner._last_fired[rate.name] = start  # as at start-up: a rate fires one period later
    fired = []
    for minute in range(0, 8):
        fired += runner.tick(start + timedelta(minutes=minute, seconds=1))
    assert fired == ["nightly", "every_five_minutes"]  # 01:00 for the cron, 01:03 for the rate
    assert FIRED == ["cron:2026-11-23T01:00:01Z", "rate:2026-11-23T01:03:01Z"]
