"""A settled period run again after refunds or ratings: one adjustment per party whose period postings
come out differently, never an edit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from chalicelib.domain.ledger import Leg, Posting
from chalicelib.domain.settlement import PartyRole
from chalicelib.domain.settlement_runs import adjustment, period_source
from chalicelib.domain.statements import Party

CLOSE = datetime(2026, 11, 30, 16, tzinfo=UTC)
LATER = datetime(2026, 12, 5, 2, tzinfo=UTC)


def bonus(amount: str, pid: str = "tier:E-1") -> Posting:
    return Posting(
        id=pid,
        tenant_id="t1",
        at=CLOSE,
        source=period_source("engineer:E-1", "2026-11"),
        legs=(
            Leg(account="party:platform:hq:commission_expense", debit=Decimal(amount)),
            Leg(account="party:engineer:E-1:payable", credit=Decimal(amount)),
        ),
    )


def adjust(planned: list[Posting], posted: list[Posting], run_id: str = "run-2") -> Posting | None:
    return adjustment(
        tenant_id="t1",
        party="engineer:E-1",
        period="2026-11",
        planned=planned,
        posted=posted,
        at=LATER,
        run_id=run_id,
    )


def test_a_smaller_bonus_now_claws_the_difference_back_dated_at_the_re_run() -> None:
    adj = adjust([bonus("4.40")], [bonus("10.45")])
    assert adj is not None and adj.id == "adj:engineer:E-1:2026-11:run-2" and adj.at == LATER
    assert {leg.account: leg.net for leg in adj.legs} == {
        "party:engineer:E-1:payable": Decimal("6.05"),  # a debit: less owed to the engineer
        "party:platform:hq:commission_expense": Decimal("-6.05"),
    }


def test_no_change_no_posting_and_earlier_adjustments_count() -> None:
    assert adjust([bonus("10.45")], [bonus("10.45")]) is None
    first = adjust([bonus("4.40")], [bonus("10.45")])
    assert first is not None
    assert adjust([bonus("4.40")], [bonus("10.45"), first], run_id="run-3") is None
    # Nothing planned any more (the threshold no longer reached): what is left is taken back.
    gone = adjust([], [bonus("10.45"), first], run_id="run-4")
    assert gone is not None and {leg.account: leg.net for leg in gone.legs}[
        "party:engineer:E-1:payable"
    ] == Decimal("4.40")


def test_a_party_is_read_back_from_its_accounts() -> None:
    assert Party.of_account("party:engineer:E-1:payable") == Party(role=PartyRole.ENGINEER, id="E-1")
    assert Party.of_account("party:platform:hq:commission_expense") == Party(role=PartyRole.PLATFORM, id="hq")
    assert Party.of_account("clearing:collections") is None
    assert Party.of_account("party:alien:x:payable") is None
