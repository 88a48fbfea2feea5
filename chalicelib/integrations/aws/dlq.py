"""Dead-letter queues: what failed N times, shown and replayed (`scrm dlq list|redrive`, /v1/dead-letters).
Messages keep their raw body, so a redrive after a fix replays exactly what was received.

The queues are shared by all tenants; a tenant sees and replays only messages whose body names it. A walk
hides each message it receives for a moment (so SQS hands out the next ones, not the same ten again) and
gives back at once every message it does not move, so a walk never delays a concurrent redrive.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.resources import QUEUES, QueueSpec
from chalicelib.services.ports import DeadLetter

# How long a message being looked at stays hidden, and how many messages one walk looks at at most.
_HOLD_SECONDS = 30
_MAX_WALK = 2000


def spec(logical_id: str) -> QueueSpec:
    for queue in QUEUES:
        if queue.logical_id == logical_id:
            return queue
    raise KeyError(f"no queue '{logical_id}' (queues: {', '.join(q.logical_id for q in QUEUES)})")


def tenant_of(body: str) -> str | None:
    """The tenant a queue message belongs to: every producer puts `tenant_id` at the top of its JSON."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    value = parsed.get("tenant_id") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else None


class SqsDeadLetters:
    """The DeadLetters port on SQS. `urls` gives a queue's (source, dead-letter) URLs: from the settings
    (infra/ injects them; the local stack sets them), else by the declared names."""

    def __init__(self, sqs: Any, urls: Callable[[QueueSpec], tuple[str | None, str | None]]) -> None:
        self._sqs = sqs
        self._urls = urls

    def queues(self) -> list[str]:
        return [q.logical_id for q in QUEUES]

    def peek(self, queue_id: str, *, limit: int, tenant_id: str | None = None) -> list[DeadLetter]:
        """Up to `limit` dead letters (of one tenant, if given), left in place."""
        _, dlq_url = self._resolve(spec(queue_id))
        found: list[DeadLetter] = []

        def look(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
            found.extend(_letter(m) for m in batch)
            return []  # nothing removed: all given back

        self._walk(dlq_url, tenant_id, limit, look)
        return found

    def redrive(self, queue_id: str, *, limit: int, tenant_id: str | None = None) -> int:
        """Move up to `limit` dead letters (of one tenant, if given) back to their source queue: send, then
        delete: a crash in between replays a message twice (handlers are idempotent), never loses one."""
        source_url, dlq_url = self._resolve(spec(queue_id))

        def move(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
            entries = [{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(batch)]
            result = self._sqs.send_message_batch(QueueUrl=source_url, Entries=entries)
            sent = {int(s["Id"]) for s in result.get("Successful", [])}
            moved = [m for i, m in enumerate(batch) if i in sent]
            if moved:
                self._sqs.delete_message_batch(
                    QueueUrl=dlq_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(moved)
                    ],
                )
            return moved  # the rest stays in the DLQ and is given back by the walk

        return self._walk(dlq_url, tenant_id, limit, move)

    def _walk(
        self,
        dlq_url: str,
        tenant_id: str | None,
        limit: int,
        act: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    ) -> int:
        """Receive up to _MAX_WALK messages, hand the matching ones (up to `limit`) to `act`, which returns
        those it removed; every other message is made visible again before returning. Returns how many
        `act` removed."""
        held: dict[str, str] = {}  # message id -> receipt handle, of messages to give back
        matched = removed_count = 0
        try:
            while matched < limit and len(held) + matched < _MAX_WALK:
                batch = self._sqs.receive_message(
                    QueueUrl=dlq_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=_HOLD_SECONDS,
                    AttributeNames=["All"],
                ).get("Messages", [])
                fresh = [m for m in batch if m["MessageId"] not in held]
                if not fresh:
                    break
                mine = [m for m in fresh if tenant_id is None or tenant_of(m["Body"]) == tenant_id]
                mine = mine[: limit - matched]
                removed = {m["MessageId"] for m in act(mine)} if mine else set()
                matched += len(mine)
                removed_count += len(removed)
                held.update(
                    {m["MessageId"]: m["ReceiptHandle"] for m in fresh if m["MessageId"] not in removed}
                )
        finally:
            self._release(dlq_url, list(held.values()))
        return removed_count

    def _release(self, dlq_url: str, handles: list[str]) -> None:
        for start in range(0, len(handles), 10):
            chunk = handles[start : start + 10]
            self._sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)
                ],
            )

    def _resolve(self, queue: QueueSpec) -> tuple[str, str]:
        source, dlq = self._urls(queue)
        source = source or self._sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        dlq = dlq or self._sqs.get_queue_url(QueueName=queue.dlq_name)["QueueUrl"]
        return source, dlq


def _letter(m: dict[str, Any]) -> DeadLetter:
    attributes = m.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    return DeadLetter(
        message_id=m["MessageId"],
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        sent_at_ms=int(sent) if sent else None,
        tenant_id=tenant_of(m["Body"]),
        body=m["Body"],
    )
