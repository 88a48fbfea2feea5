"""Region price strategies (多区域价格策略): effective-dated base prices, stacked modifiers, explained quotes.

Rules and modifiers are data with effective dates (`effective_from` inclusive, `effective_to` exclusive) on
the tenant's local calendar; `quote(..., as_of)` matches them at `as_of`, so a past date reproduces the
quote it would have given. Editing a price means publishing a new version effective later; an issued
`Quote` is frozen and carries snapshots of the rule versions it used, so no edit can change it.

Base price precedence — among the rules for the item in force on the local `as_of` date whose named
dimensions all match the request (an unnamed dimension matches anything), the most specific wins, compared
in this order:
  1. the number of matched dimensions: customer type and region (naming any region field counts once);
  2. the region's level: city > province > tier > any; then how many region fields the rule names;
  3. the later `effective_from` (a newer price supersedes an older one);
  4. the greater rule id, then the greater version — arbitrary but deterministic; `validate_rules` reports
     such ambiguous sets so an editor cannot publish them.

Modifier stacking, per line, in a fixed order of stages: promotions → seasonal → rush → member; inside a
stage exclusive modifiers first, then by id. Each applies to the running line amount and its amount is
rounded ROUND_HALF_UP to the fen at once: every line on the quote is a fen amount the customer can check
(running amount ∓ the shown adjustment = the next shown amount, no hidden fractions carried along).
Further rules:
  - promotions and member discounts reduce the amount, seasonal and rush surcharges raise it;
  - a percentage is of the running amount; a fixed amount is per unit (× quantity);
  - a discount never exceeds the running amount, so a line (and the quote) is never negative;
  - after an `exclusive` modifier no further discounts apply to the line (surcharges still do);
  - a modifier whose amount is 0.00 is not applied (it changes nothing: neither listed nor exclusive);
  - a modifier with a trigger (`requires_rush` and/or a local time `window`, which may cross midnight)
    applies only when the request's rush flag is set or the local service time falls in the window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import combinations
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.money import Money, NonNegativeMoney, to_fen

HUNDRED = Decimal(100)
CityTier = Annotated[int, Field(ge=1, le=5)]


def _parse_percent(value: object) -> Decimal:
    """A decimal string or int percentage ("30" = 30 %); floats are refused, like amounts."""
    if isinstance(value, float):
        raise ValueError('percentages are decimal strings such as "30", not floating-point numbers')
    if not isinstance(value, Decimal | int | str):
        raise ValueError("a percentage must be a decimal string")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a decimal percentage") from None
    if not parsed.is_finite() or parsed < 0:
        raise ValueError(f"'{value}' is not a non-negative percentage")
    return parsed


Percent = Annotated[Decimal, BeforeValidator(_parse_percent)]


def _money(d: Decimal) -> str:
    return f"{d:.2f}"


def _check_dates(effective_from: date, effective_to: date | None) -> None:
    if effective_to is not None and effective_to <= effective_from:
        raise ValueError("effective_to must be after effective_from (it is exclusive)")


def _in_force(effective_from: date, effective_to: date | None, on: date) -> bool:
    return effective_from <= on and (effective_to is None or on < effective_to)


class Region(BaseModel):
    """Where the service happens; a request names what it knows, a rule names what it requires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    province: str | None = None
    city: str | None = None
    tier: CityTier | None = None


class PriceRule(BaseModel):
    """One version of a base price: item × customer type × region, valid on [effective_from, effective_to)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: str = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    item: str = Field(min_length=1)  # sku or labour code
    customer_type: str | None = None
    province: str | None = None
    city: str | None = None
    tier: CityTier | None = None
    price: NonNegativeMoney
    effective_from: date
    effective_to: date | None = None

    @model_validator(mode="after")
    def _valid(self) -> PriceRule:
        _check_dates(self.effective_from, self.effective_to)
        return self

    def in_force(self, on: date) -> bool:
        return _in_force(self.effective_from, self.effective_to, on)

    @property
    def region_level(self) -> int:
        """city 3 > province 2 > tier 1 > any 0 (precedence rule 2)."""
        if self.city is not None:
            return 3
        if self.province is not None:
            return 2
        return 1 if self.tier is not None else 0

    @property
    def dimensions(self) -> tuple[str | None, str | None, str | None, int | None]:
        return (self.customer_type, self.province, self.city, self.tier)

    def specificity(self) -> tuple[int, int, int, date, str, int]:
        """The precedence key of the module docstring; the greatest key wins."""
        named_region = sum(v is not None for v in (self.province, self.city, self.tier))
        matched = (self.customer_type is not None) + (named_region > 0)
        return (matched, self.region_level, named_region, self.effective_from, self.rule_id, self.version)

    def matches(self, item: str, region: Region, customer_types: Sequence[str]) -> bool:
        return (
            self.item == item
            and (self.customer_type is None or self.customer_type in customer_types)
            and (self.province is None or self.province == region.province)
            and (self.city is None or self.city == region.city)
            and (self.tier is None or self.tier == region.tier)
        )

    def label(self, lang: Literal["zh", "en"]) -> str:
        """The rule's named dimensions, e.g. "上海 三甲医院", for a line's explanation."""
        parts: list[str] = []
        if self.province is not None:
            parts.append(self.province)
        if self.city is not None and self.city != self.province:
            parts.append(self.city)
        if self.tier is not None:
            parts.append(f"{self.tier}线城市" if lang == "zh" else f"tier-{self.tier} city")
        if self.customer_type is not None:
            parts.append(self.customer_type)
        return " ".join(parts) or ("通用" if lang == "zh" else "default")


class ModifierKind(StrEnum):
    """The stages, in application order."""

    PROMOTION = "promotion"
    SEASONAL = "seasonal"
    RUSH = "rush"
    MEMBER = "member"


STAGE_ORDER: tuple[ModifierKind, ...] = tuple(ModifierKind)
DISCOUNT_KINDS = frozenset({ModifierKind.PROMOTION, ModifierKind.MEMBER})


class Effect(StrEnum):
    DISCOUNT = "discount"
    SURCHARGE = "surcharge"


class TimeWindow(BaseModel):
    """A local time-of-day window [start, end); start > end crosses midnight (22:00–06:00)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    @model_validator(mode="after")
    def _valid(self) -> TimeWindow:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a window is in local wall-clock time, without a time zone")
        if self.start == self.end:
            raise ValueError("a window's start and end must differ")
        return self

    def contains(self, t: time) -> bool:
        t = t.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


class Modifier(BaseModel):
    """One version of a promotion, seasonal surcharge, rush surcharge or member discount.

    Empty scope tuples mean "any". Scope by line: `items` or `categories` (a line matches if either names it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    modifier_id: str = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    kind: ModifierKind
    name: str = Field(min_length=1)  # shown on the quote, e.g. "三月空调清洗 7 折"
    name_en: str | None = None
    percent: Percent | None = None  # "30" = 30 % of the running amount
    amount: NonNegativeMoney | None = None  # fixed, per unit
    items: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    customer_types: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    tiers: tuple[CityTier, ...] = ()
    requires_rush: bool = False
    window: TimeWindow | None = None
    exclusive: bool = False
    effective_from: date
    effective_to: date | None = None

    @model_validator(mode="after")
    def _valid(self) -> Modifier:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("give exactly one of percent or amount")
        if self.percent is not None and self.effect is Effect.DISCOUNT and self.percent > HUNDRED:
            raise ValueError("a discount cannot exceed 100 %")
        if self.kind is ModifierKind.RUSH and not (self.requires_rush or self.window):
            raise ValueError("a rush surcharge needs requires_rush or a window")
        _check_dates(self.effective_from, self.effective_to)
        return self

    @property
    def effect(self) -> Effect:
        return Effect.DISCOUNT if self.kind in DISCOUNT_KINDS else Effect.SURCHARGE

    def in_force(self, on: date) -> bool:
        return _in_force(self.effective_from, self.effective_to, on)

    def stage_key(self) -> tuple[int, bool, str, int]:
        return (STAGE_ORDER.index(self.kind), not self.exclusive, self.modifier_id, self.version)

    def _in_scope(self, line: QuoteItem) -> bool:
        if not (self.items or self.categories):
            return True
        return line.item in self.items or (line.category is not None and line.category in self.categories)

    def _in_region(self, region: Region) -> bool:
        return (
            (not self.provinces or region.province in self.provinces)
            and (not self.cities or region.city in self.cities)
            and (not self.tiers or region.tier in self.tiers)
        )

    def _triggered(self, rush: bool, local_time: time | None) -> bool:
        if not (self.requires_rush or self.window):
            return True
        by_flag = self.requires_rush and rush
        by_window = self.window is not None and local_time is not None and self.window.contains(local_time)
        return by_flag or by_window

    def trigger_reason(self, rush: bool, local_time: time | None) -> str:
        """Why a triggered modifier applied (a bill line says it): the rush flag or the service time."""
        if self.requires_rush and rush:
            return "the job is a rush job"
        if self.window is not None and local_time is not None and self.window.contains(local_time):
            return f"service at {local_time:%H:%M}, within {self.window.start:%H:%M}–{self.window.end:%H:%M}"
        return ""

    def applies_to(self, line: QuoteItem, request: QuoteRequest, local_time: time | None) -> bool:
        """Whether this (in-force) modifier targets the line; dates are checked by the caller."""
        return (
            self._in_scope(line)
            and (not self.customer_types or any(t in request.customer_types for t in self.customer_types))
            and self._in_region(request.region)
            and self._triggered(request.rush, local_time)
        )


class QuoteItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str = Field(min_length=1)
    quantity: int = Field(default=1, ge=1, le=100_000)
    category: str | None = None  # from the catalogue, for per-category promotions


class QuoteRequest(BaseModel):
    """A ticket's or cart's items, where and for whom; `service_at` is when the work happens (windows)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: tuple[QuoteItem, ...] = Field(min_length=1)
    region: Region = Field(default_factory=Region)
    customer_types: tuple[str, ...] = ()  # e.g. ("三甲医院", "vip")
    rush: bool = False
    service_at: AwareDatetime | None = None
    timezone: str = "Asia/Shanghai"
    reference: str | None = None  # ticket or cart id, for traceability

    @field_validator("customer_types")
    @classmethod
    def _normalise_types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(v)))  # order-free input, one canonical quote

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{v}'") from None
        return v


class AppliedModifier(BaseModel):
    model_config = ConfigDict(frozen=True)

    modifier_id: str
    version: int
    kind: ModifierKind
    effect: Effect
    name: str
    amount: Money  # positive; `effect` gives the sign
    running_total: Money  # the line amount after this step
    reason: str = ""  # a triggered modifier's trigger: the rush flag or the service time in its window


class QuoteLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    item: str
    category: str | None
    quantity: int
    unit_price: Money
    rule_id: str
    rule_version: int
    base_amount: Money  # unit_price × quantity
    adjustments: tuple[AppliedModifier, ...]
    discounts: Money
    surcharges: Money
    total: Money
    explain: str  # 中文
    explain_en: str


class Quote(BaseModel):
    """An issued quote: immutable, with snapshots of the rule and modifier versions it used."""

    model_config = ConfigDict(frozen=True)

    request: QuoteRequest
    as_of: date  # the local date rules were matched on
    service_time: time | None  # the local time rush windows were matched on
    currency: Literal["CNY"] = "CNY"
    lines: tuple[QuoteLine, ...]
    subtotal: Money
    discounts: Money
    surcharges: Money
    total: Money
    price_rules: tuple[PriceRule, ...]
    modifiers: tuple[Modifier, ...]


class Issue(BaseModel):
    """A problem `validate_rules` found in a rule set an editor is about to publish."""

    model_config = ConfigDict(frozen=True)

    code: Literal["overlap", "duplicate_version"]
    message: str
    rule_ids: tuple[str, ...]


def best_price_rule(
    rules: Iterable[PriceRule], *, item: str, region: Region, customer_types: Sequence[str], on: date
) -> PriceRule | None:
    """The base rule that prices `item` on `on` (precedence in the module docstring), or None."""
    candidates = [r for r in rules if r.in_force(on) and r.matches(item, region, customer_types)]
    return max(candidates, key=PriceRule.specificity, default=None)


def _local_moment(as_of: date | datetime, tz: ZoneInfo) -> tuple[date, time | None]:
    if isinstance(as_of, datetime):  # before `date`: datetime is a date subclass
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise InvalidInputError(
                "as_of must be timezone-aware", details=[{"field": "as_of", "message": "naive datetime"}]
            )
        local = as_of.astimezone(tz)
        return local.date(), local.time()
    return as_of, None


def _step_amount(modifier: Modifier, running: Decimal, quantity: int) -> Decimal:
    """One step's adjustment, rounded ROUND_HALF_UP to the fen; a discount is capped at the running amount."""
    if modifier.percent is not None:
        raw = to_fen(running * modifier.percent / HUNDRED)
    else:
        assert modifier.amount is not None  # the model guarantees exactly one of the two
        raw = to_fen(modifier.amount * quantity)
    return min(raw, running) if modifier.effect is Effect.DISCOUNT else raw


def _price_line(
    line: QuoteItem, rule: PriceRule, modifiers: Sequence[Modifier], request: QuoteRequest, t: time | None
) -> tuple[QuoteLine, list[Modifier]]:
    base = to_fen(rule.price * line.quantity)  # fen × int is exact; quantize only fixes the exponent
    running, discounts, surcharges = base, Decimal("0.00"), Decimal("0.00")
    applied: list[AppliedModifier] = []
    used: list[Modifier] = []
    discounts_closed = False
    for m in modifiers:
        if (m.effect is Effect.DISCOUNT and discounts_closed) or not m.applies_to(line, request, t):
            continue
        step = _step_amount(m, running, line.quantity)
        if step == 0:
            continue
        if m.effect is Effect.DISCOUNT:
            running, discounts = running - step, discounts + step
        else:
            running, surcharges = running + step, surcharges + step
        discounts_closed = discounts_closed or m.exclusive
        used.append(m)
        applied.append(
            AppliedModifier(
                modifier_id=m.modifier_id,
                version=m.version,
                kind=m.kind,
                effect=m.effect,
                name=m.name,
                amount=step,
                running_total=running,
                reason=m.trigger_reason(request.rush, t),
            )
        )
    zh, en = _explain(line, rule, base, applied, used, running)
    priced = QuoteLine(
        item=line.item,
        category=line.category,
        quantity=line.quantity,
        unit_price=rule.price,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        base_amount=base,
        adjustments=tuple(applied),
        discounts=discounts,
        surcharges=surcharges,
        total=running,
        explain=zh,
        explain_en=en,
    )
    return priced, used


def _explain(
    line: QuoteItem,
    rule: PriceRule,
    base: Decimal,
    applied: Sequence[AppliedModifier],
    used: Sequence[Modifier],
    total: Decimal,
) -> tuple[str, str]:
    """E.g. "基础价 120.00（规则 R-SH-VIP，上海 三甲医院）; 三月空调清洗 7 折 −36.00; 合计 84.00"."""
    qty = f" × {line.quantity} = {_money(base)}" if line.quantity != 1 else ""
    zh = [f"基础价 {_money(rule.price)}{qty}（规则 {rule.rule_id}，{rule.label('zh')}）"]
    en = [f"base {_money(rule.price)}{qty} (rule {rule.rule_id}, {rule.label('en')})"]
    for a, m in zip(applied, used, strict=True):
        sign = "−" if a.effect is Effect.DISCOUNT else "+"
        zh.append(f"{a.name} {sign}{_money(a.amount)}")
        en.append(f"{m.name_en or m.name} {sign}{_money(a.amount)}")
    zh.append(f"合计 {_money(total)}")
    en.append(f"total {_money(total)}")
    return "; ".join(zh), "; ".join(en)


def _snapshot_rules(used: Iterable[PriceRule]) -> tuple[PriceRule, ...]:
    return tuple(
        {(r.rule_id, r.version): r for r in sorted(used, key=lambda r: (r.rule_id, r.version))}.values()
    )


def _snapshot_modifiers(used: Iterable[Modifier]) -> tuple[Modifier, ...]:
    ordered = sorted(used, key=lambda m: (m.modifier_id, m.version))
    return tuple({(m.modifier_id, m.version): m for m in ordered}.values())


def quote(
    request: QuoteRequest, rules: Iterable[PriceRule], modifiers: Iterable[Modifier], as_of: date | datetime
) -> Quote:
    """Price every item of the request as the rules stood on `as_of` (a date, or an aware datetime whose
    local date and time in the request's zone are used). Raises InvalidInputError naming unpriced items."""
    tz = ZoneInfo(request.timezone)
    on, as_of_time = _local_moment(as_of, tz)
    service_time = request.service_at.astimezone(tz).time() if request.service_at else as_of_time
    by_item: dict[str, list[PriceRule]] = defaultdict(list)  # one pass over the rule set, not one per line
    for r in rules:
        if r.in_force(on):
            by_item[r.item].append(r)
    chosen: list[PriceRule] = []
    missing: list[dict[str, str]] = []
    missing_items: set[str] = set()
    for i, line in enumerate(request.items):
        rule = best_price_rule(
            by_item.get(line.item, ()),
            item=line.item,
            region=request.region,
            customer_types=request.customer_types,
            on=on,
        )
        if rule is None:
            missing.append(
                {"field": f"items[{i}].item", "message": f"no price for item '{line.item}' on {on}"}
            )
            missing_items.add(line.item)
        else:
            chosen.append(rule)
    if missing:
        names = ", ".join(sorted(missing_items))
        raise InvalidInputError(f"no price for item(s) {names} on {on.isoformat()}", details=missing)

    staged = sorted((m for m in modifiers if m.in_force(on)), key=Modifier.stage_key)
    lines: list[QuoteLine] = []
    used: list[Modifier] = []
    for line, rule in zip(request.items, chosen, strict=True):
        priced, line_used = _price_line(line, rule, staged, request, service_time)
        lines.append(priced)
        used.extend(line_used)
    return Quote(
        request=request,
        as_of=on,
        service_time=service_time,
        lines=tuple(lines),
        subtotal=sum((ln.base_amount for ln in lines), Decimal("0.00")),
        discounts=sum((ln.discounts for ln in lines), Decimal("0.00")),
        surcharges=sum((ln.surcharges for ln in lines), Decimal("0.00")),
        total=sum((ln.total for ln in lines), Decimal("0.00")),
        price_rules=_snapshot_rules(chosen),
        modifiers=_snapshot_modifiers(used),
    )


def _overlaps(a: PriceRule, b: PriceRule) -> bool:
    return (b.effective_to is None or a.effective_from < b.effective_to) and (
        a.effective_to is None or b.effective_from < a.effective_to
    )


def validate_rules(rules: Iterable[PriceRule]) -> list[Issue]:
    """Problems that would make a rule set ambiguous: the same (rule id, version) twice, or two rules with
    the same item and dimensions in force on a common date (close the old one with effective_to)."""
    rules = list(rules)
    issues: list[Issue] = []
    versions: dict[tuple[str, int], int] = defaultdict(int)
    for r in rules:
        versions[(r.rule_id, r.version)] += 1
    for (rule_id, version), count in sorted(versions.items()):
        if count > 1:
            issues.append(
                Issue(
                    code="duplicate_version",
                    message=f"rule {rule_id} version {version} is defined {count} times",
                    rule_ids=(rule_id,),
                )
            )
    groups: dict[tuple[str, tuple[str | None, str | None, str | None, int | None]], list[PriceRule]] = (
        defaultdict(list)
    )
    for r in rules:
        groups[(r.item, r.dimensions)].append(r)
    for (item, _), group in groups.items():
        ordered = sorted(group, key=lambda r: (r.effective_from, r.rule_id, r.version))
        for a, b in combinations(ordered, 2):
            if _overlaps(a, b):
                issues.append(
                    Issue(
                        code="overlap",
                        message=(
                            f"rules {a.rule_id} v{a.version} and {b.rule_id} v{b.version} price {item} "
                            f"for {a.label('en')} on overlapping dates from {b.effective_from}"
                        ),
                        rule_ids=(a.rule_id, b.rule_id),
                    )
                )
    return issues
