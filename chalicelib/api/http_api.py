"""API Gateway HTTP API events (payload format 1.0) in the REST API proxy shape Chalice's handler reads.

The webhook routes are also served through an HTTP API ($1.00 per million requests against the REST API's
$3.50; infra/synth.py). Its 1.0 payload is nearly the REST proxy event, so the same Chalice app serves both
once the few differences are bridged here. Pure: no I/O."""

from __future__ import annotations

from typing import Any

PAYLOAD_FORMAT_VERSION = "1.0"

# Chalice's Request indexes these without a default; an HTTP API event may leave them out.
_NULLABLE = ("multiValueQueryStringParameters", "pathParameters", "stageVariables", "body")


def rest_event(event: dict[str, Any]) -> dict[str, Any]:
    """The REST-shaped copy of an HTTP API 1.0 event (the input is not changed)."""
    if event.get("version") != PAYLOAD_FORMAT_VERSION:
        # 2.0 has neither httpMethod nor resource: fail loudly rather than route it wrong.
        raise ValueError(f"expected HTTP API payload format 1.0, got version {event.get('version')!r}")
    if not event.get("resource"):
        raise ValueError("the HTTP API event has no `resource` (the matched route's path)")
    converted = {**dict.fromkeys(_NULLABLE), **event}
    context = dict(event.get("requestContext") or {})
    # Chalice finds the route by requestContext.resourcePath, which must be the pattern
    # (/webhooks/wecom/{tenant_id}): HTTP API puts the pattern in `resource`, and may put the concrete
    # path in resourcePath, which Chalice would answer with a 405 (and add to its route table).
    context["resourcePath"] = event["resource"]
    context.setdefault("httpMethod", event.get("httpMethod"))
    converted["requestContext"] = context
    converted["headers"] = event.get("headers") or {}
    return converted
