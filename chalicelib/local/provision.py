"""Create the declared resources (chalicelib/resources.py) on an AWS endpoint: the local moto server."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.resources import BUCKETS, QUEUES, STATE_MACHINES, TABLE, BucketSpec, QueueSpec

LOCAL_ACCOUNT = "123456789012"


def create_table(dynamodb: Any, table_name: str) -> None:
    if table_name in dynamodb.list_tables()["TableNames"]:
        return
    attrs = {TABLE.hash_key, TABLE.range_key} | {a for i in TABLE.indexes for a in (i.hash_key, i.range_key)}
    dynamodb.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)],
        KeySchema=[
            {"AttributeName": TABLE.hash_key, "KeyType": "HASH"},
            {"AttributeName": TABLE.range_key, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": i.name,
                "KeySchema": [
                    {"AttributeName": i.hash_key, "KeyType": "HASH"},
                    {"AttributeName": i.range_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for i in TABLE.indexes
        ],
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE.ttl_attribute}
    )


def create_queue(sqs: Any, spec: QueueSpec, *, visibility_timeout: int | None = None) -> str:
    """The queue and its DLQ; `visibility_timeout` caps the declared one (the local stack's tests)."""
    dlq_url = sqs.create_queue(QueueName=spec.dlq_name, Attributes={"MessageRetentionPeriod": "1209600"})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url: str = sqs.create_queue(
        QueueName=spec.name,
        Attributes={
            "VisibilityTimeout": str(
                min(spec.visibility_timeout, visibility_timeout or spec.visibility_timeout)
            ),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
            ),
        },
    )["QueueUrl"]
    return url


def create_bucket(s3: Any, spec: BucketSpec) -> str:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if spec.name not in existing:
        s3.create_bucket(Bucket=spec.name)
    return spec.name


def create_state_machines(sfn: Any, substitutions: dict[str, str]) -> dict[str, str]:
    arns: dict[str, str] = {}
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for spec in STATE_MACHINES:
        if spec.name in existing:
            arns[spec.logical_id] = existing[spec.name]
            continue
        definition = spec.definition_path.read_text()
        for key, value in {**spec.substitutions, **substitutions}.items():
            definition = definition.replace("${" + key + "}", value)
        arns[spec.logical_id] = sfn.create_state_machine(
            name=spec.name, definition=definition, roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT}:role/scrm-local-sfn"
        )["stateMachineArn"]
    return arns


def provision(
    session: Any, endpoint: str, table_name: str, *, visibility_timeout: int | None = None
) -> dict[str, str]:
    """Creates everything; returns the environment the app needs (queue URLs, state machine ARNs)."""
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    create_table(dynamodb, table_name)
    env = {spec.env_var: create_queue(sqs, spec, visibility_timeout=visibility_timeout) for spec in QUEUES}
    env.update({spec.dlq_env_var: sqs.get_queue_url(QueueName=spec.dlq_name)["QueueUrl"] for spec in QUEUES})
    s3 = session.client("s3", endpoint_url=endpoint)
    env.update({spec.env_var: create_bucket(s3, spec) for spec in BUCKETS})
    # The same substitutions infra/ gives the deployed definitions.
    substitutions = {**env, "SCRM_TABLE_NAME": table_name}
    arns = create_state_machines(session.client("stepfunctions", endpoint_url=endpoint), substitutions)
    env.update({f"SCRM_STATE_MACHINE_{k.upper()}": v for k, v in arns.items()})
    return env
