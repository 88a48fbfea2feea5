"""Synthesize the stack's CloudFormation (SAM) template: `chalice package`, then our own post-processing.

    python -m infra.synth --stage dev [--out infra/out] [--no-offline] [--region cn-north-1]

1. Chalice packages the app exactly as `chalice package` does (functions, layer, REST API, event sources).
   `--offline` (the default, used by CI and tests) swaps only the dependency download: the managed layer
   holds a placeholder instead of the pip-installed requirements, so it needs no network or credentials
   and the template has the same resources as a real package. Deploy only `--no-offline` output.
2. Post-processing adds what chalicelib/resources.py declares (table, queues + DLQs, state machines), a
   generated master secret, least-privilege roles per function, our error shape for API Gateway's own
   errors, an HTTP API with its own function for the /webhooks/ routes, and outputs. Declarations and
   routes are iterated, so new queues/state machines/webhook routes need no change here.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from botocore.session import Session
from chalice.awsclient import TypedAWSClient
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.deploy import deployer
from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
from chalice.deploy.packager import AppOnlyDeploymentPackager, LayerDeploymentPackager
from chalice.deploy.swagger import CFNSwaggerGenerator
from chalice.deploy.validate import validate_lambda_architecture
from chalice.package import (
    AppPackager,
    CompositePostProcessor,
    JSONTemplateSerializer,
    PackageOptions,
    ResourceBuilder,
    SAMCodeLocationPostProcessor,
    SAMTemplateGenerator,
    create_app_packager,
)
from chalice.utils import UI, OSUtils

from chalicelib.api import http as api_http
from chalicelib.api.errors import error_body
from chalicelib.resources import (
    BUCKETS,
    INGEST_QUEUE,
    QUEUES,
    STATE_MACHINES,
    TABLE,
    BucketSpec,
    QueueSpec,
    StateMachineSpec,
    TableSpec,
)

Template = dict[str, Any]

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUT = PROJECT_DIR / "infra" / "out"
OFFLINE_PLACEHOLDER = "OFFLINE_SYNTH_PLACEHOLDER.txt"

SECRET_ID = "ScrmSecretKey"
# Secrets Manager cannot generate random *bytes*: 44 alphanumeric characters (~262 bits) are valid base64
# (44 is a multiple of 4, every character is in the alphabet) and decode to a 33-byte master key, which
# Settings.derived_key accepts as an HMAC key. Never rotate it: it encrypts PII at rest.
SECRET_LENGTH = 44
LOG_RETENTION_DAYS = 30
DLQ_RETENTION_SECONDS = 14 * 24 * 3600

# Item-level actions only. Transactions (TransactWriteItems/TransactGetItems) have no IAM action of their
# own: they are authorized per item by Put/Update/Delete/ConditionCheck/GetItem.
DYNAMODB_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
SQS_CONSUMER_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
)
STATES_ACTIONS = (
    "states:StartExecution",
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
)

# API Gateway answers these itself, before any Lambda runs; without this they would not be in our shape.
GATEWAY_RESPONSES: dict[str, tuple[int, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "no such route"),  # what API GW says for unknown paths
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "the request is too large"),
    "DEFAULT_5XX": (500, "internal_error", "an internal error occurred"),
}

# Webhooks are machine traffic that carries its own signatures: they need none of the REST API's features
# and go through an HTTP API ($1.00 per million requests against $3.50), to a function of their own.
WEBHOOK_PREFIX = "/webhooks/"
WEBHOOK_FUNCTION_ID = "WebhookHandler"
WEBHOOK_API_ID = "WebhookHttpApi"
WEBHOOK_HANDLER = "app.webhook_handler"
# chalicelib/api/http_api.py converts this format only; it is also what Chalice's REST handler reads.
WEBHOOK_PAYLOAD_FORMAT = "1.0"
# API Gateway refuses a flood itself (429) before any function starts; far above WeCom's and shops' rates.
WEBHOOK_THROTTLING = {"ThrottlingBurstLimit": 2000, "ThrottlingRateLimit": 1000}
# The webhook routes publish to the ingest queue only (container().ingest_publisher).
WEBHOOK_QUEUES = (INGEST_QUEUE,)
# Chalice's APIHandler settings the webhook function does not take over: its own handler, role, logs and
# routes; no second reservation of account concurrency (API Gateway's throttling bounds it instead).
_NOT_SHARED_WITH_API_HANDLER = ("Handler", "Role", "LoggingConfig", "Events", "ReservedConcurrentExecutions")

# Event types whose permissions the roles below grant (SQS) or that need none (schedules, EventBridge).
_SUPPORTED_EVENT_TYPES = {"SQS", "Schedule", "CloudWatchEvent"}


# ---------------------------------------------------------------------------------------------------------
# Naming


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def queue_logical_ids(spec: QueueSpec) -> tuple[str, str]:
    """(queue, dead-letter queue) logical ids in the template."""
    base = _camel(spec.logical_id)
    return f"{base}Queue", f"{base}DeadLetterQueue"


def state_machine_logical_id(spec: StateMachineSpec) -> str:
    return f"{_camel(spec.logical_id)}StateMachine"


def state_machine_env_var(spec: StateMachineSpec) -> str:
    return f"SCRM_STATE_MACHINE_{spec.logical_id.upper()}"  # same name chalicelib/local/provision.py sets


def _ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def _arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


# ---------------------------------------------------------------------------------------------------------
# Step 1: chalice package


class _OfflineDependencyBuilder:
    """Stands in for chalice's pip-based DependencyBuilder: installs nothing, leaves a marker file so the
    managed layer is non-empty and stays in the template (chalice drops empty layers)."""

    def build_site_packages(self, abi: str, requirements_filepath: str, target_directory: str) -> None:
        Path(target_directory, OFFLINE_PLACEHOLDER).write_text(
            "Offline synth: dependencies were not installed. Deploy a `--no-offline` package only.\n"
        )


class _ScratchDirPackager:
    """Mixin for chalice's packagers: same zips, written to a scratch dir instead of .chalice/deployments.
    Chalice reuses a cached zip whose name (a content hash) matches, so an offline layer left there would
    later be deployed by a real `chalice package`/`chalice deploy` as if it held the dependencies."""

    def __init__(self, *args: Any, deployments_dir: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deployments_dir = deployments_dir

    def _deployment_package_filename(self, project_dir: str, python_version: str, prefix: str = "") -> str:
        cached = super()._deployment_package_filename(project_dir, python_version, prefix)  # type: ignore[misc]
        return os.path.join(self._deployments_dir, os.path.basename(cached))


class _OfflineAppPackager(_ScratchDirPackager, AppOnlyDeploymentPackager):
    """app.py, chalicelib/ and chalice's runtime, zipped by chalice's own code."""


class _OfflineLayerPackager(_ScratchDirPackager, LayerDeploymentPackager):
    """Chalice's layer packager; with the offline dependency builder the layer holds only the marker."""


def _offline_build_stage(config: Config, osutils: OSUtils, ui: UI, deployments_dir: str) -> Any:
    """Chalice's real build stage (defaults, IAM, swagger, event-source policies) with only its deployment
    packaging step replaced. Starting from `create_build_stage` keeps the step list in sync with chalice."""
    real = deployer.create_build_stage(osutils, ui, CFNSwaggerGenerator(), config)
    offline_deps: Any = _OfflineDependencyBuilder()
    kwargs: dict[str, Any] = {
        "osutils": osutils,
        "dependency_builder": offline_deps,
        "ui": ui,
        "architecture": config.lambda_architecture,
        "deployments_dir": deployments_dir,
    }
    offline_step: Any
    if config.automatic_layer:
        offline_step = deployer.ManagedLayerDeploymentPackager(
            lambda_packager=_OfflineAppPackager(**kwargs), layer_packager=_OfflineLayerPackager(**kwargs)
        )
    else:
        # Without the managed layer chalice zips app + deps together; offline that is the app alone.
        offline_step = deployer.DeploymentPackager(packager=_OfflineAppPackager(**kwargs))  # type: ignore[arg-type]
    packaging = (deployer.ManagedLayerDeploymentPackager, deployer.DeploymentPackager)
    steps = [offline_step if isinstance(step, packaging) else step for step in real._steps]
    if sum(isinstance(step, packaging) for step in real._steps) != 1:
        raise RuntimeError("chalice's build stage changed: expected exactly one deployment packaging step")
    return deployer.BuildStage(steps=steps)


class _RegionPackageOptions(PackageOptions):
    """Chalice's PackageOptions reads the region off a boto3 client, whose creation walks the credential
    chain, down to the EC2 instance metadata endpoint over the network when there are no credentials.
    Packaging makes no AWS call: compute the service principals from the region alone."""

    def __init__(self, region: str) -> None:
        super().__init__(TypedAWSClient(Session()))
        self._region = region

    def service_principal(self, service: str) -> str:
        dns_suffix = self._client.endpoint_dns_suffix(service, self._region)
        return str(self._client.service_principal(service, self._region, dns_suffix))


def chalice_template(
    stage: str, outdir: Path, *, offline: bool = True, region: str | None = None
) -> Template:
    """Run chalice's CloudFormation packager for `stage` into `outdir` (zips + sam.json); return the template.

    The region only picks the service principals chalice writes literally (lambda/apigateway principals
    are the same in every partition); ARNs in the template use AWS::Partition/AWS::Region."""
    factory = CLIFactory(project_dir=str(PROJECT_DIR))
    stages = factory.load_project_config().get("stages", {})
    if stage not in stages:
        raise ValueError(f"unknown stage {stage!r}; .chalice/config.json has {sorted(stages)}")
    config = factory.create_config_obj(stage)
    validate_lambda_architecture(config)
    options = _RegionPackageOptions(region or _default_region())
    outdir.mkdir(parents=True, exist_ok=True)
    if not offline:
        create_app_packager(config, options, "cloudformation", "json").package_app(config, str(outdir), stage)
    else:
        osutils, ui = OSUtils(), UI(out=io.StringIO())  # chalice's progress lines are noise here
        with tempfile.TemporaryDirectory(prefix="scrm-offline-") as scratch:
            # Same assembly as chalice.package.create_app_packager for 'cloudformation' (without a merge
            # template, whose post-processor is then a no-op), with the offline build stage.
            packager = AppPackager(
                SAMTemplateGenerator(config, options),
                ResourceBuilder(
                    ApplicationGraphBuilder(),
                    DependencyBuilder(),
                    _offline_build_stage(config, osutils, ui, scratch),
                ),
                CompositePostProcessor([SAMCodeLocationPostProcessor(osutils=osutils)]),
                JSONTemplateSerializer(),
                osutils,
            )
            packager.package_app(config, str(outdir), stage)
    sam = outdir / "sam.json"
    template: Template = json.loads(sam.read_text())
    sam.unlink()  # one template per output dir: the post-processed one
    return template


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "cn-north-1"


# ---------------------------------------------------------------------------------------------------------
# Step 2: post-processing


def table_resource(spec: TableSpec) -> Template:
    attributes = dict.fromkeys(
        [spec.hash_key, spec.range_key, *(a for i in spec.indexes for a in (i.hash_key, i.range_key))]
    )
    return {
        "Type": "AWS::DynamoDB::Table",
        # The data outlives the stack: deleting or replacing the stack must not delete the table.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
            "KeySchema": _key_schema(spec.hash_key, spec.range_key),
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": i.name,
                    "KeySchema": _key_schema(i.hash_key, i.range_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for i in spec.indexes
            ],
            "TimeToLiveSpecification": {"AttributeName": spec.ttl_attribute, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    }


def _key_schema(hash_key: str, range_key: str) -> list[dict[str, str]]:
    return [{"AttributeName": hash_key, "KeyType": "HASH"}, {"AttributeName": range_key, "KeyType": "RANGE"}]


def bucket_logical_id(spec: BucketSpec) -> str:
    return f"{_camel(spec.logical_id)}Bucket"


def bucket_resource(spec: BucketSpec) -> Template:
    """Private, encrypted, TLS only by policy of the presigned URLs; objects expire (working files)."""
    return {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LifecycleConfiguration": {
                "Rules": [{"Id": "expire", "Status": "Enabled", "ExpirationInDays": spec.expire_days}]
            },
            "CorsConfiguration": {
                "CorsRules": [
                    {
                        "AllowedMethods": ["PUT"],
                        "AllowedOrigins": ["*"],
                        "AllowedHeaders": ["*"],
                        "MaxAge": 3000,
                    }
                ]
            },
        },
    }


def queue_resources(spec: QueueSpec) -> dict[str, Template]:
    # No QueueName: CloudFormation names queues after the stack, so stages can share an account.
    # QueueSpec.name is the local (moto) name and what chalice's event source refers to.
    queue_id, dlq_id = queue_logical_ids(spec)
    fifo = {"FifoQueue": True} if spec.fifo else {}
    return {
        dlq_id: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                **fifo,
            },
        },
        queue_id: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": spec.visibility_timeout,
                "RedrivePolicy": {
                    "deadLetterTargetArn": _arn(dlq_id),
                    "maxReceiveCount": spec.max_receive_count,
                },
                "SqsManagedSseEnabled": True,
                **fifo,
            },
        },
    }


def secret_resource(stage: str) -> Template:
    return {
        "Type": "AWS::SecretsManager::Secret",
        # Losing it makes every encrypted PII field unreadable: keep it whatever happens to the stack.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": f"scrm {stage}: master key (SCRM_SECRET_KEY); base64 text, never rotate",
            "GenerateSecretString": {
                "PasswordLength": SECRET_LENGTH,
                "ExcludePunctuation": True,
                "IncludeSpace": False,
                "RequireEachIncludedType": True,
            },
        },
    }


def secret_key_reference() -> dict[str, str]:
    """A dynamic reference: CloudFormation resolves the generated secret into the function environment."""
    return {"Fn::Sub": "{{resolve:secretsmanager:${" + SECRET_ID + "}:SecretString}}"}


def _table_resources(table: TableSpec) -> list[Any]:
    # Index ARNs are "<table ARN>/index/<name>": the pattern stays within this table.
    return [_arn(table.logical_id), {"Fn::Sub": "${" + table.logical_id + ".Arn}/index/*"}]


def _statement(sid: str, actions: Iterable[str], resources: Sequence[Any]) -> Template:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}


def state_machine_resources(
    spec: StateMachineSpec, table: TableSpec, queues: Sequence[QueueSpec], states_principal: str
) -> dict[str, Template]:
    definition = spec.definition_path.read_text()
    json.loads(definition)  # fail the synth, not the deploy, on a broken ASL file
    # The same names chalicelib/local/provision.py substitutes locally (the queue env vars), plus the table.
    substitutions: dict[str, Any] = {
        **spec.substitutions,
        "SCRM_TABLE_NAME": _ref(table.logical_id),
        **{q.env_var: _ref(queue_logical_ids(q)[0]) for q in queues},
        **{b.env_var: _ref(bucket_logical_id(b)) for b in BUCKETS},
    }
    missing = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)) - set(substitutions)
    if missing:
        raise ValueError(f"{spec.definition_file}: no substitution for {sorted(missing)}")
    used = {k: v for k, v in substitutions.items() if "${" + k + "}" in definition}
    sm_id = state_machine_logical_id(spec)
    statements = [
        _statement("TableItems", DYNAMODB_ITEM_ACTIONS, _table_resources(table)),
        _statement("PublishEvents", ["sqs:SendMessage"], [_arn(queue_logical_ids(q)[0]) for q in queues]),
    ]
    return {
        f"{sm_id}Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _trust_policy(states_principal),
                "Policies": [{"PolicyName": f"{sm_id}Policy", "PolicyDocument": _policy(statements)}],
            },
        },
        sm_id: {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "RoleArn": _arn(f"{sm_id}Role"),
                "DefinitionString": definition,
                **({"DefinitionSubstitutions": used} if used else {}),
            },
        },
    }


def _trust_policy(principal: str) -> Template:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}],
    }


def _policy(statements: list[Template]) -> Template:
    # A statement with nothing to grant (no consumed queue, no state machine) is dropped: IAM rejects it.
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s["Resource"]]}


def _queue_name_of(event_queue: Any) -> str:
    """`scrm-events` from chalice's `{"Fn::Sub": "arn:${AWS::Partition}:sqs:...:scrm-events"}` (or an ARN)."""
    arn = event_queue.get("Fn::Sub") if isinstance(event_queue, dict) else event_queue
    if not isinstance(arn, str):
        raise ValueError(f"unexpected SQS event source queue: {event_queue!r}")
    return arn.rsplit(":", 1)[-1]


def _wire_events(fn_id: str, fn: Template, queues_by_name: dict[str, QueueSpec]) -> list[QueueSpec]:
    """Point each SQS event at the stack's queue (by declared name), with partial batch responses.
    Returns the queues the function consumes."""
    consumed = []
    for event_id, event in fn["Properties"].get("Events", {}).items():
        if event["Type"] not in _SUPPORTED_EVENT_TYPES:
            raise NotImplementedError(f"{fn_id}.{event_id}: {event['Type']} events need infra/ support")
        if event["Type"] != "SQS":
            continue
        props = event["Properties"]
        name = _queue_name_of(props["Queue"])
        spec = queues_by_name.get(name)
        if spec is None:
            raise ValueError(
                f"{fn_id} consumes queue {name!r}, which chalicelib/resources.py does not declare"
            )
        if spec.visibility_timeout < fn["Properties"]["Timeout"]:
            # Lambda refuses the event source mapping otherwise.
            raise ValueError(f"queue {name!r}: visibility timeout is shorter than {fn_id}'s timeout")
        props["Queue"] = _arn(queue_logical_ids(spec)[0])
        props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        consumed.append(spec)
    return consumed


def _function_role(
    fn_id: str,
    trust: Template,
    table: TableSpec,
    consumed: Sequence[QueueSpec],
    queues: Sequence[QueueSpec],
    state_machines: Sequence[StateMachineSpec],
) -> Template:
    statements = [
        _statement("TableItems", DYNAMODB_ITEM_ACTIONS, _table_resources(table)),
        _statement("PublishEvents", ["sqs:SendMessage"], [_arn(queue_logical_ids(q)[0]) for q in queues]),
        _statement("ConsumeQueues", SQS_CONSUMER_ACTIONS, [_arn(queue_logical_ids(q)[0]) for q in consumed]),
        _statement("ReadSecretKey", ["secretsmanager:GetSecretValue"], [_ref(SECRET_ID)]),
        _statement(
            "ImportFiles",
            ["s3:GetObject", "s3:PutObject"],
            [{"Fn::Sub": f"${{{bucket_logical_id(b)}.Arn}}/*"} for b in BUCKETS],
        ),
        _statement("Workflows", STATES_ACTIONS, [_ref(state_machine_logical_id(s)) for s in state_machines]),
        _write_logs(fn_id),
    ]
    if fn_id == "APIHandler":
        # /v1/dead-letters: look at and replay the DLQs (the replay's send is PublishEvents above).
        dlqs = [_arn(queue_logical_ids(q)[1]) for q in queues]
        statements.insert(3, _statement("DeadLetters", SQS_CONSUMER_ACTIONS, dlqs))
    return _role(fn_id, trust, statements)


def _write_logs(fn_id: str) -> Template:
    # Its own log group only (LoggingConfig), which exists before the function: no CreateLogGroup.
    return _statement("WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [_arn(f"{fn_id}LogGroup")])


def _role(fn_id: str, trust: Template, statements: list[Template]) -> Template:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": trust,
            "Policies": [{"PolicyName": f"{fn_id}Policy", "PolicyDocument": _policy(statements)}],
        },
    }


def webhook_routes() -> list[tuple[str, str]]:
    """(method, path) of every /webhooks/ route in the app's route registry, which loading app.py fills."""
    CLIFactory(project_dir=str(PROJECT_DIR)).load_chalice_app()  # already imported by chalice package
    if not callable(getattr(sys.modules["app"], WEBHOOK_HANDLER.rpartition(".")[2], None)):
        raise ValueError(f"app.py has no {WEBHOOK_HANDLER}, the webhook function's handler")
    return sorted({(r.method, r.path) for r in api_http.ROUTES if r.path.startswith(WEBHOOK_PREFIX)})


def webhook_resources(
    api_handler: Template,
    trust: Template,
    routes: Sequence[tuple[str, str]],
    table: TableSpec,
    queues: Sequence[QueueSpec],
) -> dict[str, Template]:
    """The HTTP API for the webhook routes and its function: chalice's APIHandler (same code, layer,
    environment, memory, timeout) with the webhook handler and a role for what the webhooks touch."""
    fn_id = WEBHOOK_FUNCTION_ID
    events: Template = {}
    for method, path in routes:
        event_id = _camel(f"{method.lower()} {path}")
        if event_id in events:
            raise ValueError(f"webhook routes {path!r} and another one share the event id {event_id!r}")
        events[event_id] = {
            "Type": "HttpApi",
            "Properties": {
                "ApiId": _ref(WEBHOOK_API_ID),
                "Method": method,
                "Path": path,  # the pattern, which reaches rest_event as `resource`
                "PayloadFormatVersion": WEBHOOK_PAYLOAD_FORMAT,
            },
        }
    shared = {
        k: copy.deepcopy(v)
        for k, v in api_handler["Properties"].items()
        if k not in _NOT_SHARED_WITH_API_HANDLER
    }
    # What chalicelib/api/webhooks.py touches. No secretsmanager: the code never calls it, SCRM_SECRET_KEY
    # arrives in the environment, resolved by CloudFormation at deploy time.
    statements = [
        # The tenant's integration settings: one item by key (IntegrationItem.get), never an index.
        _statement("ReadSettings", ["dynamodb:GetItem"], [_arn(table.logical_id)]),
        _statement("PublishIngest", ["sqs:SendMessage"], [_arn(queue_logical_ids(q)[0]) for q in queues]),
        _write_logs(fn_id),
    ]
    return {
        WEBHOOK_API_ID: {
            "Type": "AWS::Serverless::HttpApi",
            "Properties": {
                "Description": "Webhooks (WeCom, shops): machine traffic verified by its own signatures",
                "FailOnWarnings": True,
                "DefaultRouteSettings": dict(WEBHOOK_THROTTLING),
            },
        },
        fn_id: {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                **shared,
                "Handler": WEBHOOK_HANDLER,
                "Role": _arn(f"{fn_id}Role"),
                "LoggingConfig": {"LogGroup": _ref(f"{fn_id}LogGroup")},
                "Events": events,
            },
        },
        f"{fn_id}LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"RetentionInDays": LOG_RETENTION_DAYS},
        },
        f"{fn_id}Role": _role(fn_id, trust, statements),
    }


def _add_webhooks(
    resources: Template, outputs: Template, add: Callable[[str, Template], None], table: TableSpec
) -> None:
    routes = webhook_routes()
    if not routes:
        return
    if "APIHandler" not in resources:
        raise ValueError("webhook routes but no chalice APIHandler to take the function settings from")
    trust = resources["APIHandlerRole"]["Properties"]["AssumeRolePolicyDocument"]
    for logical_id, resource in webhook_resources(
        resources["APIHandler"], trust, routes, table, WEBHOOK_QUEUES
    ).items():
        add(logical_id, resource)
    url = f"https://${{{WEBHOOK_API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/"
    outputs["WebhookEndpointURL"] = {"Value": {"Fn::Sub": url}}


def _gateway_responses() -> Template:
    return {
        response_type: {
            "StatusCode": str(status),
            "ResponseTemplates": {"application/json": error_body(code, message)},
        }
        for response_type, (status, code, message) in GATEWAY_RESPONSES.items()
    }


def post_process(
    template: Template,
    *,
    stage: str,
    offline: bool,
    table: TableSpec = TABLE,
    queues: Sequence[QueueSpec] = QUEUES,
    state_machines: Sequence[StateMachineSpec] = STATE_MACHINES,
    states_principal: str = "states.amazonaws.com",
) -> Template:
    """Add the declared resources to chalice's template and rewire functions, roles and the API to them."""
    template = copy.deepcopy(template)
    resources: Template = template["Resources"]
    outputs: Template = template.setdefault("Outputs", {})

    def add(logical_id: str, resource: Template) -> None:
        if logical_id in resources:
            raise ValueError(f"logical id {logical_id!r} is already in chalice's template")
        resources[logical_id] = resource

    add(table.logical_id, table_resource(table))
    outputs["TableName"] = {"Value": _ref(table.logical_id)}
    for q in queues:
        for logical_id, resource in queue_resources(q).items():
            add(logical_id, resource)
            outputs[f"{logical_id}Url"] = {"Value": _ref(logical_id)}
    for b in BUCKETS:
        add(bucket_logical_id(b), bucket_resource(b))
        outputs[f"{bucket_logical_id(b)}Name"] = {"Value": _ref(bucket_logical_id(b))}
    add(SECRET_ID, secret_resource(stage))
    outputs["SecretKeyArn"] = {"Value": _ref(SECRET_ID)}
    for sm in state_machines:
        for logical_id, resource in state_machine_resources(sm, table, queues, states_principal).items():
            add(logical_id, resource)
        outputs[f"{state_machine_logical_id(sm)}Arn"] = {"Value": _ref(state_machine_logical_id(sm))}

    environment = {
        "SCRM_STAGE": stage,
        "SCRM_TABLE_NAME": _ref(table.logical_id),
        "SCRM_SECRET_KEY": secret_key_reference(),
        **{q.env_var: _ref(queue_logical_ids(q)[0]) for q in queues},
        **{q.dlq_env_var: _ref(queue_logical_ids(q)[1]) for q in queues},
        **{b.env_var: _ref(bucket_logical_id(b)) for b in BUCKETS},
        **{state_machine_env_var(s): _ref(state_machine_logical_id(s)) for s in state_machines},
    }
    queues_by_name = {q.name: q for q in queues}
    chalice_roles = set()
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    for fn_id, fn in functions.items():
        props = fn["Properties"]
        role = props.get("Role")
        if not (isinstance(role, dict) and "Fn::GetAtt" in role):
            raise ValueError(f"{fn_id}: infra/ owns IAM; remove iam_role_arn/manage_iam_role from the config")
        chalice_role_id = role["Fn::GetAtt"][0]
        chalice_roles.add(chalice_role_id)
        consumed = _wire_events(fn_id, fn, queues_by_name)
        props.setdefault("Environment", {}).setdefault("Variables", {}).update(environment)
        add(
            f"{fn_id}LogGroup",
            {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": LOG_RETENTION_DAYS}},
        )
        props["LoggingConfig"] = {"LogGroup": _ref(f"{fn_id}LogGroup")}
        trust = resources[chalice_role_id]["Properties"]["AssumeRolePolicyDocument"]
        add(f"{fn_id}Role", _function_role(fn_id, trust, table, consumed, queues, state_machines))
        props["Role"] = _arn(f"{fn_id}Role")
    # Chalice's shared role (logs on arn:*:logs:*:*:*, SQS on "*") is replaced by the per-function roles.
    for role_id in chalice_roles:
        del resources[role_id]

    _add_webhooks(resources, outputs, add, table)

    apis = [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Api"]
    for api_id in apis:
        # The SAM property (not separate AWS::ApiGateway::GatewayResponse resources): SAM puts it in the API
        # definition, so the stage deployment includes it; standalone resources need a redeploy to apply.
        resources[api_id]["Properties"]["GatewayResponses"] = _gateway_responses()

    template["Description"] = f"scrm ({stage})" + (" - OFFLINE SYNTH, NOT DEPLOYABLE" if offline else "")
    template["Metadata"] = {"scrm": {"stage": stage, "offline": offline, "generator": "infra/synth.py"}}
    return template


# ---------------------------------------------------------------------------------------------------------
# CLI


def synthesize(
    stage: str, out: Path = DEFAULT_OUT, *, offline: bool = True, region: str | None = None
) -> Path:
    raw = chalice_template(stage, out, offline=offline, region=region)
    template = post_process(raw, stage=stage, offline=offline)
    path = out / "template.json"
    path.write_text(json.dumps(template, indent=2, ensure_ascii=False) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="chalice stage in .chalice/config.json (default: dev)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: infra/out)")
    parser.add_argument(
        "--offline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip downloading dependencies (placeholder layer, not deployable); --no-offline to deploy",
    )
    parser.add_argument("--region", help="packaging region (default: AWS_REGION/AWS_DEFAULT_REGION)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    path = synthesize(args.stage, args.out, offline=args.offline, region=args.region)
    resources = json.loads(path.read_text())["Resources"]
    kinds = Counter(r["Type"].split("::", 1)[1] for r in resources.values())
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    mode = "offline, placeholder layer" if args.offline else "with dependencies"
    print(
        f"{path} ({args.stage}, {mode}): {len(resources)} resources ({summary}) "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
