from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class FakePublisher:
    """Collects published events instead of sending them to SQS."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        self.events.extend(events)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]
