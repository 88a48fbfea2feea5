"""抖店 pushes name no buyer: the ingest worker asks order.orderDetail (a fake 抖店 API behind
httpx.MockTransport) and links the order to the customer holding the `doudian_open_id`; when 抖店 is down the
order is stored unlinked and a `doudian_detail` message links it later; permanent refusals are kept raw."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from chalicelib import bootstrap
from chalicelib.resources import INGEST_QUEUE
from tests.fakes.wecom_api import FakeWeComApi
from tests.integration.conftest import Api, TenantKeys, drain
from tests.integration.doudian_fake import APP_KEY, APP_SECRET, FakeDoudianApi, routed

BATCH = (Path(__file__).resolve().parents[1] / "events" / "shops" / "doudian_batch.json").read_bytes()
ORDER = "6928372837492837492"
OPEN_ID = "1@#ZG91ZGlhbi1vcGVuLWlk"
KINDS = {"order.created", "order.paid", "order.refund_requested", "order.refunded"}


@pytest.fixture
def doudian_api(container: bootstrap.Container, wecom_api: FakeWeComApi) -> FakeDoudianApi:
    fake = FakeDoudianApi()
    fake.buyers[ORDER] = OPEN_ID
    container.http = httpx.Client(
        transport=routed(
            ("openapi-fxg.jinritemai.com", fake.transport()), ("qyapi.weixin.qq.com", wecom_api.transport())
        )
    )
    return fake


@pytest.fixture
def doudian(api: Api, tenant: TenantKeys, doudian_api: FakeDoudianApi, clock) -> TenantKeys:
    clock.at = datetime.now(UTC)
    settings = {"app_key": APP_KEY, "app_secret": APP_SECRET, "shop_id": "4463798"}
    assert api.call("PUT", "/v1/integrations/shop/doudian", tenant, settings).status_code == 200
    return tenant


def push(api: Api, tenant_id: str, body: bytes = BATCH) -> None:
    sig = hashlib.md5(APP_KEY.encode() + body + APP_SECRET.encode()).hexdigest()
    headers = {"app-id": APP_KEY, "event-sign": sig}
    resp = api.call("POST", f"/webhooks/shop/doudian/{tenant_id}", None, raw=body, headers=headers)
    assert resp.status_code == 200, resp.data


def customers(api: Api, who: TenantKeys) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.call("GET", "/v1/customers", who).data["items"]
    return items


def order(api: Api, who: TenantKeys) -> dict[str, Any]:
    found: dict[str, Any] = api.call("GET", f"/v1/orders/doudian/{ORDER}", who).data
    return found


def assert_linked(api: Api, who: TenantKeys) -> dict[str, Any]:
    [customer] = customers(api, who)
    view = api.call("GET", f"/v1/customers/{customer['id']}", who).data
    assert {"type": "doudian_open_id", "value": OPEN_ID} in view["identities"]
    orders_seen = [e["kind"] for e in view["timeline"] if e["kind"].startswith("order.")]
    assert sorted(orders_seen) == sorted(KINDS)  # every status, once
    [ticket] = view["tickets"]  # the refund request opened one return ticket
    assert ticket["type"] == "return_exchange"
    [recent] = view["recent_orders"]
    assert (
        recent["order_id"] == ORDER
        and recent["status"] == "partially_refunded"  # 44.95 of 89.90 (one line) came back
        and recent["total_amount"] == "89.90"
    )
    stored = order(api, who)
    assert stored["customer_id"] == customer["id"]
    kept = bootstrap.container().order_repo.get(who.tenant_id, "doudian", ORDER)
    assert kept is not None and kept.buyer_types == ["doudian_open_id"]  # the type, never the value
    assert stored["status"] == "partially_refunded" and len(stored["history"]) == 4
    assert stored["refunded_amount"] == "44.95"
    listed = api.call("GET", f"/v1/customers/{customer['id']}/orders", who).data["items"]
    assert [o["order_id"] for o in listed] == [ORDER]
    return customer


def inbox_kinds(api: Api, who: TenantKeys) -> list[str]:
    month = datetime.now(UTC).strftime("%Y-%m")
    return [i["kind"] for i in api.call("GET", f"/v1/inbox?month={month}", who).data["items"]]


def test_buyer_is_fetched_and_the_order_linked_at_once(api: Api, doudian: TenantKeys, doudian_api):
    push(api, doudian.tenant_id)
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    assert_linked(api, doudian)
    assert doudian_api.tokens_issued == 1  # one token for the four detail calls
    assert doudian_api.calls.count("order.orderDetail") == 4


def test_duplicate_delivery_has_one_effect(api: Api, doudian: TenantKeys, doudian_api):
    push(api, doudian.tenant_id)
    drain(INGEST_QUEUE.name)
    calls = len(doudian_api.calls)
    push(api, doudian.tenant_id)
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    assert_linked(api, doudian)
    assert len(doudian_api.calls) == calls  # seen events: no second fetch


def test_outage_stores_the_order_unlinked_and_links_it_later(api: Api, doudian: TenantKeys, doudian_api):
    doudian_api.outage = True
    _no_visibility_timeout()  # so the test need not wait for the retry
    push(api, doudian.tenant_id)
    first = drain(INGEST_QUEUE.name, max_batches=2)
    assert first["failed"] >= 1  # the doudian_detail retries fail while 抖店 is down
    stored = order(api, doudian)
    assert stored["customer_id"] is None and len(stored["history"]) == 4  # stored, as before
    assert customers(api, doudian) == []
    push(api, doudian.tenant_id)  # a redelivery meanwhile changes nothing
    doudian_api.outage = False
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    assert_linked(api, doudian)
    assert _dlq_depth() == 0


def test_permanent_refusal_keeps_the_order_and_is_visible(api: Api, doudian: TenantKeys, doudian_api):
    doudian_api.buyers.clear()  # 抖店 answers "order not found"
    push(api, doudian.tenant_id)
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    assert order(api, doudian)["customer_id"] is None
    assert customers(api, doudian) == []
    assert inbox_kinds(api, doudian).count("doudian_detail:unavailable") == 4


def test_refusal_on_retry_is_kept_raw(api: Api, doudian: TenantKeys, doudian_api):
    doudian_api.outage = True
    _no_visibility_timeout()
    push(api, doudian.tenant_id)
    drain(INGEST_QUEUE.name, max_batches=2)
    doudian_api.outage, doudian_api.bad_secret = False, True  # credentials revoked meanwhile
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    assert order(api, doudian)["customer_id"] is None
    assert "doudian_detail:unavailable" in inbox_kinds(api, doudian)


def _no_visibility_timeout() -> None:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=INGEST_QUEUE.name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})


def _dlq_depth() -> int:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=INGEST_QUEUE.dlq_name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])
