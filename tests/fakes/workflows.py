"""A WorkflowStarter that records what the app asks of Step Functions (tests drive the timer by hand)."""

from __future__ import annotations

from typing import Any


class FakeStarter:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}  # execution name → input
        self.succeeded: list[tuple[str, dict[str, Any]]] = []
        self.failed: list[tuple[str, str, str]] = []

    def start(self, machine: str, name: str, payload: dict[str, Any]) -> None:
        self.started.setdefault(name, {"machine": machine, **payload})

    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        self.succeeded.append((task_token, output))

    def fail(self, task_token: str, error: str, cause: str) -> None:
        self.failed.append((task_token, error, cause))


class RecordingNotifier:
    def __init__(self) -> None:
        self.requests: list[Any] = []

    def notify(self, requests: Any) -> None:
        self.requests.extend(requests)
