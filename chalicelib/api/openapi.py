"""OpenAPI 3.1 generated from the route registry and the pydantic models (never written by hand)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import ROUTES, RouteSpec
from chalicelib.config import VERSION
from chalicelib.domain.access import KeyKind

_PARAM = re.compile(r"{(\w+)}")
_ERROR = {"$ref": "#/components/schemas/Error"}
_REASONS = {
    400: "Invalid input",
    401: "Missing, unknown or revoked API key, or a disabled user",
    403: "Role, scope or kind of key not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    428: "If-Match required",
}


def build_openapi() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = []
    for spec in ROUTES:
        if spec.body:
            models.append((spec.body, "validation"))
        if spec.response:
            models.append((spec.response, "serialization"))
    _, defs = models_json_schema(list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = defs.get("$defs", {})
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SCRM API",
            "version": VERSION,
            "description": "Multi-tenant SCRM. Authenticate with `Authorization: Bearer <api key>`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a staff user's API key"},
                "integrationKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an integration key (POST /v1/integration-keys): only the ingestion "
                    "routes take it, and they take nothing else",
                },
            },
        },
    }


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": spec.summary, "tags": [spec.tag], "operationId": _op_id(spec)}
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in _PARAM.findall(spec.path)
    ]
    if spec.query:
        schema = spec.query.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    params += [
        {"name": h, "in": "header", "required": False, "schema": {"type": "string"}} for h in spec.headers
    ]
    if params:
        op["parameters"] = params
    if spec.body:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{spec.body.__name__}"}}
            },
        }
    ok: dict[str, Any] = {"description": "OK"}
    if spec.response:
        ok["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{spec.response.__name__}"}}
        }
    responses: dict[str, Any] = {str(spec.status): ok}
    codes = set(spec.errors) | ({401, 403} if spec.auth else set()) | ({413} if spec.body else set())
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _REASONS.get(code, "Error"),
            "content": {"application/json": {"schema": _ERROR}},
        }
    op["responses"] = responses
    if spec.auth:
        op["security"] = [{"integrationKey" if spec.key is KeyKind.INTEGRATION else "bearer": []}]
    return op


def _op_id(spec: RouteSpec) -> str:
    words = re.sub(r"[{}]", "", spec.path).replace("-", "_").strip("/").split("/")
    return spec.method.lower() + "_" + "_".join(w for w in words if w and w != "v1")


def render_docs(doc: dict[str, Any]) -> str:
    """A self-contained HTML page (no CDN: the code never fetches anything at run time)."""
    from html import escape

    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            body_name = body.get("$ref", "").rsplit("/", 1)[-1]
            rows.append(
                f"<tr><td><b>{method.upper()}</b></td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(op['summary'])}</td><td>{escape(params)}</td><td>{escape(body_name)}</td>"
                f"<td>{', '.join(sorted(op['responses']))}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>SCRM API</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2rem}td,th{border-bottom:1px solid #ddd;padding:.4rem;"
        "text-align:left;vertical-align:top}table{border-collapse:collapse}</style></head><body>"
        f"<h1>SCRM API {escape(doc['info']['version'])}</h1><p>{escape(doc['info']['description'])} "
        "Machine-readable: <a href='/openapi.json'>/openapi.json</a>.</p>"
        "<table><tr><th>Method</th><th>Path</th>"
        "<th>Summary</th><th>Parameters</th><th>Body</th><th>Responses</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
