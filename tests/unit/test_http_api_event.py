"""HTTP API (payload format 1.0) events reach the same Chalice routes as REST API events: the conversion
alone, then through app.webhook_handler on a path that needs no AWS (a URL check missing its query)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest
from chalice.app import Request

from app import app, webhook_handler
from chalicelib import bootstrap
from chalicelib.api.http_api import rest_event
from tests.fakes.http_api import http_api_event

ROUTE = "/webhooks/wecom/{tenant_id}"


@pytest.fixture
def container() -> Iterator[None]:
    bootstrap.set_container(bootstrap.Container())
    yield
    bootstrap.set_container(None)


def test_the_route_pattern_becomes_the_resource_path_and_the_rest_is_kept() -> None:
    event = http_api_event("POST", ROUTE, {"tenant_id": "ten_x"}, query={"nonce": "1"}, body=b"<xml/>")
    original = copy.deepcopy(event)
    converted = rest_event(event)
    assert event == original  # a copy: the caller's event is not changed
    assert converted["requestContext"]["resourcePath"] == ROUTE
    assert event["requestContext"]["resourcePath"] == "/webhooks/wecom/ten_x"
    assert {k: v for k, v in converted.items() if k != "requestContext"} == {
        k: v for k, v in event.items() if k != "requestContext"
    }
    context = {k: v for k, v in converted["requestContext"].items() if k != "resourcePath"}
    assert context == {k: v for k, v in event["requestContext"].items() if k != "resourcePath"}
    request = Request(converted)
    assert (request.method, request.path, request.uri_params) == ("POST", ROUTE, {"tenant_id": "ten_x"})
    assert request.headers["Content-Length"] == "6" and request.raw_body == b"<xml/>"
    assert request.query_params is not None and request.query_params["nonce"] == "1"
    assert request.context["requestId"] == event["requestContext"]["requestId"]


def test_keys_an_http_api_event_may_leave_out_are_null() -> None:
    event = http_api_event("GET", ROUTE, {"tenant_id": "ten_x"})
    for key in ("multiValueQueryStringParameters", "stageVariables", "pathParameters", "body", "headers"):
        del event[key]
    del event["requestContext"]["httpMethod"]
    converted = rest_event(event)
    assert converted["multiValueQueryStringParameters"] is None
    assert converted["stageVariables"] is converted["pathParameters"] is converted["body"] is None
    assert converted["headers"] == {}
    request = Request(converted)
    assert request.method == "GET" and request.query_params is None and request.raw_body == b""


def test_a_base64_body_is_decoded_to_the_bytes_sent() -> None:
    raw = "订单".encode() + b"\xff\x00"
    event = http_api_event("POST", ROUTE, {"tenant_id": "ten_x"}, body=raw, base64_body=True)
    assert Request(rest_event(event)).raw_body == raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "2.0"}, "payload format 1.0"),
        ({"version": None}, "payload format 1.0"),
        ({"resource": None}, "resource"),
    ],
)
def test_events_it_cannot_convert_are_refused(change: dict[str, object], message: str) -> None:
    event = {**http_api_event("GET", ROUTE, {"tenant_id": "ten_x"}), **change}
    with pytest.raises(ValueError, match=message):
        rest_event(event)


def test_the_webhook_handler_serves_the_route(container: None) -> None:
    event = http_api_event("GET", ROUTE, {"tenant_id": "ten_x"}, query={"nonce": "1"})
    response = webhook_handler(event, None)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert body["error"]["code"] == "validation_error"
    assert {d["field"] for d in body["error"]["details"]} == {"msg_signature", "timestamp", "echostr"}
    # Chalice would look the raw event's concrete path up, which is no route (its route table is a
    # defaultdict: a lookup would answer 405 and add the path to it, so only `in` is used here).
    assert event["requestContext"]["resourcePath"] not in app.routes and ROUTE in app.routes
