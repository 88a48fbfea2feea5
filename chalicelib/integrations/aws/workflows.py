"""Step Functions behind `WorkflowStarter`: executions by state machine logical id, task tokens answered."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.observability import logger

# The execution waiting for the token is gone (finished, stopped, timed out): nobody is left to answer,
# and a retry cannot change that. moto says InvalidToken for a token no running execution holds (the local
# stack after a restart, whose executions lived in memory while their queued task messages were kept).
GONE_TASK_ERRORS = frozenset({"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"})


class StepFunctionsStarter:
    def __init__(self, *, client: Any, machines: Mapping[str, str | None]) -> None:
        self._client = client
        self._machines = machines  # logical id → state machine ARN (injected by infra/ or the local stack)

    def _arn(self, machine: str) -> str:
        arn = self._machines.get(machine)
        if not arn:
            raise RuntimeError(
                f"state machine {machine} is not configured (SCRM_STATE_MACHINE_{machine.upper()})"
            )
        return arn

    def start(self, machine: str, name: str, payload: dict[str, Any]) -> None:
        try:
            self._client.start_execution(
                stateMachineArn=self._arn(machine),
                name=name,
                input=json.dumps(payload, separators=(",", ":")),
            )
        except ClientError as e:
            # The name makes the start idempotent: a redelivered step must not start a second timer.
            if e.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise

    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        try:
            self._client.send_task_success(
                taskToken=task_token, output=json.dumps(output, separators=(",", ":"))
            )
        except ClientError as e:
            _unless_gone(e)

    def fail(self, task_token: str, error: str, cause: str) -> None:
        try:
            self._client.send_task_failure(taskToken=task_token, error=error[:256], cause=cause[:32768])
        except ClientError as e:
            _unless_gone(e)


def _unless_gone(e: ClientError) -> None:
    code = e.response.get("Error", {}).get("Code")
    if code not in GONE_TASK_ERRORS:
        raise e
    logger.warning("step functions: the task's execution is gone; nothing to answer", extra={"code": code})
