"""Work around two costs in moto (the local emulator, never deployed); semantics are unchanged.

- `transact_write_items` deep-copies the whole table once per *item* of the transaction for its rollback
  copy. Backing up only the items the transaction names gives the same rollback; without this, every
  transaction on the local stack costs time and memory in proportion to the table (a bulk import of
  thousands of rows needs minutes and gigabytes; a ticket step took 160 ms).
- Item operations are serialised (below): moto's tables are not safe against concurrent writers.
- `receive_message` checks each message's retention through `get_queue_attributes`, which computes every
  attribute of the queue (walking all its messages twice) to read one number: ~3 ms per message received,
  more than our whole handler. The patch reads the queue's retention period directly."""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

_lock = threading.Lock()
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        # moto backs up every table it touches (a deep copy of the whole table) to roll a failed
        # transaction back. The items a transaction names are all it can change: back those up instead,
        # let moto's own rollback be a no-op (its "copy" is the table itself), and restore them on failure.
        before = _snapshot(self, transact_items)

        def no_table_copy(obj: Any, memo: dict[int, Any] | None = None) -> Any:
            return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

        with _lock:  # the module attribute swap below must not leak into another thread's call
            setattr(models, "copy", types.SimpleNamespace(deepcopy=no_table_copy, copy=copy.copy))  # noqa: B010
            try:
                original(self, transact_items)
            except Exception:
                _restore(self, before)
                raise
            finally:
                setattr(models, "copy", copy)  # noqa: B010

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _serialize_table_access(models.DynamoDBBackend)
    _patch_sqs_retention()
    _installed = True


def _patch_sqs_retention() -> None:
    from moto.core.utils import unix_time
    from moto.sqs.models import Message, SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Message) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


# The item operations of moto's DynamoDB backend: none is safe against another thread changing the same
# table (a transaction's rollback copy or a Scan iterates the table while a put resizes it: "dictionary
# changed size during iteration"). moto's server is threaded and the local stack's processes call it at
# once, so each of these runs alone. It costs no throughput: the GIL serialises them anyway.
_TABLE_OPERATIONS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
)
_table_lock = threading.RLock()


def _serialize_table_access(backend: Any) -> None:
    for name in _TABLE_OPERATIONS:
        original = getattr(backend, name)

        def serialized(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _table_lock:
                return _original(self, *args, **kwargs)

        setattr(backend, name, serialized)


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Any]]:
    """(table, key, a deep copy of the item or None) for every item the transaction names."""
    out: list[tuple[str, dict[str, Any], Any]] = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        name = op.get("TableName")
        if not name or name not in backend.tables:
            continue
        table = backend.tables[name]
        if "Key" in op:
            key = op["Key"]
        else:
            attrs = op.get("Item", {})
            key = {a: attrs[a] for a in (table.hash_key_attr, table.range_key_attr) if a and a in attrs}
        current = backend.get_item(name, key)
        out.append((name, key, copy.deepcopy(current) if current is not None else None))
    return out


def _restore(backend: Any, before: list[tuple[str, dict[str, Any], Any]]) -> None:
    for name, key, item in reversed(before):
        if item is None:
            if backend.get_item(name, key) is not None:
                backend.delete_item(name, key)
        else:
            backend.put_item(name, item.to_json()["Attributes"])
