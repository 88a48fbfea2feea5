"""Money: Decimal only, one parser and one field type; rounding (ROUND_HALF_UP to the fen) is explicit.

`parse_money` is the only place an amount is read from outside. `Money` is the field type of every amount
in the API, requests and responses alike, and appears in /openapi.json as one component, `Money`:

- a **decimal string** in yuan: ASCII digits, an optional leading `-`, at most 2 decimal places
  (`"12.50"`, `"12.5"`, `"12"`, `"0"`);
- **no JSON number**, integer or not: a float cannot hold every amount exactly, and a body that mixes
  numbers and strings is how `12.3` and `"12.30"` end up meaning different things. Decimal values from our
  own code (the store, computed amounts) are accepted when exact to the fen;
- **no exponent** (`"1e3"`), no `+`, no leading zeros, no spaces, no full-width digits (`"１２"`);
- **bounded**: |amount| <= 999,999,999,999.99 (under 10^12 yuan: 14 significant digits, far inside
  Decimal's 28 and DynamoDB's 38, and more than any tenant's annual turnover);
- more than 2 places is **refused, not rounded**: rounding belongs to the rule that computes an amount
  (`to_fen`), where it is explicit and tested;
- serialised as a string with exactly two places (`"12.50"`).

Sign rules are per field: `NonNegativeMoney` (>= 0) and `PositiveMoney` (> 0). Do not put `Field(ge=…)`
on a Money field: pydantic does not apply numeric constraints to this schema (tests/unit/test_money.py
checks that no model does).

Platform payloads are not our format: their adapters call the same parser with explicit options
(`numbers=True`, `rounding=True`) and cite the platform's documentation where they do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MONEY_MAX = Decimal("999999999999.99")
# ASCII digits only ([0-9], not \d, which also matches "１２"); at most 12 digits before the point.
MONEY_PATTERN = r"^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$"
# What a platform may send when rounding is allowed: any number of places; the bound is checked on the value.
_DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,11})(\.[0-9]+)?")
_MONEY_TEXT = re.compile(MONEY_PATTERN)  # used with fullmatch: "12\n" is refused too
_ANY_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # for the error message only
_MAX_TEXT = 40  # longer than any amount; refuses a megabyte of decimals before Decimal reads it
EXAMPLE = '"12.50"'


def to_fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def parse_money(value: object, *, numbers: bool = False, rounding: bool = False) -> Decimal:
    """An amount in yuan → Decimal with two places, or ValueError saying what is wrong (pydantic names the
    field). The format is the module's; the options exist for platform payloads only:

    numbers  — also accept a JSON number read exactly: an int, or a Decimal from
               `json.loads(..., parse_float=Decimal)`. Floats are refused whatever the options.
    rounding — round more than 2 places ROUND_HALF_UP to the fen instead of refusing them.
    """
    if isinstance(value, bool | float):
        raise ValueError(f"must be a decimal string such as {EXAMPLE}, not {type(value).__name__}")
    if isinstance(value, str):
        pattern = _DECIMAL_TEXT if rounding else _MONEY_TEXT
        if len(value) > _MAX_TEXT or not pattern.fullmatch(value):
            raise ValueError(_bad_text(value, rounding=rounding))
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not an amount")
        amount = value
    elif isinstance(value, int) and numbers:
        amount = Decimal(value)
    else:
        kind = "a JSON number" if isinstance(value, int) else type(value).__name__
        raise ValueError(f"must be a decimal string such as {EXAMPLE}, not {kind}")
    if abs(amount) > MONEY_MAX:  # before quantize: "1e30" would overflow the context
        raise ValueError(f"must be at most {MONEY_MAX} in size")
    fen = to_fen(amount)
    if fen != amount and not rounding:
        raise ValueError("has more than 2 decimal places; amounts are exact to the fen (0.01)")
    if abs(fen) > MONEY_MAX:  # 999999999999.995 rounds up past the bound
        raise ValueError(f"must be at most {MONEY_MAX} in size")
    return fen if fen else ZERO  # "-0.00" is zero, without a sign


def _bad_text(text: str, *, rounding: bool) -> str:
    shown = repr(text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…")
    if not text.isascii():
        why = "ASCII digits only"
    elif text != text.strip():
        why = "no spaces"
    elif "e" in text.lower():
        why = "no exponent"
    elif _ANY_DECIMAL.fullmatch(text):
        integer, _, places = text.lstrip("-").partition(".")
        if len(places) > 2 and not rounding:
            return "has more than 2 decimal places; amounts are exact to the fen (0.01)"
        why = (
            "no leading zeros"
            if integer.startswith("0") and len(integer) > 1
            else f"at most {MONEY_MAX} in size"
        )
    else:
        why = "digits with an optional leading '-' and one '.'"
    return f"{shown} is not an amount: a decimal string such as {EXAMPLE}, {why}"


def _money_text(value: Decimal) -> str:
    return f"{value:.2f}"


_MONEY_JSON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": MONEY_PATTERN,
    "description": (
        "An amount in yuan (CNY) as a decimal string: ASCII digits, an optional leading '-', at most 2 "
        f"decimal places, no exponent, no spaces, at most {MONEY_MAX} in size. JSON numbers are refused "
        "(a float cannot hold every amount exactly); more places are refused, not rounded. Responses "
        "always carry two places. A field that must not be negative, or must be positive, adds a pattern."
    ),
    "examples": ["12.50"],
}


class _MoneySchema:
    """The pydantic schema of Money: `parse_money`, a "12.50" string out, and one named JSON schema
    (`ref`), so every money field of every model is `{"$ref": "#/components/schemas/Money"}`."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            parse_money,
            ref="Money",
            serialization=core_schema.plain_serializer_function_ser_schema(
                _money_text, return_schema=core_schema.str_schema()
            ),
            metadata={"pydantic_js_functions": [lambda _schema, _handler: dict(_MONEY_JSON_SCHEMA)]},
        )


@dataclass(frozen=True)
class _Sign:
    """A field's sign rule on top of Money: checked after parsing, shown in JSON Schema as a further
    pattern beside the `$ref` (JSON Schema 2020-12 applies both)."""

    rule: Literal["non_negative", "positive"]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        # Positive: no '-' and a non-zero digit somewhere ("0.01" yes, "0.00" no).
        json_schema["pattern"] = "^[0-9]" if self.rule == "non_negative" else "^[0-9.]*[1-9]"
        return json_schema

    def _check(self, value: Decimal) -> Decimal:
        if self.rule == "non_negative" and value < 0:
            raise ValueError("must not be negative")
        if self.rule == "positive" and value <= 0:
            raise ValueError("must be greater than 0")
        return value


Money = Annotated[Decimal, _MoneySchema]
NonNegativeMoney = Annotated[Money, _Sign("non_negative")]
PositiveMoney = Annotated[Money, _Sign("positive")]


def largest_remainder(cents: int, weights: Sequence[int], total_weight: int | None = None) -> list[int]:
    """`cents` >= 0 shared in proportion to `weights` (integers >= 0, summing to `total_weight`), in whole
    fen that sum to `cents` (Hamilton's method): every share rounded down, then the fen left over one each
    to the largest dropped fractions, the earlier share first on a tie. Exact integer arithmetic."""
    whole = sum(weights) if total_weight is None else total_weight
    if not whole:
        return [0 for _ in weights]
    products = [cents * weight for weight in weights]  # each share exactly, in 1/whole of a fen
    parts = [product // whole for product in products]
    leftover = cents - sum(parts)
    if leftover:
        dropped = [product % whole for product in products]
        if leftover == 1:  # the common case; index() finds the first of equal fractions
            parts[dropped.index(max(dropped))] += 1
        else:
            for i in sorted(range(len(parts)), key=lambda i: (-dropped[i], i))[:leftover]:
                parts[i] += 1
    return parts
