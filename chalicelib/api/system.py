"""/health, /openapi.json and /docs (no auth).

/docs is Swagger UI, served from files vendored under api/static (no CDN: the code never fetches anything
at run time; api/static/swagger-ui/README.md says which version and how to update it)."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from pathlib import Path

from chalice.app import Response

from chalicelib.api.errors import error_response
from chalicelib.api.http import Api, Ctx, Media, Result
from chalicelib.api.openapi import build_openapi
from chalicelib.api.schemas import HealthPublic
from chalicelib.config import VERSION

api = Api(__name__, tag="system")
bp = api.blueprint

STATIC = Path(__file__).parent / "static"
# The files /docs/static/{name} serves, with their content types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"


@api.route(
    "/health",
    "GET",
    summary="Liveness, versions and whether the store answers",
    response=HealthPublic,
    statuses=(503,),
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


@api.route(
    "/openapi.json",
    "GET",
    summary="This API as OpenAPI 3.1",
    raw_response=(Media("application/json", "openapi", {"type": "object"}),),
    auth=False,
)
def openapi(ctx: Ctx) -> Response:
    return Response(
        body=openapi_text(),
        status_code=200,
        headers={"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache"},
    )


@api.route(
    "/docs",
    "GET",
    summary="The API reference page (Swagger UI: grouped by tag, with try-it-out)",
    raw_response=(Media("text/html", "docs"),),
    auth=False,
)
def docs(ctx: Ctx) -> Response:
    return Response(
        body=docs_page(),
        status_code=200,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"},
    )


# Not an API operation, so not in /openapi.json: the page's scripts and styles.
@bp.route("/docs/static/{name}", methods=["GET"])
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        return error_response(404, "not_found", f"no such file: {name}")
    etag = f'"{asset_hash(name)}"'
    request = bp.current_request
    # Each URL the page links carries the file's hash (?v=…): cacheable for good; other URLs revalidate.
    version = dict(request.query_params or {}).get("v")
    cache = _IMMUTABLE if version == asset_hash(name) else "no-cache"
    headers: dict[str, str | list[str]] = {"Content-Type": ASSETS[name], "Cache-Control": cache, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=_asset(name), status_code=200, headers=headers)


@functools.cache
def openapi_text() -> str:
    return json.dumps(build_openapi(), ensure_ascii=False)


@functools.cache
def _asset(name: str) -> str:
    folder = STATIC if name == "docs.js" else STATIC / "swagger-ui"
    return (folder / name).read_text(encoding="utf-8")


@functools.cache
def asset_hash(name: str) -> str:
    return hashlib.sha256(_asset(name).encode()).hexdigest()[:16]


def docs_page() -> str:
    def link(name: str) -> str:
        return f"docs/static/{name}?v={asset_hash(name)}"  # relative: works under a stage prefix too

    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>SCRM API {VERSION}</title><link rel='icon' href='data:,'>"
        f"<link rel='stylesheet' href='{link('swagger-ui.css')}'></head><body>"
        "<div id='swagger-ui'></div>"
        f"<script src='{link('swagger-ui-bundle.js')}'></script>"
        f"<script src='{link('docs.js')}'></script>"
        "</body></html>"
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import version  # ~20 ms to import: paid by /health, not by every cold start

    return {p: version(p) for p in ("chalice", "pydantic", "pynamodb")}
