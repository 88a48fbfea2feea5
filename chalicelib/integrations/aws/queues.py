"""SQS publisher for domain events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_SEND_BATCH_MAX = 10


class SqsPublisher:
    def __init__(self, *, client: Any, queue_url: str | None, queue_name: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._queue_name = queue_name

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:  # not injected by the stack: resolve once by name
            self._queue_url = str(self._client.get_queue_url(QueueName=self._queue_name)["QueueUrl"])
        return self._queue_url

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(events), _SEND_BATCH_MAX):
            chunk = events[start : start + _SEND_BATCH_MAX]
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(e, ensure_ascii=False, separators=(",", ":"))}
                for i, e in enumerate(chunk)
            ]
            result = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if result.get("Failed"):
                raise RuntimeError(f"SQS refused {len(result['Failed'])} events: {result['Failed'][0]}")
