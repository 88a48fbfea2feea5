"""Counting DynamoDB requests made through pynamodb (tests and benchmarks)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pynamodb.connection.base import Connection


class RequestCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@contextmanager
def count_requests() -> Iterator[RequestCounter]:
    counter = RequestCounter()
    original = Connection._make_api_call

    def counting(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        counter.calls[operation_name] += 1
        return original(self, operation_name, operation_kwargs)

    Connection._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        Connection._make_api_call = original  # type: ignore[method-assign]
