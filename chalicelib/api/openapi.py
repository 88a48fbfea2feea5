"""OpenAPI 3.1 generated from the route registry and the pydantic models (never written by hand).

Every component schema carries an example (api/examples.py, api/spec_examples.py). Checked by
tests/unit/test_openapi.py (openapi-spec-validator; every example against its schema and model),
tests/integration/test_openapi_responses.py (real answers against the document) and
tests/e2e/test_api_fuzz.py (schemathesis over every operation)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import (
    CoreModeRef,
    CoreRef,
    DefsRef,
    GenerateJsonSchema,
    JsonSchemaMode,
    models_json_schema,
)
from pydantic_core import core_schema

from chalicelib.api.examples import RAW_EXAMPLES
from chalicelib.api.http import ROUTES, Media, RouteSpec
from chalicelib.api.spec_examples import apply_examples
from chalicelib.config import VERSION
from chalicelib.domain.access import KeyKind

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{(\w+)}")
_ERROR = {"$ref": "#/components/schemas/Error"}
_REASONS = {
    400: "Invalid input: `details` names each field",
    401: "Missing, unknown or revoked API key, or a disabled user",
    403: "Role, scope or kind of key not allowed",
    404: "Not found (another tenant's record is indistinguishable from a missing one)",
    405: "Method not allowed",
    409: "Conflict: a concurrent change or a broken invariant",
    413: "Body too large",
    428: "If-Match required",
    503: "The store does not answer",
}
TAGS = {
    "customers": "Customers, their 360 view, timeline, tags and merges",
    "tags": "The tag catalogue",
    "orders": "Shop orders as synced from the platforms",
    "tickets": "Service tickets: templates, workflows, SLA, ratings and notifications",
    "assignment": "Staff profiles, assignment and the queue",
    "pricing": "Price rules, modifiers and quotes",
    "inventory": "Spare parts, stock and reservations",
    "settlement": "Commission rules, bills, statements, month-end runs and reversals",
    "imports": "CSV imports of customers and orders",
    "conversations": "Archived WeCom conversations",
    "events": "Behaviour events from sites and apps (integration keys)",
    "integrations": "WeCom and shop platform credentials; the inbox of what came in",
    "tenant": "Users, API keys and the tenant",
    "system": "Health, this reference, dead letters",
    "webhooks": "Callbacks from WeCom and the shop platforms, verified by signature",
}
# Local times of day (shifts, business hours, quiet hours) are written "09:00" and answered "09:00:00".
# JSON Schema's `time` format is RFC 3339's full-time, which demands an offset, so it would reject both.
TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"
ERROR_EXAMPLE = {
    "error": {
        "code": "invalid_input",
        "message": "invalid body: name",
        "details": [{"field": "name", "message": "String should have at least 1 character"}],
    }
}


# Class names defined in more than one module: named after their module (SettlementRegionCoefficient),
# instead of pydantic's module path (chalicelib__domain__settlement__RegionCoefficient) for all but one.
QUALIFIED = {"RegionCoefficient"}


class SchemaGenerator(GenerateJsonSchema):
    def get_defs_ref(self, core_mode_ref: CoreModeRef) -> DefsRef:
        core_ref, mode = core_mode_ref
        qualname, _, tail = core_ref.partition(":")
        module, _, cls = qualname.rpartition(".")
        if cls in QUALIFIED and "[" not in qualname:
            core_ref = CoreRef(f"{module}.{module.rsplit('.', 1)[-1].title()}{cls}:{tail}")
        return super().get_defs_ref((core_ref, mode))

    def tuple_schema(self, schema: core_schema.TupleSchema) -> dict[str, Any]:
        """A pair of one type ((start, end) local times) as `items` + two items: the same constraint as
        `prefixItems`, which schemathesis rewrites into the `items: [..]` that 3.1 forbids when it checks
        a response (its issues #3842, #4099); tuples of mixed types keep `prefixItems`."""
        out = super().tuple_schema(schema)
        prefix = out.get("prefixItems", [])
        same = len(prefix) > 1 and all(p == prefix[0] for p in prefix)
        if same and out.get("minItems") == out.get("maxItems") == len(prefix) and "items" not in out:
            out["items"] = out.pop("prefixItems")[0]
        return out

    def time_schema(self, schema: core_schema.TimeSchema) -> dict[str, Any]:
        return {"type": "string", "pattern": TIME_PATTERN, "description": "local time of day, HH:MM[:SS]"}


def build_openapi() -> dict[str, Any]:
    wanted: list[tuple[Any, JsonSchemaMode]] = []
    for spec in ROUTES:
        if spec.body:
            wanted.append((spec.body, "validation"))
        if spec.response:
            wanted.append((spec.response, "serialization"))
    refs, defs = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template=REF, schema_generator=SchemaGenerator
    )
    schemas: dict[str, Any] = defs.get("$defs", {})
    for spec in ROUTES:  # bodies a route reads itself (per-platform credentials): their models, for docs
        if spec.raw_body and spec.raw_body.schema is not None and not isinstance(spec.raw_body.schema, dict):
            extra = TypeAdapter(spec.raw_body.schema).json_schema(
                ref_template=REF, schema_generator=SchemaGenerator
            )
            schemas.update(extra.pop("$defs", {}))
    schemas["Error"] = _error_schema()
    apply_examples(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SCRM API",
            "version": VERSION,
            "description": "Multi-tenant SCRM. Authenticate with `Authorization: Bearer <api key>`: a staff "
            "user's key everywhere but the ingestion routes, which take an integration key. Every error "
            'has the shape `{"error": {"code", "message", "details"}}`; amounts are decimal strings '
            '("12.50"); times are UTC on the way in and out unless a field says otherwise.',
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
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


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Error",
        "description": "The one error shape of every route.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "description": "stable, machine-readable"},
                    "message": {"type": "string"},
                    "details": {
                        "type": "array",
                        "items": {"type": "object"},
                        "description": "for invalid input, one entry per field: {field, message}",
                    },
                },
            }
        },
        "examples": [ERROR_EXAMPLE],
    }


def _operation(spec: RouteSpec, refs: dict[tuple[Any, JsonSchemaMode], dict[str, str]]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": spec.summary, "tags": [spec.tag], "operationId": _op_id(spec)}
    if params := _parameters(spec):
        op["parameters"] = params
    if spec.body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
        }
    elif spec.raw_body:
        op["requestBody"] = {"required": True, "content": _media(spec.raw_body)}
    responses = _responses(spec, refs)
    op["responses"] = responses
    if spec.auth:
        op["security"] = [{"integrationKey" if spec.key is KeyKind.INTEGRATION else "bearer": []}]
    return op


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for n in _PARAM.findall(spec.path)
    ]
    if spec.query:
        schema = spec.query.model_json_schema(ref_template=REF, schema_generator=SchemaGenerator)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param = {"name": name, "in": "query", "required": name in required, "schema": _query_param(prop)}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params + [
        {"name": h, "in": "header", "required": False, "schema": {"type": "string"}} for h in spec.headers
    ]


def _responses(spec: RouteSpec, refs: dict[tuple[Any, JsonSchemaMode], dict[str, str]]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    content: dict[str, Any] = {}
    if spec.response:
        content["application/json"] = {"schema": refs[(spec.response, "serialization")]}
    for media in spec.raw_response:
        content.update(_media(media))
    if content:
        ok["content"] = content
    responses: dict[str, Any] = {str(spec.status): ok}
    for status in spec.statuses:  # other outcomes answered in the same shape (a degraded /health)
        responses[str(status)] = {**ok, "description": _REASONS.get(status, "OK")}
    codes = set(spec.errors) | ({401, 403} if spec.auth else set()) | ({413} if spec.body else set())
    if spec.body or spec.query or spec.raw_body or spec.headers:
        codes.add(400)  # each parsed input can be refused, naming the field
    if "{" in spec.path:
        codes.add(404)  # a path naming something that is not there (or is another tenant's)
    for code in sorted(codes - set(spec.statuses)):
        responses[str(code)] = {
            "description": _REASONS.get(code, "Error"),
            "content": {"application/json": {"schema": _ERROR}},
        }
    return responses


def _query_param(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is a string or absent, never JSON null: `anyOf: [X, null]` is just X."""
    prop = {k: v for k, v in prop.items() if k not in ("title", "description")}
    options = [p for p in prop.pop("anyOf", []) if p.get("type") != "null"]
    if len(options) == 1:
        prop = {**options[0], **prop}
    elif options:
        prop["anyOf"] = options
    if prop.get("default", 0) is None:
        del prop["default"]
    return prop


def _media(media: Media) -> dict[str, Any]:
    if isinstance(media.schema, dict):
        schema = media.schema
    elif media.schema is not None:
        schema = TypeAdapter(media.schema).json_schema(ref_template=REF, schema_generator=SchemaGenerator)
        schema.pop("$defs", None)
    else:
        schema = {"type": "string"}
    return {media.type: {"schema": schema, "example": RAW_EXAMPLES[media.example]}}


def _op_id(spec: RouteSpec) -> str:
    words = re.sub(r"[{}]", "", spec.path).replace("-", "_").strip("/").split("/")
    return spec.method.lower() + "_" + "_".join(w for w in words if w and w != "v1")
