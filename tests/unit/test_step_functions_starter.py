"""Answering a task token whose execution is gone is not an error (nobody is left to answer); any other
Step Functions error still is, so the message is retried."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from chalicelib.integrations.aws.workflows import StepFunctionsStarter


def _starter() -> tuple[StepFunctionsStarter, Stubber]:
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return StepFunctionsStarter(client=client, machines={}), Stubber(client)


@pytest.mark.parametrize("code", ["TaskDoesNotExist", "TaskTimedOut", "InvalidToken"])
def test_a_token_of_a_gone_execution_is_answered_by_nobody(code: str) -> None:
    starter, stub = _starter()
    stub.add_client_error("send_task_success", service_error_code=code)
    stub.add_client_error("send_task_failure", service_error_code=code)
    with stub:
        starter.succeed("token", {"done": True})
        starter.fail("token", "Boom", "cause")
        stub.assert_no_pending_responses()


def test_other_errors_are_raised_for_a_retry() -> None:
    starter, stub = _starter()
    stub.add_client_error("send_task_success", service_error_code="ThrottlingException")
    with stub, pytest.raises(ClientError):
        starter.succeed("token", {})
