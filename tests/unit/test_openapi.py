"""/openapi.json is a valid OpenAPI 3.1 document, every schema has fields and an example that its schema and
(for request bodies) its model accept, and the contracts it states agree with the code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

import app  # noqa: F401 - registers every route
from chalicelib.api.http import ROUTES
from chalicelib.api.openapi import TIME_PATTERN, build_openapi
from chalicelib.api.system import docs_page, openapi_text

DOC = build_openapi()
SCHEMAS: dict[str, Any] = DOC["components"]["schemas"]
OPERATIONS = [(path, method, op) for path, ops in DOC["paths"].items() for method, op in ops.items()]


def schema_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for a schema of the document: its #/components/schemas refs resolve within it."""
    return Draft202012Validator({**schema, "components": DOC["components"]}, format_checker=FormatChecker())


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return SCHEMAS[ref.rsplit("/", 1)[-1]] if ref else schema


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(DOC)  # openapi-spec-validator: raises on the first error
    assert DOC["openapi"] == "3.1.0"
    # What the generated document used to get wrong: refs to components it did not define.
    refs = {r.rsplit("/", 1)[-1] for r in _values(DOC, "$ref")}
    assert refs <= set(SCHEMAS)
    assert {"AssignmentWeights-Input", "TicketSettings-Input", "TicketTemplate-Input"} <= refs


def test_the_served_document_is_the_generated_one() -> None:
    assert json.loads(openapi_text()) == DOC


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_component_has_fields_and_an_example_its_schema_accepts(name: str) -> None:
    schema = SCHEMAS[name]
    examples = schema.get("examples")
    assert examples, f"{name} has no example"
    assert examples[0] not in ({}, [], None, ""), f"{name}'s example is empty"
    if schema.get("type") == "object":
        assert schema.get("properties") or schema.get("additionalProperties") is not None, name
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in schema_validator(schema).iter_errors(examples[0])
    ]
    assert errors == [], name


@pytest.mark.parametrize("spec", [s for s in ROUTES if s.body], ids=lambda s: f"{s.method} {s.path}")
def test_every_request_example_is_accepted_by_its_model(spec: Any) -> None:
    op = DOC["paths"][spec.path][spec.method.lower()]
    example = resolve(op["requestBody"]["content"]["application/json"]["schema"])["examples"][0]
    spec.body.model_validate(example)  # cross-field rules too (a split's shares sum to 100)


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_every_operation_documents_its_request_and_responses_with_examples(
    path: str, method: str, op: dict[str, Any]
) -> None:
    assert op["summary"] and op["tags"]
    bodies = [op["requestBody"]] if "requestBody" in op else []
    for status, response in op["responses"].items():
        assert status.isdigit() and response["description"]
        bodies.append(response)
    for body in bodies:
        for media, content in body.get("content", {}).items():
            has_example = "example" in content or "examples" in resolve(content["schema"])
            assert has_example, (path, method, media)
    ok = [s for s in op["responses"] if s.startswith("2")]
    assert ok, f"{method} {path} documents no success"


def test_every_route_reading_a_body_documents_it() -> None:
    for spec in ROUTES:
        if spec.method in ("POST", "PUT", "PATCH") and spec.path not in {
            "/v1/imports/{job_id}/start",  # actions that take no body
            "/v1/tickets/{ticket_id}/claim",
            "/v1/users/{user_id}/keys",
        }:
            assert "requestBody" in DOC["paths"][spec.path][spec.method.lower()], (spec.method, spec.path)


def test_local_times_are_documented_as_the_api_writes_them() -> None:
    """The API answers "09:00:00" and takes "09:00": JSON Schema's `time` format (RFC 3339, with an offset)
    rejects both, so local times are a pattern."""
    assert "'format': 'time'" not in str(SCHEMAS)
    window = SCHEMAS["TimeWindow"]["properties"]["start"]
    for value in ("09:00", "09:00:00", "23:59:59.5"):
        assert not list(schema_validator(window).iter_errors(value)), value
    for value in ("24:00", "9am", "09:00+08:00"):
        assert list(schema_validator(window).iter_errors(value)), value
    assert window["pattern"] == TIME_PATTERN
    # Tuples are prefixItems in 3.1, never `items: [..]`.
    assert not [v for v in _values(DOC, "items") if isinstance(v, list)]


def test_a_settlement_rule_body_is_a_discriminated_union_with_money_fields() -> None:
    rule = SCHEMAS["RuleDraft"]["properties"]["rule"]
    assert rule["discriminator"]["propertyName"] == "kind"
    kinds = set(rule["discriminator"]["mapping"])
    assert kinds == {"split", "base_plus_incentive", "tiered", "threshold_bonus", "satisfaction", "region"}
    tiered = resolve(
        rule["discriminator"]["mapping"] and {"$ref": rule["discriminator"]["mapping"]["tiered"]}
    )
    tier = resolve(tiered["properties"]["tiers"]["items"])
    assert tier["properties"]["from_amount"]["$ref"].endswith("/Money")
    base = resolve({"$ref": rule["discriminator"]["mapping"]["base_plus_incentive"]})
    assert base["properties"]["base"]["$ref"].endswith("/Money")
    # Every kind has its own example, and each is a rule the engine accepts.
    from chalicelib.domain.settlement import parse_rule

    for target in rule["discriminator"]["mapping"].values():
        example = resolve({"$ref": target})["examples"][0]
        assert parse_rule(example).kind == example["kind"]


def test_query_parameters_are_never_json_null() -> None:
    for path, method, op in OPERATIONS:
        for param in op.get("parameters", []):
            assert "null" not in json.dumps(param["schema"]), (method, path, param)


def test_versions_read_for_an_edit_take_0_for_a_new_record_as_the_summaries_say() -> None:
    """PUT ticket templates, staff profiles and parts: `version` is the version read, 0 for a new one. The
    template schema said minimum 1 while the route's summary said 0 (and the model refused 0)."""
    for path, component in [
        ("/v1/ticket-templates/{template_id}", "TicketTemplate-Input"),
        ("/v1/staff/{user_id}", "StaffProfileDraft"),
        ("/v1/parts/{sku}", "PartDraft"),
    ]:
        assert "0 for a new" in DOC["paths"][path]["put"]["summary"]
        assert SCHEMAS[component]["properties"]["version"]["minimum"] == 0, component


def test_the_docs_page_loads_the_vendored_renderer_and_nothing_from_elsewhere() -> None:
    page = docs_page()
    assert "docs/static/swagger-ui-bundle.js?v=" in page and "docs/static/swagger-ui.css?v=" in page
    assert "http://" not in page and "https://" not in page


def _values(node: Any, key: str) -> list[Any]:
    """Every value of `key` in the document's schemas (not inside examples, which are data)."""
    if isinstance(node, dict):
        found = [node[key]] if key in node else []
        children = [v for k, v in node.items() if k not in ("examples", "example")]
        return found + [v for child in children for v in _values(child, key)]
    if isinstance(node, list):
        return [v for child in node for v in _values(child, key)]
    return []
