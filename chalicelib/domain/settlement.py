"""Commission and settlement rules as versioned data, and the pure engine that applies them.

`settle(rule, facts)` turns one rule version and the facts of one order/ticket (or one party's period) into
allocations, each a party's share exact to the fen; `postings_for(...)` turns them into one balanced ledger
posting whose id is derived from (rule id, rule version, source, period), so a re-run posts nothing new.

Real time and month end:
- `settle_source(rules, facts)`: a completed order/ticket, split by the split rule version in effect at its
  `completed_at`, as one posting dated then;
- `settle_period(period, tenant, rules, facts, modifiers=…, regions=…)`: the month-end run. It posts every
  source's split again — the same posting, so `ledger.new_postings` drops it — and, per party, applies the
  period rules (tiered, threshold bonus, base + incentive) in effect at the period close to the sum of the
  amounts and counts of the period's facts naming it, under the source settlement_run
  "<role>:<party id>:<YYYY-MM>", scaled by the period modifiers in effect: region coefficients, then
  satisfaction multipliers (the party's average rating over its rated tickets). Same inputs, same postings.

Rounding, explicitly (amounts are Decimal, exact to the fen; floats are refused with InvalidInputError):
- every computed amount (rate × amount, tier pieces) is rounded ROUND_HALF_UP to the fen, once per line;
- splits always sum to the amount exactly. Two modes:
  * "largest_remainder" (default, Hamilton's method): every share is first rounded down to the fen, then the
    fens left over go one each to the shares with the largest dropped fraction (ties: declaration order).
    Each party gets its exact share rounded down or up, never further off.
  * "remainder_to": every share but the designated party's is rounded ROUND_HALF_UP; the designated party
    (the platform by default) takes the rest. Should rounding up leave it below zero (only for amounts of a
    few fen), fens are taken back from the shares that gained most by rounding.
- thresholds: a threshold is reached when the amount is >= it. A tier covers [its lower bound, the next
  tier's lower bound): 10,000.00 sits in the tier starting at 10,000.00. "Over 50,000" strictly is written as
  a threshold of 50,000.01.
- period modifiers multiply a period rule's incentive one after the other (region coefficients first, then
  satisfaction multipliers, each group by modifier id); every step is rounded ROUND_HALF_UP to the fen at
  once and shown in the posting's memo ("region 西北 (region-eng): × 1.2 = 14.82"). A factor of 1 shows no
  step. On base + incentive only the floating incentive is scaled, never the base, and `incentive_cap` bounds
  the scaled incentive. Rating levels compare the exact average (sum >= level × count, no division); the
  memo shows it ROUND_HALF_UP to 0.01. Split rules are never scaled.

Accounts the engine posts to (colon-separated ids, see ledger.Account):
- `clearing:collections` (asset): money collected for an order/ticket, distributed by split rules;
- `party:<role>:<id>:payable` (liability): what the tenant owes a store/engineer/rider/partner;
- `party:platform:<id>:revenue` (revenue): the platform's own share of a split;
- `party:platform:<id>:commission_expense` (expense): what commissions and bonuses cost the platform.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from chalicelib.domain.common import InvalidInputError, NotFoundError
from chalicelib.domain.ledger import (
    ZERO,
    Account,
    AccountType,
    Leg,
    Posting,
    RuleRef,
    Source,
    SourceType,
    trusted_leg,
    trusted_posting,
)
from chalicelib.domain.money import FEN, Money, NonNegativeMoney, largest_remainder

HUNDRED = Decimal(100)
# YYYY-MM in years 1900-2999: a month far outside them is a typo, and year 1 or 9999 does not survive the
# conversion of its bounds to UTC (a 500 before; now a 400 naming the field).
PERIOD_PATTERN = r"^(19|2\d)\d{2}-(0[1-9]|1[0-2])$"


def _percent(value: object) -> Decimal:
    """A percentage 0..100 with at most 4 decimal places, as Decimal/int/decimal string — never a float."""
    if isinstance(value, float | bool):
        raise InvalidInputError(f"percentage {value!r} must be a decimal string or Decimal, not a float")
    if not isinstance(value, Decimal | int | str):
        raise InvalidInputError(f"percentage {value!r} must be a decimal string or Decimal")
    try:
        parsed = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise InvalidInputError(f"percentage {value!r} is not a decimal number") from None
    if not parsed.is_finite() or not ZERO <= parsed <= HUNDRED:
        raise InvalidInputError(f"percentage {value!r} must be between 0 and 100")
    if parsed != parsed.quantize(Decimal("0.0001")):
        raise InvalidInputError(f"percentage {value!r} has more than 4 decimal places")
    return parsed


Percent = Annotated[Decimal, BeforeValidator(_percent)]


def pct_of(amount: Decimal, percent: Decimal) -> Decimal:
    """percent % of amount, ROUND_HALF_UP to the fen."""
    return (amount * percent / HUNDRED).quantize(FEN, rounding=ROUND_HALF_UP)


class PartyRole(StrEnum):
    STORE = "store"
    ENGINEER = "engineer"
    RIDER = "rider"
    PLATFORM = "platform"
    PARTNER = "partner"


COLLECTIONS = "clearing:collections"
_TYPE_BY_PURPOSE = {
    "collections": AccountType.ASSET,
    "payable": AccountType.LIABILITY,
    "revenue": AccountType.REVENUE,
    "commission_expense": AccountType.EXPENSE,
}


def party_account(role: PartyRole, party_id: str, purpose: str) -> str:
    return f"party:{role.value}:{party_id}:{purpose}"


def account(account_id: str) -> Account:
    """The Account for an id this engine posts to, its type read from the last segment (…:payable)."""
    purpose = account_id.rsplit(":", 1)[-1]
    if purpose not in _TYPE_BY_PURPOSE:
        raise InvalidInputError(f"unknown account purpose in {account_id!r}")
    return Account(id=account_id, type=_TYPE_BY_PURPOSE[purpose])


# ---------------------------------------------------------------- rules (versioned data)


class RuleBase(BaseModel):
    """Identity and validity of a rule version; versions are never edited, a change is a new version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=1)
    name: str = ""
    effective_from: AwareDatetime
    effective_to: AwareDatetime | None = None  # exclusive

    @property
    def ref(self) -> RuleRef:
        return RuleRef(id=self.id, version=self.version)


class Share(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: PartyRole
    percent: Percent


class SplitRule(RuleBase):
    """Percentage split of an order/ticket amount among parties; percentages sum to exactly 100."""

    kind: Literal["split"] = "split"
    shares: tuple[Share, ...] = Field(min_length=1)
    rounding: Literal["largest_remainder", "remainder_to"] = "largest_remainder"
    remainder_to: PartyRole = PartyRole.PLATFORM

    @model_validator(mode="after")
    def _shares_sum_to_100(self) -> SplitRule:
        roles = [share.role for share in self.shares]
        if len(set(roles)) != len(roles):
            raise InvalidInputError(f"rule {self.id!r}: a role appears twice in the split")
        total = sum((share.percent for share in self.shares), ZERO)
        if total != HUNDRED:
            raise InvalidInputError(f"rule {self.id!r}: split percentages sum to {total}, not 100")
        if self.rounding == "remainder_to" and self.remainder_to not in roles:
            raise InvalidInputError(f"rule {self.id!r}: remainder party {self.remainder_to} has no share")
        return self


class BasePlusIncentiveRule(RuleBase):
    """A fixed base plus a floating incentive: rate % of the amount + an amount per unit, the floating part
    optionally capped. Funded by the platform's commission expense."""

    kind: Literal["base_plus_incentive"] = "base_plus_incentive"
    beneficiary: PartyRole
    base: NonNegativeMoney = ZERO
    rate_percent: Percent = ZERO
    per_unit: NonNegativeMoney = ZERO
    incentive_cap: NonNegativeMoney | None = None


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_amount: NonNegativeMoney  # inclusive lower bound; the tier ends where the next one starts
    rate_percent: Percent


class TieredRule(RuleBase):
    """阶梯 rates. "whole": the whole amount at the rate of the tier reached. "marginal": each tier's rate on
    the part of the amount inside that tier (like income tax). Tiers start at 0 and ascend strictly."""

    kind: Literal["tiered"] = "tiered"
    beneficiary: PartyRole
    mode: Literal["whole", "marginal"]
    tiers: tuple[Tier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _tiers_ascend_from_zero(self) -> TieredRule:
        bounds = [tier.from_amount for tier in self.tiers]
        if bounds[0] != ZERO:
            raise InvalidInputError(f"rule {self.id!r}: the first tier must start at 0")
        if any(lower >= upper for lower, upper in pairwise(bounds)):
            raise InvalidInputError(f"rule {self.id!r}: tier lower bounds must ascend strictly")
        return self


class ThresholdBonusRule(RuleBase):
    """A period bonus once the period's amount reaches the threshold (e.g. course sales >= 50,000 in the month
    → 10 %), on the whole amount or only the excess above the threshold. Applied to period facts."""

    kind: Literal["threshold_bonus"] = "threshold_bonus"
    beneficiary: PartyRole
    threshold: NonNegativeMoney
    rate_percent: Percent
    basis: Literal["whole", "excess"] = "whole"

    def tiers(self) -> tuple[Tier, ...]:
        # The same arithmetic as a two-tier rule: 0 % below the threshold, the bonus rate from it.
        if self.threshold == ZERO:
            return (Tier(from_amount=ZERO, rate_percent=self.rate_percent),)
        return (
            Tier(from_amount=ZERO, rate_percent=ZERO),
            Tier(from_amount=self.threshold, rate_percent=self.rate_percent),
        )


Rule = Annotated[
    SplitRule | BasePlusIncentiveRule | TieredRule | ThresholdBonusRule, Field(discriminator="kind")
]
AnyRule = SplitRule | BasePlusIncentiveRule | TieredRule | ThresholdBonusRule


def rule_in_effect(versions: Iterable[AnyRule], at: datetime) -> AnyRule:
    """The version valid at `at` ([effective_from, effective_to)); if windows overlap, the highest version."""
    rule = _in_effect(versions, at)
    if rule is None:
        raise NotFoundError(f"no rule version in effect at {at.isoformat()}")
    return rule


_R = TypeVar("_R", bound=RuleBase)


def _in_effect(versions: Iterable[_R], at: datetime) -> _R | None:
    valid = [
        rule
        for rule in versions
        if rule.effective_from <= at and (rule.effective_to is None or at < rule.effective_to)
    ]
    return max(valid, key=lambda rule: rule.version) if valid else None


def _by_id(versions: Iterable[_R]) -> dict[str, list[_R]]:
    grouped: dict[str, list[_R]] = {}
    for rule in versions:
        grouped.setdefault(rule.id, []).append(rule)
    return grouped


# ---------------------------------------------------------------- period modifiers (versioned data)


def _bounded_decimal(what: str, low: Decimal, high: Decimal, places: int) -> BeforeValidator:
    """A BeforeValidator for a Decimal/int/decimal-string parameter in [low, high] with at most `places`
    decimal places — never a float."""
    step = Decimal(1).scaleb(-places)

    def parse(value: object) -> Decimal:
        if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
            raise InvalidInputError(f"{what} {value!r} must be a decimal string or Decimal, not a float")
        try:
            parsed = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except InvalidOperation:
            raise InvalidInputError(f"{what} {value!r} is not a decimal number") from None
        if not parsed.is_finite() or not low <= parsed <= high:
            raise InvalidInputError(f"{what} {value!r} must be between {low} and {high}")
        if parsed != parsed.quantize(step):
            raise InvalidInputError(f"{what} {value!r} has more than {places} decimal places")
        return parsed

    return BeforeValidator(parse)


# A factor on an incentive: 1.1 = +10 %, 0.9 = -10 %, 0 = none; up to 4 decimal places.
Multiplier = Annotated[Decimal, _bounded_decimal("multiplier", Decimal(0), Decimal(10), 4)]
AverageRating = Annotated[Decimal, _bounded_decimal("rating", Decimal(1), Decimal(5), 2)]


class PeriodModifierBase(RuleBase):
    """Scales what the period rules (tiered, threshold bonus, base + incentive) pay the parties of `role`:
    the rules named in `rule_ids`, or every period rule paying `role` when it is empty. Split rules are
    never scaled: a split distributes collected money, it is not an incentive."""

    role: PartyRole
    rule_ids: tuple[str, ...] = ()

    def scales(self, rule: AnyRule) -> bool:
        beneficiary = getattr(rule, "beneficiary", None)
        return beneficiary is self.role and (not self.rule_ids or rule.id in self.rule_ids)


class RatingLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_average: AverageRating  # reached when the party's average rating is >= it
    multiplier: Multiplier


class SatisfactionMultiplier(PeriodModifierBase):
    """Satisfaction-linked incentive: the party's average rating over the period's rated tickets selects
    the highest level reached (e.g. >= 4.5 → × 1.1; a level of 1 with × 0.9 makes a penalty below the next).
    No level reached, or fewer than `min_ratings` ratings: the incentive is not scaled."""

    kind: Literal["satisfaction"] = "satisfaction"
    levels: tuple[RatingLevel, ...] = Field(min_length=1)
    min_ratings: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _levels_ascend(self) -> SatisfactionMultiplier:
        bounds = [level.min_average for level in self.levels]
        if any(lower >= upper for lower, upper in pairwise(bounds)):
            raise InvalidInputError(f"modifier {self.id!r}: rating levels must ascend strictly")
        return self

    def level(self, rating_sum: int, ratings: int) -> RatingLevel | None:
        """The highest level reached by the average rating_sum / ratings (compared exactly, no division)."""
        if ratings < self.min_ratings:
            return None
        reached = [level for level in self.levels if rating_sum >= level.min_average * ratings]
        return reached[-1] if reached else None


class RegionCoefficient(PeriodModifierBase):
    """A per-region factor on an incentive, e.g. an engineer's labour incentive × 1.2 in 西藏; the party's
    region is given to `settle_period` (e.g. the engineer's staff profile). Unknown or unlisted region:
    `default`."""

    kind: Literal["region"] = "region"
    role: PartyRole = PartyRole.ENGINEER
    coefficients: dict[str, Multiplier] = Field(min_length=1)
    default: Multiplier = Decimal(1)

    def coefficient(self, region: str | None) -> Decimal:
        return self.default if region is None else self.coefficients.get(region, self.default)


PeriodModifier = Annotated[SatisfactionMultiplier | RegionCoefficient, Field(discriminator="kind")]
AnyPeriodModifier = SatisfactionMultiplier | RegionCoefficient
# What a tenant publishes as settlement data: a rule or a period modifier, told apart by `kind`.
RuleOrModifier = Annotated[
    SplitRule
    | BasePlusIncentiveRule
    | TieredRule
    | ThresholdBonusRule
    | SatisfactionMultiplier
    | RegionCoefficient,
    Field(discriminator="kind"),
]


@functools.cache
def _rule_or_modifier() -> TypeAdapter[AnyRule | AnyPeriodModifier]:
    return TypeAdapter(RuleOrModifier)  # built on first use, not at every cold start


def parse_rule(data: Mapping[str, object], *, field: str = "rule") -> AnyRule | AnyPeriodModifier:
    """A rule or period modifier from a request's `rule` object. A malformed one is an InvalidInputError
    naming each field under `field` ("rule.tiers.1.from_amount"), as the API names body fields."""
    try:
        return _rule_or_modifier().validate_python(data)
    except ValidationError as e:
        details = []
        for err in e.errors(include_url=False, include_input=False):
            loc = list(err["loc"])
            if loc and loc[0] == data.get("kind"):  # the union's tag, not a field of the body
                loc = loc[1:]
            path = ".".join(str(part) for part in [field, *loc])
            details.append({"field": path, "message": err["msg"], "type": err["type"]})
        fields = ", ".join(dict.fromkeys(d["field"] for d in details))
        raise InvalidInputError(f"invalid body: {fields}", details=details) from e


# ---------------------------------------------------------------- facts and allocations

# A period modifier applied to an incentive: the scaled amount and one explanation per applied factor.
Scale = Callable[[Decimal], tuple[Decimal, list[str]]]


class Facts(BaseModel):
    """What a rule is applied to: one order/ticket (amount = its amount) or one party's period (amount = the
    period total, source = a key stable across re-runs, e.g. settlement_run "engineer:E-7:2026-11")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source
    period: str = Field(pattern=PERIOD_PATTERN)
    amount: Money
    count: int = Field(default=0, ge=0)  # units for per-unit incentives (completed tickets, lessons …)
    parties: dict[PartyRole, str]  # who plays each role: {"store": "SH-001", "platform": "hq"}
    # One order/ticket's: when it was completed (real-time settlement posts at this instant and with the rule
    # version in effect then) and the customer's satisfaction rating, 1..5 (tickets.Rating.score).
    completed_at: AwareDatetime | None = None
    rating: int | None = Field(default=None, ge=1, le=5)

    @model_validator(mode="after")
    def _non_negative(self) -> Facts:
        # A refund is a reversal of what was posted, never a negative settlement.
        if self.amount < ZERO:
            raise InvalidInputError(f"facts for {self.source.type} {self.source.id}: amount must be >= 0")
        return self

    def party(self, role: PartyRole) -> str:
        if role not in self.parties:
            raise InvalidInputError(f"facts for {self.source.type} {self.source.id} name no {role.value}")
        return self.parties[role]


class Allocation(BaseModel):
    """One party's share of a settlement, with a human-readable basis for the statement line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: PartyRole
    party_id: str
    amount: Money
    basis: str


def split_amount(
    amount: Decimal,
    percents: Sequence[Decimal],
    *,
    rounding: Literal["largest_remainder", "remainder_to"] = "largest_remainder",
    remainder_index: int = 0,
) -> list[Decimal]:
    """Split `amount` (exact to the fen) by `percents` (summing to 100) into fen amounts that sum to it.

    See the module doc for the two rounding modes; `remainder_index` names the designated share."""
    if sum(percents, ZERO) != HUNDRED:
        raise InvalidInputError("split percentages must sum to 100")
    cents = _as_int(amount, 2)
    units = [_as_int(p, 4) for p in percents]
    if cents is None or cents < 0 or None in units:
        return _split_decimal(amount, percents, rounding, remainder_index)
    parts = split_fen(cents, units, rounding, remainder_index)  # type: ignore[arg-type]  # no None left
    return [_fen_decimal(part) for part in parts]


# Percentages have at most 4 decimal places (see `_percent`), so a percentage is an integer count of
# 1/10,000 % and a share of an amount in fen is exact in millionths of a fen: integer arithmetic, no Decimal
# context, the same results as the Decimal reference below (tests/unit/test_settlement_properties.py).
_SCALE = 1_000_000  # 100 % in units of 0.0001 %
_HALF = _SCALE // 2


def _as_int(value: Decimal, places: int) -> int | None:
    """`value` × 10^places when that is an integer (a fen amount, a 4-place percentage), else None."""
    if not value.is_finite():
        return None
    scaled = value.scaleb(places)
    integral = scaled.to_integral_value()
    return int(integral) if integral == scaled else None


def _fen_decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)  # exponent -2 always: Decimal("0.00"), Decimal("388.00")


def split_fen(
    cents: int,
    units: Sequence[int],
    rounding: Literal["largest_remainder", "remainder_to"] = "largest_remainder",
    remainder_index: int = 0,
) -> list[int]:
    """`split_amount` in integers: `cents` >= 0 fen split by `units` (percentages in 0.0001 %, summing to
    1,000,000) into fen that sum to `cents`; the rounding modes of the module doc."""
    if rounding == "largest_remainder":
        return largest_remainder(cents, units, _SCALE)
    products = [cents * unit for unit in units]  # each share exactly, in millionths of a fen
    parts = [(product + _HALF) // _SCALE for product in products]  # ROUND_HALF_UP, amounts are >= 0
    parts[remainder_index] = cents - (sum(parts) - parts[remainder_index])
    if parts[remainder_index] < 0:
        # Rounding up overdrew the designated share (amounts of a few fen): take back from the shares that
        # gained most by rounding until it is >= 0.
        gainers = sorted(
            (i for i in range(len(parts)) if i != remainder_index),
            key=lambda i: (-(parts[i] * _SCALE - products[i]), i),
        )
        for i in gainers:
            if parts[remainder_index] >= 0:
                break
            if parts[i] * _SCALE > products[i]:
                parts[i] -= 1
                parts[remainder_index] += 1
    return parts


def _split_decimal(
    amount: Decimal,
    percents: Sequence[Decimal],
    rounding: Literal["largest_remainder", "remainder_to"],
    remainder_index: int,
) -> list[Decimal]:
    """The Decimal reference of `split_fen`, for inputs it does not take (amounts not exact to the fen,
    percentages with more than 4 places, negative amounts)."""
    with localcontext() as ctx:
        ctx.prec = 60  # amount × percent is exact: no silent rounding before ours
        exact = [amount * p / HUNDRED for p in percents]
        if rounding == "largest_remainder":
            parts = [e.quantize(FEN, rounding=ROUND_FLOOR) for e in exact]
            leftover = int((amount - sum(parts, ZERO)) / FEN)
            by_fraction = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
            for i in by_fraction[:leftover]:
                parts[i] += FEN
            return parts
        parts = [e.quantize(FEN, rounding=ROUND_HALF_UP) for e in exact]
        others = sum((p for i, p in enumerate(parts) if i != remainder_index), ZERO)
        parts[remainder_index] = amount - others
        gainers = sorted(
            (i for i in range(len(parts)) if i != remainder_index), key=lambda i: (-(parts[i] - exact[i]), i)
        )
        for i in gainers:
            if parts[remainder_index] >= ZERO:
                break
            if parts[i] > exact[i]:
                parts[i] -= FEN
                parts[remainder_index] += FEN
        return parts


def tiered_amount(
    amount: Decimal, tiers: Sequence[Tier], mode: Literal["whole", "marginal"]
) -> tuple[Decimal, list[str]]:
    """The commission on `amount` and one explanation per line; marginal pieces are rounded one by one, so
    the lines add up to the total shown."""
    if mode == "whole":
        reached = [tier for tier in tiers if tier.from_amount <= amount][-1]
        value = pct_of(amount, reached.rate_percent)
        return value, [f"{reached.rate_percent}% of {amount} (tier from {reached.from_amount})"]
    total = ZERO
    lines: list[str] = []
    uppers: list[Decimal | None] = [tier.from_amount for tier in tiers[1:]]
    uppers.append(None)
    for tier, upper in zip(tiers, uppers, strict=True):
        top = amount if upper is None else min(amount, upper)
        piece = top - tier.from_amount
        if piece <= ZERO:
            break
        value = pct_of(piece, tier.rate_percent)
        total += value
        lines.append(f"{tier.rate_percent}% of {piece} (tier from {tier.from_amount}) = {value}")
    return total, lines


def _settle_split(rule: SplitRule, facts: Facts) -> list[Allocation]:
    roles = [share.role for share in rule.shares]
    parts = split_amount(
        facts.amount,
        [share.percent for share in rule.shares],
        rounding=rule.rounding,
        remainder_index=roles.index(rule.remainder_to) if rule.remainder_to in roles else 0,
    )
    return [
        Allocation(
            role=share.role,
            party_id=facts.party(share.role),
            amount=part,
            basis=f"{share.percent}% of {facts.amount}",
        )
        for share, part in zip(rule.shares, parts, strict=True)
    ]


def _settle_base_plus_incentive(
    rule: BasePlusIncentiveRule, facts: Facts, scale: Scale | None = None
) -> list[Allocation]:
    floating = pct_of(facts.amount, rule.rate_percent) + rule.per_unit * facts.count
    basis = f"base {rule.base} + {rule.rate_percent}% of {facts.amount} + {rule.per_unit} × {facts.count}"
    if scale is not None:  # period modifiers scale the floating incentive; the cap bounds the result
        floating, notes = scale(floating)
        basis += "".join(f"; {note}" for note in notes)
    capped = floating if rule.incentive_cap is None else min(floating, rule.incentive_cap)
    if capped != floating:
        basis += f" (incentive capped at {rule.incentive_cap})"
    return [
        Allocation(
            role=rule.beneficiary,
            party_id=facts.party(rule.beneficiary),
            amount=rule.base + capped,
            basis=basis,
        )
    ]


def settle(rule: AnyRule, facts: Facts) -> list[Allocation]:
    """Apply one rule version to one set of facts. Pure and deterministic: same inputs, same allocations."""
    if isinstance(rule, SplitRule):
        return _settle_split(rule, facts)
    if isinstance(rule, BasePlusIncentiveRule):
        return _settle_base_plus_incentive(rule, facts)
    if isinstance(rule, TieredRule):
        tiers, mode = rule.tiers, rule.mode
    else:
        tiers, mode = rule.tiers(), ("whole" if rule.basis == "whole" else "marginal")
    value, lines = tiered_amount(facts.amount, tiers, mode)
    return [
        Allocation(
            role=rule.beneficiary,
            party_id=facts.party(rule.beneficiary),
            amount=value,
            basis=f"{rule.kind} ({mode}): " + ("; ".join(lines) or "below the first threshold"),
        )
    ]


def posting_id(rule: RuleRef, source: Source, period: str) -> str:
    """Deterministic idempotency key from (rule id, rule version, source, period): a re-run collides with
    the first run's posting instead of doubling it. Hashed so ids containing ':' cannot collide."""
    key = "\x1f".join([rule.id, str(rule.version), source.type.value, source.id, period])
    return "stl:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _credit_account(allocation: Allocation) -> str:
    if allocation.role is PartyRole.PLATFORM:
        return party_account(PartyRole.PLATFORM, allocation.party_id, "revenue")
    return party_account(allocation.role, allocation.party_id, "payable")


def postings_for(
    allocations: Sequence[Allocation], *, rule: AnyRule, facts: Facts, tenant_id: str, at: datetime
) -> list[Posting]:
    """One balanced posting for the allocations (none when they are all zero).

    A split distributes collected money: debit `clearing:collections` with the amount, credit each party.
    Commissions and bonuses cost the platform: debit its commission expense, credit the beneficiary."""
    paid = [a for a in allocations if a.amount > ZERO]
    if not paid:
        return []
    total = sum((a.amount for a in paid), ZERO)
    if isinstance(rule, SplitRule):
        if total != facts.amount:
            raise InvalidInputError(f"split allocations sum to {total}, not the amount {facts.amount}")
        funding = COLLECTIONS
    else:
        funding = party_account(PartyRole.PLATFORM, facts.party(PartyRole.PLATFORM), "commission_expense")
    legs = [Leg(account=funding, debit=total)]
    legs += [Leg(account=_credit_account(a), credit=a.amount) for a in paid]
    return [
        Posting(
            id=posting_id(rule.ref, facts.source, facts.period),
            tenant_id=tenant_id,
            at=at,
            source=facts.source,
            memo=f"{rule.kind} {rule.id} v{rule.version} {facts.period}: "
            + " | ".join(a.basis for a in paid),
            legs=tuple(legs),
            rule=rule.ref,
        )
    ]


# ---------------------------------------------------------------- real-time and month-end settlement

PartyKey = tuple[PartyRole, str]
_PERIOD = re.compile(PERIOD_PATTERN)
_PARTY_ID = re.compile(r"[^\s:]+")


def period_bounds(period: str, timezone: str = "Asia/Shanghai") -> tuple[datetime, datetime]:
    """[the first instant of `period` (YYYY-MM), the first instant of the next month) on the tenant's
    calendar in `timezone`."""
    if not _PERIOD.fullmatch(period):
        raise InvalidInputError(f"period {period!r} is not YYYY-MM")
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"unknown time zone {timezone!r}") from None
    year, month = int(period[:4]), int(period[5:])
    start = datetime(year, month, 1, tzinfo=tz)
    return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)


def period_close(period: str, timezone: str = "Asia/Shanghai") -> datetime:
    """When a period's postings are dated by default: its last second (23:59:59 on its last day, local),
    inside the period's statement [start, end) and the same on every re-run."""
    return period_bounds(period, timezone)[1] - timedelta(seconds=1)


class _SplitPlan:
    """One split rule version compiled for the per-source loop. `posting` gives exactly the posting of
    `postings_for(settle(rule, facts), rule=rule, facts=facts, …)` — same id, legs, memo — computed in
    integer fen and built with the ledger's trusted constructors (balance still checked): the rule and the
    facts were validated when they were parsed, and the split sums to the amount by construction."""

    def __init__(self, rule: SplitRule) -> None:
        roles = [share.role for share in rule.shares]
        self.ref = rule.ref
        self.roles = roles
        self.units = [_as_int(share.percent, 4) or 0 for share in rule.shares]  # 4 places: validated
        self.rounding = rule.rounding
        self.remainder_index = roles.index(rule.remainder_to) if rule.remainder_to in roles else 0
        self.bases = [f"{share.percent}% of " for share in rule.shares]
        self.account_parts = [
            ("party:platform:", ":revenue")
            if role is PartyRole.PLATFORM
            else (f"party:{role.value}:", ":payable")
            for role in roles
        ]
        self.memo_head = f"{rule.kind} {rule.id} v{rule.version} "
        # Made as the plan's postings need them and shared by them (strings and Decimals are immutable): per
        # share the account ids by party id, each checked once (a party id must fit an account id: no spaces
        # or ':'); Decimal amounts by integer fen.
        self.account_ids: list[dict[str, str]] = [{} for _ in roles]
        self.fen: dict[int, Decimal] = {}
        self.key_head = f"{rule.id}\x1f{rule.version}\x1f"

    def _account(self, index: int, party_id: str) -> str:
        head, tail = self.account_parts[index]
        account_id = head + party_id + tail
        if not _PARTY_ID.fullmatch(party_id) or len(account_id) > 200:
            raise InvalidInputError(f"party id {party_id!r} cannot name an account (no spaces or ':')")
        return account_id

    def posting(self, facts: Facts, cents: int, tenant_id: str, at: datetime) -> Posting | None:
        parties = facts.parties
        source = facts.source
        try:
            ids = [parties[role] for role in self.roles]
        except KeyError as e:
            role = PartyRole(e.args[0])
            raise InvalidInputError(f"facts for {source.type} {source.id} name no {role.value}") from None
        if not cents:
            return None
        amount = facts.amount
        amount_text = str(amount)
        parts = split_fen(cents, self.units, self.rounding, self.remainder_index)
        # The balance, checked in integers: the debit is the amount (cents), the credits are the parts.
        if sum(parts) != cents or min(parts) < 0:
            raise AssertionError(f"split of {cents} fen gave {parts}")
        legs = [trusted_leg(COLLECTIONS, amount)]
        bases: list[str] = []
        accounts, fen = self.account_ids, self.fen
        for i, part in enumerate(parts):
            if part:
                account_id = accounts[i].get(ids[i])
                if account_id is None:
                    account_id = accounts[i][ids[i]] = self._account(i, ids[i])
                credit = fen.get(part)
                if credit is None:
                    credit = fen[part] = _fen_decimal(part)
                legs.append(trusted_leg(account_id, None, credit))
                bases.append(self.bases[i] + amount_text)
        period = facts.period
        # posting_id(rule.ref, source, period), from the parts computed once per rule (StrEnum: its value)
        key = self.key_head + source.type + "\x1f" + source.id + "\x1f" + period
        return trusted_posting(
            id="stl:" + hashlib.sha256(key.encode()).hexdigest()[:40],
            tenant_id=tenant_id,
            at=at,
            source=source,
            memo=self.memo_head + period + ": " + " | ".join(bases),
            legs=tuple(legs),
            rule=self.ref,
            balance_checked=True,
        )


class _SplitSchedule:
    """Which split rule applies at which instant: the rule versions' effective bounds cut time into
    intervals in which the same versions are in effect, so finding a source's rule is one bisection."""

    def __init__(self, rules: Iterable[AnyRule]) -> None:
        versions = _by_id(rules)
        bounds: set[datetime] = set()
        for rule in (rule for group in versions.values() for rule in group):
            bounds.add(rule.effective_from)
            if rule.effective_to is not None:
                bounds.add(rule.effective_to)
        self.bounds = sorted(bounds)
        compiled: dict[tuple[str, int], _SplitPlan] = {}
        self.plans: list[_SplitPlan | str | None] = [None]  # before the first bound nothing is in effect
        for start in self.bounds:
            in_effect = [_in_effect(group, start) for group in versions.values()]
            splits = sorted((r for r in in_effect if isinstance(r, SplitRule)), key=lambda r: r.id)
            if len(splits) > 1:
                names = ", ".join(r.id for r in splits)
                self.plans.append(f"split rules {names} are all in effect from {start.isoformat()}: one only")
            elif splits:
                rule = splits[0]
                key = (rule.id, rule.version)
                self.plans.append(compiled.setdefault(key, _SplitPlan(rule)))
            else:
                self.plans.append(None)

    def plan_at(self, at: datetime) -> _SplitPlan | None:
        plan = self.plans[bisect_right(self.bounds, at)]
        if isinstance(plan, str):
            raise InvalidInputError(plan)
        return plan


def settle_source(
    rules: Iterable[AnyRule], facts: Facts, *, tenant_id: str, at: datetime | None = None
) -> list[Posting]:
    """Real-time settlement of one completed order/ticket: the split rule version in effect when it was
    completed (`facts.completed_at`, else `at`) applied to its amount, as at most one posting dated then.
    Other kinds of rule apply to periods (`settle_period`). `settle_period` posts exactly this posting again
    (same id, same content), so the month-end run adds nothing for sources already settled."""
    when = facts.completed_at or at
    if when is None:
        raise InvalidInputError(f"facts for {facts.source.type} {facts.source.id} have no completed_at")
    if not tenant_id:
        raise InvalidInputError("tenant_id is required")
    plan = _SplitSchedule(rules).plan_at(when)
    posting = None if plan is None else plan.posting(facts, _cents(facts.amount), tenant_id, when)
    return [] if posting is None else [posting]


def split_rule_in_effect(rules: Iterable[AnyRule], at: datetime) -> bool:
    """Whether a split rule version is in effect at `at` (InvalidInputError when several are)."""
    return _SplitSchedule(rules).plan_at(at) is not None


def _cents(amount: Decimal) -> int:
    return int(amount.scaleb(2))  # Money: exact to the fen, so this is exact


@dataclass(frozen=True)
class PartyPeriod:
    """One party's period, aggregated over the facts naming it in `role`: the base of its period rules."""

    role: PartyRole
    party_id: str
    amount: Decimal  # the sum of those facts' amounts (the engineer's labour, the store's sales …)
    count: int  # the sum of their counts (1 per completed ticket)
    ratings: int  # how many of them were rated
    rating_sum: int
    region: str | None = None

    @property
    def average_rating(self) -> Decimal | None:
        """For statements, ROUND_HALF_UP to 0.01; rating levels compare the exact average."""
        if not self.ratings:
            return None
        return (Decimal(self.rating_sum) / self.ratings).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def source(self, period: str) -> Source:
        """The stable key of this party's period postings, e.g. settlement_run "engineer:E-7:2026-11"."""
        return Source(type=SourceType.SETTLEMENT_RUN, id=f"{self.role.value}:{self.party_id}:{period}")


@dataclass(frozen=True)
class PeriodSettlement:
    """A month-end run: every source's split posting and every party's period postings, all balanced,
    with ids derived from (rule, version, source, period): posting them again adds nothing."""

    period: str
    at: datetime  # when the period postings are dated
    split_postings: tuple[Posting, ...]
    period_postings: tuple[Posting, ...]
    parties: tuple[PartyPeriod, ...]  # sorted by (role, party id)

    @property
    def postings(self) -> tuple[Posting, ...]:
        return self.split_postings + self.period_postings


def settle_period(
    period: str,
    tenant_id: str,
    rules: Iterable[AnyRule],
    facts: Iterable[Facts],
    *,
    modifiers: Iterable[AnyPeriodModifier] = (),
    regions: Mapping[PartyKey, str] | None = None,
    at: datetime | None = None,
    timezone: str = "Asia/Shanghai",
) -> PeriodSettlement:
    """The month-end settlement of `period` (YYYY-MM) from its completed orders/tickets, one `Facts` each.

    1. Per source: the split rule in effect at its `completed_at` (else at the period close), exactly as
       `settle_source` posted it in real time (same id and content: `ledger.new_postings` drops it).
    2. Per party (every store, engineer, partner … the facts name; the platform funds, it is not paid): the
       amounts and counts of the facts naming it in that role are summed, and each period rule (tiered,
       threshold bonus, base + incentive) in effect at `at` paying that role is applied to the sum under
       the source settlement_run "<role>:<party id>:<period>", scaled by the period modifiers in effect
       (region coefficients, then satisfaction multipliers; see the module doc for rounding).

    `rules` and `modifiers` may hold every version; each is matched by its effective dates. `regions`
    gives a party's region for region coefficients, e.g. {(engineer, "E-7"): "华东"}. Period postings are
    dated `at`, by default `period_close(period, timezone)`. Same inputs, same postings: a re-run is a no-op.
    """
    close = period_close(period, timezone) if at is None else at
    if close.tzinfo is None or close.utcoffset() is None:
        raise InvalidInputError("at must be timezone-aware")
    if not tenant_id:
        raise InvalidInputError("tenant_id is required")
    rules = list(rules)
    schedule = _SplitSchedule(rules)
    with _gc_paused():
        splits, totals, platforms = _settle_sources(period, tenant_id, schedule, facts, close)
    regions = regions or {}
    parties = tuple(
        PartyPeriod(
            role=role,
            party_id=party_id,
            amount=_fen_decimal(cents),
            count=count,
            ratings=rated,
            rating_sum=rating_sum,
            region=regions.get((role, party_id)),
        )
        for (role, party_id), (cents, count, rating_sum, rated) in sorted(totals.items())
    )
    period_postings = _settle_parties(period, tenant_id, rules, list(modifiers), parties, platforms, close)
    return PeriodSettlement(
        period=period,
        at=close,
        split_postings=tuple(splits),
        period_postings=tuple(period_postings),
        parties=parties,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The per-source loop allocates about ten objects per source and none in a reference cycle. CPython's
    cyclic collector, triggered every 700 allocations, would walk the growing heap again and again (about
    as long as the work itself for 100,000 tickets); reference counting frees everything the loop drops."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _settle_sources(
    period: str, tenant_id: str, schedule: _SplitSchedule, facts: Iterable[Facts], close: datetime
) -> tuple[list[Posting], dict[PartyKey, list[int]], set[str]]:
    """The hot loop of a month-end run (100,000 tickets): split postings and per-party sums in integer fen."""
    postings: list[Posting] = []
    totals: dict[PartyKey, list[int]] = {}  # [fen, count, rating sum, ratings]
    seen: set[tuple[str, str]] = set()
    platforms: set[str] = set()
    platform = PartyRole.PLATFORM
    plans, bounds = schedule.plans, schedule.bounds
    for f in facts:
        source = f.source
        if f.period != period:
            raise InvalidInputError(
                f"facts for {source.type} {source.id} are of period {f.period}, not {period}"
            )
        key = (source.type, source.id)
        if key in seen:
            raise InvalidInputError(f"{source.type} {source.id} appears twice in the period's facts")
        seen.add(key)
        cents = int(f.amount.scaleb(2))  # Money: exact
        when = f.completed_at or close
        plan = plans[bisect_right(bounds, when)]
        if plan is not None:
            if isinstance(plan, str):
                raise InvalidInputError(plan)
            posting = plan.posting(f, cents, tenant_id, when)
            if posting is not None:
                postings.append(posting)
        rating, count = f.rating, f.count
        for role, party_id in f.parties.items():
            if role is platform:
                platforms.add(party_id)
                continue
            sums = totals.get((role, party_id))
            if sums is None:
                sums = totals[(role, party_id)] = [0, 0, 0, 0]
            sums[0] += cents
            sums[1] += count
            if rating is not None:
                sums[2] += rating
                sums[3] += 1
    return postings, totals, platforms


def _settle_parties(
    period: str,
    tenant_id: str,
    rules: Sequence[AnyRule],
    modifiers: Sequence[AnyPeriodModifier],
    parties: Sequence[PartyPeriod],
    platforms: set[str],
    at: datetime,
) -> list[Posting]:
    in_effect = [_in_effect(group, at) for group in _by_id(rules).values()]
    period_rules = sorted(
        (r for r in in_effect if r is not None and not isinstance(r, SplitRule)), key=lambda r: r.id
    )
    active = [m for m in (_in_effect(g, at) for g in _by_id(modifiers).values()) if m is not None]
    active.sort(key=lambda m: (0 if isinstance(m, RegionCoefficient) else 1, m.id))
    if len(platforms) > 1 and period_rules:
        raise InvalidInputError(f"the period's facts name several platforms ({', '.join(sorted(platforms))})")
    funding = {PartyRole.PLATFORM: next(iter(platforms))} if platforms else {}
    postings: list[Posting] = []
    for rule in period_rules:
        scaling = [m for m in active if m.scales(rule)]
        for party in parties:
            if party.role is not rule.beneficiary:
                continue
            facts = Facts(
                source=party.source(period),
                period=period,
                amount=party.amount,
                count=party.count,
                parties={party.role: party.party_id, **funding},
            )
            allocations = _period_allocations(rule, facts, scaling, party)
            postings += postings_for(allocations, rule=rule, facts=facts, tenant_id=tenant_id, at=at)
    return postings


def _period_allocations(
    rule: BasePlusIncentiveRule | TieredRule | ThresholdBonusRule,
    facts: Facts,
    modifiers: Sequence[AnyPeriodModifier],
    party: PartyPeriod,
) -> list[Allocation]:
    def scale(value: Decimal) -> tuple[Decimal, list[str]]:
        return _scaled(value, modifiers, party)

    if isinstance(rule, BasePlusIncentiveRule):
        return _settle_base_plus_incentive(rule, facts, scale)
    [allocation] = settle(rule, facts)
    amount, notes = scale(allocation.amount)
    if not notes:
        return [allocation]
    basis = "; ".join([allocation.basis, *notes])
    return [allocation.model_copy(update={"amount": amount, "basis": basis})]


def _scaled(
    value: Decimal, modifiers: Sequence[AnyPeriodModifier], party: PartyPeriod
) -> tuple[Decimal, list[str]]:
    """`value` × each applicable factor in turn, each step ROUND_HALF_UP to the fen, one note per step."""
    notes: list[str] = []
    for modifier in modifiers:
        if isinstance(modifier, RegionCoefficient):
            factor = modifier.coefficient(party.region)
            why = f"region {party.region or 'unknown'} ({modifier.id})"
        else:
            level = modifier.level(party.rating_sum, party.ratings)
            if level is None:
                continue
            factor = level.multiplier
            why = (
                f"average rating {party.average_rating} over {party.ratings} ratings"
                f" >= {level.min_average} ({modifier.id})"
            )
        if factor == 1 or not value:
            continue
        value = (value * factor).quantize(FEN, rounding=ROUND_HALF_UP)
        notes.append(f"{why}: × {factor} = {value}")
    return value, notes
