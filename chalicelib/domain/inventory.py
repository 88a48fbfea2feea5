"""Parts inventory (备件库): stock per warehouse, reservations held by tickets, transfers, low stock.

Counts per (part, warehouse): `on_hand` (physically there) and `reserved` (held by open tickets);
`available` = on_hand − reserved is what a new reservation may take, and it is never negative. A
reservation is consumed when its ticket completes (on_hand and reserved both drop) or released when the
ticket is cancelled (reserved drops, available rises again). Every change is conditional on the stock's
version, so concurrent reservations of the last unit cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.common import ConflictError, InvalidInputError

WAREHOUSE_PATTERN = r"^[^\s#]{1,64}$"


class StaleStock(Exception):
    """The stock changed since it was read: read it again and retry (raised by the store)."""


class AlreadyDone(Exception):
    """The reservation (or its settlement) was written before: a retry, nothing to do (store)."""


class Stock(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    warehouse: str
    on_hand: int = 0
    reserved: int = 0
    version: int = 0  # 0: no stock row yet

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    CONSUMED = "consumed"
    RELEASED = "released"


class Reservation(BaseModel):
    model_config = ConfigDict(frozen=True)

    ticket_id: str
    sku: str
    warehouse: str
    quantity: int = Field(ge=1)
    status: ReservationStatus = ReservationStatus.RESERVED
    at: datetime


class PartLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=64, pattern=r"^[^\s#]+$")
    quantity: int = Field(default=1, ge=1, le=10_000)
    warehouse: str | None = Field(default=None, pattern=WAREHOUSE_PATTERN)


def parts_from_field(value: Any) -> list[PartLine]:
    """A ticket field naming parts: "SKU-1", ["SKU-1", …] or [{"sku", "quantity", "warehouse"}, …]."""
    if value in (None, "", []):
        return []
    items = value if isinstance(value, list) else [value]
    lines = [PartLine(sku=i) if isinstance(i, str) else PartLine.model_validate(i) for i in items]
    merged: dict[tuple[str, str | None], int] = {}
    for line in lines:
        merged[(line.sku, line.warehouse)] = merged.get((line.sku, line.warehouse), 0) + line.quantity
    return [PartLine(sku=s, warehouse=w, quantity=q) for (s, w), q in merged.items()]


def pick_warehouse(stocks: Sequence[Stock], quantity: int, preferred: str | None) -> Stock:
    """The preferred warehouse, else the one with the most available (ties: by id) that can cover it."""
    if preferred is not None:
        for stock in stocks:
            if stock.warehouse == preferred:
                return stock
        return Stock(sku=stocks[0].sku if stocks else "", warehouse=preferred)
    able = [s for s in stocks if s.available >= quantity]
    if not able:
        raise ConflictError(
            f"not enough stock: {quantity} needed, {max((s.available for s in stocks), default=0)} available"
            " in the best warehouse",
            details=[{"field": "quantity", "message": "insufficient stock"}],
        )
    return sorted(able, key=lambda s: (-s.available, s.warehouse))[0]


def check_take(stock: Stock, quantity: int) -> None:
    if quantity > stock.available:
        raise ConflictError(
            f"not enough {stock.sku} in {stock.warehouse}: {quantity} needed, {stock.available} available",
            details=[{"field": "quantity", "message": "insufficient stock"}],
        )


def is_low(available: int, threshold: int) -> bool:
    return available <= threshold


def suggested_quantity(available: int, threshold: int) -> int:
    """What to order to be back at twice the threshold (at least 1)."""
    return max(1, 2 * threshold - available)


class LowStock(BaseModel):
    """A replenishment request: the part fell to its threshold in a warehouse. Cleared once restocked.

    Stored as it was when the episode began (`since`); `GET /v1/parts/low-stock` shows it with the
    availability, threshold and suggestion of now (`current`)."""

    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    warehouse: str
    available: int
    threshold: int
    suggested_quantity: int  # back to twice the threshold (at least 1)
    since: datetime

    def current(self, *, name: str, threshold: int, stock: Stock) -> LowStock:
        return self.model_copy(
            update={
                "name": name,
                "available": stock.available,
                "threshold": threshold,
                "suggested_quantity": suggested_quantity(stock.available, threshold),
            }
        )


class StockChange(BaseModel):
    """POST /v1/parts/{sku}/stock: goods received (positive) or written off (negative) at a warehouse."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    warehouse: str = Field(pattern=WAREHOUSE_PATTERN)
    delta: int = Field(ge=-1_000_000, le=1_000_000)
    reason: str = Field(default="received", min_length=1, max_length=200)

    def model_post_init(self, _: Any) -> None:
        if self.delta == 0:
            raise InvalidInputError(
                "delta must not be 0", details=[{"field": "delta", "message": "must not be 0"}]
            )


class TransferCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    from_warehouse: str = Field(pattern=WAREHOUSE_PATTERN)
    to_warehouse: str = Field(pattern=WAREHOUSE_PATTERN)
    quantity: int = Field(ge=1, le=1_000_000)
