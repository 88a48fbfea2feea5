"""The local moto server hands DynamoDB and SQS requests to moto's handlers directly (motoserver.py): what
boto3 sees must be what moto's own Flask route gives, answers and errors alike."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.local.motoserver import MotoServer
from tests.e2e.conftest import free_port

ROUTED: list[str] = []  # X-Amz-Target of the requests that went through moto's Flask app


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = MotoServer("127.0.0.1", port)
    server.start()
    assert server._server is not None
    app = server._server.app

    def counting(environ, start_response):
        ROUTED.append(environ.get("HTTP_X_AMZ_TARGET", ""))
        return app(environ, start_response)

    server._server.app = counting
    yield f"http://127.0.0.1:{port}"
    server.stop()
    assert not [t for t in ROUTED if t.startswith(("DynamoDB_", "AmazonSQS."))]  # all took the direct way


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_dynamodb_answers_and_errors(endpoint: str) -> None:
    ddb = client("dynamodb", endpoint)
    ddb.create_table(
        TableName="fast",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="fast", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    assert ddb.get_item(TableName="fast", Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": "1"}
    with pytest.raises(ClientError) as failed:
        ddb.put_item(
            TableName="fast", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)"
        )
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "fast", "Item": {"pk": {"S": "b"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "fast",
                        "Key": {"pk": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    with pytest.raises(ClientError) as missing:
        ddb.get_item(TableName="nope", Key={"pk": {"S": "a"}})
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_sqs_answers_and_errors(endpoint: str) -> None:
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="fast")["QueueUrl"]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "你好"}])
    assert [s["Id"] for s in sent["Successful"]] == ["1"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert message["Body"] == "你好"
    with pytest.raises(ClientError) as missing:
        sqs.get_queue_url(QueueName="no-such-queue")
    assert missing.value.response["Error"]["Code"] in (
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    )
