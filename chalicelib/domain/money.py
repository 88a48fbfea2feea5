"""Money: Decimal only, rounded explicitly (ROUND_HALF_UP to the fen), a string at the edges."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

FEN = Decimal("0.01")


def to_fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def parse_amount(value: object) -> Decimal:
    """A decimal string ("12.50") or int → Decimal rounded to the fen. Floats are refused (not exact)."""
    if isinstance(value, float):
        raise ValueError('amounts are decimal strings such as "12.50", not floating-point numbers')
    if isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, int | str):
        try:
            parsed = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"'{value}' is not a decimal amount") from None
    else:
        raise ValueError("an amount must be a decimal string")
    if not parsed.is_finite():
        raise ValueError(f"'{value}' is not a finite amount")
    try:
        return to_fen(parsed)
    except InvalidOperation:  # beyond Decimal's precision at two places, e.g. "1e30"
        raise ValueError(f"'{value}' is too large an amount") from None


# A pydantic field type: accepts "12.5" / 12 / Decimal, stores Decimal("12.50"), serialises as "12.50".
Amount = Annotated[
    Decimal, BeforeValidator(parse_amount), PlainSerializer(lambda d: f"{d:.2f}", return_type=str)
]
