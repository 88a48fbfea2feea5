"""Ticket templates (工单预制项目库): what a work-order ticket of each type asks for. Pure: no I/O, no clock.

- A `TicketTemplate` lists typed `FieldSpec`s. `validate_fields` checks a ticket's values against it and
  returns them normalised and JSON-safe (money as "12.50" strings, dates as ISO strings, phones as E.164),
  reporting every problem at once so a form can highlight all of them in one round trip.
- `preset_templates()` is the library a new tenant starts with; tenants copy and edit them (bumping
  `version`).
- `detect_urgency` / `effective_priority` escalate a ticket whose text mentions danger (漏水, 冒烟, 燃气, …).
- `guess_template` picks a template from a customer's message. It is a hint only: an agent can change the
  template during triage.

Blank values (None, "", whitespace, []) mean "no value": omitted from the result of a full validation (the
field's `default` is used when it has one), None in a partial one (the caller clears the field), and an error
for a required field in both.
"""

from __future__ import annotations

import copy
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.imports import parse_date
from chalicelib.domain.money import parse_money
from chalicelib.domain.phones import normalize_phone


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK: dict[Priority, int] = {
    Priority.LOW: 0,
    Priority.NORMAL: 1,
    Priority.HIGH: 2,
    Priority.URGENT: 3,
}


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    ENUM = "enum"
    DATE = "date"
    PHOTO = "photo"
    PARTS = "parts"  # a list of parts lines: {sku, name, quantity, unit_price}
    BOOL = "bool"
    PHONE = "phone"


# The categories of the preset library; a tenant may define others (any slug).
BUILTIN_TYPES: tuple[str, ...] = (
    "repair",
    "installation",
    "return_exchange",
    "complaint",
    "maintenance_booking",
    "course_booking",
)

DEFAULT_MAX_LENGTH = 2000
MAX_TEXT_LENGTH = 10_000
DEFAULT_MAX_ITEMS: dict[FieldType, int] = {FieldType.PHOTO: 9, FieldType.PARTS: 50}
MAX_ITEMS = 100
MAX_FIELDS = 60
MAX_QUANTITY = 9999
MAX_URL_LENGTH = 2048
MAX_CAPTION_LENGTH = 200
MAX_TITLE_LENGTH = 120
# Numbers beyond this are typos (or abuse), not mileages or ages; keeps the JSON small and exact.
NUMBER_LIMIT = Decimal(10) ** 15
MAX_NUMBER_PLACES = 6
_NUMBER_QUANTUM = Decimal(1).scaleb(-MAX_NUMBER_PLACES)

_SLUG = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Object-store keys of uploaded files, e.g. "t_1/tickets/abc.jpg": no "..", no absolute paths.
_UPLOAD_KEY = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_\-./]{0,511}")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(f"'{value}' is not a slug (lowercase letters, digits and _, starting with a letter)")
    return value


Slug = Annotated[str, AfterValidator(_slug)]


class FieldSpec(BaseModel):
    """One field of a ticket template. Type-specific settings are refused on other types (a `min` on a text
    field is a mistake in the template, not something to ignore silently)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: Slug
    label: str = Field(min_length=1, max_length=50)
    type: FieldType
    required: bool = False
    help: str | None = Field(default=None, max_length=500)
    options: list[str] = Field(default_factory=list, max_length=100)  # enum only, non-empty there
    min: Decimal | None = None  # number / money
    max: Decimal | None = None
    integer: bool = False  # number only: refuse fractions (ages, mileages)
    max_length: int = Field(default=DEFAULT_MAX_LENGTH, ge=1, le=MAX_TEXT_LENGTH)  # text only
    max_items: int | None = Field(default=None, ge=1, le=MAX_ITEMS)  # photo / parts; None → DEFAULT_MAX_ITEMS
    default: Any | None = None  # validated like a value and stored normalised

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        problems = _spec_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        if not _is_blank(self.default):
            errors: _Errors = []
            self.default = _convert(self, self.default, "default", errors)
            if errors:
                raise ValueError(f"default: {errors[0]['message']}")
        else:
            self.default = None
        return self

    @property
    def item_limit(self) -> int:
        return self.max_items or DEFAULT_MAX_ITEMS.get(self.type, MAX_ITEMS)


def _spec_problems(spec: FieldSpec) -> list[str]:
    problems: list[str] = []
    if spec.type is FieldType.ENUM:
        if not spec.options or any(not o for o in spec.options):
            problems.append("an enum field needs non-empty options")
        if len(set(spec.options)) != len(spec.options):
            problems.append("enum options must be unique")
    elif spec.options:
        problems.append("options are for enum fields only")
    if (spec.min is not None or spec.max is not None) and spec.type not in (
        FieldType.NUMBER,
        FieldType.MONEY,
    ):
        problems.append("min / max are for number and money fields only")
    if spec.min is not None and spec.max is not None and spec.min > spec.max:
        problems.append("min is greater than max")
    if spec.integer and spec.type is not FieldType.NUMBER:
        problems.append("integer is for number fields only")
    if spec.max_length != DEFAULT_MAX_LENGTH and spec.type is not FieldType.TEXT:  # the default round-trips
        problems.append("max_length is for text fields only")
    if spec.max_items is not None and spec.type not in (FieldType.PHOTO, FieldType.PARTS):
        problems.append("max_items is for photo and parts fields only")
    return problems


class SkillRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skill: Slug
    min_level: int = Field(default=1, ge=1, le=5)


class TicketTemplate(BaseModel):
    """A kind of ticket a tenant handles: its fields, default priority, SLA policy, workflow and routing."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Slug
    type: Slug  # category: one of BUILTIN_TYPES or tenant-defined
    name: str = Field(min_length=1, max_length=50)
    description: str = Field(default="", max_length=500)
    fields: list[FieldSpec] = Field(default_factory=list, max_length=MAX_FIELDS)
    default_priority: Priority = Priority.NORMAL
    sla_policy_id: Slug | None = None
    required_skills: list[SkillRequirement] = Field(default_factory=list)
    workflow_id: Slug
    routing: dict[str, Any] = Field(default_factory=dict)  # e.g. {"departments": ["warehouse", "finance"]}
    keywords: list[str] = Field(default_factory=list, max_length=50)  # extra hints for guess_template
    title_template: str | None = Field(default=None, max_length=200)  # e.g. "{product}维修"
    # In a PUT, the version the editor read: 0 for a new template. Stored versions start at 1.
    version: int = Field(
        default=1, ge=0, description="the version read when editing; 0 for a new template (stored: 1 and up)"
    )
    active: bool = True

    @field_validator("routing")
    @classmethod
    def _routing(cls, value: dict[str, Any]) -> dict[str, Any]:
        departments = value.get("departments")
        if departments is not None and (
            not isinstance(departments, list)
            or not all(isinstance(d, str) and _SLUG.fullmatch(d) for d in departments)
        ):
            raise ValueError("routing.departments must be a list of department slugs")
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        return [k for k in value if k]

    @model_validator(mode="after")
    def _consistent(self) -> TicketTemplate:
        keys = [f.key for f in self.fields]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate field keys: {', '.join(duplicates)}")
        skills = [s.skill for s in self.required_skills]
        if len(set(skills)) != len(skills):
            raise ValueError("a skill is required at most once")
        if self.title_template is not None:
            _check_title_template(self.title_template, set(keys))
        return self

    def field(self, key: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.key == key), None)


def _check_title_template(title_template: str, keys: set[str]) -> None:
    try:
        parsed = list(string.Formatter().parse(title_template))
    except ValueError as e:
        raise ValueError(f"title_template: {e}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in keys:
            raise ValueError(f"title_template: '{{{name}}}' is not a field key")
        if spec or conversion:
            raise ValueError(f"title_template: '{{{name}}}' takes no format spec or conversion")


# ---------------------------------------------------------------------------------------------------------
# Values


_Errors = list[dict[str, str]]


def validate_fields(
    template: TicketTemplate, values: dict[str, Any], *, partial: bool = False
) -> dict[str, Any]:
    """A ticket's field values, checked against its template, normalised and JSON-safe.

    `partial` validates an update: only the keys given are checked, defaults are not applied, and a blank
    value becomes None (clear the field). Raises InvalidInputError listing every problem, each detail naming
    its field as "fields.<key>" (or "fields.<key>.<index>.<attribute>" inside photo and parts lists)."""
    if not isinstance(values, Mapping):
        raise InvalidInputError(
            "ticket fields must be an object", details=[{"field": "fields", "message": "must be an object"}]
        )
    errors: _Errors = []
    result: dict[str, Any] = {}
    for spec in template.fields:
        path = f"fields.{spec.key}"
        given = spec.key in values
        if given and not _is_blank(values[spec.key]):
            result[spec.key] = _convert(spec, values[spec.key], path, errors)
        elif partial:
            if given and spec.required:
                errors.append({"field": path, "message": "required: it cannot be cleared"})
            elif given:
                result[spec.key] = None
        elif spec.default is not None:
            result[spec.key] = copy.deepcopy(spec.default)
        elif spec.required:
            errors.append({"field": path, "message": "required"})
    known = {f.key for f in template.fields}
    errors.extend(
        {"field": f"fields.{str(k)[:100]}", "message": "unknown field"} for k in values if k not in known
    )
    if errors:
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        raise InvalidInputError(f"invalid ticket fields: {fields}", details=errors)
    return result


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


def _convert(spec: FieldSpec, value: Any, path: str, errors: _Errors) -> Any:
    """The normalised value; None after appending the problems to `errors`."""
    if spec.type is FieldType.PHOTO:
        return _list(spec, value, path, errors, _photo, "photos")
    if spec.type is FieldType.PARTS:
        return _list(spec, value, path, errors, _part, "parts lines")
    try:
        return _SCALARS[spec.type](spec, value)
    except ValueError as e:
        errors.append({"field": path, "message": str(e)})
        return None


def _text(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an order number sent as a JSON number
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if len(text) > spec.max_length:
        raise ValueError(f"must be at most {spec.max_length} characters")
    return text


def _check_range(spec: FieldSpec, value: Decimal, show: Callable[[Decimal], str]) -> None:
    if spec.min is not None and value < spec.min:
        raise ValueError(f"must be at least {show(spec.min)}")
    if spec.max is not None and value > spec.max:
        raise ValueError(f"must be at most {show(spec.max)}")


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _number(spec: FieldSpec, value: Any) -> int | str:
    """An int when whole, else the decimal as a string ("12.5"): exact in JSON, unlike a float."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str) or len(str(value)) > 64:
        raise ValueError("must be a number")
    try:
        # A float is fine for a measurement (not for money): its shortest repr is the number the sender meant.
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a number") from None
    if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
        raise ValueError(f"'{value}' is not a number in range")
    whole = number == number.to_integral_value()
    if spec.integer and not whole:
        raise ValueError("must be a whole number")
    if not whole and number != number.quantize(_NUMBER_QUANTUM):
        raise ValueError(f"must have at most {MAX_NUMBER_PLACES} decimal places")
    _check_range(spec, number, _plain)
    return int(number) if whole else _plain(number)


def _money(spec: FieldSpec, value: Any) -> str:
    amount = parse_money(value)  # the API's one money format: a decimal string, exact to the fen
    _check_range(spec, amount, lambda d: f"{d:.2f}")
    return f"{amount:.2f}"


def _enum(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str) or value.strip() not in spec.options:
        raise ValueError(f"must be one of: {', '.join(spec.options)}")
    return value.strip()


def _date(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, datetime):  # a moment, not a day: which day depends on the time zone
        raise ValueError("must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError("must be a date (YYYY-MM-DD)")
    return parse_date(value).isoformat()


_TRUE = frozenset({"true", "yes", "y", "1", "是", "有"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "无"})


def _bool(spec: FieldSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().casefold() if isinstance(value, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be true or false")


def _phone(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a phone number as text")
    try:
        return normalize_phone(value)
    except InvalidInputError as e:
        raise ValueError(e.message) from None


_SCALARS: dict[FieldType, Callable[[FieldSpec, Any], Any]] = {
    FieldType.TEXT: _text,
    FieldType.NUMBER: _number,
    FieldType.MONEY: _money,
    FieldType.ENUM: _enum,
    FieldType.DATE: _date,
    FieldType.BOOL: _bool,
    FieldType.PHONE: _phone,
}

_Item = Callable[[Any, str, _Errors], dict[str, Any] | None]


def _list(spec: FieldSpec, value: Any, path: str, errors: _Errors, item: _Item, what: str) -> Any:
    if not isinstance(value, list | tuple):
        errors.append({"field": path, "message": f"must be a list of {what}"})
        return None
    if len(value) > spec.item_limit:
        errors.append({"field": path, "message": f"at most {spec.item_limit} {what}"})
        return None
    before = len(errors)
    items = [item(v, f"{path}.{i}", errors) for i, v in enumerate(value)]
    return items if len(errors) == before else None


def _attributes(value: Any, allowed: Sequence[str], path: str, errors: _Errors) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        errors.append({"field": path, "message": f"must be an object with {', '.join(allowed)}"})
        return None
    errors.extend(
        {"field": f"{path}.{str(k)[:100]}", "message": "unknown attribute"} for k in value if k not in allowed
    )
    return dict(value)


def _attribute(
    obj: dict[str, Any],
    name: str,
    path: str,
    errors: _Errors,
    convert: Callable[[Any], Any],
    *,
    required: bool,
) -> Any:
    value = obj.get(name)
    if _is_blank(value):
        if required:
            errors.append({"field": f"{path}.{name}", "message": "required"})
        return None
    try:
        return convert(value)
    except ValueError as e:
        errors.append({"field": f"{path}.{name}", "message": str(e)})
        return None


def _short_text(limit: int) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError("must be text")
        if len(value.strip()) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value.strip()

    return convert


def _https_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an https:// URL")
    url = value.strip()
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"must be an https:// URL of at most {MAX_URL_LENGTH} characters, without spaces")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ValueError("must be an https:// URL") from None
    if parts.scheme != "https" or not host:
        raise ValueError("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    return url


def _upload_key(value: Any) -> str:
    key = value.strip() if isinstance(value, str) else ""
    if not _UPLOAD_KEY.fullmatch(key) or ".." in key.split("/") or "//" in key:
        raise ValueError("must be an upload key such as 't_1/tickets/abc.jpg'")
    return key


def _photo(value: Any, path: str, errors: _Errors) -> dict[str, Any] | None:
    if isinstance(value, str):  # shorthand: a bare URL or upload key
        value = {"url": value} if "://" in value else {"key": value}
    photo = _attributes(value, ("url", "key", "caption"), path, errors)
    if photo is None:
        return None
    has_url, has_key = not _is_blank(photo.get("url")), not _is_blank(photo.get("key"))
    if has_url == has_key:
        errors.append({"field": path, "message": "a photo has exactly one of url (https) or key (an upload)"})
        return None
    result: dict[str, Any] = {}
    if has_url:
        result["url"] = _attribute(photo, "url", path, errors, _https_url, required=True)
    else:
        result["key"] = _attribute(photo, "key", path, errors, _upload_key, required=True)
    caption = _attribute(photo, "caption", path, errors, _short_text(MAX_CAPTION_LENGTH), required=False)
    if caption is not None:
        result["caption"] = caption
    return result


def _quantity(value: Any) -> int:
    text = unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # "３" (full-width) is 3; "²" is not a quantity
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if not 1 <= value <= MAX_QUANTITY:
        raise ValueError(f"must be between 1 and {MAX_QUANTITY}")
    return value


def _unit_price(value: Any) -> str:
    amount = parse_money(value)
    if amount < 0:
        raise ValueError("must not be negative")
    return f"{amount:.2f}"


def _part(value: Any, path: str, errors: _Errors) -> dict[str, Any] | None:
    line = _attributes(value, ("sku", "name", "quantity", "unit_price"), path, errors)
    if line is None:
        return None
    return {
        "sku": _attribute(line, "sku", path, errors, _short_text(64), required=True),
        "name": _attribute(line, "name", path, errors, _short_text(200), required=True),
        "quantity": _attribute(line, "quantity", path, errors, _quantity, required=True),
        "unit_price": _attribute(line, "unit_price", path, errors, _unit_price, required=False),
    }


# ---------------------------------------------------------------------------------------------------------
# Titles


def render_title(template: TicketTemplate, values: Mapping[str, Any]) -> str:
    """The ticket's title from `template.title_template`, e.g. "{product}维修" → "空调维修".

    Never calls str.format: placeholders are looked up as plain keys (no attribute or index access, format
    specs ignored), a missing or non-scalar value renders as "", and a blank result falls back to the name."""
    if not template.title_template:
        return template.name
    try:
        parsed = list(string.Formatter().parse(template.title_template))
    except ValueError:
        return template.name
    parts: list[str] = []
    for literal, name, _, _ in parsed:
        parts.append(literal)
        if name is not None and _SLUG.fullmatch(name):
            parts.append(_title_value(values.get(name)))
    title = " ".join("".join(parts).split())
    if len(title) > MAX_TITLE_LENGTH:
        title = title[: MAX_TITLE_LENGTH - 1] + "…"
    return title or template.name


def _title_value(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str | int | float | Decimal):
        return str(value)
    return ""


# ---------------------------------------------------------------------------------------------------------
# Urgency

# Words in a customer's message that mean someone may get hurt or something is being damaged right now (a
# leak, smoke, fire, electricity, gas, an injury), plus 投诉 (a complaint escalates by policy). A match raises
# the ticket to urgent and, with UrgencyRule.skip_triage, sends it straight to dispatch. Tenants may edit the
# list (UrgencyRule.keywords).
DEFAULT_URGENCY_KEYWORDS: tuple[str, ...] = (
    "漏水",
    "冒烟",
    "起火",
    "着火",
    "触电",
    "漏电",
    "燃气",
    "煤气",
    "投诉",
    "爆炸",
    "受伤",
)


def _fold(text: str) -> str:
    """NFKC then casefold: full-width "ＡＢＣ１２" and half-width "abc12" compare equal, as do cases."""
    return unicodedata.normalize("NFKC", text).casefold()


def detect_urgency(text: str, keywords: Sequence[str]) -> list[str]:
    """The keywords found in `text` (as given, in keyword order, once each), ignoring case and width."""
    folded = _fold(text)
    found: list[str] = []
    for keyword in keywords:
        needle = _fold(keyword).strip()
        if needle and needle in folded and keyword not in found:
            found.append(keyword)
    return found


class UrgencyRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keywords: list[str] = Field(default_factory=lambda: list(DEFAULT_URGENCY_KEYWORDS), max_length=200)
    priority: Priority = Priority.URGENT
    skip_triage: bool = True  # a leak or a gas smell cannot wait in the triage queue

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(k.strip() for k in value if k.strip()))

    def match(self, text: str) -> list[str]:
        return detect_urgency(text, self.keywords)


def effective_priority(
    template: TicketTemplate,
    requested: Priority | None,
    matched: Sequence[str],
    *,
    escalate_to: Priority = Priority.URGENT,
) -> Priority:
    """The requested priority (else the template's default), raised to `escalate_to` when urgency keywords
    matched. Keywords only ever raise: an explicit priority above `escalate_to` is kept."""
    base = requested or template.default_priority
    if matched and PRIORITY_RANK[escalate_to] > PRIORITY_RANK[base]:
        return escalate_to
    return base


# ---------------------------------------------------------------------------------------------------------
# Guessing a template from a message

# Hints per built-in type, in tie-break order: "课程预约" is a course booking rather than a maintenance
# booking, "空调坏了我要投诉" a complaint, "预约维修" a repair.
TYPE_HINTS: dict[str, tuple[str, ...]] = {
    "complaint": ("投诉", "差评", "举报", "12315", "complaint"),
    "return_exchange": ("退货", "换货", "退款", "退换", "退钱", "七天无理由", "refund"),
    "course_booking": ("课程", "试听", "上课", "报名", "课时"),
    "repair": (
        "维修",
        "修理",
        "报修",
        "坏了",
        "故障",
        "不制冷",
        "不制热",
        "漏水",
        "异响",
        "不启动",
        "repair",
    ),
    "installation": ("安装", "装机", "移机", "install"),
    "maintenance_booking": ("预约", "保养"),
}


def guess_template(text: str, templates: Sequence[TicketTemplate]) -> TicketTemplate | None:
    """The active template whose hints (TYPE_HINTS for its type plus its own `keywords`) occur most in `text`;
    None when none does. Deterministic: ties go by TYPE_HINTS order, then by position in `templates`.

    A hint for whoever opens the ticket, not a decision: an agent can change the template during triage."""
    folded = _fold(text)
    order = {t: i for i, t in enumerate(TYPE_HINTS)}
    best: tuple[int, int, int] | None = None
    chosen: TicketTemplate | None = None
    for position, template in enumerate(templates):
        if not template.active:
            continue
        hints = {_fold(h) for h in (*TYPE_HINTS.get(template.type, ()), *template.keywords)}
        score = sum(1 for h in hints if h and h in folded)
        rank = (score, -order.get(template.type, len(order)), -position)
        if score and (best is None or rank > best):
            best, chosen = rank, template
    return chosen


# ---------------------------------------------------------------------------------------------------------
# The preset library

TIME_SLOTS = ["上午", "下午", "晚上"]
PLATFORMS = ["youzan", "doudian", "shopify", "generic", "taobao", "jd"]


def _contact_phone() -> FieldSpec:
    return FieldSpec(key="contact_phone", label="联系电话", type=FieldType.PHONE, help="与客户档案不同时填写")


def _photos(key: str, label: str) -> FieldSpec:
    return FieldSpec(key=key, label=label, type=FieldType.PHOTO, max_items=9)


def _service_region() -> list[FieldSpec]:
    """Where the service happens: region price rules and depreciation coefficients match on these."""
    return [
        FieldSpec(key="province", label="省份", type=FieldType.TEXT, max_length=20),
        FieldSpec(key="city", label="城市", type=FieldType.TEXT, max_length=20),
    ]


def _notes() -> FieldSpec:
    return FieldSpec(key="notes", label="备注", type=FieldType.TEXT, max_length=1000)


def _repair() -> TicketTemplate:
    return TicketTemplate(
        id="repair",
        type="repair",
        name="设备维修",
        description="家电、设备故障报修：上门检测、维修、更换配件。",
        workflow_id="wf_repair",
        default_priority=Priority.NORMAL,
        sla_policy_id="standard",
        required_skills=[SkillRequirement(skill="appliance_repair", min_level=2)],
        title_template="{product}维修",
        fields=[
            FieldSpec(key="product", label="产品名称", type=FieldType.TEXT, max_length=100),
            FieldSpec(key="model", label="型号", type=FieldType.TEXT, max_length=100),
            FieldSpec(key="serial_number", label="序列号", type=FieldType.TEXT, max_length=64),
            FieldSpec(key="purchase_date", label="购买日期", type=FieldType.DATE),
            FieldSpec(
                key="fault_description",
                label="故障描述",
                type=FieldType.TEXT,
                required=True,
                help="什么时候开始、现象、是否有异响或报错代码",
            ),
            _photos("fault_photos", "故障照片"),
            FieldSpec(key="address", label="上门地址", type=FieldType.TEXT, max_length=500),
            *_service_region(),
            _contact_phone(),
            FieldSpec(
                key="warranty",
                label="保修状态",
                type=FieldType.ENUM,
                options=["保内", "保外", "待确认"],
                default="待确认",
            ),
            FieldSpec(key="parts_used", label="更换配件", type=FieldType.PARTS, max_items=50),
            FieldSpec(
                key="labour_fee", label="人工费", type=FieldType.MONEY, min=Decimal(0), max=Decimal(100_000)
            ),
            _notes(),
        ],
    )


def _installation() -> TicketTemplate:
    return TicketTemplate(
        id="installation",
        type="installation",
        name="安装",
        description="商品送达后的上门安装。",
        workflow_id="wf_install",
        default_priority=Priority.NORMAL,
        sla_policy_id="standard",
        required_skills=[SkillRequirement(skill="installation", min_level=1)],
        title_template="{product}安装",
        fields=[
            FieldSpec(key="product", label="产品名称", type=FieldType.TEXT, max_length=100),
            FieldSpec(key="sku", label="商品编码", type=FieldType.TEXT, max_length=64),
            FieldSpec(key="order_id", label="订单号", type=FieldType.TEXT, max_length=64),
            FieldSpec(
                key="install_address", label="安装地址", type=FieldType.TEXT, required=True, max_length=500
            ),
            *_service_region(),
            FieldSpec(key="preferred_date", label="期望日期", type=FieldType.DATE),
            FieldSpec(key="time_slot", label="时间段", type=FieldType.ENUM, options=TIME_SLOTS),
            _photos("site_photos", "现场照片"),
            FieldSpec(
                key="needs_electrical_check",
                label="需要电路检查",
                type=FieldType.BOOL,
                default=False,
                help="大功率电器（空调、热水器）建议检查",
            ),
            _contact_phone(),
            _notes(),
        ],
    )


def _return_exchange() -> TicketTemplate:
    return TicketTemplate(
        id="return_exchange",
        type="return_exchange",
        name="商品退换",
        description="退货、换货、仅退款：仓库收货验货，财务退款。",
        workflow_id="wf_return",
        default_priority=Priority.NORMAL,
        sla_policy_id="standard",
        routing={"departments": ["warehouse", "finance"]},
        title_template="{request_type} {order_id}",
        fields=[
            FieldSpec(key="order_id", label="订单号", type=FieldType.TEXT, required=True, max_length=64),
            FieldSpec(
                key="platform",
                label="销售平台",
                type=FieldType.ENUM,
                options=PLATFORMS,
                help="有赞 youzan、抖店 doudian、Shopify、淘宝 taobao、京东 jd、其他 generic",
            ),
            FieldSpec(
                key="request_type",
                label="申请类型",
                type=FieldType.ENUM,
                required=True,
                options=["退货", "换货", "仅退款"],
            ),
            FieldSpec(
                key="reason",
                label="退换原因",
                type=FieldType.ENUM,
                required=True,
                options=["质量问题", "发错货", "少件漏发", "与描述不符", "运输损坏", "七天无理由", "其他"],
            ),
            FieldSpec(key="reason_detail", label="原因说明", type=FieldType.TEXT, max_length=1000),
            FieldSpec(
                key="refund_amount",
                label="退款金额",
                type=FieldType.MONEY,
                min=Decimal(0),
                max=Decimal(1_000_000),
            ),
            FieldSpec(key="items", label="退换商品", type=FieldType.PARTS, max_items=50),
            _photos("photos", "凭证照片"),
            FieldSpec(key="return_tracking_no", label="退货快递单号", type=FieldType.TEXT, max_length=64),
            _notes(),
        ],
    )


def _complaint() -> TicketTemplate:
    return TicketTemplate(
        id="complaint",
        type="complaint",
        name="投诉",
        description="客户投诉：核实、处理、补偿与回访。",
        workflow_id="wf_complaint",
        default_priority=Priority.HIGH,
        sla_policy_id="vip",
        title_template="投诉：{subject}",
        fields=[
            FieldSpec(
                key="channel",
                label="投诉渠道",
                type=FieldType.ENUM,
                options=["电话", "微信", "企业微信", "门店", "电商平台", "12315", "社交媒体", "其他"],
            ),
            FieldSpec(key="subject", label="投诉主题", type=FieldType.TEXT, max_length=200),
            FieldSpec(key="details", label="投诉内容", type=FieldType.TEXT, required=True),
            FieldSpec(key="store", label="涉及门店", type=FieldType.TEXT, max_length=100),
            FieldSpec(key="staff_involved", label="涉及人员", type=FieldType.TEXT, max_length=100),
            FieldSpec(key="order_id", label="订单号", type=FieldType.TEXT, max_length=64),
            FieldSpec(key="customer_demand", label="客户诉求", type=FieldType.TEXT, max_length=1000),
            FieldSpec(
                key="compensation",
                label="补偿金额",
                type=FieldType.MONEY,
                min=Decimal(0),
                max=Decimal(100_000),
                help="超过审批阈值需主管审批",
            ),
            _photos("evidence_photos", "凭证照片"),
        ],
    )


def _maintenance_booking() -> TicketTemplate:
    return TicketTemplate(
        id="maintenance_booking",
        type="maintenance_booking",
        name="保养预约",
        description="车辆或设备的定期保养预约。",
        workflow_id="wf_booking",
        default_priority=Priority.NORMAL,
        sla_policy_id="standard",
        title_template="{model}保养预约 {preferred_date}",
        fields=[
            FieldSpec(key="model", label="车型/设备型号", type=FieldType.TEXT, max_length=100),
            FieldSpec(key="plate_or_serial", label="车牌号/序列号", type=FieldType.TEXT, max_length=32),
            FieldSpec(key="preferred_date", label="预约日期", type=FieldType.DATE, required=True),
            FieldSpec(key="time_slot", label="时间段", type=FieldType.ENUM, options=TIME_SLOTS),
            FieldSpec(
                key="mileage",
                label="当前里程（公里）",
                type=FieldType.NUMBER,
                integer=True,
                min=Decimal(0),
                max=Decimal(2_000_000),
            ),
            FieldSpec(key="store", label="门店", type=FieldType.TEXT, max_length=100),
            _contact_phone(),
            _notes(),
        ],
    )


def _course_booking() -> TicketTemplate:
    return TicketTemplate(
        id="course_booking",
        type="course_booking",
        name="课程预约",
        description="课程试听或上课预约。",
        workflow_id="wf_booking",
        default_priority=Priority.NORMAL,
        sla_policy_id="standard",
        title_template="{course_name} {student_name}",
        fields=[
            FieldSpec(
                key="course_name", label="课程名称", type=FieldType.TEXT, required=True, max_length=100
            ),
            FieldSpec(
                key="student_name", label="学员姓名", type=FieldType.TEXT, required=True, max_length=50
            ),
            FieldSpec(
                key="student_age",
                label="学员年龄",
                type=FieldType.NUMBER,
                integer=True,
                min=Decimal(3),
                max=Decimal(80),
            ),
            FieldSpec(key="trial", label="试听课", type=FieldType.BOOL, default=False),
            FieldSpec(key="preferred_date", label="期望日期", type=FieldType.DATE),
            FieldSpec(key="time_slot", label="时间段", type=FieldType.ENUM, options=TIME_SLOTS),
            FieldSpec(key="campus", label="校区", type=FieldType.TEXT, max_length=100),
            _contact_phone(),
            _notes(),
        ],
    )


def preset_templates() -> list[TicketTemplate]:
    """The library a new tenant starts with (fresh objects on each call: callers may edit them)."""
    return [
        _repair(),
        _installation(),
        _return_exchange(),
        _complaint(),
        _maintenance_booking(),
        _course_booking(),
    ]
