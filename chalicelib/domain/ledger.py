"""A pure double-entry ledger: accounts, balanced immutable postings, reversals, balances and statements.

The invariants are the ones TigerBeetle and Modern Treasury promise:
- every posting is balanced (sum of debits == sum of credits), has at least two legs, and every leg amount is
  a positive `Money` (domain/money.py: exact to the fen, CNY; floats and sub-fen amounts are refused, never
  rounded);
- a posting is never edited: it is frozen, and a mistake or a refund is undone by `reverse`, which writes the
  mirror posting under the derived id `rev:<id>`;
- a posting's id is its idempotency key: posting the same id twice writes nothing new (`new_postings`), and
  the same id with different content is a conflict, never silently accepted.

Sign convention (one sign for every account, so a balanced ledger sums to zero):
    balance = sum(debits) - sum(credits)
Asset and expense accounts are debit-normal: their usual balance is positive. Liability, revenue and equity
accounts are credit-normal: their usual balance is negative (a store's payable of 100.00 reads -100.00).
`Account.presented(balance)` flips a credit-normal balance so it reads positive on statements for people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from chalicelib.domain.common import ConflictError, InvalidInputError
from chalicelib.domain.money import Money, largest_remainder, to_fen

ZERO = Decimal("0.00")


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"
    EQUITY = "equity"


DEBIT_NORMAL = frozenset({AccountType.ASSET, AccountType.EXPENSE})


class Account(BaseModel):
    """An account, e.g. `party:store:SH-001:payable` (liability). Ids are colon-separated, no spaces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[^\s:]+(:[^\s:]+)+$", max_length=200)
    type: AccountType
    currency: Literal["CNY"] = "CNY"

    @property
    def debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL

    def presented(self, balance: Decimal) -> Decimal:
        """The balance as a person reads it: positive when the account sits on its normal side."""
        return balance if self.debit_normal else -balance


class SourceType(StrEnum):
    ORDER = "order"
    TICKET = "ticket"
    SETTLEMENT_RUN = "settlement_run"
    ADJUSTMENT = "adjustment"


class Source(BaseModel):
    """What a posting settles: every statement line traces back to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: SourceType
    id: str = Field(min_length=1, max_length=200)


class RuleRef(BaseModel):
    """The rule version that produced a posting (None for manual adjustments)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    version: int = Field(ge=1)


class Leg(BaseModel):
    """One side of a posting: exactly one of debit / credit, a positive amount exact to the fen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str = Field(pattern=r"^[^\s:]+(:[^\s:]+)+$", max_length=200)
    debit: Money | None = None
    credit: Money | None = None

    @model_validator(mode="after")
    def _one_positive_side(self) -> Leg:
        if (self.debit is None) == (self.credit is None):
            raise InvalidInputError(f"leg on {self.account} needs exactly one of debit or credit")
        amount = self.debit if self.debit is not None else self.credit
        if amount is None or amount <= 0:
            raise InvalidInputError(f"leg on {self.account} has amount {amount}; amounts must be > 0")
        return self

    @property
    def net(self) -> Decimal:
        """Signed by the ledger's convention: debit positive, credit negative."""
        return self.debit if self.debit is not None else -(self.credit or ZERO)

    def mirrored(self) -> Leg:
        return Leg(account=self.account, debit=self.credit, credit=self.debit)


class Posting(BaseModel):
    """A balanced, immutable journal entry. `id` is the idempotency key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=300)
    tenant_id: str = Field(min_length=1)
    at: AwareDatetime
    source: Source
    memo: str = ""
    legs: tuple[Leg, ...]
    currency: Literal["CNY"] = "CNY"
    rule: RuleRef | None = None
    reverses: str | None = None  # the id of the posting this one mirrors

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_posting(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Posting:
        # Every rejection says which posting it was, whether it came from a leg, a field or the balance check.
        try:
            posting: Posting = handler(data)
            posting._check_balanced()
        except InvalidInputError as e:
            raise InvalidInputError(f"posting {_id_of(data)!r}: {e.message}", details=e.details) from e
        except ValidationError as e:
            details = [{"loc": list(err["loc"]), "msg": err["msg"]} for err in e.errors()]
            raise InvalidInputError(f"posting {_id_of(data)!r} is invalid", details=details) from e
        return posting

    def _check_balanced(self) -> None:
        if len(self.legs) < 2:
            raise InvalidInputError("a posting needs at least two legs")
        debits = sum((leg.debit for leg in self.legs if leg.debit is not None), ZERO)
        credits = sum((leg.credit for leg in self.legs if leg.credit is not None), ZERO)
        if debits != credits:
            raise InvalidInputError(f"unbalanced: debits {debits} != credits {credits}")

    @property
    def total(self) -> Decimal:
        return sum((leg.debit for leg in self.legs if leg.debit is not None), ZERO)


# ---------------------------------------------------------------- trusted construction (engines only)
#
# Validation belongs at the edges: postings and legs parsed from requests, files or the store go through the
# models above. An engine that derives them from already-validated rules and facts, with amounts it computed
# exactly to the fen, may build them with `trusted_leg` / `trusted_posting`, which skip pydantic's field
# validation (it dominates a month-end run of 100,000 tickets) but keep the balance check (the posting's, or
# the engine's own in integer fen). The objects are the same as validated ones: equal, hashable alike,
# serialised alike (tests/unit/test_settlement.py checks).

_new = object.__new__
_set = object.__setattr__
# The fields each kind of trusted object sets, shared by all of them: the models are frozen, so pydantic
# never adds to a model's own set (`model_copy` copies it before adding), and a set per object would be one
# more object per leg for the cyclic GC to walk after a month-end run.
_DEBIT_FIELDS = {"account", "debit"}
_CREDIT_FIELDS = {"account", "credit"}
_POSTING_FIELDS = {"id", "tenant_id", "at", "source", "memo", "legs", "rule"}
_REVERSAL_FIELDS = {*_POSTING_FIELDS, "reverses"}


def trusted_leg(account: str, debit: Decimal | None = None, credit: Decimal | None = None) -> Leg:
    """A Leg without validation, for engines: `account` a valid id, exactly one positive amount exact to
    the fen (Decimal with two places). Anything from outside goes through `Leg(...)`."""
    # What `model_construct` does, without its loop over the fields (no aliases, defaults or post-init here).
    leg: Leg = _new(Leg)
    _set(leg, "__dict__", {"account": account, "debit": debit, "credit": credit})
    _set(leg, "__pydantic_fields_set__", _CREDIT_FIELDS if debit is None else _DEBIT_FIELDS)
    _set(leg, "__pydantic_extra__", None)
    _set(leg, "__pydantic_private__", None)
    return leg


def trusted_posting(
    *,
    id: str,
    tenant_id: str,
    at: datetime,
    source: Source,
    memo: str,
    legs: tuple[Leg, ...],
    rule: RuleRef | None = None,
    reverses: str | None = None,
    balance_checked: bool = False,
) -> Posting:
    """A Posting from an engine's trusted legs without field validation. The balance is still checked (at
    least two legs, debits == credits), so an engine bug cannot slip an unbalanced entry through — unless
    the engine has just checked it itself (`balance_checked=True`, e.g. in integer fen, which is cheaper)."""
    if not balance_checked:
        if len(legs) < 2:
            raise InvalidInputError(f"posting {id!r}: a posting needs at least two legs")
        net = ZERO
        for leg in legs:
            net += leg.debit if leg.debit is not None else -leg.credit  # type: ignore[operator]  # one side
        if net:
            raise InvalidInputError(f"posting {id!r}: unbalanced: debits - credits = {net}")
    values = {
        "id": id,
        "tenant_id": tenant_id,
        "at": at,
        "source": source,
        "memo": memo,
        "legs": legs,
        "currency": "CNY",
        "rule": rule,
        "reverses": reverses,
    }
    posting: Posting = _new(Posting)
    _set(posting, "__dict__", values)
    _set(posting, "__pydantic_fields_set__", _POSTING_FIELDS if reverses is None else _REVERSAL_FIELDS)
    _set(posting, "__pydantic_extra__", None)
    _set(posting, "__pydantic_private__", None)
    return posting


def _id_of(data: Any) -> object:
    if isinstance(data, Mapping):
        return data.get("id")
    return getattr(data, "id", None)


def reverse(posting: Posting, at: datetime, reason: str) -> Posting:
    """The mirror of `posting` (every debit becomes a credit and back) under the id `rev:<id>`.

    The original stays as it was: a refund or a correction is a new entry, and the derived id makes a retried
    reversal idempotent. A reversal cannot predate what it reverses."""
    if at < posting.at:
        raise InvalidInputError(f"reversal of {posting.id!r} at {at.isoformat()} predates the posting")
    return Posting(
        id=f"rev:{posting.id}",
        tenant_id=posting.tenant_id,
        at=at,
        source=posting.source,
        memo=f"reversal of {posting.id}: {reason}",
        legs=tuple(leg.mirrored() for leg in posting.legs),
        rule=posting.rule,
        reverses=posting.id,
    )


def partial_reversal(
    posting: Posting,
    *,
    refunded: Decimal,
    of: Decimal,
    earlier: Iterable[Posting],
    at: datetime,
    reason: str,
) -> Posting | None:
    """The part of `posting` that a refund takes back: `refunded` of `of` (cumulative, all refunds so far),
    less what the earlier reversals of it took. Each side's legs are scaled by refunded/of, the side total
    rounded ROUND_HALF_UP to the fen and shared among its legs by largest remainder, so the posting balances.
    Because the share is cumulative, the parts of several refunds add up exactly to the scaled whole, and a
    refund of everything (refunded = of) takes back exactly what is left of the posting.

    Id: `rev:<id>:<refunded>` (a redelivered refund makes the same posting); a refund of everything is
    `rev:<id>`, like `reverse`. None when nothing is left to take back."""
    if of <= 0 or refunded <= 0:
        return None
    full = refunded >= of
    if at < posting.at:
        raise InvalidInputError(f"reversal of {posting.id!r} at {at.isoformat()} predates the posting")
    target: dict[str, Decimal] = defaultdict(lambda: ZERO)  # account → net of the cumulative reversal
    for side in ("debit", "credit"):
        legs = [(leg.account, getattr(leg, side)) for leg in posting.legs if getattr(leg, side) is not None]
        whole = sum((amount for _, amount in legs), ZERO)
        taken = whole if full else to_fen(whole * refunded / of)
        shares = largest_remainder(_cents(taken), [_cents(amount) for _, amount in legs])
        for (account, _), share in zip(legs, shares, strict=True):
            fen = Decimal(share).scaleb(-2)
            target[account] += -fen if side == "debit" else fen  # the mirror: a debit becomes a credit
    for account, net in balances(earlier).items():
        target[account] -= net
    legs_out = legs_for(target)
    if not legs_out:
        return None
    return Posting(
        id=f"rev:{posting.id}" if full else f"rev:{posting.id}:{to_fen(refunded)}",
        tenant_id=posting.tenant_id,
        at=at,
        source=posting.source,
        memo=f"{'reversal' if full else 'partial reversal'} of {posting.id}: {reason}",
        legs=legs_out,
        rule=posting.rule,
        reverses=posting.id,
    )


def legs_for(nets: Mapping[str, Decimal]) -> tuple[Leg, ...]:
    """The legs that move each account by its net (debits − credits): a debit where it is positive, a credit
    where negative; accounts that do not move are left out."""
    return tuple(
        Leg(account=account, debit=net) if net > 0 else Leg(account=account, credit=-net)
        for account, net in nets.items()
        if net
    )


def _cents(amount: Decimal) -> int:
    return int(amount.scaleb(2))  # a Money amount: exact to the fen


def unique(postings: Iterable[Posting]) -> list[Posting]:
    """Postings with repeated ids counted once; the same id with different content is a ConflictError."""
    seen: dict[str, Posting] = {}
    for posting in postings:
        known = seen.get(posting.id)
        if known is None:
            seen[posting.id] = posting
        elif known != posting:
            raise ConflictError(f"posting id {posting.id!r} was reused for different content")
    return list(seen.values())


def new_postings(existing: Mapping[str, Posting], candidates: Iterable[Posting]) -> list[Posting]:
    """The candidates not yet in the ledger: a retried or re-run post returns [] (idempotency by id)."""
    fresh: dict[str, Posting] = {}
    for posting in candidates:
        known = existing.get(posting.id) or fresh.get(posting.id)
        if known is None:
            fresh[posting.id] = posting
        elif known != posting:
            raise ConflictError(f"posting id {posting.id!r} was reused for different content")
    return list(fresh.values())


def balances(postings: Iterable[Posting], *, before: datetime | None = None) -> dict[str, Decimal]:
    """Balance per account id, debits - credits (see the module doc); only postings before `before` if given.

    For any balanced set of postings the values sum to zero."""
    totals: dict[str, Decimal] = {}
    for posting in unique(postings):
        if before is not None and posting.at >= before:
            continue
        for leg in posting.legs:
            totals[leg.account] = totals.get(leg.account, ZERO) + leg.net
    return totals


class StatementLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    posting_id: str
    at: datetime
    source: Source
    rule: RuleRef | None
    memo: str
    debit: Money = ZERO
    credit: Money = ZERO
    balance: Money  # running balance after this line, debits - credits


class Statement(BaseModel):
    """One account over [period_from, period_to): opening balance, lines with running balance, closing.

    Balances use the ledger's sign (debits - credits); `account.presented(...)` reads them as a person would.
    Lines are ordered by (at, posting id) so the same postings always give the same statement."""

    model_config = ConfigDict(frozen=True)

    account: str
    period_from: datetime
    period_to: datetime
    opening_balance: Money
    lines: tuple[StatementLine, ...]
    closing_balance: Money

    @property
    def total_debits(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def total_credits(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)


def statement(
    postings: Iterable[Posting], account: str, period_from: datetime, period_to: datetime
) -> Statement:
    """The statement of `account` for the half-open period [period_from, period_to)."""
    if period_to < period_from:
        raise InvalidInputError("a statement period must not end before it starts")
    opening = ZERO
    in_period: list[tuple[Posting, Decimal, Decimal]] = []
    for posting in unique(postings):
        mine = [leg for leg in posting.legs if leg.account == account]
        if not mine:
            continue
        debit = sum((leg.debit for leg in mine if leg.debit is not None), ZERO)
        credit = sum((leg.credit for leg in mine if leg.credit is not None), ZERO)
        if posting.at < period_from:
            opening += debit - credit
        elif posting.at < period_to:
            in_period.append((posting, debit, credit))
    in_period.sort(key=lambda item: (item[0].at, item[0].id))
    running = opening
    lines: list[StatementLine] = []
    for posting, debit, credit in in_period:
        running += debit - credit
        lines.append(
            StatementLine(
                posting_id=posting.id,
                at=posting.at,
                source=posting.source,
                rule=posting.rule,
                memo=posting.memo,
                debit=debit,
                credit=credit,
                balance=running,
            )
        )
    return Statement(
        account=account,
        period_from=period_from,
        period_to=period_to,
        opening_balance=opening,
        lines=tuple(lines),
        closing_balance=running,
    )
