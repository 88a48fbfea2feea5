"""Money: Decimal only, rounded explicitly (ROUND_HALF_UP to the fen), a string at the edges."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

FEN = Decimal("0.01")


def to_fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


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
