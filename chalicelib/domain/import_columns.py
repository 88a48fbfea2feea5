"""The columns of the legacy CSV exports the import reads: names, which are required, formats and an example.

One description serves the header check (`check_header`: an unknown or missing column stops the import
before anything is read, naming it), the template (`template_csv`, what `scrm import template` writes) and
docs/imports.md (a unit test holds the doc's tables to these). The formats are the parsers' in
`domain.imports`, `domain.phones`, `domain.customers.parse_gender` and `domain.money`. Pure.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.customers import MAX_IDENTITY_VALUE
from chalicelib.domain.orders import OrderStatus

MAX_TEXT = 64  # CustomerDraft's limit for name, region and store
MAX_QUANTITY = 1_000_000  # beyond it a quantity is a shifted column, not an order


@dataclass(frozen=True)
class Column:
    name: str
    format: str  # what a value may look like, for people (docs, help)
    example: str  # the template's example row; it imports without a warning
    required: bool = False


@dataclass(frozen=True)
class ExportColumns:
    kind: str  # customers | orders
    columns: tuple[Column, ...]
    # Columns of which at least one must be present (a record needs one of them to mean anything).
    one_of: tuple[tuple[str, ...], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


PHONE_FORMAT = (
    "a CN mobile as typed anywhere (`13812345678`, `+86 138 1234 5678`, `138-1234-5678`, `8613812345678`, "
    "`0086…`) or any number in E.164 with `+`"
)
DATE_FORMAT = (
    "`1990-05-03`, `1990/5/3`, `1990.05.03`, `1990年5月3日` or `19900503` (a time after it is ignored)"
)
ID_FORMAT = f"one word (no spaces) of at most {MAX_IDENTITY_VALUE} characters"
TEXT_FORMAT = f"at most {MAX_TEXT} characters"
MONEY_FORMAT = "yuan with at most 2 decimals, no thousands separator: `18`, `328.50`"

CUSTOMERS = ExportColumns(
    kind="customers",
    columns=(
        Column("external_id", f"the record's id in the old system, {ID_FORMAT}", "LEGACY-000001"),
        Column(
            "name", f"{TEXT_FORMAT}; empty: the same person's name in another row, else 未命名客户", "张伟"
        ),
        Column("phone", PHONE_FORMAT, "13812345678"),
        Column("gender", "男, 女, M, F, male, female, 1 (male), 2 (female); 0, 未知 or empty: unknown", "男"),
        Column("birthday", f"a date: {DATE_FORMAT}; between 1900-01-01 and today", "1990-05-03"),
        Column("province", f"the customer's region, {TEXT_FORMAT}", "浙江"),
        Column("city", TEXT_FORMAT, "杭州"),
        Column("store", f"the store's code, {TEXT_FORMAT}", "HZ-001"),
        Column("unionid", f"the WeChat unionid, {ID_FORMAT}", "oU1a2b3c4d5e6f"),
        Column("tags", "tag names separated by `;` or `；`", "VIP;少糖"),
        Column("first_seen", f"when they first came, a date: {DATE_FORMAT}", "2024-01-02"),
        Column("note", "free text", "只在周末来"),
    ),
    one_of=(("phone", "unionid"),),
)

ORDERS = ExportColumns(
    kind="orders",
    columns=(
        Column(
            "platform",
            "lowercase letters, digits and `_`, starting with a letter: tmall, jd, youzan, doudian…",
            "tmall",
            required=True,
        ),
        Column("order_id", f"the platform's order number, {ID_FORMAT}", "O230000000", required=True),
        Column("buyer_phone", PHONE_FORMAT + "; links the order to a customer", "13812345678"),
        Column("buyer_unionid", f"the buyer's WeChat unionid, {ID_FORMAT}", "oU1a2b3c4d5e6f"),
        Column("buyer_nick", "the shop nickname (kept on the order, never used to link)", "张伟的店铺账号"),
        Column("sku", "the item's code (empty: the item name)", "MILK-3"),
        Column("item_name", "the item's name (empty: the sku)", "婴儿奶粉3段"),
        Column("quantity", f"a whole number from 0 to {MAX_QUANTITY}", "1", required=True),
        Column("unit_price", MONEY_FORMAT, "328.50", required=True),
        Column(
            "total_amount",
            MONEY_FORMAT + "; the line's or the order's total (empty: quantity × unit price)",
            "328.50",
        ),
        Column(
            "status",
            f"{', '.join(OrderStatus)}, or 已付款, 待发货, 已发货, 已完成, 交易成功, 退款中, 已退款, 已关闭, "
            "交易关闭, 已取消, cancelled…",
            "completed",
            required=True,
        ),
        Column(
            "paid_at",
            "ISO 8601 `2025-03-19T01:02:00+08:00` (a space for `T` and `/` in the date work too); "
            "without a zone: China time",
            "2025-03-19T01:02:00+08:00",
        ),
        Column("store", "the store's code (kept on the order)", "HZ-001"),
    ),
    one_of=(("sku", "item_name"),),
)

EXPORTS = {spec.kind: spec for spec in (CUSTOMERS, ORDERS)}


class ImportHeaderError(InvalidInputError):
    """The file's header does not describe this kind of export: nothing of it is imported."""


def header_names(header: Sequence[str]) -> list[str]:
    """Column names as the import compares them: a BOM and surrounding spaces dropped, lower case."""
    return [h.replace("\ufeff", "").strip().lower() for h in header]


def check_header(spec: ExportColumns, header: Sequence[str]) -> list[str]:
    """The header's column names, or ImportHeaderError naming each unknown, missing or repeated column.

    Unknown columns are refused rather than skipped: a misspelt optional column (`birthdy`) would otherwise
    import every row without it, silently."""
    names = header_names(header)
    known = set(spec.names)
    problems: list[tuple[str, str]] = []
    for name in dict.fromkeys(n for n in names if n):  # empty names: trailing commas Excel leaves
        if names.count(name) > 1:
            problems.append((name, "the column appears more than once"))
        elif name not in known:
            close = difflib.get_close_matches(name, spec.names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append((name, f"unknown column{hint}"))
    present = set(names)
    problems += [(c, "missing required column") for c in spec.required if c not in present]
    problems += [
        (" or ".join(group), "missing column (the file needs one of them)")
        for group in spec.one_of
        if not present & set(group)
    ]
    if problems:
        listed = "; ".join(f"{column}: {why}" for column, why in problems)
        raise ImportHeaderError(
            f"the {spec.kind} file's header does not fit: {listed}. Columns: {', '.join(spec.names)} "
            f"(`scrm import template {spec.kind}` writes them)",
            details=[{"field": column, "message": why} for column, why in problems],
        )
    return names


def read_header(spec: ExportColumns, rows: Iterator[list[str]]) -> list[str]:
    """Consumes `rows` (a csv.reader) up to the header, the first non-blank line, and checks it."""
    header = next((h for h in rows if any(c.strip() for c in h)), None)
    if header is None:
        raise ImportHeaderError(
            f"the {spec.kind} file is empty: its first line must be the header "
            f"(`scrm import template {spec.kind}` writes it)",
            details=[{"field": "file", "message": "empty"}],
        )
    return check_header(spec, header)


def check_file(spec: ExportColumns, text: str) -> list[str]:
    """The header check alone, on a whole file's text: what a caller runs before connecting to anything."""
    return read_header(spec, csv.reader(io.StringIO(text)))


def template_csv(spec: ExportColumns) -> str:
    """The header and one example row: what a file to import looks like."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # CRLF: what Excel writes and RFC 4180 names
    writer.writerow(spec.names)
    writer.writerow(c.example for c in spec.columns)
    return out.getvalue()
