"""What the local stack keeps on disk: moto's tables and queues, read and put back in-process.

A snapshot is one JSON file, `{"format": 2, "generation": n, "tables": {arn: [item]}, "queues": {arn:
[message]}}`; the journal (`journal.py`) holds what changed since, under the same generation. Items are in
DynamoDB JSON (`Item.to_json`), messages in the fields below. Format 1 (`{"table", "items"}`, before the
journal) is still read. Local tooling only: nothing here runs in Lambda."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT = 2
DEFAULT_ACCOUNT = "123456789012"  # moto's
DEFAULT_REGION = "us-east-1"


def write_private(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Replace `path` atomically with a file only its owner can read (mode 0600 from its creation: never
    world-readable, not even for a moment). A crash mid-write keeps the previous file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # a leftover might carry another mode; O_CREAT keeps an existing file's
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class MotoState:
    """moto's tables and queues in this process, found by ARN (journal records and snapshots name them so)."""

    def __init__(self) -> None:
        from moto.dynamodb.models import dynamodb_backends
        from moto.sqs.models import sqs_backends

        self._dynamodb = dynamodb_backends
        self._sqs = sqs_backends
        # While restoring: queue ARN → {message id: message}, and message id → queue ARN.
        self._restoring: tuple[dict[str, dict[str, Any]], dict[str, str]] | None = None

    # -- tables ----------------------------------------------------------------------------------
    def table(self, arn: str) -> Any | None:
        region, account, name = _arn_parts(arn)
        return self._dynamodb[account][region].tables.get(name.removeprefix("table/"))

    def table_named(self, name: str) -> Any | None:
        return self._dynamodb[DEFAULT_ACCOUNT][DEFAULT_REGION].tables.get(name)

    def tables(self) -> list[Any]:
        return list(self._dynamodb[DEFAULT_ACCOUNT][DEFAULT_REGION].tables.values())

    @staticmethod
    def items(table: Any) -> Iterator[Any]:
        for entry in list(table.items.values()):
            yield from (list(entry.values()) if table.range_key_attr else [entry])

    @staticmethod
    def set_item(table: Any, key: dict[str, Any], item: dict[str, Any] | None) -> None:
        """The item as it is now (`None`: deleted). Idempotent: replaying a record twice changes nothing."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        if item is not None:
            table.put_item(item)
            return
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        table.delete_item(hash_value, range_value)

    # -- queues ----------------------------------------------------------------------------------
    def queue(self, arn: str) -> Any | None:
        region, account, name = _arn_parts(arn)
        return self._sqs[account][region].queues.get(name)

    def queues(self) -> list[Any]:
        return list(self._sqs[DEFAULT_ACCOUNT][DEFAULT_REGION].queues.values())

    # While restoring, each queue's messages are held by id (every step O(1), even for a long journal),
    # and written back into the queues by `finish`.
    def add_message(self, queue: Any, state: dict[str, Any]) -> None:
        """A message into `queue`, visible at once; taken out of any queue holding it first (a move to the
        DLQ is recorded as its addition there)."""
        held, where = self._held()
        previous = where.get(state["id"])
        if previous is not None:
            held[previous].pop(state["id"], None)
        held[queue.queue_arn][state["id"]] = message_from_state(state)
        where[state["id"]] = queue.queue_arn

    def remove_messages(self, queue: Any, ids: list[str]) -> None:
        held, where = self._held()
        for message_id in ids:
            if held[queue.queue_arn].pop(message_id, None) is not None:
                del where[message_id]

    def purge(self, queue: Any) -> None:
        held, where = self._held()
        for message_id in held[queue.queue_arn]:
            del where[message_id]
        held[queue.queue_arn] = {}

    def finish(self) -> int:
        """Writes the messages held back into their queues; how many are queued."""
        if self._restoring is None:
            return sum(len(q._messages) for q in self.queues())
        held, _ = self._restoring
        for queue in self.queues():
            queue._messages = list(held[queue.queue_arn].values())
        self._restoring = None
        return sum(len(messages) for messages in held.values())

    def _held(self) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        if self._restoring is None:
            held = {q.queue_arn: {m.id: m for m in q._messages} for q in self.queues()}
            where = {message_id: arn for arn, messages in held.items() for message_id in messages}
            self._restoring = (held, where)
        return self._restoring


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(region, account, resource) of `arn:partition:service:region:account:resource`."""
    _, _, _, region, account, resource = arn.split(":", 5)
    return region, account, resource


def message_state(message: Any) -> dict[str, Any]:
    """What a queued message must keep across a restart (not its visibility: in flight → visible again)."""
    return {
        "id": message.id,
        "body": message.body,
        "attributes": message.message_attributes,
        "system": message.system_attributes,
        "sent": message.sent_timestamp,
        "delayed_until": message.delayed_until,
        "receive_count": message.approximate_receive_count,
        "first_receive": message.approximate_first_receive_timestamp,
        "dedup": message.deduplication_id,
        "group": message.group_id,
        "sequence": message.sequence_number,
    }


def message_from_state(state: dict[str, Any]) -> Any:
    from moto.sqs.models import Message

    message = Message(state["id"], state["body"], state.get("system") or None)
    message.message_attributes = state.get("attributes") or {}
    message.sent_timestamp = state.get("sent")
    message.delayed_until = state.get("delayed_until") or 0.0
    message.approximate_receive_count = state.get("receive_count") or 0
    message.approximate_first_receive_timestamp = state.get("first_receive")
    message.deduplication_id = state.get("dedup")
    message.group_id = state.get("group")
    message.sequence_number = state.get("sequence")
    return message


def capture(state: MotoState) -> dict[str, Any]:
    """Every table's items and every queue's messages; the caller holds the locks that keep them still."""
    return {
        "tables": {t.table_arn: [i.to_json()["Attributes"] for i in state.items(t)] for t in state.tables()},
        "queues": {q.queue_arn: [message_state(m) for m in list(q._messages)] for q in state.queues()},
    }


def save(path: Path, captured: dict[str, Any], generation: int) -> None:
    body = {"format": FORMAT, "generation": generation, **captured}
    write_private(path, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), sync=True)


def restore(path: Path, state: MotoState) -> tuple[int, int, int]:
    """Puts the snapshot back into moto's tables and queues (created beforehand by provisioning):
    (its generation, items, messages). Nothing there: (0, 0, 0)."""
    if not path.exists():
        return 0, 0, 0
    data = json.loads(path.read_bytes())
    if "format" not in data:  # format 1: one table's items, no queues
        table = state.table_named(data["table"])
        data = {"generation": 0, "tables": {table.table_arn: data["items"]} if table else {}, "queues": {}}
    items = messages = 0
    for arn, table_items in data["tables"].items():
        table = state.table(arn)
        if table is None:
            continue
        for item in table_items:
            state.set_item(table, {}, item)
        items += len(table_items)
    for arn, queued in data["queues"].items():
        queue = state.queue(arn)
        if queue is None:
            continue
        for message in queued:
            state.add_message(queue, message)
        messages += len(queued)
    return int(data["generation"]), items, messages
