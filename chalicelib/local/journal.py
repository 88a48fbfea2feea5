"""The local stack's write-ahead journal: what moto acknowledged survives a crash of any process.

moto keeps tables and queues in the stack process's memory. Every change it makes to them is appended here
before its answer goes out: the DynamoDB items a write named, as they are afterwards (PutItem, UpdateItem,
DeleteItem, each item of a BatchWriteItem, a whole TransactWriteItems in one line), and the messages a
queue gained or lost (sends, moves to a DLQ, deletes, purges). One `os.write` per record on an O_APPEND
file: a killed process loses nothing the kernel has, and no fsync is paid per request (a power cut may lose
the last moments; a crash of any process does not).

Records hold states, not requests: replaying one twice, or on top of a snapshot that already has it,
changes nothing. A record is written under one lock that every change to moto's tables and queues takes,
with the change itself, so the journal's order is the order of the changes. On start: the snapshot, then
the journal of the same generation. Compaction writes a snapshot of generation n + 1 (tables and queues,
under the same lock) and starts an empty journal of n + 1; a crash in between leaves a journal of n, which
the snapshot already holds and which is skipped. Compaction runs on a clean stop and when the journal has
grown past `compact_bytes`.

Left out on purpose: message visibility and receive counts (a message in flight at a crash is visible
again at once, and its receives start from zero: at-least-once, which every consumer handles), queue and
table definitions (provisioning creates them on every start), S3 objects and Step Functions executions
(`rearm.py` starts the waits of open tickets again)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from chalicelib.local import snapshot

COMPACT_BYTES = 32 * 1024 * 1024  # replayed at about 15 MB/s at start-up

_lock = threading.RLock()  # every change to moto's tables and queues, its record, and compaction
_local = threading.local()  # `inside`: a journaled call is running on this thread (nested calls are its)
_active: Journal | None = None
_installed = False
log = logging.getLogger(__name__)


class Journal:
    def __init__(self, directory: Path, *, compact_bytes: int = COMPACT_BYTES) -> None:
        self.path = directory / "journal.log"
        self.snapshot_path = directory / "snapshot.json"
        self.compact_bytes = compact_bytes
        self.generation = 0
        self._fd: int | None = None
        self._size = 0
        self._state: snapshot.MotoState | None = None
        self.compaction_due = threading.Event()

    # -- start ------------------------------------------------------------------------------------
    def recover(self) -> tuple[int, int, int]:
        """Restores the snapshot and replays the journal into moto's (provisioned, empty) tables and queues,
        and opens the journal for appending: (items restored, messages queued, records replayed)."""
        state = self._state = snapshot.MotoState()
        self.generation, _, _ = snapshot.restore(self.snapshot_path, state)
        replayed, good_bytes = self._replay(state)
        messages = state.finish()
        self._open(truncate_at=good_bytes)
        return sum(1 for t in state.tables() for _ in state.items(t)), messages, replayed

    def _replay(self, state: snapshot.MotoState) -> tuple[int, int | None]:
        """(records applied, bytes of whole records), or (0, None) for a journal to start afresh."""
        if not self.path.exists():
            return 0, None
        count = good = 0
        with self.path.open("rb") as f:
            header = _parse(f.readline())
            if header is None or header.get("generation") != self.generation:
                return 0, None  # older than the snapshot (a compaction ended there), or unreadable
            good = f.tell()
            for line in f:
                record = _parse(line)
                if record is None:  # the last write was cut short: nothing after it was acknowledged
                    log.warning("journal: an incomplete last record in %s is dropped", self.path)
                    break
                _apply(state, record)
                count += 1
                good += len(line)
        return count, good

    def _open(self, *, truncate_at: int | None) -> None:
        if truncate_at is None:
            header = json.dumps({"generation": self.generation}).encode() + b"\n"
            snapshot.write_private(self.path, header)
            truncate_at = len(header)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        os.ftruncate(fd, truncate_at)  # drops a cut-short last record, so the next one starts on its line
        self._fd, self._size = fd, truncate_at

    def start(self) -> None:
        """Journals every change moto makes from now on (after `recover`)."""
        global _active
        install()
        _active = self

    # -- appending --------------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Under `_lock`, with the change it records."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        assert self._fd is not None
        try:
            written = os.write(self._fd, line)
            while written < len(line):  # a regular file takes it whole unless the disk is full
                written += os.write(self._fd, line[written:])
        except OSError:
            os.ftruncate(self._fd, self._size)  # no half record for the next one to follow
            raise  # the request fails: unacknowledged, so its sender tries again
        self._size += len(line)
        if self._size > self.compact_bytes:
            self.compaction_due.set()

    # -- compaction -------------------------------------------------------------------------------
    def compact(self) -> int:
        """Snapshot of generation n + 1 and an empty journal of n + 1; returns the items saved."""
        from chalicelib.local.moto_patches import table_lock

        assert self._state is not None
        with _lock, table_lock:  # the order every write takes them in: no change runs meanwhile
            if self._fd is None:
                return 0  # closed: the stop compacted already
            captured = snapshot.capture(self._state)
            snapshot.save(self.snapshot_path, captured, self.generation + 1)
            self.generation += 1
            os.close(self._fd)
            self._open(truncate_at=None)
            self.compaction_due.clear()
        return sum(len(items) for items in captured["tables"].values())

    def close(self) -> None:
        global _active
        with _lock:
            if _active is self:
                _active = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    @property
    def size(self) -> int:
        return self._size


def _parse(line: bytes) -> dict[str, Any] | None:
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _apply(state: snapshot.MotoState, record: dict[str, Any]) -> None:
    if "items" in record:
        for arn, key, item in record["items"]:
            table = state.table(arn)
            if table is not None:
                state.set_item(table, key, item)
        return
    queue = state.queue(record["queue"])
    if queue is None:
        return
    if "add" in record:
        state.add_message(queue, record["add"])
    elif "delete" in record:
        state.remove_messages(queue, record["delete"])
    elif record.get("purge"):
        state.purge(queue)


# -- moto's hooks -----------------------------------------------------------------------------------
KeysOf = Callable[[Any, tuple[Any, ...], dict[str, Any]], Iterable[tuple[str, dict[str, Any]]]]


def install() -> None:
    """Wraps moto's write paths (after `moto_patches.install`, around its serialised methods)."""
    global _installed
    if _installed:
        return
    from chalicelib.local import moto_patches

    moto_patches.install()  # first: the journal's lock is taken before the table lock, never after
    from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import Queue, SQSBackend

    unchanged = (ConditionalCheckFailed, TransactionCanceledException)  # moto left the items as they were
    for name, keys_of in (
        ("put_item", _put_keys),
        ("update_item", _key_arg),
        ("delete_item", _key_arg),
        ("transact_write_items", _transaction_keys),
    ):
        setattr(DynamoDBBackend, name, _journaled_write(getattr(DynamoDBBackend, name), keys_of, unchanged))
    Queue.add_message = _journaled_add(Queue.add_message)  # type: ignore[method-assign]
    Queue.delete_message = _journaled_delete(Queue.delete_message)  # type: ignore[method-assign]
    SQSBackend.purge_queue = _journaled_purge(SQSBackend.purge_queue)  # type: ignore[method-assign]
    _installed = True


def _journaled_write(original: Any, keys_of: KeysOf, unchanged: tuple[type[Exception], ...]) -> Any:
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        journal = _active
        if journal is None or getattr(_local, "inside", False):
            return original(self, *args, **kwargs)  # not journaling, or part of a journaled call
        with _lock:
            _local.inside = True
            try:
                result = original(self, *args, **kwargs)
            except unchanged:
                raise
            except Exception:
                _record_items(journal, self, keys_of(self, args, kwargs))  # moto may have written part
                raise
            finally:
                _local.inside = False
            _record_items(journal, self, keys_of(self, args, kwargs))
            return result

    return write


def _record_items(journal: Journal, backend: Any, keys: Iterable[tuple[str, dict[str, Any]]]) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    entries = []
    for table_name, key in keys:
        table = backend.tables.get(table_name)
        if table is None or len(key) < (2 if table.range_key_attr else 1):
            continue  # a request moto refused before it could name an item
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(hash_value, range_value)
        entries.append([table.table_arn, key, item.to_json()["Attributes"] if item is not None else None])
    if entries:
        journal.append({"items": entries})


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str) -> Any:
    return args[position] if len(args) > position else kwargs[name]


def _table_key(backend: Any, table_name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    table = backend.tables.get(table_name)
    if table is None:
        return {}
    names = (table.hash_key_attr, table.range_key_attr)
    return {n: attrs[n] for n in names if n and n in attrs}


def _put_keys(
    backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    table_name = _arg(args, kwargs, 0, "table_name")
    return [(table_name, _table_key(backend, table_name, _arg(args, kwargs, 1, "item_attrs")))]


def _key_arg(backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    table_name = _arg(args, kwargs, 0, "table_name")
    return [(table_name, _table_key(backend, table_name, _arg(args, kwargs, 1, "key")))]


def _transaction_keys(
    backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    keys = []
    for entry in _arg(args, kwargs, 0, "transact_items"):
        ((kind, op),) = entry.items()
        if kind in ("Put", "Update", "Delete") and "TableName" in op:
            attrs = op.get("Item", {}) if kind == "Put" else op.get("Key", {})
            keys.append((op["TableName"], _table_key(backend, op["TableName"], attrs)))
    return keys


def _journaled_add(original: Any) -> Any:
    def add_message(self: Any, message: Any) -> None:
        journal = _active
        if journal is None:
            original(self, message)
            return
        with _lock:
            original(self, message)
            if self._messages and self._messages[-1] is message:  # not dropped as a FIFO duplicate
                journal.append({"queue": self.queue_arn, "add": snapshot.message_state(message)})

    return add_message


def _journaled_delete(original: Any) -> Any:
    def delete_message(self: Any, receipt_handle: str) -> None:
        journal = _active
        if journal is None:
            original(self, receipt_handle)
            return
        with _lock:
            before = self._messages
            original(self, receipt_handle)  # builds a new list without the message
            if self._messages is not before:
                kept = {id(m) for m in self._messages}
                gone = [m.id for m in before if id(m) not in kept]
                if gone:
                    journal.append({"queue": self.queue_arn, "delete": gone})

    return delete_message


def _journaled_purge(original: Any) -> Any:
    def purge_queue(self: Any, queue_name: str) -> None:
        journal = _active
        if journal is None:
            original(self, queue_name)
            return
        with _lock:
            original(self, queue_name)
            journal.append({"queue": self.get_queue(queue_name).queue_arn, "purge": True})

    return purge_queue
