"""Commission and settlement rules as versioned data, and the pure engine that applies them.

`settle(rule, facts)` turns one rule version and the facts of one order/ticket (or one party's period) into
allocations, each a party's share exact to the fen; `postings_for(...)` turns them into one balanced ledger
posting whose id is derived from (rule id, rule version, source, period), so a re-run posts nothing new.

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

Accounts the engine posts to (colon-separated ids, see ledger.Account):
- `clearing:collections` (asset): money collected for an order/ticket, distributed by split rules;
- `party:<role>:<id>:payable` (liability): what the tenant owes a store/engineer/rider/partner;
- `party:platform:<id>:revenue` (revenue): the platform's own share of a split;
- `party:platform:<id>:commission_expense` (expense): what commissions and bonuses cost the platform.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from chalicelib.domain.common import InvalidInputError, NotFoundError
from chalicelib.domain.ledger import (
    ZERO,
    Account,
    AccountType,
    Fen,
    Leg,
    Posting,
    RuleRef,
    Source,
)
from chalicelib.domain.money import FEN

HUNDRED = Decimal(100)


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
    base: Fen = ZERO
    rate_percent: Percent = ZERO
    per_unit: Fen = ZERO
    incentive_cap: Fen | None = None


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_amount: Fen  # inclusive lower bound; the tier ends where the next one starts
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
    threshold: Fen
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
    valid = [
        rule
        for rule in versions
        if rule.effective_from <= at and (rule.effective_to is None or at < rule.effective_to)
    ]
    if not valid:
        raise NotFoundError(f"no rule version in effect at {at.isoformat()}")
    return max(valid, key=lambda rule: rule.version)


# ---------------------------------------------------------------- facts and allocations


class Facts(BaseModel):
    """What a rule is applied to: one order/ticket (amount = its amount) or one party's period (amount = the
    period total, source = a key stable across re-runs, e.g. settlement_run "engineer:E-7:2026-11")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    amount: Fen
    count: int = Field(default=0, ge=0)  # units for per-unit incentives (completed tickets, lessons …)
    parties: dict[PartyRole, str]  # who plays each role: {"store": "SH-001", "platform": "hq"}

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
    amount: Fen
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
        # Rounding up may overdraw the designated share for amounts of a few fen: take back from the
        # shares that gained most by rounding until it is >= 0.
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


def _settle_base_plus_incentive(rule: BasePlusIncentiveRule, facts: Facts) -> list[Allocation]:
    floating = pct_of(facts.amount, rule.rate_percent) + rule.per_unit * facts.count
    capped = floating if rule.incentive_cap is None else min(floating, rule.incentive_cap)
    basis = f"base {rule.base} + {rule.rate_percent}% of {facts.amount} + {rule.per_unit} × {facts.count}"
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
