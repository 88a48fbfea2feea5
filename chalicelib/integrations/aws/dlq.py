"""Dead-letter queues: what failed N times, shown and replayed (`scrm dlq list|redrive`). Messages keep
their raw body, so a redrive after a fix replays exactly what was received."""

from __future__ import annotations

from typing import Any

from chalicelib.resources import QUEUES, QueueSpec


def spec(logical_id: str) -> QueueSpec:
    for queue in QUEUES:
        if queue.logical_id == logical_id:
            return queue
    raise KeyError(f"no queue '{logical_id}' (queues: {', '.join(q.logical_id for q in QUEUES)})")


def peek(sqs: Any, queue: QueueSpec, limit: int = 50) -> list[dict[str, Any]]:
    """Up to `limit` dead letters, left in place (visibility timeout 0)."""
    url = sqs.get_queue_url(QueueName=queue.dlq_name)["QueueUrl"]
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(max(1, limit // 10) + 2):
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        ).get("Messages", [])
        for m in batch:
            seen.setdefault(
                m["MessageId"],
                {
                    "message_id": m["MessageId"],
                    "receive_count": int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
                    "sent_at": m.get("Attributes", {}).get("SentTimestamp"),
                    "body": m["Body"],
                },
            )
        if not batch or len(seen) >= limit:
            break
    return list(seen.values())[:limit]


def redrive(sqs: Any, queue: QueueSpec, limit: int = 1000) -> int:
    """Move dead letters back to their source queue (send, then delete: at-least-once, never lost)."""
    dlq_url = sqs.get_queue_url(QueueName=queue.dlq_name)["QueueUrl"]
    source_url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    moved = 0
    while moved < limit:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not batch:
            break
        entries = [{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(batch)]
        result = sqs.send_message_batch(QueueUrl=source_url, Entries=entries)
        sent = {int(s["Id"]) for s in result.get("Successful", [])}
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch) if i in sent]
        if done:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
        moved += len(done)
        if len(done) < len(batch):
            break  # some sends failed: they stay in the DLQ; stop rather than spin
    return moved
