"""The notify queue on SQS: one message per delivery attempt, delayed with DelaySeconds (≤ 900 s; the
service re-enqueues longer waits such as quiet hours until the delivery is due)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

MAX_DELAY_SECONDS = 900


class SqsDeliveryQueue:
    def __init__(self, *, client: Any, queue_url: str | None, queue_name: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._queue_name = queue_name

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:  # not injected by the stack: resolve once by name
            self._queue_url = str(self._client.get_queue_url(QueueName=self._queue_name)["QueueUrl"])
        return self._queue_url

    def enqueue(self, tenant_id: str, delivery_id: str, *, delay: timedelta, attempt: int) -> None:
        body = {"tenant_id": tenant_id, "delivery_id": delivery_id, "attempt": attempt}
        seconds = min(max(int(delay.total_seconds() + 0.999), 0), MAX_DELAY_SECONDS)  # round up: never early
        self._client.send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps(body, separators=(",", ":")), DelaySeconds=seconds
        )
