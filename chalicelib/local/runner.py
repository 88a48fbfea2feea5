"""The local event runner: delivers SQS messages to the app's `on_sqs_message` handlers and fires its
`schedule` handlers, reading both from the Chalice app object (not listed twice).

Like the Lambda SQS event source: batches of up to the handler's batch size, the queue's visibility timeout,
`batchItemFailures` honoured (only failed messages stay on the queue), and the queue's redrive policy moves a
message that keeps failing to its DLQ."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice.app import BaseEventSourceConfig, Chalice, ScheduledEventConfig, SQSEventConfig

from chalicelib.local.schedule import due, rate_seconds
from chalicelib.observability import logger, one_line

LOCAL_REGION = "us-east-1"


class FakeLambdaContext:
    def __init__(self, name: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{LOCAL_REGION}:123456789012:function:{name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def resolve_handler(app: Chalice, source: BaseEventSourceConfig) -> Callable[[dict[str, Any], Any], Any]:
    """The wrapped handler Lambda would call (app- and blueprint-level handlers alike)."""
    return app.handler_map[source.name]


class EventRunner:
    def __init__(
        self, app: Chalice, sqs: Any, *, queue_region: str = LOCAL_REGION, poll_wait: int = 1
    ) -> None:
        self._app = app
        self._sqs = sqs
        self._region = queue_region
        self._poll_wait = poll_wait
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_fired: dict[str, datetime] = {}
        self.delivered = 0
        self.failed = 0

    @property
    def sqs_sources(self) -> list[SQSEventConfig]:
        return [s for s in self._app.event_sources if isinstance(s, SQSEventConfig)]

    @property
    def schedules(self) -> list[ScheduledEventConfig]:
        return [s for s in self._app.event_sources if isinstance(s, ScheduledEventConfig)]

    def start(self, *, schedules: bool = True) -> None:
        """Poll every SQS source; fire the schedules too unless another runner does (EventBridge fires a
        rule once, however many pollers there are)."""
        for source in self.sqs_sources:
            t = threading.Thread(
                target=self._poll_loop, args=(source,), name=f"sqs-{source.name}", daemon=True
            )
            t.start()
            self._threads.append(t)
        if schedules and self.schedules:
            t = threading.Thread(target=self._schedule_loop, name="schedules", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self._poll_wait + 5)

    # -- SQS -------------------------------------------------------------------------------------
    def _poll_loop(self, source: SQSEventConfig) -> None:
        handler = resolve_handler(self._app, source)
        queue_url = self._sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        while not self._stop.is_set():
            try:
                self.poll_once(source, handler, queue_url)
            except Exception as e:  # the runner must outlive a bad batch, like the Lambda poller does
                extra = {"queue": source.queue, "error": one_line(e)}
                logger.warning("local runner: batch failed", extra=extra)
                logger.debug("local runner: batch failed", exc_info=True)
                time.sleep(1)

    def poll_once(self, source: SQSEventConfig, handler: Callable[..., Any], queue_url: str) -> int:
        received = self._sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(source.batch_size, 10),
            WaitTimeSeconds=self._poll_wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        event = {"Records": [self._record(m, source.queue, queue_url) for m in received]}
        try:
            response = handler(event, FakeLambdaContext(source.name)) or {}
            failed_ids = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception as e:  # e.g. every record failed: each logged its own line in workers/batch.py
            logger.warning(
                "local runner: handler raised; the whole batch will be retried",
                extra={"queue": source.queue, "error": one_line(e)},
            )
            logger.debug("local runner: handler raised", exc_info=True)
            failed_ids = {m["MessageId"] for m in received}
        done = [m for m in received if m["MessageId"] not in failed_ids]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        self.delivered += len(done)
        self.failed += len(failed_ids)
        return len(received)

    def _record(self, message: dict[str, Any], queue: str | None, queue_url: str) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{self._region}:123456789012:{queue}",
            "awsRegion": self._region,
        }

    # -- schedules -------------------------------------------------------------------------------
    def _schedule_loop(self) -> None:
        started = datetime.now(UTC)
        for s in self.schedules:  # EventBridge fires a rate one period after it is created, not at once
            if rate_seconds(_expression(s)) is not None:
                self._last_fired[s.name] = started
        while not self._stop.wait(1.0):
            self.tick(datetime.now(UTC))

    def tick(self, now: datetime) -> list[str]:
        fired: list[str] = []
        for source in self.schedules:
            if due(_expression(source), self._last_fired.get(source.name), now):
                self._last_fired[source.name] = now
                self.fire(source, now)
                fired.append(source.name)
        return fired

    def fire(self, source: ScheduledEventConfig, now: datetime) -> Any:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [f"arn:aws:events:{self._region}:123456789012:rule/{source.name}"],
            "detail": {},
        }
        try:
            return resolve_handler(self._app, source)(event, FakeLambdaContext(source.name))
        except Exception:
            logger.exception("local runner: schedule handler failed", extra={"schedule": source.name})
            return None


def _expression(source: ScheduledEventConfig) -> str:
    expr = source.schedule_expression
    return expr if isinstance(expr, str) else expr.to_string()
