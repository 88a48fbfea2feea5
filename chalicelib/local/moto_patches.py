"""Work around costs in moto (the local emulator, never deployed); semantics are unchanged.

- `transact_write_items` deep-copies the whole table once per *item* of the transaction for its rollback
  copy. Backing up only the items the transaction names gives the same rollback; without this, every
  transaction on the local stack costs time and memory in proportion to the table (a bulk import of
  thousands of rows needs minutes and gigabytes; a ticket step took 160 ms).
- Item operations are serialised (below): moto's tables are not safe against concurrent writers.
- `receive_message` checks each message's retention through `get_queue_attributes`, which computes every
  attribute of the queue (walking all its messages twice) to read one number: ~3 ms per message received,
  more than our whole handler. The patch reads the queue's retention period directly.
- Costs per request that moto's server recomputes although they are fixed or cacheable (below): the backend
  for a Host header, a response class's action names, response serialisation's member lookup, SQS queue
  counts (a clock read per message), and `Query` sorting the whole table before picking a partition.
  Together with keep-alive connections (`motoserver.py`) they cut moto's CPU per request by about 60%.
- Every request's headers go through the `email` package's feed parser (`http.client.parse_headers`), a
  fifth of moto's CPU per request: plain `Name: value` lines are read directly into the same message class,
  anything else (a folded continuation line) still goes to the `email` parser.
- `UpdateItem` parses its expression and runs about ten validating passes over the syntax tree for every
  update (≈ 1 ms each); a ledger posting's transaction has four. Updates that are plain `SET #a = :v` and
  `ADD #n :number` on top-level attributes — what the app sends — are applied directly, with the same
  condition check, item creation and ADD arithmetic as moto; anything else goes to moto's own code."""

from __future__ import annotations

import copy
import functools
import re
import string
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
    _patch_simple_updates(models.DynamoDBBackend)  # before serialising: the lock wraps the fast path too
    _serialize_table_access(models.DynamoDBBackend)
    _patch_sqs_retention()
    _patch_sqs_queue_scans()
    _patch_dispatch_caches()
    _patch_table_query()
    _patch_serializer_value_lookup()
    _patch_header_parsing()
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
table_lock = _table_lock  # also held by the journal's compaction (journal.py) while it reads the tables


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


def _patch_sqs_queue_scans() -> None:
    """A queue's counts and its visible messages, with the clock read once per call instead of once or
    twice per message (moto's `Message.visible`/`.delayed` each build a datetime): `send_message` reads
    `queue.attributes` (every count) for each message it sends, so the old way cost O(messages) clock reads
    per message sent."""
    from moto.core import utils as core_utils
    from moto.sqs import models as sqs_models

    Queue = sqs_models.Queue

    def _now() -> float:
        return float(core_utils.unix_time_millis())

    def messages(self: Any) -> list[Any]:
        now = _now()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(self: Any) -> int:
        now = _now()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self: Any) -> int:
        now = _now()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def visible(self: Any) -> int:
        return len(messages(self))

    Queue.messages = property(messages)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages = property(visible)  # type: ignore[assignment,method-assign]
    # Pure string conversions, looked up for every attribute of every `queue.attributes`.
    sqs_models.camelcase_to_underscores = functools.lru_cache(maxsize=1024)(  # type: ignore[attr-defined]
        core_utils.camelcase_to_underscores
    )


def _patch_dispatch_caches() -> None:
    """Per-request costs of moto's server that depend only on things fixed at start-up:

    - which backend serves a Host header: moto lists its package directory (`os.listdir` + an `isdir` per
      entry, ~200) and then tries every service's URL regex, for each request, under a global lock;
    - the action methods of a response class (`inspect.getmembers` of the whole class per request);
    - camelCase to snake_case of the action name."""
    from moto.core import responses as core_responses
    from moto.core import utils as core_utils
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original_backend_for_host = DomainDispatcherApplication.get_backend_for_host
    backend_by_host: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        try:
            return backend_by_host[host]
        except KeyError:
            backend = backend_by_host[host] = original_backend_for_host(self, host)
            return backend

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]

    method_names: dict[type, list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        try:
            return method_names[clazz]
        except KeyError:
            names = method_names[clazz] = core_utils.method_names_from_class(clazz)
            return names

    core_responses.method_names_from_class = method_names_from_class  # type: ignore[attr-defined]
    core_responses.camelcase_to_underscores = functools.lru_cache(maxsize=4096)(  # type: ignore[attr-defined]
        core_utils.camelcase_to_underscores
    )

    # Every response's request id: 52 `random.choice` calls. One `choices` call draws them from the same
    # pool (still moto's seedable generator).
    from moto.moto_api._internal.moto_random import MotoRandom

    def get_random_string(
        self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False
    ) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        random_str = "".join(self.choices(pool, k=length))
        return random_str.lower() if lower_case else random_str

    MotoRandom.get_random_string = get_random_string  # type: ignore[method-assign]


_query_scope = threading.local()


def _patch_table_query() -> None:
    """`Table.query` starts from `all_items()`: every item of the table, sorted (by DynamoType comparisons,
    each converting both values), then filtered down to the partition or index key asked for: O(table log
    table) per Query, ~20 ms for a 2,000-item table. During a query, `all_items()` here returns only the
    candidates, unsorted: the items of the queried partition, or for an index the items whose index hash
    key attributes hold the queried string values (a superset of moto's own filter, which still runs). The
    order moto gives the result does not depend on it: it sorts the candidates by the full key afterwards
    (the range key within a partition; index keys then table keys for an index)."""
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions") if index_name else None
        _query_scope.current = (self, index_name, hash_key, conditions)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_scope.current = None

    def all_items(self: Any) -> list[Any]:
        scope = getattr(_query_scope, "current", None)
        if scope is None or scope[0] is not self:
            return original_all_items(self)
        _query_scope.current = None  # once per query
        _, index_name, hash_key, conditions = scope
        if not index_name:
            if hash_key is None:
                return original_all_items(self)
            partition = self.items.get(hash_key)
            if partition is None:
                return []
            return list(partition.values()) if self.range_key_attr else [partition]
        items = [
            item
            for hash_set in self.items.values()
            for item in (hash_set.values() if self.range_key_attr else [hash_set])
        ]
        for name, expected in conditions or ():
            if expected.type == "S":
                value = expected.value
                items = [i for i in items if (v := i.attrs.get(name)) is not None and v.value == value]
        return items

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


def _patch_serializer_value_lookup() -> None:
    """moto's response serializer finds each member of the output shape in the result through a chain of
    "alias providers" (the member's name, the shape's name, snake_case forms, prefixes...), building the
    candidates anew for every member of every nested value: for a DynamoDB item, every attribute value
    asks for all ten AttributeValue members that way. For a plain dict the candidates depend only on the
    member's shape and name (the providers look at the object only for a `Meta` class or its class name),
    so they are computed once per shape here; the first candidate the dict holds is the value, as in moto.
    Other objects, and pickers with response transformers, take moto's way."""
    from moto.core.serialize import AttributePickerContext, ResponseSerializer, XFormedAttributePicker
    from moto.core.utils import get_value as moto_get_value

    original_get_value = ResponseSerializer.get_value
    candidates: dict[tuple[int, str], tuple[Any, tuple[str, ...]]] = {}
    missing = object()

    def get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        picker = self._value_picker
        if (
            type(value) is not dict
            or type(picker) is not XFormedAttributePicker
            or picker.response_transformers
        ):
            return original_get_value(self, value, key, shape)
        entry = candidates.get((id(shape), key))
        if entry is None or entry[0] is not shape:
            context = AttributePickerContext(
                obj=value,
                key=key,
                shape=shape,
                operation_model=self.operation_model,
                service_model=self.operation_model.service_model,
                key_path=".".join(self.path),
            )
            entry = (shape, tuple(picker.get_possible_keys(context)))  # the shape is kept: ids are reused
            candidates[(id(shape), key)] = entry
        for possible_key in entry[1]:
            found = (
                value.get(possible_key, missing)
                if "." not in possible_key
                else moto_get_value(value, possible_key, missing)
            )
            if found is not missing:
                return found
        return None

    ResponseSerializer.get_value = get_value  # type: ignore[method-assign]


_SET_CLAUSE = re.compile(r"^(#\w+)\s*=\s*(:\w+)$")
_ADD_CLAUSE = re.compile(r"^(#\w+)\s+(:\w+)$")
_KEYWORDS = re.compile(r"\b(SET|ADD|REMOVE|DELETE)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _simple_plan(expression: str) -> tuple[tuple[str, str, str], ...] | None:
    """(SET|ADD, #name, :value) for each clause of a plain update expression; None for anything else
    (REMOVE, DELETE, paths, functions, arithmetic), which moto's own parser then handles."""
    parts = _KEYWORDS.split(expression)
    if parts[0].strip():
        return None
    plan: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for keyword, body in zip(parts[1::2], parts[2::2], strict=True):
        keyword = keyword.upper()
        if keyword not in ("SET", "ADD") or keyword in seen:
            return None
        seen.add(keyword)
        pattern = _SET_CLAUSE if keyword == "SET" else _ADD_CLAUSE
        for clause in body.split(","):
            match = pattern.match(clause.strip())
            if match is None:
                return None
            plan.append((keyword, match.group(1), match.group(2)))
    return tuple(plan) or None


def _resolve_actions(
    plan: tuple[tuple[str, str, str], ...], table: Any, names: dict[str, Any], values: dict[str, Any]
) -> list[tuple[str, str, dict[str, Any]]] | None:
    """The plan's (keyword, attribute, value); None where moto's own code must answer (its validation
    errors: unknown placeholders, key attributes, a path twice; and ADD of sets)."""
    actions: list[tuple[str, str, dict[str, Any]]] = []
    keys = (table.hash_key_attr, table.range_key_attr)
    for keyword, name_ref, value_ref in plan:
        name, value = names.get(name_ref), values.get(value_ref)
        if name is None or value is None or name in keys or any(name == a[1] for a in actions):
            return None
        if keyword == "ADD" and set(value) != {"N"}:
            return None
        actions.append((keyword, name, value))
    return actions


def _apply_actions(item: Any, actions: list[tuple[str, str, dict[str, Any]]]) -> None:
    from moto.dynamodb.exceptions import IncorrectDataType
    from moto.dynamodb.models.dynamo_type import DynamoType

    for keyword, name, _ in actions:  # type errors before anything is written, as moto does
        current = item.attrs.get(name)
        if keyword == "ADD" and current is not None and current.type != "N":
            raise IncorrectDataType()
    for keyword, name, value in actions:
        current = item.attrs.get(name)
        if keyword == "ADD" and current is not None:
            item.attrs[name] = current + DynamoType(value)  # moto's own number arithmetic
        else:
            item.attrs[name] = DynamoType(value)


def _patch_simple_updates(backend: Any) -> None:
    from moto.dynamodb.comparisons import create_condition_expression_parser
    from moto.dynamodb.exceptions import ConditionalCheckFailed

    original = backend.update_item

    def update_item(
        self: Any,
        table_name: str,
        key: dict[str, dict[str, Any]],
        update_expression: str,
        expression_attribute_names: dict[str, Any],
        expression_attribute_values: dict[str, Any],
        attribute_updates: dict[str, Any] | None = None,
        expected: dict[str, Any] | None = None,
        condition_expression: str | None = None,
        return_values_on_condition_check_failure: str | None = None,
    ) -> Any:
        args = (
            table_name,
            key,
            update_expression,
            expression_attribute_names,
            expression_attribute_values,
            attribute_updates,
            expected,
            condition_expression,
            return_values_on_condition_check_failure,
        )
        plan = (
            None
            if (attribute_updates or expected or not update_expression)
            else _simple_plan(update_expression)
        )
        table = self.get_table(table_name)
        actions = plan and _resolve_actions(
            plan, table, expression_attribute_names or {}, expression_attribute_values or {}
        )
        if not actions:
            return original(self, *args)
        hash_value, range_value = self.get_keys_value(table, key)
        item = table.get_item(hash_value, range_value)
        orig_item = copy.deepcopy(item) if table.stream_shard is not None else None
        condition = create_condition_expression_parser(
            condition_expression, expression_attribute_names, expression_attribute_values
        ).parse()
        if not condition.expr(item):
            if return_values_on_condition_check_failure == "ALL_OLD" and item is not None:
                raise ConditionalCheckFailed(item=item.to_json()["Attributes"])
            raise ConditionalCheckFailed
        if item is None:  # an update creates the item, as on DynamoDB
            data: dict[str, Any] = {table.hash_key_attr: {hash_value.type: hash_value.value}}
            if range_value is not None:
                data[table.range_key_attr] = {range_value.type: range_value.value}
            table.put_item(data)
            item = table.get_item(hash_value, range_value)
        _apply_actions(item, actions)
        if table.stream_shard is not None:
            table.stream_shard.add(orig_item, item)
        return item

    backend.update_item = update_item


def _patch_header_parsing() -> None:
    """`http.client.parse_headers` without the email feed parser for the usual case (this process only: the
    stack process runs moto's server; the API and workers are processes of their own)."""
    import email.parser
    import http.client

    read_lines = http.client._read_headers  # type: ignore[attr-defined]

    def parse_headers(fp: Any, _class: Any = http.client.HTTPMessage) -> Any:
        lines = read_lines(fp)
        message = _class()
        for raw in lines:
            if raw in (b"\r\n", b"\n", b""):
                break
            name, colon, value = raw.decode("iso-8859-1").partition(":")
            if not colon or raw[:1] in (b" ", b"\t") or name != name.strip():
                hstring = b"".join(lines).decode("iso-8859-1")  # unusual: the email parser's way
                return email.parser.Parser(_class=_class).parsestr(hstring)
            message[name] = value.lstrip(" \t").rstrip("\r\n")  # as the email parser keeps it
        return message

    http.client.parse_headers = parse_headers
