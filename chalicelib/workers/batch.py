"""The one shape of every SQS consumer: partial batch responses (Powertools), one record → one parsed
message → one handler call, with the tenant and the message's key on every log line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent
from pydantic import BaseModel

from chalicelib.observability import logger, one_line
from chalicelib.services.cache import config_scope

M = TypeVar("M", bound=BaseModel)


def process_batch(
    event: SQSEvent, model: type[M], handle: Callable[[M], None], log_keys: Callable[[M], dict[str, str]]
) -> dict[str, Any]:
    """Failed records are reported back (`batchItemFailures`, with ReportBatchItemFailures set by infra/), so
    only they are retried, and after maxReceiveCount they land in the DLQ with their raw body."""

    def record_handler(record: SQSRecord) -> None:
        message = model.model_validate(json.loads(record.body))
        keys = log_keys(message)
        logger.thread_safe_append_keys(**keys)  # per thread: the local runner polls queues side by side
        try:
            handle(message)
        except Exception as e:
            # One line per failed record (it is retried, maybe many times); the traceback only at DEBUG.
            logger.warning("record failed; it will be retried", extra={"error": one_line(e)})
            logger.debug("record failed", exc_info=True)
            raise
        finally:
            logger.thread_safe_remove_keys(list(keys))

    processor = BatchProcessor(event_type=EventType.SQS)
    with config_scope():  # configuration the API acknowledged before this batch applies to all of it
        return dict(
            process_partial_response(
                event=event.to_dict(), record_handler=record_handler, processor=processor
            )
        )
