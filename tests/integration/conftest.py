"""Integration tests: pynamodb and SQS on moto in-process, routes through chalice.test.Client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.access import Role, Scope
from chalicelib.local.provision import create_bucket, create_queue, create_table
from chalicelib.resources import BUCKETS, QUEUES
from chalicelib.services.tenants import IntegrationKeyDraft, UserDraft
from tests.fakes.clock import FrozenClock
from tests.fakes.wecom_api import FakeWeComApi
from tests.fakes.workflows import FakeStarter


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        create_table(boto3.client("dynamodb"), get_settings().table_name)
        for spec in QUEUES:
            create_queue(boto3.client("sqs"), spec)
        for bucket in BUCKETS:
            create_bucket(boto3.client("s3"), bucket)
        yield


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def wecom_api() -> FakeWeComApi:
    return FakeWeComApi()


@pytest.fixture
def container(aws: None, clock: FrozenClock, wecom_api: FakeWeComApi) -> Iterator[bootstrap.Container]:
    c = bootstrap.Container(clock=clock)
    c.http = httpx.Client(transport=wecom_api.transport())  # outbound calls never leave the test
    # In-process moto cannot run a state machine's SQS steps (they call back over HTTP): the timers' starts
    # are recorded here and tests drive `SlaService.evaluate` themselves; the e2e tests run them for real.
    c.workflow_starter = FakeStarter()
    bootstrap.set_container(c)
    yield c
    bootstrap.set_container(None)


@dataclass
class TenantKeys:
    tenant_id: str
    keys: dict[str, str]
    user_ids: dict[str, str]

    def auth(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", "Content-Type": "application/json"}


def make_tenant(c: bootstrap.Container, name: str = "Acme") -> TenantKeys:
    issued = c.tenants.create_tenant(name=name)
    keys, users = {"admin": issued.api_key}, {"admin": issued.user.id}
    for who, role, scope in (
        ("manager_east", Role.MANAGER, "region:华东"),
        ("agent_own", Role.AGENT, "own"),
        ("agent_all", Role.AGENT, "all"),
        ("engineer", Role.ENGINEER, "all"),
        ("finance", Role.FINANCE, "all"),
        ("store_mgr", Role.MANAGER, "store:SH-001"),
        ("warehouse", Role.AGENT, "all"),
    ):
        draft = UserDraft(
            name=who,
            role=role,
            scope=Scope.parse(scope),
            department="warehouse" if who == "warehouse" else None,
        )
        u = c.tenants.create_user(tenant_id=issued.tenant_id, draft=draft)
        keys[who], users[who] = u.api_key, u.user.id
    # What /v1/events and /v1/h5/tickets take: an integration key (staff keys get 403 there).
    admin = c.tenants.authenticate(f"Bearer {issued.api_key}")
    keys["integration"] = c.tenants.create_integration_key(
        principal=admin, draft=IntegrationKeyDraft(name="H5 backend")
    ).secret
    return TenantKeys(issued.tenant_id, keys, users)


@pytest.fixture
def tenant(container: bootstrap.Container) -> TenantKeys:
    return make_tenant(container, "Tenant A")


@pytest.fixture
def other_tenant(container: bootstrap.Container) -> TenantKeys:
    return make_tenant(container, "Tenant B")


class Api:
    """chalice.test.Client with JSON in and out."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        who: TenantKeys | None,
        body: Any = None,
        role: str = "admin",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Any:
        hdrs = {"Content-Type": "application/json", **(who.auth(role) if who else {}), **(headers or {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        resp = getattr(self.client.http, method.lower())(path, headers=hdrs, body=data)
        is_json = resp.headers.get("Content-Type", "").startswith("application/json")
        resp.data = json.loads(resp.body) if resp.body and is_json else None
        return resp


@pytest.fixture
def api(container: bootstrap.Container) -> Iterator[Api]:
    from app import app

    with Client(app) as client:
        yield Api(client)


def drain(queue_name: str, max_batches: int = 50) -> dict[str, int]:
    """Deliver what is on a queue to the app's consumer of it, as the Lambda event source would."""
    from app import app
    from chalicelib.local.runner import EventRunner, resolve_handler

    sqs = boto3.client("sqs")
    runner = EventRunner(app, sqs, poll_wait=0)
    source = next(s for s in runner.sqs_sources if s.queue == queue_name)
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    for _ in range(max_batches):
        if runner.poll_once(source, resolve_handler(app, source), url) == 0:
            break
    return {"delivered": runner.delivered, "failed": runner.failed}
