"""Pure pieces around the ledger: periods in China time, statements, CSV, price-book version chains,
inventory picks, run chunks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.common import ConflictError, InvalidInputError
from chalicelib.domain.inventory import PartLine, Stock, parts_from_field, pick_warehouse
from chalicelib.domain.ledger import Leg, Posting, Source, SourceType, reverse
from chalicelib.domain.price_book import check_publishable, in_force_versions
from chalicelib.domain.pricing import Modifier, ModifierKind, PriceRule
from chalicelib.domain.settlement_runs import chunks_of, party_of
from chalicelib.domain.statements import (
    Party,
    build_statement,
    entries_of,
    period_bounds,
    period_of,
    share_text,
    statement_csv,
    sum_basis,
)

AT = datetime(2026, 11, 10, 2, tzinfo=UTC)


def _posting(pid: str, amount: str, at: datetime = AT, memo: str = "split") -> Posting:
    return Posting(
        id=pid,
        tenant_id="t",
        at=at,
        source=Source(type=SourceType.TICKET, id=f"src-{pid}"),
        memo=memo,
        legs=(
            Leg(account="clearing:collections", debit=Decimal(amount)),
            Leg(account="party:engineer:E-1:payable", credit=Decimal(amount)),
        ),
    )


def test_periods_are_china_calendar_months() -> None:
    assert period_of(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "2026-12"  # 00:00 on Dec 1st in Shanghai
    assert period_of(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)) == "2026-11"
    start, end = period_bounds("2026-12")
    assert (start, end) == (datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 31, 16, tzinfo=UTC))


def test_statement_reads_as_the_party_does_and_a_reversal_nets_out() -> None:
    party = Party.parse("engineer:E-1")
    first = _posting("p1", "100.00")
    mirror = reverse(first, datetime(2026, 11, 20, tzinfo=UTC), "refund")
    entries = [
        e
        for p, basis in (
            (first, Decimal("200.00")),
            (_posting("p2", "45.50"), Decimal("91.00")),
            (mirror, Decimal("200.00")),
        )
        for e in entries_of(p, basis=basis, customer_id=None)
        if e.account == party.account
    ]
    st = build_statement(party, "2026-11", Decimal("-10.00"), entries)  # owed 10.00 from October
    assert st.opening_balance == Decimal("10.00")
    assert [r.amount for r in st.rows] == [Decimal("100.00"), Decimal("45.50"), Decimal("-100.00")]
    # which share of each source is this party's (a reversal takes back the same share)
    assert [(r.share or "").split(" (")[0] for r in st.rows] == [
        "50% of 200.00",
        "50% of 91.00",
        "50% of 200.00",
    ]
    assert (
        st.closing_balance == Decimal("55.50")
        and st.earned == Decimal("145.50")
        and st.reversed == Decimal("100.00")
    )
    assert sum_basis(entries) == (Decimal("91.00"), 1)  # the refunded ticket's basis nets to zero


def test_csv_has_a_bom_every_line_and_no_formula_cells() -> None:
    party = Party.parse("engineer:E-1")
    p = _posting("p1", "12.34", memo="=HYPERLINK('x')")
    st = build_statement(
        party,
        "2026-11",
        Decimal("0"),
        [e for e in entries_of(p, basis=Decimal(0), customer_id=None) if e.account == party.account],
    )
    text = statement_csv(st)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[3][5] == "'=HYPERLINK('x')" and rows[3][6:] == ["12.34", "12.34", ""]  # no basis: no share
    assert rows[-1] == ["closing_balance", "12.34"]


def test_party_parsing_names_the_field() -> None:
    with pytest.raises(InvalidInputError) as e:
        Party.parse("boss:x")
    assert e.value.details[0]["field"] == "party"
    assert Party.parse("platform:hq").account == "party:platform:hq:revenue"


def test_a_new_version_closes_the_previous_one_and_same_day_replacements_never_applied() -> None:
    v1 = PriceRule(rule_id="r", version=1, item="x", price="10", effective_from=date(2026, 1, 1))
    v2 = PriceRule(rule_id="r", version=2, item="x", price="12", effective_from=date(2026, 3, 1))
    v3 = PriceRule(rule_id="r", version=3, item="x", price="13", effective_from=date(2026, 3, 1))
    chained = {r.version: r for r in in_force_versions([v3, v1, v2])}
    assert (
        chained[1].effective_to == date(2026, 3, 1) and 2 not in chained and chained[3].effective_to is None
    )
    m1 = Modifier(
        modifier_id="m", kind=ModifierKind.PROMOTION, name="a", percent="10", effective_from=date(2026, 1, 1)
    )
    m2 = m1.model_copy(update={"version": 2, "effective_from": date(2026, 2, 1)})
    assert [m.effective_to for m in in_force_versions([m1, m2])] == [date(2026, 2, 1), None]
    with pytest.raises(InvalidInputError):
        check_publishable(date(2026, 11, 22), today=date(2026, 11, 23))


def test_parts_fields_and_warehouse_picks() -> None:
    assert parts_from_field("CAP") == [PartLine(sku="CAP")]
    assert parts_from_field([{"sku": "CAP", "quantity": 2}, "CAP"]) == [PartLine(sku="CAP", quantity=3)]
    assert parts_from_field(None) == []
    stocks = [
        Stock(sku="CAP", warehouse="A", on_hand=3, reserved=2),
        Stock(sku="CAP", warehouse="B", on_hand=5),
    ]
    assert pick_warehouse(stocks, 2, None).warehouse == "B"
    assert pick_warehouse(stocks, 1, "A").warehouse == "A"
    with pytest.raises(ConflictError):
        pick_warehouse(stocks, 6, None)


def test_run_chunks_keep_parties_whole() -> None:
    def period_posting(party: str, n: int) -> Posting:
        return Posting(
            id=f"{party}-{n}",
            tenant_id="t",
            at=AT,
            source=Source(type=SourceType.SETTLEMENT_RUN, id=f"{party}:2026-11"),
            legs=(
                Leg(account="party:platform:hq:commission_expense", debit=Decimal("1.00")),
                Leg(account="party:engineer:x:payable", credit=Decimal("1.00")),
            ),
        )

    postings = [period_posting(f"engineer:E-{i}", n) for i in range(5) for n in range(2)]
    chunks = chunks_of(postings, max_postings=3)
    assert [len(c) for c in chunks] == [2, 2, 2, 2, 2]
    for c in chunks:
        assert len({party_of(p) for p in c}) == 1
    assert sum(len(c) for c in chunks_of(postings, max_postings=4)) == 10


def test_a_share_reads_as_a_percent_of_its_basis_with_the_rule() -> None:
    text = share_text(Decimal("218.49"), Decimal("485.54"), "ticket-split v1")
    assert text == "45% of 485.54 (ticket-split v1)"
    assert share_text(Decimal("33.33"), Decimal("100"), None) == "33.33% of 100.00"
    assert share_text(Decimal("12.34"), Decimal("0"), "bonus v1") is None  # no basis: no share


def test_statement_times_are_in_the_tenants_zone_in_json_and_csv() -> None:
    party = Party.parse("engineer:E-1")
    p = _posting("p1", "12.34")
    mine = [e for e in entries_of(p, basis=Decimal(0), customer_id=None) if e.account == party.account]
    st = build_statement(party, "2026-11", Decimal("0"), mine, zone=ZoneInfo("America/New_York"))
    assert st.timezone == "America/New_York"
    assert st.rows[0].at == p.at and st.rows[0].at.utcoffset() == timedelta(hours=-5)
    rows = list(csv.reader(io.StringIO(statement_csv(st).lstrip("\ufeff"))))
    assert rows[3][0] == p.at.astimezone(ZoneInfo("America/New_York")).isoformat(timespec="seconds")
    assert build_statement(party, "2026-11", Decimal("0"), mine).rows[0].at.utcoffset() == timedelta(hours=8)
