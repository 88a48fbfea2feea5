"""Puts an example on every component schema of /openapi.json (api/examples.py says where they come from).

In order, until nothing changes: the written examples (by component name; a model pydantic splits into
-Input/-Output takes its base name's unless it has its own), the part of a parent's example a nested
component describes, and examples composed from a schema's own statements (field examples, enum, const,
default) and the examples of what it refers to. A string is never made up: it comes from FIELD_EXAMPLES by
property name, where the property's schema takes it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalicelib.api.examples import FIELD_EXAMPLES, examples

Fits = Callable[[Any, dict[str, Any]], bool]
_MISSING = object()  # no example can be given
_UNSTATED = object()  # the schema itself states none: look further
_FORMATS = {"date-time": "2026-12-01T01:30:00Z", "date": "2026-12-01", "duration": "PT30M"}
_FORMAT_SHAPES = {
    "date-time": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"),
    "date": re.compile(r"\d{4}-\d{2}-\d{2}$"),
    "duration": re.compile(r"P(\d|T)"),
}
_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def apply_examples(schemas: dict[str, Any]) -> None:
    def fits(value: Any, schema: dict[str, Any]) -> bool:
        return _fits(value, schema, schemas)

    known = _written(schemas)
    changed = True
    while changed:
        changed = False
        for name, example in list(known.items()):
            for ref, value in _nested(schemas[name], example):
                if ref not in known:
                    known[ref], changed = value, True
        for name, schema in schemas.items():
            if name in known:
                continue
            if (value := _compose(schema, known, fits, owner=base_name(name))) is not _MISSING:
                known[name], changed = value, True
    for name, example in known.items():
        schemas[name]["examples"] = [example]


def _written(schemas: dict[str, Any]) -> dict[str, Any]:
    written = examples()
    known: dict[str, Any] = {}
    for name in schemas:
        if name in written or base_name(name) in written:
            known[name] = written.get(name, written.get(base_name(name)))
        elif schemas[name].get("examples"):
            known[name] = schemas[name]["examples"][0]
    return known


def base_name(name: str) -> str:
    return name.removesuffix("-Input").removesuffix("-Output")


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _nested(schema: dict[str, Any], value: Any) -> list[tuple[str, Any]]:
    """(component, value) for each component the schema refers to, with the part of `value` it describes."""
    if (name := _ref_name(schema)) is not None:
        return [(name, value)]
    found: list[tuple[str, Any]] = []
    for option in _chosen_options(schema, value):
        found += _nested(option, value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key, item in value.items():
            sub = props.get(key, schema.get("additionalProperties"))
            if isinstance(sub, dict):
                found += _nested(sub, item)
    if isinstance(value, list):
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items")
            if isinstance(sub, dict):
                found += _nested(sub, item)
    return found


def _chosen_options(schema: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """The alternative of a oneOf/anyOf that `value` is: by discriminator, or the only one not null."""
    options = schema.get("oneOf") or schema.get("anyOf") or []
    mapping = schema.get("discriminator", {}).get("mapping", {})
    if mapping and isinstance(value, dict):
        target = mapping.get(value.get(schema["discriminator"]["propertyName"]))
        return [{"$ref": target}] if target else []
    if value is None:
        return []
    options = [o for o in options if o.get("type") != "null"]
    return options if len(options) == 1 else []


def _compose(
    schema: dict[str, Any],
    known: dict[str, Any],
    fits: Fits,
    field: str | None = None,
    owner: str = "",
    required: bool = True,
) -> Any:
    """An example, or _MISSING where a required part has none. Only a required part falls back to its
    format or type: an optional `effective_to` made up from the date format would contradict
    `effective_from`."""
    stated = _stated(schema, known, fits, field, owner)
    if stated is not _UNSTATED:
        return stated
    for key in ("oneOf", "anyOf"):
        if key in schema:
            for option in schema[key]:
                if option.get("type") == "null":
                    continue
                if (v := _compose(option, known, fits, field, owner, required)) is not _MISSING:
                    return v
            nullable = any(o.get("type") == "null" for o in schema[key])
            return None if nullable and required else _MISSING
    if schema.get("default") is not None:
        return schema["default"]
    if schema.get("type") == "object" and "properties" in schema:
        return _object(schema, known, fits, owner)
    return _by_type(schema, known, fits) if required else _MISSING


def _stated(schema: dict[str, Any], known: dict[str, Any], fits: Fits, field: str | None, owner: str) -> Any:
    if "examples" in schema:
        return schema["examples"][0]
    if (name := _ref_name(schema)) is not None:
        return known.get(name, _MISSING)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in (f"{owner}.{field}", field) if field is not None else ():
        if key in FIELD_EXAMPLES and fits(FIELD_EXAMPLES[key], schema):
            return FIELD_EXAMPLES[key]
    return _UNSTATED


def _object(schema: dict[str, Any], known: dict[str, Any], fits: Fits, owner: str) -> Any:
    out = {}
    for key, prop in schema["properties"].items():
        needed = key in schema.get("required", [])
        value = _compose(prop, known, fits, key, owner, needed)
        if value is not _MISSING:
            out[key] = value
        elif needed:
            return _MISSING
    return out or _MISSING  # {} says nothing: such a model needs a written example


def _by_type(schema: dict[str, Any], known: dict[str, Any], fits: Fits) -> Any:
    kind = schema.get("type")
    if kind == "array":
        prefix = [_compose(item, known, fits) for item in schema.get("prefixItems", [])]
        if prefix:
            return _MISSING if any(p is _MISSING for p in prefix) else prefix
        item = _compose(schema.get("items", {}), known, fits)
        if item is _MISSING:
            return _MISSING if schema.get("minItems") else []
        return [item] * max(1, schema.get("minItems", 1))
    if kind == "object":
        return {}  # free-form
    if kind == "string":
        return _FORMATS.get(schema.get("format", ""), _MISSING)
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return _MISSING


def _fits(value: Any, schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether a value has the shape a schema asks for: types, enums, patterns, formats, items, properties
    (tests/unit/test_openapi.py validates every example in full; this keeps words out of wrong fields)."""
    if (name := _ref_name(schema)) is not None:
        return _fits(value, schemas.get(name, {}), schemas)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return any(_fits(value, option, schemas) for option in schema[key])
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind is not None and (
        not isinstance(value, _TYPES[kind]) or (kind in ("integer", "number") and isinstance(value, bool))
    ):
        return False
    if isinstance(value, str):
        return _fits_string(value, schema)
    if isinstance(value, list):
        return all(_fits(v, schema.get("items", {}), schemas) for v in value)
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        return set(schema.get("required", [])) <= set(value) and all(
            _fits(v, props[k], schemas) for k, v in value.items() if k in props
        )
    return True


def _fits_string(value: str, schema: dict[str, Any]) -> bool:
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return False
    shape = _FORMAT_SHAPES.get(schema.get("format", ""))
    return shape is None or bool(shape.match(value))
