"""Logs through one Powertools logger per process; never log PII.

On Lambda every line is JSON (CloudWatch Logs Insights queries its keys). On the local stack
(`SCRM_STAGE=local`) a developer reads them in a terminal, so the same records and keys come out as one plain
line each: `time LEVEL message key=value ...`. A failure that will be retried logs one line (`one_line`);
its traceback only at DEBUG."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from chalicelib.config import Settings

# What the plain line shows in its own columns, or leaves out as noise for a terminal.
_NOT_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "message",
        "service",
        "location",
        "sampling_rate",
        "xray_trace_id",
        "exception",
        "exception_name",
        "exception_notes",
        "stack_trace",
    }
)
ONE_LINE_CHARS = 300


class PlainFormatter(LambdaPowertoolsFormatter):
    """Powertools' formatter (so appended and per-thread keys work as on Lambda) writing plain lines."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S.%F")  # %F: Powertools' milliseconds

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        keys = " ".join(f"{k}={_value(v)}" for k, v in log.items() if k not in _NOT_KEYS and v is not None)
        line = f"{log.get('timestamp', '')} {log.get('level', '')!s:<7} {log.get('message', '')}"
        line = f"{line} {keys}" if keys else line
        if log.get("exception"):  # logger.exception: a bug, not a retry; its traceback follows
            line = f"{line}\n{log['exception']}"
        return line


def _value(value: Any) -> str:
    if not isinstance(value, str):  # numbers, lists, dicts: compact JSON, readable as it is
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    if not value or any(c in value for c in ' "=\n'):
        return json.dumps(value, ensure_ascii=False)
    return value


def one_line(error: BaseException) -> str:
    """`Type: the first line of its message`, bounded: what a failure that will be retried logs."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= ONE_LINE_CHARS else text[: ONE_LINE_CHARS - 1] + "…"


def _formatter() -> PlainFormatter | None:
    # A fresh Settings (not the cached one): the CLI points the environment at the local stack after import.
    return PlainFormatter() if Settings().stage == "local" else None


logger = Logger(service="scrm", logger_formatter=_formatter())
