"""The synthesized template, offline: everything chalicelib/resources.py declares is in it, wired to the
functions, with least-privilege IAM. Declarations are iterated, so additions are covered automatically."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api import http as api_http
from chalicelib.api.http import RouteSpec
from chalicelib.config import Settings
from chalicelib.resources import (
    EVENTS_QUEUE,
    INGEST_QUEUE,
    QUEUES,
    SETTLEMENT_RUN,
    STATE_MACHINES,
    TABLE,
    QueueSpec,
    StateMachineSpec,
)
from infra import synth

STAGE = "dev"
Template = dict[str, Any]


def _refuse(*_: Any, **__: Any) -> Any:
    raise AssertionError("offline synthesis must not use the network or run pip")


@pytest.fixture(scope="module")
def synth_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _refuse)
        mp.setattr(subprocess, "Popen", _refuse)  # chalice runs pip in a subprocess
        assert synth.main(["--stage", STAGE, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def template(synth_out: Path) -> Template:
    loaded: Template = json.loads((synth_out / "template.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def raw_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """Chalice's own template, for post-processing with other declarations."""
    return synth.chalice_template(STAGE, tmp_path_factory.mktemp("raw"))


def of_type(template: Template, kind: str) -> dict[str, Template]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def functions(template: Template) -> dict[str, Template]:
    return of_type(template, "AWS::Serverless::Function")


def chalice_functions(template: Template) -> dict[str, Template]:
    """Chalice's functions, with the per-function roles; the webhook function has its own role test."""
    return {k: v for k, v in functions(template).items() if k != synth.WEBHOOK_FUNCTION_ID}


def sqs_events(template: Template) -> Iterator[tuple[str, Template]]:
    for fn_id, fn in functions(template).items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                yield fn_id, event["Properties"]


def role_statements(template: Template, role_id: str) -> list[Template]:
    role = template["Resources"][role_id]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def actions_on(statements: list[Template], resource: Any) -> set[str]:
    return {a for s in statements if resource in s["Resource"] for a in s["Action"]}


# --- table ---------------------------------------------------------------------------------------------


def test_table(template: Template) -> None:
    table = template["Resources"][TABLE.logical_id]
    props = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {i.name for i in TABLE.indexes} == {"gsi1", "gsi2"}
    for spec in TABLE.indexes:
        assert indexes[spec.name]["KeySchema"] == [
            {"AttributeName": spec.hash_key, "KeyType": "HASH"},
            {"AttributeName": spec.range_key, "KeyType": "RANGE"},
        ]
        assert indexes[spec.name]["Projection"] == {"ProjectionType": "ALL"}
    defined = {a["AttributeName"] for a in props["AttributeDefinitions"]}
    keys = {k["AttributeName"] for k in props["KeySchema"]}
    keys |= {k["AttributeName"] for i in props["GlobalSecondaryIndexes"] for k in i["KeySchema"]}
    assert defined == keys  # CloudFormation rejects unused attribute definitions
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": TABLE.ttl_attribute, "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


# --- queues and event sources --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", QUEUES, ids=lambda q: q.logical_id)
def test_declared_queue_and_its_dlq(template: Template, spec: QueueSpec) -> None:
    queue_id, dlq_id = synth.queue_logical_ids(spec)
    queue, dlq = template["Resources"][queue_id], template["Resources"][dlq_id]
    assert queue["Type"] == dlq["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": spec.max_receive_count,
    }
    assert queue["Properties"]["VisibilityTimeout"] == spec.visibility_timeout
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["Properties"]["SqsManagedSseEnabled"] is dlq["Properties"]["SqsManagedSseEnabled"] is True
    assert template["Outputs"][f"{queue_id}Url"] == {"Value": {"Ref": queue_id}}
    assert template["Outputs"][f"{dlq_id}Url"] == {"Value": {"Ref": dlq_id}}


def test_sqs_event_sources_point_at_declared_queues(template: Template) -> None:
    by_id = {synth.queue_logical_ids(q)[0]: q for q in QUEUES}
    consumed = set()
    for fn_id, props in sqs_events(template):
        target = props["Queue"]["Fn::GetAtt"]
        assert target[1] == "Arn" and target[0] in by_id, f"{fn_id} consumes an undeclared queue: {target}"
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BatchSize"] == by_id[target[0]].batch_size
        assert by_id[target[0]].visibility_timeout >= functions(template)[fn_id]["Properties"]["Timeout"]
        consumed.add(target[0])
    assert synth.queue_logical_ids(EVENTS_QUEUE)[0] in consumed  # chalicelib/workers/events.py


def test_undeclared_queue_is_an_error(raw_template: Template) -> None:
    broken = json.loads(json.dumps(raw_template).replace(f":{EVENTS_QUEUE.name}", ":not-declared"))
    with pytest.raises(ValueError, match="not-declared"):
        synth.post_process(broken, stage=STAGE, offline=True)


# --- functions -----------------------------------------------------------------------------------------


def test_function_environment(template: Template) -> None:
    secret = {"Fn::Sub": "{{resolve:secretsmanager:${ScrmSecretKey}:SecretString}}"}
    assert functions(template)
    for fn_id, fn in functions(template).items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["SCRM_TABLE_NAME"] == {"Ref": TABLE.logical_id}, fn_id
        assert env["SCRM_STAGE"] == STAGE
        assert env["SCRM_SECRET_KEY"] == secret
        for q in QUEUES:
            assert env[q.env_var] == {"Ref": synth.queue_logical_ids(q)[0]}, (fn_id, q.env_var)
            assert env[q.dlq_env_var] == {"Ref": synth.queue_logical_ids(q)[1]}, (fn_id, q.dlq_env_var)
        for sm in STATE_MACHINES:
            assert env[synth.state_machine_env_var(sm)] == {"Ref": synth.state_machine_logical_id(sm)}


def test_secret_is_generated_retained_and_decodes_as_the_master_key(template: Template) -> None:
    secret = template["Resources"][synth.SECRET_ID]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert (secret["DeletionPolicy"], secret["UpdateReplacePolicy"]) == ("Retain", "Retain")
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["ExcludePunctuation"] is True and generate["IncludeSpace"] is False
    # What Secrets Manager can produce (alphanumerics) is a valid SCRM_SECRET_KEY of at least 256 bits.
    sample = ("Ab3" * 20)[: generate["PasswordLength"]]
    assert len(base64.b64decode(sample)) >= 32
    assert len(Settings(secret_key=sample).derived_key("test")) == 32


def test_each_function_has_its_own_role_and_log_group(template: Template) -> None:
    assert "DefaultRole" not in template["Resources"]  # chalice's role (Resource "*") is replaced
    for fn_id, fn in functions(template).items():
        props = fn["Properties"]
        assert "Policies" not in props
        assert props["Role"] == {"Fn::GetAtt": [f"{fn_id}Role", "Arn"]}
        assert props["LoggingConfig"] == {"LogGroup": {"Ref": f"{fn_id}LogGroup"}}
        assert template["Resources"][f"{fn_id}LogGroup"]["Properties"] == {"RetentionInDays": 30}
        statements = role_statements(template, f"{fn_id}Role")
        log_group = {"Fn::GetAtt": [f"{fn_id}LogGroup", "Arn"]}
        assert actions_on(statements, log_group) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    for fn_id in chalice_functions(template):
        statements = role_statements(template, f"{fn_id}Role")
        table_actions = actions_on(statements, {"Fn::GetAtt": [TABLE.logical_id, "Arn"]})
        assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"} <= table_actions
        assert "dynamodb:Scan" not in table_actions
        assert actions_on(statements, {"Ref": synth.SECRET_ID}) == {"secretsmanager:GetSecretValue"}


def test_only_consumers_may_receive(template: Template) -> None:
    consumers: dict[str, set[str]] = {}
    for fn_id, props in sqs_events(template):
        consumers.setdefault(fn_id, set()).add(props["Queue"]["Fn::GetAtt"][0])
    for fn_id in chalice_functions(template):
        statements = role_statements(template, f"{fn_id}Role")
        for q in QUEUES:
            queue_id = synth.queue_logical_ids(q)[0]
            actions = actions_on(statements, {"Fn::GetAtt": [queue_id, "Arn"]})
            assert "sqs:SendMessage" in actions
            assert ("sqs:ReceiveMessage" in actions) == (queue_id in consumers.get(fn_id, set()))
            # Only the management API (/v1/dead-letters) looks at and replays the dead letters; nothing sends
            # to a DLQ but SQS's redrive policy.
            dlq_actions = actions_on(statements, {"Fn::GetAtt": [synth.queue_logical_ids(q)[1], "Arn"]})
            expected = set(synth.SQS_CONSUMER_ACTIONS) if fn_id == "APIHandler" else set()
            assert dlq_actions == expected, (fn_id, q.logical_id)


def test_the_apps_schedules_are_eventbridge_schedules_of_their_functions(template: Template) -> None:
    """Declared once, with the handler (chalicelib/workers/): the template's Schedule events are exactly the
    app's. The month-end run's is hourly in UTC (its handler decides whose 02:00 on the 1st it is), and its
    function may start settlement runs and read the tenant registry, but not Scan."""
    from chalice.app import ScheduledEventConfig

    from app import app

    declared = {
        s.handler_string: s.schedule_expression.to_string()  # type: ignore[union-attr]
        for s in app.event_sources
        if isinstance(s, ScheduledEventConfig)
    }
    in_template = {
        fn["Properties"]["Handler"]: event["Properties"]["Schedule"]
        for fn in functions(template).values()
        for event in fn["Properties"].get("Events", {}).values()
        if event["Type"] == "Schedule"
    }
    assert in_template == declared
    assert in_template["chalicelib.workers.month_end.on_month_end_tick"] == "cron(0 * * * ? *)"
    [fn_id] = [
        k
        for k, fn in functions(template).items()
        if fn["Properties"]["Handler"] == "chalicelib.workers.month_end.on_month_end_tick"
    ]
    statements = role_statements(template, f"{fn_id}Role")
    machine = synth.state_machine_logical_id(SETTLEMENT_RUN)
    assert "states:StartExecution" in actions_on(statements, {"Ref": machine})
    table_actions = actions_on(statements, {"Fn::GetAtt": [TABLE.logical_id, "Arn"]})
    assert {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"} <= table_actions
    assert "dynamodb:Scan" not in table_actions  # the registry backfill is an operator's command


# --- IAM and references, on the real template and on one with a state machine --------------------------


def _statements(node: Any) -> Iterator[Template]:
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            yield from node["Statement"]
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def assert_least_privilege(template: Template) -> None:
    statements = list(_statements(template["Resources"]))
    assert statements
    for s in statements:
        assert "NotAction" not in s and "NotResource" not in s, s
        for action in _as_list(s["Action"]):
            assert action != "*" and not action.endswith(":*"), s
        for resource in _as_list(s.get("Resource", [])):
            text = resource.get("Fn::Sub") if isinstance(resource, dict) else resource
            if isinstance(text, str):
                # Two patterns only: the table's indexes under its own ARN, and the objects of a declared
                # bucket under that bucket's own ARN (object keys carry the tenant: they cannot be listed).
                bucket_objects = text.startswith("${") and text.endswith("Bucket.Arn}/*")
                assert bucket_objects or "*" not in text.removesuffix("/index/*"), s


def assert_references_resolve(template: Template) -> None:
    """Every Ref/GetAtt/Sub variable names a resource (or a pseudo parameter): CloudFormation would
    reject the template at deploy time otherwise."""
    known = set(template["Resources"])

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "Ref" in node:
                yield node["Ref"]
            if "Fn::GetAtt" in node:
                yield node["Fn::GetAtt"][0]
            if "Fn::Sub" in node:
                text, variables = (
                    (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
                )
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    if name.split(".")[0] not in variables:
                        yield name.split(".")[0]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for name in walk({k: v for k, v in template.items() if k != "Metadata"}):
        assert name in known or name.startswith("AWS::"), name


def test_iam_is_least_privilege(template: Template) -> None:
    assert_least_privilege(template)


def test_references_resolve(template: Template) -> None:
    assert_references_resolve(template)


def test_declared_state_machines(template: Template) -> None:
    # A loop, not parametrize: STATE_MACHINES is empty today and an empty parameter set reports a skip.
    for spec in STATE_MACHINES:
        sm_id = synth.state_machine_logical_id(spec)
        sm = template["Resources"][sm_id]
        assert sm["Type"] == "AWS::StepFunctions::StateMachine"
        assert sm["Properties"]["DefinitionString"] == spec.definition_path.read_text()
        assert sm["Properties"]["RoleArn"] == {"Fn::GetAtt": [f"{sm_id}Role", "Arn"]}
        assert template["Outputs"][f"{sm_id}Arn"] == {"Value": {"Ref": sm_id}}


def test_state_machine_support(raw_template: Template, tmp_path: Path) -> None:
    """STATE_MACHINES is empty today; the path works for the first declaration."""
    asl = tmp_path / "onboarding.asl.json"
    asl.write_text(
        json.dumps(
            {
                "StartAt": "Notify",
                "States": {
                    "Notify": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::sqs:sendMessage",
                        "Parameters": {"QueueUrl": "${SCRM_QUEUE_URL_EVENTS}", "MessageBody.$": "$"},
                        "End": True,
                    }
                },
            }
        )
    )
    spec = StateMachineSpec(logical_id="onboarding", name="scrm-onboarding", definition_file=str(asl))
    out = synth.post_process(raw_template, stage=STAGE, offline=True, state_machines=(spec,))
    sm_id = synth.state_machine_logical_id(spec)
    sm = out["Resources"][sm_id]["Properties"]
    assert sm["DefinitionString"] == asl.read_text()
    assert sm["DefinitionSubstitutions"] == {"SCRM_QUEUE_URL_EVENTS": {"Ref": "EventsQueue"}}
    assert sm["RoleArn"] == {"Fn::GetAtt": [f"{sm_id}Role", "Arn"]}
    sm_statements = role_statements(out, f"{sm_id}Role")
    assert actions_on(sm_statements, {"Fn::GetAtt": ["EventsQueue", "Arn"]}) == {"sqs:SendMessage"}
    for fn in functions(out).values():
        assert fn["Properties"]["Environment"]["Variables"]["SCRM_STATE_MACHINE_ONBOARDING"] == {"Ref": sm_id}
    for fn_id in chalice_functions(out):
        assert actions_on(role_statements(out, f"{fn_id}Role"), {"Ref": sm_id}) == set(synth.STATES_ACTIONS)
    assert out["Outputs"][f"{sm_id}Arn"] == {"Value": {"Ref": sm_id}}
    assert_least_privilege(out)
    assert_references_resolve(out)

    asl.write_text(asl.read_text().replace("SCRM_QUEUE_URL_EVENTS", "NOT_PROVIDED"))
    with pytest.raises(ValueError, match="NOT_PROVIDED"):
        synth.post_process(raw_template, stage=STAGE, offline=True, state_machines=(spec,))


# --- API and outputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found"),
        ("REQUEST_TOO_LARGE", "413", "payload_too_large"),
        ("DEFAULT_5XX", "500", "internal_error"),
    ],
)
def test_gateway_responses_use_our_error_shape(
    template: Template, response_type: str, status: str, code: str
) -> None:
    (api,) = of_type(template, "AWS::Serverless::Api").values()
    response = api["Properties"]["GatewayResponses"][response_type]
    assert response["StatusCode"] == status
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"} and body["error"]["details"] == []


# --- webhooks on the HTTP API ---------------------------------------------------------------------------


def app_webhook_routes() -> set[tuple[str, str]]:
    """What the app declares (app.py is loaded by the synth fixture, which fills the registry)."""
    routes = {(r.method, r.path) for r in api_http.ROUTES if r.path.startswith("/webhooks/")}
    assert {
        ("GET", "/webhooks/wecom/{tenant_id}"),
        ("POST", "/webhooks/shop/{platform}/{tenant_id}"),
    } <= routes
    return routes


def http_api_events(fn: Template) -> list[Template]:
    return [e["Properties"] for e in fn["Properties"].get("Events", {}).values() if e["Type"] == "HttpApi"]


def test_every_webhook_route_and_nothing_else_is_on_the_http_api(template: Template) -> None:
    (api_id,) = of_type(template, "AWS::Serverless::HttpApi")
    assert api_id == synth.WEBHOOK_API_ID
    props = template["Resources"][api_id]["Properties"]
    assert props["FailOnWarnings"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 2000, "ThrottlingRateLimit": 1000}
    assert "StageName" not in props  # $default: the URL in the output has no stage segment
    fn = template["Resources"][synth.WEBHOOK_FUNCTION_ID]
    assert fn["Properties"]["Handler"] == "app.webhook_handler"
    assert callable(sys.modules["app"].webhook_handler)
    events = http_api_events(fn)
    assert len(events) == len(fn["Properties"]["Events"])  # nothing but HTTP API routes
    for event in events:
        assert event["ApiId"] == {"Ref": api_id}
        assert event["PayloadFormatVersion"] == "1.0"  # what chalicelib/api/http_api.py converts
    served = {(e["Method"], e["Path"]) for e in events}
    assert served == app_webhook_routes()
    for method, path in served:
        assert method in sys.modules["app"].app.routes[path]  # rest_event's resourcePath finds the view
    for fn_id, other in functions(template).items():
        assert fn_id == synth.WEBHOOK_FUNCTION_ID or not http_api_events(other), fn_id
    assert template["Outputs"]["WebhookEndpointURL"] == {
        "Value": {"Fn::Sub": "https://${WebhookHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"}
    }


def test_the_management_api_stays_on_the_rest_api(template: Template) -> None:
    (rest,) = of_type(template, "AWS::Serverless::Api").values()
    paths = set(rest["Properties"]["DefinitionBody"]["paths"])
    assert {r.path for r in api_http.ROUTES if r.path.startswith("/v1/")} <= paths
    assert "/webhooks/wecom/{tenant_id}" in paths  # URLs already given to senders keep working


def test_the_webhook_function_runs_the_api_handlers_code_and_settings(template: Template) -> None:
    fn = template["Resources"][synth.WEBHOOK_FUNCTION_ID]["Properties"]
    api_handler = template["Resources"]["APIHandler"]["Properties"]
    for key in ("CodeUri", "Runtime", "Layers", "Environment", "MemorySize", "Timeout", "Architectures"):
        assert fn[key] == api_handler[key], key
    assert "ReservedConcurrentExecutions" not in fn  # bounded by the HTTP API's throttling instead


def test_the_webhook_role_grants_only_what_the_webhooks_touch(template: Template) -> None:
    granted = {
        (action, json.dumps(resource, sort_keys=True))
        for s in role_statements(template, f"{synth.WEBHOOK_FUNCTION_ID}Role")
        for action in s["Action"]
        for resource in s["Resource"]
    }
    log_group = json.dumps({"Fn::GetAtt": [f"{synth.WEBHOOK_FUNCTION_ID}LogGroup", "Arn"]})
    assert granted == {
        ("dynamodb:GetItem", json.dumps({"Fn::GetAtt": [TABLE.logical_id, "Arn"]})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": [synth.queue_logical_ids(INGEST_QUEUE)[0], "Arn"]})),
        ("logs:CreateLogStream", log_group),
        ("logs:PutLogEvents", log_group),
    }


def test_a_new_webhook_route_is_served_without_infra_changes(
    raw_template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    def spec(method: str, path: str) -> RouteSpec:
        return RouteSpec(path, method, "test", "webhooks", False, 200, None, None, None)

    added = [spec("POST", "/webhooks/crm/{vendor}/{tenant_id}"), spec("POST", "/v1/not-a-webhook")]
    monkeypatch.setattr(api_http, "ROUTES", [*api_http.ROUTES, *added])
    out = synth.post_process(raw_template, stage=STAGE, offline=True)
    served = {(e["Method"], e["Path"]) for e in http_api_events(out["Resources"][synth.WEBHOOK_FUNCTION_ID])}
    assert ("POST", "/webhooks/crm/{vendor}/{tenant_id}") in served
    assert ("POST", "/v1/not-a-webhook") not in served
    assert_references_resolve(out)


def test_outputs(template: Template) -> None:
    outputs = template["Outputs"]
    assert "execute-api" in outputs["EndpointURL"]["Value"]["Fn::Sub"]
    assert outputs["TableName"] == {"Value": {"Ref": TABLE.logical_id}}


# --- offline packaging ---------------------------------------------------------------------------------


def test_offline_package_is_marked_and_holds_the_app_but_no_dependencies(
    template: Template, synth_out: Path
) -> None:
    assert template["Metadata"]["scrm"]["offline"] is True
    assert "NOT DEPLOYABLE" in template["Description"]
    assert not (synth_out / "sam.json").exists()
    (layer,) = of_type(template, "AWS::Serverless::LayerVersion").values()
    with zipfile.ZipFile(synth_out / layer["Properties"]["ContentUri"]) as z:
        assert [Path(n).name for n in z.namelist()] == [synth.OFFLINE_PLACEHOLDER]
    code_uris = {fn["Properties"]["CodeUri"] for fn in functions(template).values()}
    assert code_uris == {"./deployment.zip"}
    with zipfile.ZipFile(synth_out / "deployment.zip") as z:
        names = set(z.namelist())
    assert {"app.py", "chalice/app.py", "chalicelib/resources.py"} <= names
    assert not any(n.startswith(("pydantic/", "boto3/")) for n in names)


def test_every_declared_bucket_is_private_encrypted_and_expiring(template: Template) -> None:
    from chalicelib.resources import BUCKETS

    for spec in BUCKETS:
        bucket = template["Resources"][synth.bucket_logical_id(spec)]
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == spec.expire_days
        for fn in functions(template).values():
            assert fn["Properties"]["Environment"]["Variables"][spec.env_var] == {
                "Ref": synth.bucket_logical_id(spec)
            }
