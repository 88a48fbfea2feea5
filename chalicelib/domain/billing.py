"""Ticket billing (工单结算账单): labour + parts + surcharges − discounts, warranty waived, exact to the fen.

`bill(request, rules=…, modifiers=…, parts=…, coefficients=…)` prices a completed ticket and returns an
immutable, explained `Bill`. Pricing is `pricing.quote`'s, so rush, member, promotion and seasonal modifiers
behave exactly as on a quote (same stage order, same per-step ROUND_HALF_UP rounding, same scoping by item,
category, customer type, region, rush flag and time window).

Lines
  - Labour: each `QuoteItem` (a labour code such as "AC-REPAIR") is priced by the region price rules, with
    pricing's precedence (the most specific rule in force on the completion date).
  - Parts: each `PartUsed` (sku × quantity) must be in the parts catalogue (`Part`: name, category, warranty).
    Its unit price is a region price rule for the sku if one matches (the rule wins: a region can price a
    part differently from the catalogue), else the catalogue `Part.price`.

Region depreciation coefficient (区域折旧系数)
  A `RegionCoefficient` (e.g. Chengdu 0.95) configured for a region multiplies the unit price of every
  part line in that region: depreciated unit price = unit price × coefficient, ROUND_HALF_UP to the fen; the
  line's base is then that × quantity. It applies before every modifier — so before the member discount —
  and never to labour. Where none is configured (or it is 1) nothing is applied or shown. The most specific
  coefficient in force on the completion date wins (city > province > tier, then the later
  `effective_from`, then the greater id and version), as for price rules.

Warranty (保修)
  The basis is the machine's purchase or installation date from the customer's record (`WarrantyBasis`).
  Labour is covered for `WarrantyBasis.labour_months` (the whole-machine warranty of the tenant/template
  config), each part for its catalogue `Part.warranty_months`, all counted from that same date. A line is
  inside its warranty when   start <= completion date < start + N calendar months   (`add_months`): a
  warranty of 12 months from 2025-03-10 covers up to and including 2026-03-09. Adding months clamps to the
  end of a shorter month: 2025-01-31 + 1 month = 2025-02-28 (2024-01-31 + 1 month = 2024-02-29), so the
  last day inside is the day before. N = 0 means no warranty; no basis (no purchase/installation record)
  means nothing is under warranty. The completion date is the local date of `completed_at` in the request's
  time zone; a completion before the basis date is refused (the record is wrong).
  A line under warranty is priced as it would have been charged — depreciation and modifiers included —
  then waived in full: it shows "保修期内免费" with that amount, and its payable total is 0.00.

Totals, each the sum of its lines (so the bill adds up exactly, and line by line):
  line charge = base − depreciation + surcharges − discounts;   line total = charge − waived
  bill total  = subtotal − depreciation + surcharges − discounts − waived = Σ line totals >= 0.00
Discounts never exceed the running amount (pricing's rule), so no line and no bill is negative.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.money import Money, NonNegativeMoney, to_fen
from chalicelib.domain.pricing import (
    AppliedModifier,
    CityTier,
    Effect,
    Modifier,
    PriceRule,
    QuoteItem,
    QuoteLine,
    QuoteRequest,
    Region,
    best_price_rule,
    quote,
)

ZERO = Decimal("0.00")
ONE = Decimal(1)
MAX_WARRANTY_MONTHS = 600  # 50 years: beyond any real warranty, far from date overflow


def _money(d: Decimal) -> str:
    return f"{d:.2f}"


def _coefficient(value: object) -> Decimal:
    """A coefficient 0 < c <= 1 with at most 4 decimal places, as a decimal string, int or Decimal."""
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise ValueError('a coefficient is a decimal string such as "0.95", not a floating-point number')
    try:
        parsed = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a decimal coefficient") from None
    if not parsed.is_finite() or not ZERO < parsed <= ONE:
        raise ValueError(f"coefficient '{value}' must be greater than 0 and at most 1")
    if parsed != parsed.quantize(Decimal("0.0001")):
        raise ValueError(f"coefficient '{value}' has more than 4 decimal places")
    return parsed


Coefficient = Annotated[Decimal, BeforeValidator(_coefficient), PlainSerializer(str, return_type=str)]


# ---------------------------------------------------------------- dates


def add_months(start: date, months: int) -> date:
    """`start` + `months` calendar months, the day clamped to the target month's length (Jan 31 + 1 → Feb 28
    or 29)."""
    if months < 0:
        raise ValueError("months must not be negative")
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def warranty_last_day(start: date, months: int) -> date | None:
    """The last day inside a warranty of `months` from `start` (the day before start + months); None for 0."""
    return None if months == 0 else add_months(start, months) - timedelta(days=1)


def in_warranty(start: date, months: int, on: date) -> bool:
    """start <= on < start + months (calendar months, clamped); a warranty of 0 months covers nothing."""
    return months > 0 and start <= on < add_months(start, months)


# ---------------------------------------------------------------- catalogue and configuration


class Part(BaseModel):
    """A parts catalogue entry (配件): what a store stocks, what it costs and sells for, and its warranty."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)  # shown on the bill, e.g. "压缩机启动电容"
    category: str | None = Field(default=None, min_length=1, max_length=64)  # for per-category modifiers
    unit_cost: NonNegativeMoney  # what the tenant pays for one
    price: NonNegativeMoney  # the catalogue selling price of one; a region price rule for the sku wins
    warranty_months: int = Field(default=0, ge=0, le=MAX_WARRANTY_MONTHS)  # from purchase/installation
    low_stock_threshold: int = Field(default=2, ge=0, le=1_000_000)  # stock <= this → low-stock alert


class RegionCoefficient(BaseModel):
    """One version of a region's depreciation coefficient for parts (module docstring), valid on
    [effective_from, effective_to) on the local calendar; it names at least one region field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coefficient_id: str = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    province: str | None = None
    city: str | None = None
    tier: CityTier | None = None
    coefficient: Coefficient
    effective_from: date
    effective_to: date | None = None

    @model_validator(mode="after")
    def _valid(self) -> RegionCoefficient:
        if self.province is None and self.city is None and self.tier is None:
            raise ValueError("a region coefficient names a province, city or tier")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from (it is exclusive)")
        return self

    def applies(self, region: Region, on: date) -> bool:
        return (
            self.effective_from <= on
            and (self.effective_to is None or on < self.effective_to)
            and (self.province is None or self.province == region.province)
            and (self.city is None or self.city == region.city)
            and (self.tier is None or self.tier == region.tier)
        )

    def specificity(self) -> tuple[int, int, date, str, int]:
        level = 3 if self.city is not None else 2 if self.province is not None else 1
        named = sum(v is not None for v in (self.province, self.city, self.tier))
        return (level, named, self.effective_from, self.coefficient_id, self.version)

    def label(self) -> str:
        names = [n for n in (self.province, self.city) if n is not None]
        if self.city is not None and self.city == self.province:
            names = [self.city]
        if not names and self.tier is not None:
            names = [f"{self.tier}线城市"]
        return " ".join(names)


def region_coefficient(
    coefficients: Iterable[RegionCoefficient], region: Region, on: date
) -> RegionCoefficient | None:
    """The coefficient configured for the region on `on` (the most specific), or None."""
    return max(
        (c for c in coefficients if c.applies(region, on)), key=RegionCoefficient.specificity, default=None
    )


# ---------------------------------------------------------------- the request


class PartUsed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=100_000)


class WarrantyBasis(BaseModel):
    """Where warranties count from (the customer's purchase or installation record) and the labour term."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["purchase", "installation"] = "purchase"
    start: date  # the purchase or installation date
    labour_months: int = Field(default=0, ge=0, le=MAX_WARRANTY_MONTHS)  # whole-machine warranty


class BillRequest(BaseModel):
    """A completed ticket's labour and parts, where and for whom, and the warranty basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    region: Region = Field(default_factory=Region)
    customer_types: tuple[str, ...] = ()  # e.g. ("vip",): member discounts and customer-type prices
    rush: bool = False
    rush_reason: str | None = None  # why the job counts as rush, e.g. "priority urgent" (the bill says it)
    service_at: AwareDatetime | None = None  # when the work happened (rush windows); else completed_at
    completed_at: AwareDatetime  # rules are matched on its local date; warranty is judged on it
    timezone: str = "Asia/Shanghai"
    labour: tuple[QuoteItem, ...] = ()
    parts: tuple[PartUsed, ...] = ()
    warranty: WarrantyBasis | None = None  # None: no purchase/installation record, nothing is free
    # The ticket's 保修状态 as entered (保内 / 保外; 待确认 → None): checked against the dates, never ignored.
    warranty_claim: Literal["保内", "保外"] | None = None

    @field_validator("customer_types")
    @classmethod
    def _normalise_types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(v)))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{v}'") from None
        return v

    @model_validator(mode="after")
    def _valid(self) -> BillRequest:
        if not self.labour and not self.parts:
            raise ValueError("a bill needs at least one labour item or part")
        skus = [p.sku for p in self.parts]
        if len(set(skus)) != len(skus):
            raise ValueError("list each part once, with its quantity")
        clash = set(skus) & {item.item for item in self.labour}
        if clash:
            raise ValueError(f"{', '.join(sorted(clash))} is both a labour item and a part")
        return self

    @property
    def completed_on(self) -> date:
        return self.completed_at.astimezone(ZoneInfo(self.timezone)).date()


# ---------------------------------------------------------------- the bill


class LineKind(StrEnum):
    LABOUR = "labour"
    PART = "part"


class BillLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: LineKind
    item: str  # labour code or sku
    name: str  # the part's name; the labour code for labour
    category: str | None
    quantity: int
    unit_price: Money  # before depreciation: the price rule's, or the catalogue's
    price_source: Literal["price_rule", "catalogue"]
    rule_id: str | None  # the price rule, when one priced the line
    rule_version: int | None
    base_amount: Money  # unit_price × quantity
    depreciation_coefficient: Decimal | None  # parts only, where configured and < 1
    depreciation: Money  # base − depreciated unit price × quantity
    adjustments: tuple[AppliedModifier, ...]  # pricing's steps, on the depreciated base
    surcharges: Money
    discounts: Money
    charge: Money  # what the line costs out of warranty
    in_warranty: bool
    warranty_last_day: date | None  # last day covered; None when the line has no warranty (or no basis)
    waived: Money  # = charge under warranty, else 0.00
    total: Money  # payable: charge − waived
    explain: str  # 中文
    explain_en: str


class Bill(BaseModel):
    """A completed ticket's bill: immutable, with snapshots of the rules, modifiers, parts and coefficient."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    customer_id: str
    region: Region
    customer_types: tuple[str, ...]
    rush: bool
    # Why it counted as rush; a rush fee is only charged where a rush modifier applies (its line's reason).
    rush_reason: str | None = None
    completed_on: date  # local date: rules matched and warranty judged on it
    currency: Literal["CNY"] = "CNY"
    warranty: WarrantyBasis | None
    warranty_note: str = ""  # where the warranty came from, and whether the ticket's 保内/保外 held
    lines: tuple[BillLine, ...]
    subtotal: Money  # Σ base amounts
    depreciation: Money
    surcharges: Money
    discounts: Money
    waived: Money
    total: Money  # payable
    price_rules: tuple[PriceRule, ...]
    modifiers: tuple[Modifier, ...]
    parts: tuple[Part, ...]
    coefficient: RegionCoefficient | None

    @property
    def labour_total(self) -> Decimal:
        return sum((ln.total for ln in self.lines if ln.kind is LineKind.LABOUR), ZERO)

    @property
    def parts_total(self) -> Decimal:
        return sum((ln.total for ln in self.lines if ln.kind is LineKind.PART), ZERO)

    def summary(self, lang: Literal["zh", "en"] = "zh") -> str:
        """One line for the ticket's notification, e.g. "人工费 214.32 + 配件费 271.22 = 应付 485.54（保修免费
        42.75）"."""
        labour, parts, total = _money(self.labour_total), _money(self.parts_total), _money(self.total)
        if lang == "zh":
            text = f"人工费 {labour} + 配件费 {parts} = 应付 {total}"
            return text + (f"（保修免费 {_money(self.waived)}）" if self.waived else "")
        text = f"labour {labour} + parts {parts} = payable {total}"
        return text + (f" (free under warranty: {_money(self.waived)})" if self.waived else "")


# ---------------------------------------------------------------- billing


@dataclass(frozen=True, slots=True)
class _Priced:
    """How one line's base was found, before pricing.quote applies the modifiers."""

    kind: LineKind
    item: QuoteItem
    name: str
    rule: PriceRule | None  # the real price rule, if one priced it
    unit_price: Decimal
    quoted_rule: PriceRule  # what quote() is given: the rule, the catalogue price, depreciated for parts
    coefficient: Decimal | None
    warranty_months: int


def _labour_lines(request: BillRequest, rules: Sequence[PriceRule], on: date) -> list[_Priced]:
    priced: list[_Priced] = []
    missing: list[dict[str, str]] = []
    for i, line in enumerate(request.labour):
        rule = best_price_rule(
            rules, item=line.item, region=request.region, customer_types=request.customer_types, on=on
        )
        if rule is None:
            missing.append({"field": f"labour[{i}].item", "message": f"no price for '{line.item}' on {on}"})
            continue
        months = request.warranty.labour_months if request.warranty else 0
        priced.append(
            _Priced(
                kind=LineKind.LABOUR,
                item=line,
                name=line.item,
                rule=rule,
                unit_price=rule.price,
                quoted_rule=rule,
                coefficient=None,
                warranty_months=months,
            )
        )
    if missing:
        raise InvalidInputError("no price for some labour items", details=missing)
    return priced


def _part_lines(
    request: BillRequest,
    rules: Sequence[PriceRule],
    catalogue: Mapping[str, Part],
    coefficient: Decimal | None,
    on: date,
) -> list[_Priced]:
    priced: list[_Priced] = []
    unknown = [
        {"field": f"parts[{i}].sku", "message": f"'{used.sku}' is not in the parts catalogue"}
        for i, used in enumerate(request.parts)
        if used.sku not in catalogue
    ]
    if unknown:
        raise InvalidInputError("unknown parts", details=unknown)
    for used in request.parts:
        part = catalogue[used.sku]
        rule = best_price_rule(
            rules, item=used.sku, region=request.region, customer_types=request.customer_types, on=on
        )
        unit_price = rule.price if rule is not None else part.price
        charged = unit_price if coefficient is None else to_fen(unit_price * coefficient)
        if rule is not None:
            quoted = rule.model_copy(update={"price": charged})
        else:
            quoted = PriceRule(
                rule_id=f"catalogue:{part.sku}", item=part.sku, price=charged, effective_from=on
            )
        priced.append(
            _Priced(
                kind=LineKind.PART,
                item=QuoteItem(item=used.sku, quantity=used.quantity, category=part.category),
                name=part.name,
                rule=rule,
                unit_price=unit_price,
                quoted_rule=quoted,
                coefficient=coefficient,
                warranty_months=part.warranty_months,
            )
        )
    return priced


def warranty_note(basis: WarrantyBasis | None, claim: str | None, any_covered: bool) -> str:
    """Where the bill's warranty came from, and the ticket's 保内/保外 used (the dates agree) or refused (they
    do not: the dates decide, so a bill cannot be waived on a say-so nor charged against the record)."""
    if basis is None:
        source = "no purchase_date or install_date on the ticket: nothing is under warranty"
    else:
        field = "install_date" if basis.kind == "installation" else "purchase_date"
        source = (
            f"warranty counted from the ticket's {field} {basis.start} (labour {basis.labour_months} months)"
        )
    if claim is None:
        return source
    agrees = any_covered if claim == "保内" else not any_covered
    if agrees:
        return f"{source}; {claim} used: the dates agree"
    why = (
        "no date to count a warranty from"
        if basis is None
        else ("every line's warranty had ended" if claim == "保内" else "lines are still under warranty")
    )
    return f"{source}; {claim} refused: {why}"


def _warranty_state(basis: WarrantyBasis | None, months: int, on: date) -> tuple[bool, date | None]:
    if basis is None:
        return False, None
    return in_warranty(basis.start, months, on), warranty_last_day(basis.start, months)


def _explain(
    p: _Priced,
    q: QuoteLine,
    modifiers_by_key: Mapping[tuple[str, int], Modifier],
    depreciation: Decimal,
    coefficient_label: str,
    warranty: tuple[bool, date | None],
    has_basis: bool,
) -> tuple[str, str]:
    """E.g. "配件 室外风机电机（FAN-MOTOR）：目录价 268.30; 区域折旧系数 0.95（成都）−13.41 = 254.89;
    VIP 会员 95 折 −12.74; 合计 242.15"."""
    base = to_fen(p.unit_price * p.item.quantity)
    qty = f" × {p.item.quantity} = {_money(base)}" if p.item.quantity != 1 else ""
    if p.kind is LineKind.LABOUR:
        zh, en = [f"人工 {p.name}："], [f"labour {p.name}: "]
    else:
        zh, en = [f"配件 {p.name}（{p.item.item}）："], [f"part {p.name} ({p.item.item}): "]
    if p.rule is not None:
        zh[0] += f"基础价 {_money(p.unit_price)}{qty}（规则 {p.rule.rule_id}，{p.rule.label('zh')}）"
        en[0] += f"base {_money(p.unit_price)}{qty} (rule {p.rule.rule_id}, {p.rule.label('en')})"
    else:
        zh[0] += f"目录价 {_money(p.unit_price)}{qty}"
        en[0] += f"catalogue price {_money(p.unit_price)}{qty}"
    if depreciation:
        depreciated = _money(q.base_amount)
        zh.append(
            f"区域折旧系数 {p.coefficient}（{coefficient_label}）−{_money(depreciation)} = {depreciated}"
        )
        en.append(
            f"region depreciation coefficient {p.coefficient} ({coefficient_label}) "
            f"−{_money(depreciation)} = {depreciated}"
        )
    for a in q.adjustments:
        sign = "−" if a.effect is Effect.DISCOUNT else "+"
        m = modifiers_by_key[(a.modifier_id, a.version)]
        zh.append(f"{a.name} {sign}{_money(a.amount)}")
        en.append(f"{m.name_en or m.name} {sign}{_money(a.amount)}")
    zh.append(f"合计 {_money(q.total)}")
    en.append(f"total {_money(q.total)}")
    covered, last_day = warranty
    if covered:
        assert last_day is not None  # covered implies a warranty of > 0 months
        zh.append(f"保修期内免费（保修至 {last_day}）−{_money(q.total)}; 应付 0.00")
        en.append(f"free under warranty (until {last_day}) −{_money(q.total)}; payable 0.00")
    elif not has_basis:
        zh.append("无购买/安装记录，按保外收费")
        en.append("no purchase/installation record: charged")
    elif last_day is None:
        zh.append("无保修")
        en.append("no warranty")
    else:
        zh.append(f"已过保（保修至 {last_day}）")
        en.append(f"out of warranty (covered until {last_day})")
    return "; ".join(zh), "; ".join(en)


def bill(
    request: BillRequest,
    *,
    rules: Iterable[PriceRule],
    modifiers: Iterable[Modifier],
    parts: Iterable[Part],
    coefficients: Iterable[RegionCoefficient] = (),
) -> Bill:
    """The bill of a completed ticket (module docstring). Raises InvalidInputError naming labour items
    without a price, parts not in the catalogue, or a completion before the warranty basis date."""
    on = request.completed_on
    if request.warranty is not None and on < request.warranty.start:
        raise InvalidInputError(
            f"the ticket was completed on {on}, before the {request.warranty.kind} date "
            f"{request.warranty.start}",
            details=[{"field": "warranty.start", "message": "after the completion date"}],
        )
    rules = [r for r in rules if r.in_force(on)]
    catalogue = {p.sku: p for p in parts}
    coefficient_cfg = region_coefficient(coefficients, request.region, on) if request.parts else None
    coefficient = (
        coefficient_cfg.coefficient if coefficient_cfg and coefficient_cfg.coefficient < ONE else None
    )
    priced = _labour_lines(request, rules, on) + _part_lines(request, rules, catalogue, coefficient, on)

    quoted_rules = {(p.quoted_rule.item, p.quoted_rule.rule_id): p.quoted_rule for p in priced}
    q = quote(
        QuoteRequest(
            items=tuple(p.item for p in priced),
            region=request.region,
            customer_types=request.customer_types,
            rush=request.rush,
            service_at=request.service_at,
            timezone=request.timezone,
            reference=request.ticket_id,
        ),
        quoted_rules.values(),
        modifiers,
        request.completed_at,
    )
    modifiers_by_key = {(m.modifier_id, m.version): m for m in q.modifiers}
    label = coefficient_cfg.label() if coefficient_cfg else ""
    lines: list[BillLine] = []
    for p, ql in zip(priced, q.lines, strict=True):
        base = to_fen(p.unit_price * p.item.quantity)
        depreciation = base - ql.base_amount
        state = _warranty_state(request.warranty, p.warranty_months, on)
        waived = ql.total if state[0] else ZERO
        zh, en = _explain(p, ql, modifiers_by_key, depreciation, label, state, request.warranty is not None)
        lines.append(
            BillLine(
                kind=p.kind,
                item=p.item.item,
                name=p.name,
                category=p.item.category,
                quantity=p.item.quantity,
                unit_price=p.unit_price,
                price_source="price_rule" if p.rule is not None else "catalogue",
                rule_id=p.rule.rule_id if p.rule else None,
                rule_version=p.rule.version if p.rule else None,
                base_amount=base,
                depreciation_coefficient=p.coefficient if p.kind is LineKind.PART else None,
                depreciation=depreciation,
                adjustments=ql.adjustments,
                surcharges=ql.surcharges,
                discounts=ql.discounts,
                charge=ql.total,
                in_warranty=state[0],
                warranty_last_day=state[1],
                waived=waived,
                total=ql.total - waived,
                explain=zh,
                explain_en=en,
            )
        )
    used_rules = {(p.rule.rule_id, p.rule.version): p.rule for p in priced if p.rule is not None}
    used_parts = {p.item.item: catalogue[p.item.item] for p in priced if p.kind is LineKind.PART}
    return Bill(
        ticket_id=request.ticket_id,
        customer_id=request.customer_id,
        region=request.region,
        customer_types=request.customer_types,
        rush=request.rush,
        rush_reason=request.rush_reason if request.rush else None,
        completed_on=on,
        warranty=request.warranty,
        warranty_note=warranty_note(
            request.warranty, request.warranty_claim, any(ln.in_warranty for ln in lines)
        ),
        lines=tuple(lines),
        subtotal=sum((ln.base_amount for ln in lines), ZERO),
        depreciation=sum((ln.depreciation for ln in lines), ZERO),
        surcharges=sum((ln.surcharges for ln in lines), ZERO),
        discounts=sum((ln.discounts for ln in lines), ZERO),
        waived=sum((ln.waived for ln in lines), ZERO),
        total=sum((ln.total for ln in lines), ZERO),
        price_rules=tuple(used_rules[k] for k in sorted(used_rules)),
        modifiers=q.modifiers,
        parts=tuple(used_parts[k] for k in sorted(used_parts)),
        coefficient=coefficient_cfg if coefficient is not None else None,
    )
