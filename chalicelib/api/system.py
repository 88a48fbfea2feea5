"""/health, /openapi.json and /docs (no auth)."""

from __future__ import annotations

import json
import platform

from chalice.app import Response

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.openapi import build_openapi, render_docs
from chalicelib.api.schemas import HealthPublic
from chalicelib.config import VERSION

api = Api(__name__, tag="system")
bp = api.blueprint


@api.route(
    "/health",
    "GET",
    summary="Liveness, versions and whether the store answers",
    response=HealthPublic,
    auth=False,
)
def health(ctx: Ctx) -> Result:
    from chalicelib.store.health import store_status

    store = store_status()
    body = HealthPublic(
        status="ok" if store["reachable"] else "degraded",
        version=VERSION,
        versions={
            "python": platform.python_version(),
            **_versions(),
        },
        store=store,
    )
    return Result(body, status=200 if store["reachable"] else 503)


@api.route("/openapi.json", "GET", summary="This API as OpenAPI 3.1", auth=False)
def openapi(ctx: Ctx) -> Response:
    return Response(
        body=json.dumps(build_openapi(), ensure_ascii=False),
        status_code=200,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


@api.route("/docs", "GET", summary="Human-readable API reference", auth=False)
def docs(ctx: Ctx) -> Response:
    return Response(
        body=render_docs(build_openapi()),
        status_code=200,
        headers={"Content-Type": "text/html; charset=utf-8"},
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import version  # ~20 ms to import: paid by /health, not by every cold start

    return {p: version(p) for p in ("chalice", "pydantic", "pynamodb")}
