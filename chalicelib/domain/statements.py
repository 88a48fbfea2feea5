"""Ledger entries as stored per account and month, and party statements built from them.

A posting (domain/ledger.py) is stored once, and each of its legs once more as an `Entry` in its account's
month, so a statement for a party and period is one Query. Each entry keeps what a statement line must
trace to: the posting, its source (ticket/order/run), the rule version, and the basis — the amount of the
source it was computed from (a ticket's payable total), which month-end tiers sum per party.

Periods are calendar months in China Standard Time (a posting at 2026-11-30T23:30+08:00 is November's).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.ledger import ZERO, Posting, RuleRef, Source
from chalicelib.domain.money import Money
from chalicelib.domain.settlement import PartyRole, account, party_account
from chalicelib.domain.settlement import period_bounds as settlement_period_bounds

PERIOD_ZONE = ZoneInfo("Asia/Shanghai")


def period_of(at: datetime) -> str:
    return at.astimezone(PERIOD_ZONE).strftime("%Y-%m")


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of a period (China time), in UTC."""
    start, end = settlement_period_bounds(period, PERIOD_ZONE.key)
    return start.astimezone(UTC), end.astimezone(UTC)


class Entry(BaseModel):
    """One leg of a posting, in its account's month."""

    model_config = ConfigDict(frozen=True)

    account: str
    posting_id: str
    leg: int = Field(ge=0)
    at: datetime
    source: Source
    rule: RuleRef | None = None
    memo: str = ""
    debit: Money = ZERO
    credit: Money = ZERO
    basis: Money = ZERO  # the source amount the leg was computed from (signed: reversals negate it)
    customer_id: str | None = None
    reverses: str | None = None

    @property
    def net(self) -> Decimal:
        return self.debit - self.credit

    @property
    def period(self) -> str:
        return period_of(self.at)


def entries_of(posting: Posting, *, basis: Decimal, customer_id: str | None) -> list[Entry]:
    """The posting's legs as entries; a reversal carries the negated basis so period sums net out."""
    signed = -basis if posting.reverses else basis
    return [
        Entry.model_construct(
            account=leg.account,
            posting_id=posting.id,
            leg=i,
            at=posting.at,
            source=posting.source,
            rule=posting.rule,
            memo=posting.memo,
            debit=leg.debit or ZERO,
            credit=leg.credit or ZERO,
            basis=signed,
            customer_id=customer_id,
            reverses=posting.reverses,
        )
        for i, leg in enumerate(posting.legs)
    ]


class Party(BaseModel):
    """`engineer:E-7`, `store:SH-001`, `platform:hq`, `partner:P-1`, `rider:R-3`."""

    model_config = ConfigDict(frozen=True)

    role: PartyRole
    id: str = Field(min_length=1, max_length=64, pattern=r"^[^\s#:]+$")

    @classmethod
    def parse(cls, text: str) -> Party:
        role, sep, party_id = text.partition(":")
        if not sep:
            raise InvalidInputError(
                "party is <role>:<id>, e.g. engineer:E-7",
                details=[{"field": "party", "message": "expected <role>:<id>"}],
            )
        try:
            return cls(role=PartyRole(role), id=party_id)
        except ValueError:
            raise InvalidInputError(
                f"unknown party '{text}'",
                details=[{"field": "party", "message": f"role is one of {', '.join(PartyRole)}"}],
            ) from None

    @classmethod
    def of_account(cls, account: str) -> Party | None:
        """The party of a `party:<role>:<id>:<purpose>` account; None for any other account."""
        parts = account.split(":")
        if len(parts) != 4 or parts[0] != "party" or parts[1] not in PartyRole.__members__.values():
            return None
        return cls(role=PartyRole(parts[1]), id=parts[2])

    @property
    def account(self) -> str:
        """What the tenant owes the party (the platform's own share is its revenue)."""
        purpose = "revenue" if self.role is PartyRole.PLATFORM else "payable"
        return party_account(self.role, self.id, purpose)

    def __str__(self) -> str:
        return f"{self.role.value}:{self.id}"


class StatementRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    posting_id: str
    source_type: str
    source_id: str
    rule: str | None  # "<rule id> v<version>"
    memo: str
    amount: Money  # signed as the party reads it: + earned, − reversed/charged
    balance: Money  # running, as the party reads it
    # Which share of the source is this party's, e.g. "45% of 485.54 (ticket-split v1)"; None: no basis.
    share: str | None = None


class PartyStatement(BaseModel):
    """A party's statement for one period, as the party reads it (amounts owed to them are positive)."""

    model_config = ConfigDict(frozen=True)

    party: str
    account: str
    period: str
    timezone: str = PERIOD_ZONE.key  # the tenant's: every row's time is given in it
    opening_balance: Money
    earned: Money  # Σ positive rows
    reversed: Money  # Σ negative rows, as a positive number
    closing_balance: Money
    rows: list[StatementRow]
    settled_sources: int  # distinct tickets/orders with a row


def build_statement(
    party: Party, period: str, opening: Decimal, entries: Sequence[Entry], *, zone: ZoneInfo = PERIOD_ZONE
) -> PartyStatement:
    """Rows by (time, posting id, leg), their times in `zone` (the tenant's); `opening` is the ledger
    balance (debits − credits) before it."""
    sign = (
        Decimal(1) if account(party.account).debit_normal else Decimal(-1)
    )  # as `Account.presented` reads it
    running = _plain(sign * opening)
    rows: list[StatementRow] = []
    earned = reversed_ = ZERO
    for e in sorted(entries, key=lambda e: (e.at, e.posting_id, e.leg)):
        amount = _plain(sign * e.net)
        running += amount
        if amount >= 0:
            earned += amount
        else:
            reversed_ -= amount
        rule = f"{e.rule.id} v{e.rule.version}" if e.rule else None
        rows.append(
            StatementRow(
                at=e.at.astimezone(zone),
                posting_id=e.posting_id,
                source_type=e.source.type.value,
                source_id=e.source.id,
                rule=rule,
                memo=e.memo,
                amount=amount,
                balance=running,
                share=share_text(amount, e.basis, rule),
            )
        )
    return PartyStatement(
        party=str(party),
        account=party.account,
        period=period,
        timezone=zone.key,
        opening_balance=_plain(sign * opening),
        earned=earned,
        reversed=reversed_,
        closing_balance=running,
        rows=rows,
        settled_sources=len({(e.source.type, e.source.id) for e in entries}),
    )


def share_text(amount: Decimal, basis: Decimal, rule: str | None) -> str | None:
    """The row's amount as a share of the amount it was computed from, e.g. "45% of 485.54 (ticket-split
    v1)" (a reversal negates both, so it reads as the share it takes back); None without a basis."""
    if not basis:
        return None
    percent = (amount / basis * 100).quantize(Decimal("0.01"))
    text = f"{_plain(percent.normalize()):f}% of {abs(basis):.2f}"
    return f"{text} ({rule})" if rule else text


def _plain(d: Decimal) -> Decimal:
    """No "-0.00" on a statement: a negated zero is zero."""
    return d if d else ZERO


CSV_COLUMNS = ("time", "posting", "source_type", "source_id", "rule", "memo", "amount", "balance", "share")


def statement_csv(statement: PartyStatement) -> str:
    """The statement as CSV (UTF-8 with BOM so spreadsheet apps read 中文), one row per line + totals."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["party", statement.party, "period", statement.period])
    writer.writerow(["opening_balance", f"{statement.opening_balance:.2f}"])
    writer.writerow(CSV_COLUMNS)
    for r in statement.rows:
        writer.writerow(
            [
                r.at.isoformat(timespec="seconds"),  # in the tenant's zone (build_statement)
                r.posting_id,
                r.source_type,
                r.source_id,
                r.rule or "",
                _safe_cell(r.memo),
                f"{r.amount:.2f}",
                f"{r.balance:.2f}",
                r.share or "",
            ]
        )
    writer.writerow(["closing_balance", f"{statement.closing_balance:.2f}"])
    return out.getvalue()


def _safe_cell(text: str) -> str:
    """Spreadsheet apps run cells starting with = + - @ as formulas (CSV injection): quote them as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def sum_basis(entries: Iterable[Entry]) -> tuple[Decimal, int]:
    """Σ basis over a party's entries of split postings and how many distinct sources, for period rules."""
    total = ZERO
    sources: dict[tuple[str, str], Decimal] = {}
    for e in entries:
        if e.source.type.value == "settlement_run":
            continue
        key = (e.source.type.value, e.source.id)
        sources[key] = sources.get(key, ZERO) + e.basis
        total += e.basis
    return total, sum(1 for v in sources.values() if v > 0)
