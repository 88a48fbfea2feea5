"""The one money parser and field type (domain/money.py): what it takes, what it refuses, how it reads in
JSON Schema, and that no model puts a constraint on a Money field that pydantic would not apply."""

from __future__ import annotations

import re
import typing
from decimal import Decimal
from typing import Any

import annotated_types
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from chalicelib.domain.money import (
    MONEY_MAX,
    MONEY_PATTERN,
    Money,
    NonNegativeMoney,
    PositiveMoney,
    parse_money,
)

D = Decimal


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("12.50", "12.50"),
        ("12.5", "12.50"),
        ("12", "12.00"),
        ("0", "0.00"),
        ("0.01", "0.01"),
        ("-3.5", "-3.50"),
        ("-0.00", "0.00"),  # zero has no sign
        ("999999999999.99", "999999999999.99"),
        ("-999999999999.99", "-999999999999.99"),
        (D("12.5"), "12.50"),  # a Decimal from our own code (the store, a computed amount)
        (D("1E+3"), "1000.00"),  # a value, not text: its exponent is not a format
    ],
)
def test_accepted(raw: object, value: str) -> None:
    parsed = parse_money(raw)
    assert parsed == D(value) and str(parsed) == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("12.345", "more than 2 decimal places"),
        ("0.001", "more than 2 decimal places"),
        ("1e3", "no exponent"),
        ("1E3", "no exponent"),
        ("1" + "0" * 21, f"at most {MONEY_MAX} in size"),
        ("1000000000000", f"at most {MONEY_MAX} in size"),
        (12.3, "not float"),  # a JSON number with a fraction
        (12, "not a JSON number"),  # and without one: request bodies take strings only
        (True, "not bool"),
        ("NaN", "is not an amount"),
        ("Infinity", "is not an amount"),
        ("１２", "ASCII digits only"),  # full-width digits: Decimal() would read them as 12
        ("٣", "ASCII digits only"),  # Arabic-Indic three
        (" 12.50 ", "no spaces"),
        ("12.50\n", "no spaces"),
        ("+1", "is not an amount"),
        ("007", "no leading zeros"),
        (".5", "is not an amount"),
        ("1.", "is not an amount"),
        ("1,000.00", "is not an amount"),
        ("¥12", "ASCII digits only"),
        ("", "is not an amount"),
        ("-", "is not an amount"),
        ("1" * 100, "is not an amount"),
        (None, "not NoneType"),
        ([], "not list"),
        (D("12.345"), "more than 2 decimal places"),
        (D("NaN"), "is not an amount"),
        (D("1E+30"), f"at most {MONEY_MAX} in size"),
    ],
)
def test_refused(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_money(raw)


def test_platform_options_read_numbers_exactly_and_round_only_when_asked() -> None:
    assert parse_money(12, numbers=True) == D("12.00")
    assert parse_money(D("12.5"), numbers=True) == D("12.50")  # json.loads(parse_float=Decimal)
    assert parse_money("12.345", rounding=True) == D("12.35")  # ROUND_HALF_UP
    assert parse_money("0.005", rounding=True) == D("0.01")
    assert parse_money("12.344", rounding=True) == D("12.34")
    for bad in (12.5, True, "1e3", " 1 ", "NaN", "１２", "999999999999.995"):
        with pytest.raises(ValueError):
            parse_money(bad, numbers=True, rounding=True)  # floats, exponents and the bound, always


class Line(BaseModel):
    price: Money
    fee: NonNegativeMoney | None = None
    paid: PositiveMoney | None = None


class Cart(BaseModel):
    items: list[Line]


def test_a_model_field_names_itself_and_serialises_two_places() -> None:
    with pytest.raises(ValidationError) as caught:
        Cart.model_validate({"items": [{"price": "1"}, {"price": "12.345"}]})
    [error] = caught.value.errors()
    assert error["loc"] == ("items", 1, "price") and "more than 2 decimal places" in error["msg"]
    cart = Cart.model_validate({"items": [{"price": "12.5", "fee": "0", "paid": "0.01"}]})
    assert cart.model_dump(mode="json") == {"items": [{"price": "12.50", "fee": "0.00", "paid": "0.01"}]}
    assert cart.model_dump_json() == '{"items":[{"price":"12.50","fee":"0.00","paid":"0.01"}]}'
    with pytest.raises(ValidationError, match="not float"):
        Cart.model_validate_json('{"items": [{"price": 12.3}]}')  # JSON mode too


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("fee", "-0.01", "must not be negative"),
        ("paid", "0", "must be greater than 0"),
        ("paid", "-1", "must be greater than 0"),
    ],
)
def test_sign_rules_per_field(field: str, raw: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        Line.model_validate({"price": "-1.00", field: raw})  # Money itself may be negative
    assert caught.value.errors()[0]["loc"] == (field,)


def test_json_schema_is_one_named_money_component() -> None:
    schema = Cart.model_json_schema(ref_template="#/components/schemas/{model}")
    money = schema["$defs"]["Money"]
    assert money["type"] == "string" and money["pattern"] == MONEY_PATTERN and money["examples"] == ["12.50"]
    assert "JSON numbers are refused" in money["description"]
    props = schema["$defs"]["Line"]["properties"]
    assert props["price"] == {"$ref": "#/components/schemas/Money"}
    assert props["fee"]["anyOf"][0] == {"$ref": "#/components/schemas/Money", "pattern": "^[0-9]"}
    assert props["paid"]["anyOf"][0] == {"$ref": "#/components/schemas/Money", "pattern": "^[0-9.]*[1-9]"}
    # the same in serialization mode (responses)
    out = Cart.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
    assert out["$defs"]["Line"]["properties"]["price"] == {"$ref": "#/components/schemas/Money"}


@given(st.from_regex(MONEY_PATTERN, fullmatch=True))
def test_every_string_the_schema_allows_is_accepted(text: str) -> None:
    assert parse_money(text) == D(text)


@given(st.text(alphabet="0123456789-.e+ １", max_size=18))
def test_the_parser_accepts_exactly_the_schema_pattern(text: str) -> None:
    """What a client validating against /openapi.json sends is what the server takes, and nothing else."""
    try:
        parse_money(text)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == bool(re.fullmatch(MONEY_PATTERN, text))


@given(st.from_regex(MONEY_PATTERN, fullmatch=True))
def test_the_sign_patterns_agree_with_the_sign_rules(text: str) -> None:
    value = parse_money(text)
    negative_zero = text.startswith("-") and value == 0  # "-0.00": the schema says no, the server reads 0
    assert bool(re.match("^[0-9]", text)) == (value >= 0) or negative_zero
    assert bool(re.match("^[0-9.]*[1-9]", text)) == (value > 0)


# -- every model of the app -----------------------------------------------------------------------------


def _is_money(annotation: Any, metadata: list[Any]) -> bool:
    from chalicelib.domain.money import _MoneySchema

    if _MoneySchema in metadata:
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return _is_money(inner, extra)
    return any(_is_money(arg, []) for arg in typing.get_args(annotation))


def _models() -> set[type[BaseModel]]:
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    seen: set[type[BaseModel]] = set()
    todo = [m for spec in ROUTES for m in (spec.body, spec.query, spec.response) if m is not None]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            todo += [t for t in _nested(field.annotation) if t not in seen]
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _nested(arg)]


def test_no_money_field_carries_a_numeric_constraint() -> None:
    """`Field(ge=0)` on a Money field is silently not applied: sign rules are NonNegativeMoney /
    PositiveMoney. Every model reachable from a route is checked."""
    constraints = (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt)
    offenders = [
        f"{model.__name__}.{name}"
        for model in _models()
        for name, field in model.model_fields.items()
        if _is_money(field.annotation, field.metadata)
        and any(isinstance(m, constraints) for m in field.metadata)
    ]
    assert offenders == []
    assert (
        len(
            [
                m
                for m in _models()
                if any(_is_money(f.annotation, f.metadata) for f in m.model_fields.values())
            ]
        )
        > 10
    )
