"""Legacy CSV exports (customers, orders) parsed, checked and clustered for the import. Pure: no I/O or clock.

Results
- `parse_customers` / `parse_orders` yield, per record, either a usable row (`CustomerRow`, `OrderRow`) whose
  `warnings` list what was dropped from it, or an `ImportIssue`: a rejected record, with the reason.
- `cluster_people` groups customer rows into people; `index_people` + `link_order` find an order's person.
- `summarize` counts accepted rows, rejections and warnings by `code` for the import report.
- The columns, which are required and their formats are in `domain.import_columns`; a header with an unknown,
  missing or repeated column (or an empty file) raises its `ImportHeaderError` before any record is read.

Row numbers (`ImportIssue.row`, `CustomerRow.row`, `OrderRow.rows`) are 1-based *data record* numbers: the
header is row 0 and the first record after it row 1 (a spreadsheet's row number minus one). They are not
physical line numbers, which a quoted note spanning several lines would shift.

Decisions on ambiguous rows
- Identity: a customer row needs a valid phone or a unionid (the README's rule); the external id alone (a
  `legacy_id`) is not enough, such a row is rejected with code `no_identity`.
- An invalid optional field (phone when a unionid identifies the row, gender, birthday, first_seen, a text
  over 64 characters) is dropped with a warning; the row is kept.
- A missing name keeps the row (a phone or unionid still identifies a real customer): `CustomerRow.name` is
  None with a warning, and the person takes another row's name, else `NAME_PLACEHOLDER`.
- Rows are one person when they share any identity: a phone (in any format), a unionid, or an external id
  (the same legacy record exported twice), transitively. Two rows with *different* unionids that share a
  phone are one person, as the README says; both unionids are kept as identities and in `history`, and
  `PersonRecord.unionid_conflict` flags the person for review (`domain.resolution` treats a unionid as
  single-valued, so a later resolution against stored customers may split them).
- Scalar fields: rows are ranked (earliest `first_seen`; then a real name before a salutation like
  "王先生"; then the more complete row; then the smaller external id) and each field takes the first
  non-empty value in that order. The ranking ignores the order of the file, so a shuffled file gives the same
  people. Every other value a field had is kept in `history`.
- Orders: records with the same (platform, order_id) are one order with one item per record; an exact
  duplicate record is dropped with a warning. If any record of an order is rejected, the whole order is (an
  order missing a line would have a wrong total). An order without a usable buyer phone or unionid is kept
  with the warning `no_buyer` ("no buyer identity: not linked"): it cannot join a customer's timeline.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.customers import (
    MAX_IDENTITY_VALUE,
    CustomerDraft,
    Gender,
    Identity,
    IdentityIn,
    parse_gender,
)
from chalicelib.domain.import_columns import (
    CUSTOMERS,
    MAX_QUANTITY,
    MAX_TEXT,
    ORDERS,
    ExportColumns,
    read_header,
)
from chalicelib.domain.money import Money, parse_money
from chalicelib.domain.orders import STATUS_RANK, OrderEvent, OrderItem, OrderStatus
from chalicelib.domain.phones import normalize_phone

CUSTOMER_COLUMNS = CUSTOMERS.names
ORDER_COLUMNS = ORDERS.names
NAME_PLACEHOLDER = "未命名客户"
MIN_BIRTHDAY = date(1900, 1, 1)
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # what a naive legacy timestamp means
# occurred_at of an order exported without paid_at: a fixed, recognisable instant (not the clock, so a
# re-import builds the same event; not the Unix epoch, which reads as a bug).
UNDATED = datetime(2000, 1, 1, tzinfo=UTC)
RAW_TYPE = "legacy_import"


class ImportIssue(BaseModel):
    """A rejected record (yielded on its own) or a warning about a kept one (in its `warnings`).

    `row`: the 1-based data record number; `code`: a stable short name for reports."""

    row: int
    field: str | None
    reason: str
    raw: dict[str, str]
    code: str = "invalid"


# -- CSV reading -------------------------------------------------------------------------------------
def decode_export(data: bytes) -> str:
    """An uploaded export as text: UTF-8 (with or without BOM), else GB18030 (what Excel in China saves)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise InvalidInputError("the file is neither UTF-8 nor GB18030 text") from None


def _records(lines: Iterable[str], spec: ExportColumns) -> Iterator[tuple[int, dict[str, str]] | ImportIssue]:
    """(row number, {column: raw value}) per record, or an ImportIssue for a malformed record. Every column
    of `spec` is in the dict: the header's in its order, then the optional ones the file leaves out, empty.

    Raises ImportHeaderError, on the first iteration, for an empty file or a header with an unknown, missing
    or repeated column (`read_header`): a wrong header is the file's fault, not one row's.
    Tolerates a BOM, CRLF, quoted commas/quotes/newlines, column order and case, unnamed empty columns,
    records short of trailing empty fields and trailing empty fields; skips blank lines."""
    reader = csv.reader(io.StringIO(lines) if isinstance(lines, str) else lines)
    names = read_header(spec, reader)
    named = [n for n in names if n]
    absent = {c: "" for c in spec.names if c not in named}
    for number, values in enumerate(reader, start=1):
        if not any(v.strip() for v in values):
            continue
        raw = {n: v for n, v in zip(names, values, strict=False) if n}
        extra = [v for n, v in zip(names, values, strict=False) if not n] + values[len(names) :]
        if any(v.strip() for v in extra):
            raw.update({f"_extra_{i}": v for i, v in enumerate(extra, start=1)})
            reason = (
                f"{len(values)} fields where the header names {len(named)}: "
                "an unquoted comma shifted the values"
            )
            yield ImportIssue(row=number, field=None, reason=reason, raw=raw, code="malformed_row")
            continue
        yield number, {**{name: raw.get(name, "") for name in named}, **absent}


class _Warnings:
    def __init__(self, row: int, raw: dict[str, str]) -> None:
        self.row, self.raw = row, raw
        self.issues: list[ImportIssue] = []

    def add(self, field: str | None, code: str, reason: str) -> None:
        self.issues.append(ImportIssue(row=self.row, field=field, reason=reason, raw=self.raw, code=code))

    def issue(self, field: str | None, code: str, reason: str) -> ImportIssue:
        return ImportIssue(row=self.row, field=field, reason=reason, raw=self.raw, code=code)


# -- field parsers -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16384)
def _phone(text: str) -> str:
    return normalize_phone(text)


def _text(value: str) -> str | None:
    text = value.strip()
    return text or None


def _short(raw: dict[str, str], field: str, warn: _Warnings) -> str | None:
    text = _text(raw.get(field, ""))
    if text is not None and len(text) > MAX_TEXT:
        warn.add(field, "too_long", f"{field} has more than {MAX_TEXT} characters: imported without it")
        return None
    return text


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def parse_date(value: str) -> date:
    """`1990-05-03`, `1990/5/3`, `1990.05.03`, `1990年5月3日`, `19900503`, full-width digits; a time after
    the date is ignored. ValueError otherwise (including impossible dates such as `2024-13-45`)."""
    text = unicodedata.normalize("NFKC", value).strip()
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if not match:
        raise ValueError(f"'{value}' is not a date (YYYY-MM-DD, YYYY/MM/DD or YYYY年MM月DD日)")
    year, month, day = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"'{value}' is not a calendar date") from None


def _date(raw: dict[str, str], field: str, warn: _Warnings) -> date | None:
    text = raw.get(field, "").strip()
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError as e:
        warn.add(field, f"invalid_{field}", f"{e}: imported without {field}")
        return None


def _birthday(raw: dict[str, str], warn: _Warnings, today: date | None) -> date | None:
    birthday = _date(raw, "birthday", warn)
    if birthday is None:
        return None
    if birthday < MIN_BIRTHDAY or (today is not None and birthday > today):
        latest = today.isoformat() if today else "today"
        reason = f"birthday {birthday} is not between {MIN_BIRTHDAY} and {latest}: imported without it"
        warn.add("birthday", "invalid_birthday", reason)
        return None
    return birthday


def _gender(raw: dict[str, str], warn: _Warnings) -> Gender:
    try:
        return parse_gender(raw.get("gender", ""))
    except InvalidInputError as e:
        warn.add("gender", "invalid_gender", f"{e.message}: imported as unknown")
        return Gender.UNKNOWN


def split_tags(value: str) -> list[str]:
    """`a;b；a; ` → ["a", "b"]: split on `;` or `；`, stripped, empties and repeats dropped."""
    tags = (t.strip() for t in re.split(r"[;；]", value))
    return list(dict.fromkeys(t for t in tags if t))


def _identifier(raw: dict[str, str], field: str) -> tuple[str | None, str | None]:
    """(value, error) for an opaque id (unionid, external id): one token of at most 128 characters."""
    text = raw.get(field, "").strip()
    if not text:
        return None, None
    if len(text) > MAX_IDENTITY_VALUE or re.search(r"\s", text):
        return (
            None,
            f"{field} '{text[:40]}' is not an id (one word of at most {MAX_IDENTITY_VALUE} characters)",
        )
    return text, None


def _phone_field(raw: dict[str, str], field: str) -> tuple[str | None, str | None]:
    """(E.164, error) for a phone column."""
    text = raw.get(field, "").strip()
    if not text:
        return None, None
    try:
        return _phone(text), None
    except InvalidInputError as e:
        return None, e.message


# -- customers ---------------------------------------------------------------------------------------
class CustomerRow(BaseModel):
    """A usable customer record. `region` is the export's province; `warnings` list what was dropped."""

    model_config = ConfigDict(extra="forbid")

    row: int
    external_id: str | None
    name: str | None
    phone: str | None  # E.164
    unionid: str | None
    gender: Gender = Gender.UNKNOWN
    birthday: date | None = None
    region: str | None = None
    city: str | None = None
    store: str | None = None
    tags: list[str] = Field(default_factory=list)
    first_seen: date | None = None
    note: str | None = None
    warnings: list[ImportIssue] = Field(default_factory=list)

    def identities(self) -> list[Identity]:
        """phone, unionid and legacy_id (the external id), those present."""
        pairs = (("phone", self.phone), ("unionid", self.unionid), ("legacy_id", self.external_id))
        return [Identity(type=t, value=v) for t, v in pairs if v]


def parse_customers(
    lines: Iterable[str], *, today: date | None = None
) -> Iterator[CustomerRow | ImportIssue]:
    """One CustomerRow or ImportIssue per record of a customers export, in file order.

    `lines`: an open text file, any iterable of lines, or the whole text. `today` (optional) also rejects
    birthdays in the future; without it only the calendar and 1900-01-01 bound are checked."""
    for record in _records(lines, CUSTOMERS):
        if isinstance(record, ImportIssue):
            yield record
        else:
            yield _customer(*record, today=today)


def _customer(number: int, raw: dict[str, str], *, today: date | None) -> CustomerRow | ImportIssue:
    warn = _Warnings(number, raw)
    phone, phone_error = _phone_field(raw, "phone")
    unionid, unionid_error = _identifier(raw, "unionid")
    if phone is None and unionid is None:
        why = [phone_error or "no phone", unionid_error or "no unionid"]
        return warn.issue("phone", "no_identity", f"no identity: {'; '.join(why)}")
    if phone_error:
        warn.add(
            "phone", "invalid_phone", f"{phone_error}: imported without a phone (the unionid identifies it)"
        )
    if unionid_error:
        warn.add("unionid", "invalid_unionid", f"{unionid_error}: imported without a unionid")
    external_id, external_error = _identifier(raw, "external_id")
    if external_id is None:
        warn.add("external_id", "no_external_id", external_error or "no external id: no legacy_id identity")
    name = _short(raw, "name", warn)
    if name is None and "name" not in {w.field for w in warn.issues}:
        warn.add("name", "no_name", "no name: the person takes another record's name or a placeholder")
    return CustomerRow(
        row=number,
        external_id=external_id,
        name=name,
        phone=phone,
        unionid=unionid,
        gender=_gender(raw, warn),
        birthday=_birthday(raw, warn, today),
        region=_short(raw, "province", warn),
        city=_short(raw, "city", warn),
        store=_short(raw, "store", warn),
        tags=split_tags(raw.get("tags", "")),
        first_seen=_date(raw, "first_seen", warn),
        note=_text(raw.get("note", "")),
        warnings=warn.issues,
    )


# -- people ------------------------------------------------------------------------------------------
_IDENTITY_ORDER = {"phone": 0, "unionid": 1, "legacy_id": 2}
_SALUTATION = re.compile(r"^\S{1,2}(先生|女士|小姐|太太)$")
_SCALARS = ("name", "phone", "unionid", "gender", "birthday", "region", "city", "store", "first_seen", "note")


def is_salutation(name: str) -> bool:
    """A name such as 王先生 or 李女士: how a shop assistant records someone whose name they do not know."""
    return bool(_SALUTATION.match(name))


class PersonRecord(BaseModel):
    """The customer a cluster of rows describes. `key`: the smallest identity as "type:value" (a legacy_id
    when there is one, as those sort first), stable across re-runs and row orders."""

    key: str
    rows: list[CustomerRow]  # ranked: the first row's values win
    identities: list[Identity]  # every phone, unionid and legacy_id, sorted
    name: str
    phone: str | None
    unionid: str | None
    gender: Gender
    birthday: date | None
    region: str | None
    city: str | None
    store: str | None
    tags: list[str]  # union, in rank order
    first_seen: date | None
    note: str | None
    history: dict[str, list[str]] = Field(default_factory=dict)  # field → every distinct value, when >1

    @property
    def external_ids(self) -> list[str]:
        return [i.value for i in self.identities if i.type == "legacy_id"]

    @property
    def extra_phones(self) -> list[str]:
        return [i.value for i in self.identities if i.type == "phone" and i.value != self.phone]

    @property
    def unionid_conflict(self) -> bool:
        """Rows with different unionids were merged (they shared a phone or an external id): review."""
        return sum(1 for i in self.identities if i.type == "unionid") > 1

    @property
    def warnings(self) -> list[ImportIssue]:
        return [w for r in self.rows for w in r.warnings]

    def to_draft(self) -> CustomerDraft:
        """The person as a CustomerDraft. It carries one phone (`extra_phones` are the importer's to add);
        city, note, first_seen and the non-phone `history` go to attributes."""
        attributes: dict[str, Any] = {
            k: v
            for k, v in {
                "city": self.city,
                "note": self.note,
                "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            }.items()
            if v is not None
        }
        history = {k: v for k, v in self.history.items() if k != "phone"}
        if history:
            attributes["import_history"] = history
        return CustomerDraft(
            name=self.name,
            phone=self.phone,
            gender=self.gender,
            birthday=self.birthday,
            region=self.region,
            store=self.store,
            attributes=attributes,
            identities=[IdentityIn(type=i.type, value=i.value) for i in self.identities if i.type != "phone"],
            tags=self.tags,
        )


def cluster_people(rows: Iterable[CustomerRow]) -> list[PersonRecord]:
    """Union-find over shared identities (phone, unionid, external id), transitive. Sorted by key; the same
    rows in any order give the same people."""
    members = list(rows)
    parent = list(range(len(members)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, row in enumerate(members):
        for identity in row.identities():
            j = owner.setdefault(identity.key, i)
            if j != i:
                a, b = find(i), find(j)
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[CustomerRow]] = {}
    for i, row in enumerate(members):
        groups.setdefault(find(i), []).append(row)
    return sorted((_person(group) for group in groups.values()), key=lambda p: p.key)


def _rank(row: CustomerRow) -> tuple[Any, ...]:
    filled = sum(getattr(row, f) not in (None, Gender.UNKNOWN) for f in _SCALARS) + bool(row.tags)
    weak_name = row.name is None or is_salutation(row.name)
    content = row.model_dump_json(exclude={"row", "warnings"})  # last resort: never the file order
    return (
        row.first_seen is None,
        row.first_seen or date.min,
        weak_name,
        -filled,
        row.external_id or "",
        content,
    )


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _person(group: list[CustomerRow]) -> PersonRecord:
    ranked = sorted(group, key=_rank) if len(group) > 1 else group
    chosen: dict[str, Any] = {}
    history: dict[str, list[str]] = {}
    for field in _SCALARS:
        values = [v for v in (getattr(r, field) for r in ranked) if v not in (None, Gender.UNKNOWN)]
        distinct = list(dict.fromkeys(values))
        chosen[field] = distinct[0] if distinct else None
        if len(distinct) > 1:
            history[field] = [_plain(v) for v in distinct]
    names = history.get("name") or ([chosen["name"]] if chosen["name"] else [])
    real = [n for n in names if not is_salutation(n)]
    identities = {i.key: i for r in ranked for i in r.identities()}
    ordered = sorted(identities.values(), key=lambda i: (_IDENTITY_ORDER.get(i.type, 9), i.type, i.value))
    return PersonRecord(
        key=min(f"{i.type}:{i.value}" for i in ordered),
        rows=ranked,
        identities=ordered,
        name=(real or names or [NAME_PLACEHOLDER])[0],
        phone=chosen["phone"],
        unionid=chosen["unionid"],
        gender=chosen["gender"] or Gender.UNKNOWN,
        birthday=chosen["birthday"],
        region=chosen["region"],
        city=chosen["city"],
        store=chosen["store"],
        tags=list(dict.fromkeys(t for r in ranked for t in r.tags)),
        first_seen=min((r.first_seen for r in ranked if r.first_seen), default=None),
        note=chosen["note"],
        history=history,
    )


def index_people(people: Iterable[PersonRecord]) -> dict[tuple[str, str], str]:
    """(identity type, value) → person key, for linking orders."""
    return {i.key: p.key for p in people for i in p.identities}


# -- orders ------------------------------------------------------------------------------------------
_STATUS_ALIASES: dict[str, OrderStatus] = {
    **{s.value: s for s in OrderStatus},
    "canceled": OrderStatus.CLOSED,
    "cancelled": OrderStatus.CLOSED,
    "finished": OrderStatus.COMPLETED,
    "success": OrderStatus.COMPLETED,
    "待付款": OrderStatus.CREATED,
    "已付款": OrderStatus.PAID,
    "待发货": OrderStatus.PAID,
    "已发货": OrderStatus.SHIPPED,
    "已完成": OrderStatus.COMPLETED,
    "交易成功": OrderStatus.COMPLETED,
    "退款中": OrderStatus.REFUND_REQUESTED,
    "已退款": OrderStatus.REFUNDED,
    "已关闭": OrderStatus.CLOSED,
    "交易关闭": OrderStatus.CLOSED,
    "已取消": OrderStatus.CLOSED,
}
# statuses an order reaches only once paid: without paid_at, such a record is warned about
_PAID_STATUSES = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
        OrderStatus.REFUND_REQUESTED,
        OrderStatus.REFUNDED,
    }
)
_PLATFORM = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def parse_status(value: str) -> OrderStatus:
    """Our statuses and the usual export spellings (已完成, 交易关闭, cancelled…). ValueError otherwise."""
    try:
        return _STATUS_ALIASES[value.strip().lower()]
    except KeyError:
        known = ", ".join(s.value for s in OrderStatus)
        raise ValueError(f"'{value}' is not an order status ({known})") from None


def parse_timestamp(value: str) -> tuple[datetime, bool]:
    """ISO 8601 (`T` or space, `/` dates too) → (aware datetime, was_naive). A naive time is China time."""
    text = value.strip().replace("/", "-")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{value}' is not a timestamp (YYYY-MM-DDTHH:MM:SS+08:00)") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=CHINA_TZ), True
    return parsed, False


class OrderRow(BaseModel):
    """An order from an orders export: one item per record of the order (`rows`, in file order)."""

    model_config = ConfigDict(extra="forbid")

    rows: list[int]
    platform: str
    order_id: str
    buyer_phone: str | None  # E.164
    buyer_unionid: str | None
    buyer_nick: str | None  # an attribute, not an identity: nicks are neither unique nor stable
    items: list[OrderItem]
    total_amount: Money
    status: OrderStatus
    paid_at: datetime | None
    store: str | None
    warnings: list[ImportIssue] = Field(default_factory=list)

    @property
    def row(self) -> int:
        return self.rows[0]

    @property
    def linkable(self) -> bool:
        return bool(self.buyer_phone or self.buyer_unionid)

    @property
    def dedupe_key(self) -> str:
        return f"import:{self.platform}:{self.order_id}:{self.status.value}"

    def buyer(self) -> list[Identity]:
        pairs = (("phone", self.buyer_phone), ("unionid", self.buyer_unionid))
        return [Identity(type=t, value=v) for t, v in pairs if v]

    def to_order_event(self, *, undated: datetime = UNDATED) -> OrderEvent:
        """The order as an OrderEvent. The export has one timestamp, so `occurred_at` is `paid_at` whatever
        the status (else `undated`); `dedupe_key` makes a re-import a no-op."""
        extra = {k: v for k, v in {"store": self.store, "buyer_nick": self.buyer_nick}.items() if v}
        return OrderEvent(
            platform=self.platform,
            shop_id=self.store or "legacy",
            order_id=self.order_id,
            status=self.status,
            dedupe_key=self.dedupe_key,
            buyer=self.buyer(),
            items=self.items,
            total_amount=self.total_amount,
            paid_at=self.paid_at,
            occurred_at=self.paid_at or undated,
            raw_type=RAW_TYPE,
            extra={**extra, "source": RAW_TYPE},
        )


class _Line(BaseModel):
    """One parsed order record, before records of the same order are combined."""

    row: int
    raw: dict[str, str]
    platform: str
    order_id: str
    buyer_phone: str | None
    buyer_unionid: str | None
    buyer_nick: str | None
    item: OrderItem
    total_amount: Decimal | None
    status: OrderStatus
    paid_at: datetime | None
    store: str | None
    warnings: list[ImportIssue]


def parse_orders(lines: Iterable[str]) -> Iterator[OrderRow | ImportIssue]:
    """One OrderRow per order (records sharing platform and order_id combined) or one ImportIssue per rejected
    record, in the order of each one's first record. Reads the whole input before yielding."""
    out: list[tuple[int, OrderRow | ImportIssue]] = []
    orders: dict[tuple[str, str], list[_Line | ImportIssue]] = {}
    for record in _records(lines, ORDERS):
        if isinstance(record, ImportIssue):
            out.append((record.row, record))
            continue
        number, raw = record
        platform, order_id = raw["platform"].strip().lower(), raw["order_id"].strip()
        key_error = _order_key_error(platform, order_id)
        if key_error:
            out.append(
                (
                    number,
                    ImportIssue(
                        row=number, field=key_error[0], reason=key_error[1], raw=raw, code="no_order_key"
                    ),
                )
            )
            continue
        orders.setdefault((platform, order_id), []).append(_line(number, raw, platform, order_id))
    for parts in orders.values():
        first = min(p.row for p in parts)
        out.extend((first, result) for result in _combine(parts))
    out.sort(key=lambda pair: pair[0])
    for _, result in out:
        yield result


def _order_key_error(platform: str, order_id: str) -> tuple[str, str] | None:
    if not _PLATFORM.match(platform):
        return "platform", f"platform '{platform}' is not a platform name (lowercase letters, digits, _)"
    if not order_id:
        return "order_id", "no order id"
    if len(order_id) > MAX_IDENTITY_VALUE or re.search(r"\s", order_id):
        return "order_id", f"order id '{order_id[:40]}' is not an id"
    return None


def _amount(raw: dict[str, str], field: str) -> Decimal:
    try:
        # The API's money format (exact to the fen, no exponent); spaces around a CSV cell are not content.
        value = parse_money(raw.get(field, "").strip())
    except ValueError as e:
        raise ValueError(f"{field}: {e}") from None
    if value < 0:
        raise ValueError(f"{field} '{raw[field]}' is negative")
    return value


def _quantity(text: str) -> int:
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        raise ValueError(f"quantity '{text}' is not a whole number") from None
    if not value.is_finite() or value != value.to_integral_value() or not 0 <= value <= MAX_QUANTITY:
        raise ValueError(f"quantity '{text}' is not a whole number from 0 to {MAX_QUANTITY}")
    return int(value)


def _line(number: int, raw: dict[str, str], platform: str, order_id: str) -> _Line | ImportIssue:
    warn = _Warnings(number, raw)
    try:
        status = parse_status(raw["status"])
    except ValueError as e:
        return warn.issue("status", "invalid_status", str(e))
    field = "sku"
    try:
        sku, name = raw["sku"].strip(), raw["item_name"].strip()
        if not sku and not name:
            raise ValueError("no sku and no item name")
        field = "quantity"
        quantity = _quantity(raw["quantity"])
        field = "unit_price"
        unit_price = _amount(raw, "unit_price")
        field = "total_amount"
        total = _amount(raw, "total_amount") if raw["total_amount"].strip() else None
    except ValueError as e:
        return warn.issue(field, f"invalid_{field}", str(e))
    phone, phone_error = _phone_field(raw, "buyer_phone")
    unionid, unionid_error = _identifier(raw, "buyer_unionid")
    for f, error in (("buyer_phone", phone_error), ("buyer_unionid", unionid_error)):
        if error:
            warn.add(f, f"invalid_{f}", f"{error}: ignored")
    return _Line(
        row=number,
        raw=raw,
        platform=platform,
        order_id=order_id,
        buyer_phone=phone,
        buyer_unionid=unionid,
        buyer_nick=_text(raw["buyer_nick"]),
        item=OrderItem(sku=sku or name, name=name or sku, quantity=quantity, unit_price=unit_price),
        total_amount=total,
        status=status,
        paid_at=_paid_at(raw, status, warn),
        store=_text(raw["store"]),
        warnings=warn.issues,
    )


def _paid_at(raw: dict[str, str], status: OrderStatus, warn: _Warnings) -> datetime | None:
    text = raw["paid_at"].strip()
    if not text:
        if status in _PAID_STATUSES:
            warn.add(
                "paid_at", "no_paid_at", f"a {status.value} order without paid_at: dated {UNDATED.date()}"
            )
        return None
    try:
        paid_at, naive = parse_timestamp(text)
    except ValueError as e:
        warn.add("paid_at", "invalid_paid_at", f"{e}: imported without it")
        return None
    if naive:
        warn.add(
            "paid_at", "naive_paid_at", f"paid_at '{text}' has no time zone: read as China time (+08:00)"
        )
    return paid_at


def _combine(parts: list[_Line | ImportIssue]) -> list[OrderRow | ImportIssue]:
    """The records of one order as one OrderRow, or their issues if any record was rejected."""
    rejected = [p for p in parts if isinstance(p, ImportIssue)]
    lines = [p for p in parts if isinstance(p, _Line)]
    if rejected:
        bad = ", ".join(str(r.row) for r in rejected)
        reason = f"another record of this order (row {bad}) was rejected: the whole order is"
        followers = [
            ImportIssue(row=p.row, field=None, reason=reason, raw=p.raw, code="order_incomplete")
            for p in lines
        ]
        return sorted([*rejected, *followers], key=lambda i: i.row)
    lines.sort(key=lambda line: line.row)
    warnings = [w for line in lines for w in line.warnings]
    unique: list[_Line] = []
    for line in lines:
        twin = next((u for u in unique if u.raw == line.raw), None)
        if twin is not None:
            reason = f"the same record as row {twin.row}: dropped"
            warnings.append(
                ImportIssue(row=line.row, field=None, reason=reason, raw=line.raw, code="duplicate_row")
            )
        else:
            unique.append(line)
    first = unique[0]
    fields: dict[str, Any] = {
        "buyer_phone": _agreed(unique, "buyer_phone", warnings),
        "buyer_unionid": _agreed(unique, "buyer_unionid", warnings),
        "buyer_nick": _agreed(unique, "buyer_nick", warnings),
        "store": _agreed(unique, "store", warnings),
        "total_amount": _order_total(unique, warnings),
        "status": max((line.status for line in unique), key=lambda s: STATUS_RANK[s]),
    }
    if len({line.status for line in unique}) > 1:
        reason = f"records disagree on status: kept the furthest, {fields['status'].value}"
        _conflict(warnings, first, "status", reason)
    if not (fields["buyer_phone"] or fields["buyer_unionid"]):
        reason = "no buyer identity: not linked (no valid buyer phone or unionid)"
        warnings.append(
            ImportIssue(row=first.row, field="buyer_phone", reason=reason, raw=first.raw, code="no_buyer")
        )
    order = OrderRow(
        rows=[line.row for line in unique],
        platform=first.platform,
        order_id=first.order_id,
        items=[line.item for line in unique],
        paid_at=min((line.paid_at for line in unique if line.paid_at), default=None),
        warnings=warnings,
        **fields,
    )
    return [order]


def _conflict(warnings: list[ImportIssue], line: _Line, field: str, reason: str) -> None:
    warnings.append(ImportIssue(row=line.row, field=field, reason=reason, raw=line.raw, code="conflict"))


def _agreed(lines: list[_Line], field: str, warnings: list[ImportIssue]) -> Any:
    """An order-level value: the first record's (else the first present), with a warning if records differ."""
    values = list(dict.fromkeys(v for v in (getattr(line, field) for line in lines) if v is not None))
    if len(values) > 1:
        _conflict(warnings, lines[0], field, f"records of the order disagree on {field}: kept the first")
    return values[0] if values else None


def _order_total(lines: list[_Line], warnings: list[ImportIssue]) -> Decimal:
    """Per record, total_amount is the line total when it equals quantity × unit price; an order total
    repeated on every record counts once. A total that is neither is kept (discounts, shipping) with a
    warning; a missing one is computed."""
    computed = [line.item.unit_price * line.item.quantity for line in lines]
    given = [line.total_amount for line in lines]
    if all(g is None for g in given):
        return sum(computed, Decimal(0))
    if len(lines) > 1 and len(set(given)) == 1 and given[0] == sum(computed, Decimal(0)):
        return given[0]
    total = sum((g if g is not None else c for g, c in zip(given, computed, strict=True)), Decimal(0))
    if total != sum(computed, Decimal(0)):
        reason = f"total_amount {total} differs from quantity × unit price {sum(computed, Decimal(0))}: kept"
        warnings.append(
            ImportIssue(
                row=lines[0].row, field="total_amount", reason=reason, raw=lines[0].raw, code="total_mismatch"
            )
        )
    return total


def link_order(order: OrderRow, people: dict[tuple[str, str], str]) -> str | None:
    """The key of the order's person (`people` from `index_people`): by phone first, else unionid."""
    for identity in order.buyer():
        key = people.get(identity.key)
        if key is not None:
            return key
    return None


# -- report ------------------------------------------------------------------------------------------
class ImportSummary(BaseModel):
    accepted: int  # CustomerRow / OrderRow results (an order of several records counts once)
    rejected: dict[str, int]  # issue code → rejected records
    warnings: dict[str, int]  # issue code → warnings on accepted rows


def summarize(results: Iterable[CustomerRow | OrderRow | ImportIssue]) -> ImportSummary:
    accepted = 0
    rejected: dict[str, int] = {}
    warnings: dict[str, int] = {}
    for result in results:
        if isinstance(result, ImportIssue):
            rejected[result.code] = rejected.get(result.code, 0) + 1
            continue
        accepted += 1
        for warning in result.warnings:
            warnings[warning.code] = warnings.get(warning.code, 0) + 1
    return ImportSummary(
        accepted=accepted, rejected=dict(sorted(rejected.items())), warnings=dict(sorted(warnings.items()))
    )
