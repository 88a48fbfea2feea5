"""Local logs are plain lines (`time LEVEL message key=value`), JSON stays the default; a record that fails
(and will be retried) logs one line naming the exception, its traceback only at DEBUG."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from chalice.app import SQSEvent
from pydantic import BaseModel

from chalicelib.observability import ONE_LINE_CHARS, PlainFormatter, logger, one_line
from chalicelib.workers.batch import process_batch


@pytest.fixture
def plain() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(PlainFormatter())
    logger.addHandler(handler)
    level, disabled = logger.log_level, logging.root.manager.disable
    logger.setLevel(logging.INFO)
    logging.disable(logging.NOTSET)
    try:
        yield out
    finally:
        logging.disable(disabled)
        logger.setLevel(level)
        logger.removeHandler(handler)


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("scrm", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_a_plain_line_has_time_level_message_and_keys() -> None:
    line = PlainFormatter().format(_record("sent", tenant_id="t1", count=3, note="two words", doc={"a": 1}))

    assert "\n" not in line
    time, level, rest = line.split(maxsplit=2)
    assert len(time) == len("09:00:00.123") and level == "INFO"
    assert rest == 'sent tenant_id=t1 count=3 note="two words" doc={"a":1}'


def test_json_stays_the_formatter_elsewhere() -> None:
    # The tests' stage is not local: the shared logger is Powertools' JSON one, as on Lambda.
    assert not isinstance(logger.registered_formatter, PlainFormatter)


def test_one_line_is_the_type_and_the_first_line_bounded() -> None:
    assert one_line(ValueError("bad thing\nmore detail")) == "ValueError: bad thing"
    assert one_line(RuntimeError()) == "RuntimeError"
    assert len(one_line(ValueError("x" * 5000))) == ONE_LINE_CHARS


class Message(BaseModel):
    tenant_id: str
    fail: bool = False


def _batch(*messages: Message) -> None:
    records = [
        {"messageId": str(i), "receiptHandle": "r", "body": m.model_dump_json(), "eventSource": "aws:sqs"}
        for i, m in enumerate(messages)
    ]

    def handle(m: Message) -> None:
        if m.fail:
            raise TimeoutError("provider did not answer\n" + "  File 'x.py', line 1\n" * 200)

    response = process_batch(
        SQSEvent({"Records": records}, None), Message, handle, lambda m: {"tenant_id": m.tenant_id}
    )
    assert response["batchItemFailures"] == [{"itemIdentifier": "1"}]


def test_a_failed_record_logs_one_line_and_its_traceback_only_at_debug(plain: io.StringIO) -> None:
    _batch(Message(tenant_id="t1"), Message(tenant_id="t2", fail=True))

    [line] = plain.getvalue().splitlines()
    assert "WARNING" in line and "record failed; it will be retried" in line
    assert "tenant_id=t2" in line and 'error="TimeoutError: provider did not answer"' in line

    plain.truncate(0)
    plain.seek(0)
    logger.setLevel(logging.DEBUG)
    _batch(Message(tenant_id="t1"), Message(tenant_id="t2", fail=True))
    assert "Traceback (most recent call last)" in plain.getvalue()


class _Sqs:
    """Just what `EventRunner.poll_once` calls: one batch of two messages, then the deletes."""

    def __init__(self) -> None:
        self.deleted: list[dict[str, str]] = []

    def receive_message(self, **_: object) -> dict[str, object]:
        return {"Messages": [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": "{}"} for i in (1, 2)]}

    def delete_message_batch(self, **kwargs: object) -> None:
        self.deleted.extend(kwargs["Entries"])  # type: ignore[arg-type]


def test_a_batch_the_handler_raises_on_is_one_line_in_the_local_runner(plain: io.StringIO) -> None:
    from chalice.app import Chalice, SQSEventConfig

    from chalicelib.local.runner import EventRunner

    def handler(event: dict[str, object], context: object) -> None:
        raise RuntimeError(
            "All records failed processing. 2 individual errors logged separately below.\n" + "tb\n" * 500
        )

    sqs = _Sqs()
    runner = EventRunner(Chalice(app_name="t"), sqs)
    source = SQSEventConfig("q", "h", "scrm-notify", None, 10, 0, None)

    runner.poll_once(source, handler, "url")

    [line] = plain.getvalue().splitlines()
    assert "WARNING" in line and "the whole batch will be retried" in line and "queue=scrm-notify" in line
    assert 'error="RuntimeError: All records failed processing.' in line
    assert sqs.deleted == [] and runner.failed == 2
