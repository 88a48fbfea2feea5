"""Log keys belong to the thread that set them: the local runner handles batches of several queues side by
side in one process (and the local API serves requests so), and each line must name its own tenant."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from chalice.app import SQSEvent
from pydantic import BaseModel

from chalicelib.observability import logger
from chalicelib.workers.batch import process_batch


class Message(BaseModel):
    tenant_id: str


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    # Another test in this process may have quietened the shared logger (or logging as a whole).
    level, disabled = logger.log_level, logging.root.manager.disable
    logger.setLevel(logging.INFO)
    logging.disable(logging.NOTSET)
    try:
        yield out
    finally:
        logging.disable(disabled)
        logger.setLevel(level)
        logger.removeHandler(handler)


def test_concurrent_batches_log_their_own_tenant(lines: io.StringIO) -> None:
    both_inside = threading.Barrier(2)

    def handle(m: Message) -> None:
        both_inside.wait(timeout=10)  # each has set its keys before either logs
        logger.warning("handled", extra={"expected": m.tenant_id})
        both_inside.wait(timeout=10)  # and neither removes them before both have logged

    def run(tenant_id: str) -> None:
        record = {"messageId": tenant_id, "receiptHandle": "r", "body": json.dumps({"tenant_id": tenant_id})}
        event = SQSEvent({"Records": [{**record, "eventSource": "aws:sqs", "attributes": {}}]}, None)
        process_batch(event, Message, handle, lambda m: {"tenant_id": m.tenant_id})

    threads = [threading.Thread(target=run, args=(t,)) for t in ("ten_a", "ten_b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert sorted((r["expected"], r.get("tenant_id")) for r in logged) == [
        ("ten_a", "ten_a"),
        ("ten_b", "ten_b"),
    ]
