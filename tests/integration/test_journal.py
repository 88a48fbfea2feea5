"""The local stack's journal (chalicelib/local/journal.py) on in-process moto: what moto acknowledged comes
back after a crash (moto's memory thrown away, nothing saved on the way out), a cut-short last record is
dropped, and compaction starts a new generation that an older journal cannot overwrite."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.local.journal import Journal
from chalicelib.local.provision import create_queue, create_table
from chalicelib.resources import INGEST_QUEUE

TABLE = "scrm-journal"


@dataclass
class Process:
    """One life of the stack process: moto provisioned empty, then recovered from the directory."""

    journal: Journal
    recovered: tuple[int, int, int]  # items, queued messages, records replayed
    ddb: Any
    sqs: Any
    queue: str
    dlq: str

    def put(self, key: str, **attrs: Any) -> None:
        item = {"pk": {"S": key}, "sk": {"S": "A"}, **{k: {"S": str(v)} for k, v in attrs.items()}}
        self.ddb.put_item(TableName=TABLE, Item=item)

    def items(self) -> dict[str, dict[str, Any]]:
        return {i["pk"]["S"]: i for i in self.ddb.scan(TableName=TABLE)["Items"]}

    def bodies(self, url: str) -> list[str]:
        """Every message on the queue, in flight or not (a test's view, not a consumer's)."""
        from moto.sqs.models import sqs_backends

        name = url.rsplit("/", 1)[1]
        return sorted(m.body for m in sqs_backends["123456789012"]["us-east-1"].queues[name]._messages)


@contextmanager
def process(directory: Path, **journal_options: Any) -> Iterator[Process]:
    with mock_aws():
        ddb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        create_table(ddb, TABLE)
        queue = create_queue(sqs, INGEST_QUEUE)
        dlq = sqs.get_queue_url(QueueName=INGEST_QUEUE.dlq_name)["QueueUrl"]
        journal = Journal(directory, **journal_options)
        recovered = journal.recover()
        journal.start()
        try:
            yield Process(journal, recovered, ddb, sqs, queue, dlq)
        finally:
            journal.close()  # what the OS does for a killed process: nothing is compacted


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "A"}}


def test_acknowledged_writes_and_queued_messages_survive_a_crash(tmp_path: Path) -> None:
    with process(tmp_path) as p:
        p.put("a", name="甲")
        for _ in range(2):
            p.ddb.update_item(
                TableName=TABLE,
                Key=_key("counter"),
                UpdateExpression="ADD #n :one",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        p.put("gone")
        p.ddb.delete_item(TableName=TABLE, Key=_key("gone"))
        p.ddb.batch_write_item(
            RequestItems={TABLE: [{"PutRequest": {"Item": {**_key(k), "v": {"S": k}}}} for k in "de"]}
        )
        p.ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**_key("f"), "v": {"S": "f"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key("a"),
                        "UpdateExpression": "SET #v = :v",
                        "ExpressionAttributeNames": {"#v": "v"},
                        "ExpressionAttributeValues": {":v": {"S": "updated"}},
                    }
                },
            ]
        )
        with pytest.raises(ClientError):  # refused: changes nothing, records nothing
            p.ddb.put_item(
                TableName=TABLE,
                Item={**_key("a"), "v": {"S": "lost"}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        for body in ("one", "two"):
            p.sqs.send_message(QueueUrl=p.queue, MessageBody=body)
        p.sqs.send_message_batch(QueueUrl=p.queue, Entries=[{"Id": "1", "MessageBody": "three"}])
        received = p.sqs.receive_message(QueueUrl=p.queue, MaxNumberOfMessages=2, VisibilityTimeout=60)
        done, in_flight = received["Messages"]
        p.sqs.delete_message(QueueUrl=p.queue, ReceiptHandle=done["ReceiptHandle"])
        items, bodies = p.items(), p.bodies(p.queue)
    assert set(items) == {"a", "counter", "d", "e", "f"} and items["counter"]["n"] == {"N": "2"}
    assert bodies == sorted({"one", "two", "three"} - {done["Body"]})

    with process(tmp_path) as p:
        assert p.items() == items and p.bodies(p.queue) == bodies
        assert p.recovered[:2] == (5, 2)
        # The message that was in flight at the crash is visible again at once.
        again = p.sqs.receive_message(QueueUrl=p.queue, MaxNumberOfMessages=10)["Messages"]
        assert sorted(m["Body"] for m in again) == bodies and in_flight["Body"] in bodies


def test_a_message_moved_to_the_dlq_stays_moved(tmp_path: Path) -> None:
    with process(tmp_path) as p:
        p.sqs.send_message(QueueUrl=p.queue, MessageBody="poison")
        for _ in range(INGEST_QUEUE.max_receive_count):  # received and never deleted
            assert p.sqs.receive_message(QueueUrl=p.queue, VisibilityTimeout=0)["Messages"]
        assert "Messages" not in p.sqs.receive_message(QueueUrl=p.queue)  # moved to the DLQ on this one
        assert p.bodies(p.dlq) == ["poison"]
    with process(tmp_path) as p:
        assert p.bodies(p.queue) == [] and p.bodies(p.dlq) == ["poison"]


def test_a_cut_short_last_record_is_dropped_and_the_next_starts_on_its_own_line(tmp_path: Path) -> None:
    with process(tmp_path) as p:
        p.put("a")
    with (tmp_path / "journal.log").open("ab") as f:
        f.write(b'{"items": [["arn:aws:dynamodb:us-east-1:123456789012:table/scrm-journal"')  # no newline
    with process(tmp_path) as p:
        assert set(p.items()) == {"a"}
        p.put("b")
    with process(tmp_path) as p:
        assert set(p.items()) == {"a", "b"} and p.recovered[2] == 2


def test_compaction_starts_a_generation_that_an_older_journal_cannot_replay_into(tmp_path: Path) -> None:
    with process(tmp_path, compact_bytes=1) as p:
        p.put("a")
        p.sqs.send_message(QueueUrl=p.queue, MessageBody="queued")
        assert p.journal.compaction_due.is_set()
        old_journal = (tmp_path / "journal.log").read_bytes()
        assert p.journal.compact() == 1 and p.journal.generation == 1
        p.put("b")
    snapshot = json.loads((tmp_path / "snapshot.json").read_text())
    assert snapshot["generation"] == 1
    assert [
        m["body"] for m in snapshot["queues"][f"arn:aws:sqs:us-east-1:123456789012:{INGEST_QUEUE.name}"]
    ] == ["queued"]
    journal = (tmp_path / "journal.log").read_bytes().splitlines()
    assert json.loads(journal[0]) == {"generation": 1} and len(journal) == 2  # the header, then b
    with process(tmp_path) as p:
        assert set(p.items()) == {"a", "b"} and p.bodies(p.queue) == ["queued"] and p.recovered[2] == 1
    # A crash between the snapshot and the new journal leaves the old journal: the snapshot holds it.
    (tmp_path / "journal.log").write_bytes(old_journal)
    with process(tmp_path) as p:
        assert set(p.items()) == {"a"} and p.bodies(p.queue) == ["queued"] and p.recovered[2] == 0


def test_a_snapshot_from_before_the_journal_is_restored(tmp_path: Path) -> None:
    items = [{**_key("old"), "v": {"S": "kept"}}]
    (tmp_path / "snapshot.json").write_text(json.dumps({"table": TABLE, "items": items}))
    with process(tmp_path) as p:
        assert list(p.items().values()) == items


def test_the_files_are_private(tmp_path: Path) -> None:
    with process(tmp_path) as p:
        p.put("a")
        p.journal.compact()
    for name in ("journal.log", "snapshot.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
