"""The local stack's fast path for plain UpdateItem expressions (chalicelib/local/moto_patches.py) gives the
same items and the same errors as moto's own code. Each side runs in a fresh interpreter: the patches are
process-wide and must not leak into other tests."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chalicelib.local.moto_patches import _simple_plan

SCRIPT = r"""
import json, sys
import boto3
from moto import mock_aws
if sys.argv[1] == "fast":
    from chalicelib.local import moto_patches
    moto_patches.install()
with mock_aws():
    db = boto3.client("dynamodb", region_name="cn-north-1")
    db.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"}], AttributeDefinitions=[{"AttributeName": "pk",
        "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
    steps = [
        dict(UpdateExpression="SET #t = :t ADD #n :n, #m :m",
             ExpressionAttributeNames={"#t": "type", "#n": "n", "#m": "m", "#p": "pk"},
             ExpressionAttributeValues={":t": {"S": "stock"}, ":n": {"N": "5"}, ":m": {"N": "0"}},
             ConditionExpression="attribute_not_exists (#p)"),
        dict(UpdateExpression="ADD #n :n SET #w = :w",
             ExpressionAttributeNames={"#n": "n", "#w": "w"},
             ExpressionAttributeValues={":n": {"N": "-2.50"}, ":w": {"S": "SH"}, ":c": {"N": "5"}},
             ConditionExpression="#n = :c"),
        dict(UpdateExpression="ADD #n :n", ExpressionAttributeNames={"#n": "n"},
             ExpressionAttributeValues={":n": {"N": "1"}, ":c": {"N": "99"}}, ConditionExpression="#n = :c"),
        dict(UpdateExpression="ADD #w :n", ExpressionAttributeNames={"#w": "w"},
             ExpressionAttributeValues={":n": {"N": "1"}}),
        dict(UpdateExpression="SET #a = :a, #a = :b", ExpressionAttributeNames={"#a": "a"},
             ExpressionAttributeValues={":a": {"S": "x"}, ":b": {"S": "y"}}),
        dict(UpdateExpression="SET #a = :missing", ExpressionAttributeNames={"#a": "a"},
             ExpressionAttributeValues={":a": {"S": "x"}}),
        dict(UpdateExpression="SET #k = :a", ExpressionAttributeNames={"#k": "sk"},
             ExpressionAttributeValues={":a": {"S": "x"}}),
        dict(UpdateExpression="ADD #s :s REMOVE #w", ExpressionAttributeNames={"#s": "s", "#w": "w"},
             ExpressionAttributeValues={":s": {"SS": ["x"]}}),
    ]
    out = []
    for step in steps:
        try:
            db.update_item(TableName="t", Key=key, **step)
            out.append(["ok", db.get_item(TableName="t", Key=key, ConsistentRead=True)["Item"]])
        except Exception as e:
            out.append(["error", getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)])
    print(json.dumps(out, sort_keys=True))
"""


def _run(mode: str) -> list[object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=120,
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout))


def test_the_fast_path_gives_what_moto_gives() -> None:
    moto, fast = _run("moto"), _run("fast")
    assert fast == moto
    assert [step[0] for step in fast] == ["ok", "ok", "error", "error", "error", "error", "error", "ok"]


@pytest.mark.parametrize(
    ("expression", "plan"),
    [
        ("SET #1 = :1 ADD #0 :0, #2 :2", (("SET", "#1", ":1"), ("ADD", "#0", ":0"), ("ADD", "#2", ":2"))),
        ("ADD #0 :0", (("ADD", "#0", ":0"),)),
        ("SET #0 = #0 + :1", None),
        ("SET #0 = :0 REMOVE #1", None),
        ("SET #0.a = :0", None),
        ("SET #0 = if_not_exists(#0, :0)", None),
        ("SET #0 = :0 SET #1 = :1", None),
    ],
)
def test_only_plain_set_and_add_take_the_fast_path(expression: str, plan: object) -> None:
    assert _simple_plan(expression) == plan
