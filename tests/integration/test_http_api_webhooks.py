"""The webhook routes as the HTTP API delivers them (payload format 1.0, through app.webhook_handler), on
moto: a signed Youzan push and a WeCom callback are acked, queued and processed; bad signatures are not."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from app import webhook_handler
from chalicelib.resources import INGEST_QUEUE
from tests.fakes.clock import FrozenClock
from tests.fakes.http_api import http_api_event
from tests.integration.conftest import Api, TenantKeys, drain

SHOPS = Path(__file__).resolve().parents[1] / "events" / "shops"
VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "wecom_callback_vectors.json").read_text()
)
YOUZAN = {"client_id": "d3ccc77bb8b5bf4e08", "client_secret": "yz-secret-0123"}
WECOM_ROUTE = "/webhooks/wecom/{tenant_id}"


def queued() -> int:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=INGEST_QUEUE.name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def youzan_push(tenant_id: str, body: bytes, *, sign_with: str, base64_body: bool = False) -> dict[str, Any]:
    sig = hashlib.md5(YOUZAN["client_id"].encode() + body + sign_with.encode()).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "Event-Sign": sig,
        "Event-Type": "trade_TradePaid",
        "Client-Id": YOUZAN["client_id"],
    }
    params = {"platform": "youzan", "tenant_id": tenant_id}
    event = http_api_event(
        "POST",
        "/webhooks/shop/{platform}/{tenant_id}",
        params,
        headers=headers,
        body=body,
        base64_body=base64_body,
    )
    return webhook_handler(event, None)


@pytest.fixture
def youzan(api: Api, tenant: TenantKeys) -> TenantKeys:
    assert api.call("PUT", "/v1/integrations/shop/youzan", tenant, YOUZAN).status_code == 200
    return tenant


def test_a_signed_shop_push_is_acked_queued_and_stored_once(api: Api, youzan: TenantKeys) -> None:
    body = (SHOPS / "youzan_trade_paid.json").read_bytes()
    # The redelivery comes base64-encoded (HTTP API's choice for bodies it does not take for text).
    for base64_body in (False, True):
        response = youzan_push(
            youzan.tenant_id, body, sign_with=YOUZAN["client_secret"], base64_body=base64_body
        )
        assert response["statusCode"] == 200, response
        assert response["body"] == '{"code":0,"msg":"success"}'
        assert response["headers"]["Content-Type"] == "application/json"
        assert not response.get("isBase64Encoded")
    assert drain(INGEST_QUEUE.name) == {"delivered": 2, "failed": 0}
    order = api.call("GET", "/v1/orders/youzan/E20240501123045012300001", youzan).data
    assert order["status"] == "paid" and len(order["history"]) == 1 and order["customer_id"]


def test_a_wrong_shop_signature_is_401_and_nothing_is_queued(youzan: TenantKeys) -> None:
    body = (SHOPS / "youzan_trade_paid.json").read_bytes()
    response = youzan_push(youzan.tenant_id, body, sign_with="not-the-secret")
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "unauthorized"
    assert queued() == 0


def test_wecom_url_check_and_callback(api: Api, tenant: TenantKeys, clock: FrozenClock) -> None:
    settings = {
        "corp_id": VECTORS["corp_id"],
        "token": VECTORS["token"],
        "encoding_aes_key": VECTORS["encoding_aes_key"],
        "secret": "app-secret-0123456789",
    }
    assert api.call("PUT", "/v1/integrations/wecom", tenant, settings).status_code == 200
    params = {"tenant_id": tenant.tenant_id}

    check = VECTORS["url_verification"][0]
    query = {k: check[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    response = webhook_handler(http_api_event("GET", WECOM_ROUTE, params, query=query), None)
    assert response["statusCode"] == 200
    assert response["body"] == check["expected_reply"]  # exactly the plaintext
    assert response["headers"]["Content-Type"].startswith("text/plain")

    callback = VECTORS["callbacks"][0]
    clock.at = datetime.fromtimestamp(int(callback["timestamp"]), tz=UTC) + timedelta(seconds=3)
    query = {k: callback[k] for k in ("msg_signature", "timestamp", "nonce")}
    event = http_api_event(
        "POST",
        WECOM_ROUTE,
        params,
        query=query,
        headers={"Content-Type": "text/xml"},
        body=callback["body"].encode(),
    )
    response = webhook_handler(event, None)
    assert (response["statusCode"], response["body"]) == (200, "success")
    assert queued() == 1

    forged = copy.deepcopy(event)
    forged["queryStringParameters"]["nonce"], forged["multiValueQueryStringParameters"]["nonce"] = "1", ["1"]
    assert webhook_handler(forged, None)["statusCode"] == 403
    assert queued() == 1
