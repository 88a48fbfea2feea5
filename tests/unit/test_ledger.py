"""Double-entry ledger: balanced immutable postings, reversals, idempotency, balances and statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.common import ConflictError, InvalidInputError
from chalicelib.domain.ledger import (
    Account,
    AccountType,
    Leg,
    Posting,
    Source,
    SourceType,
    balances,
    new_postings,
    reverse,
    statement,
    unique,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
D = Decimal
CASH = "clearing:collections"
STORE = "party:store:SH-001:payable"
ENGINEER = "party:engineer:E-7:payable"
PLATFORM = "party:platform:hq:revenue"


def post(pid: str, at: datetime, *legs: tuple[str, str, str]) -> Posting:
    """legs as (account, "debit"|"credit", amount)."""
    return Posting(
        id=pid,
        tenant_id="t1",
        at=at,
        source=Source(type=SourceType.TICKET, id=f"tk-{pid}"),
        memo=pid,
        legs=[{"account": acc, side: amount} for acc, side, amount in legs],
    )


def sale(pid: str, at: datetime, amount: str = "100.00") -> Posting:
    half = str(D(amount) / 2)
    return post(pid, at, (CASH, "debit", amount), (STORE, "credit", half), (PLATFORM, "credit", half))


# ---------------------------------------------------------------- validation


def test_a_balanced_posting_is_accepted_and_amounts_keep_two_places() -> None:
    # GIVEN debits 100 = credits 60 + 40  WHEN posted  THEN it stands, amounts as Decimal("x.xx")
    p = post("p1", T0, (CASH, "debit", "100"), (STORE, "credit", "60.0"), (PLATFORM, "credit", "40.00"))
    assert p.total == D("100.00")
    assert [str(leg.debit or leg.credit) for leg in p.legs] == ["100.00", "60.00", "40.00"]
    assert p.model_dump(mode="json")["legs"][1] == {"account": STORE, "debit": None, "credit": "60.00"}


def test_an_unbalanced_posting_is_refused_naming_the_posting() -> None:
    with pytest.raises(InvalidInputError, match=r"posting 'p1'.*unbalanced: debits 100.00 != credits 99.99"):
        post("p1", T0, (CASH, "debit", "100.00"), (STORE, "credit", "99.99"))


@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ([(CASH, "debit", "10.00")], "at least two legs"),
        ([(CASH, "debit", "0.00"), (STORE, "credit", "0.00")], "must be > 0"),
        ([(CASH, "debit", "-5.00"), (STORE, "debit", "5.00")], "must be > 0"),
        ([(CASH, "debit", "10.005"), (STORE, "credit", "10.005")], "more than 2 decimal places"),
        ([(CASH, "debit", "NaN"), (STORE, "credit", "1.00")], "is not an amount"),
        ([(CASH, "debit", "ten"), (STORE, "credit", "1.00")], "is not an amount"),
        ([(CASH, "debit", "1e3"), (STORE, "credit", "1000.00")], "no exponent"),
    ],
)
def test_malformed_postings_are_refused_naming_the_posting(
    legs: list[tuple[str, str, str]], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        post("bad-1", T0, *legs)
    assert "'bad-1'" in caught.value.message
    # A rule of the posting names itself in the message; a malformed amount names its leg in the details.
    said = caught.value.message + " ".join(str(d["msg"]) for d in caught.value.details)
    assert message in said


def test_a_float_amount_is_refused_everywhere() -> None:
    with pytest.raises(ValidationError, match="not float"):
        Leg(account=CASH, debit=10.5)
    with pytest.raises(ValidationError, match="not bool"):
        Leg(account=CASH, debit=True)
    with pytest.raises(InvalidInputError, match=r"posting 'f1' is invalid") as caught:
        Posting(
            id="f1",
            tenant_id="t1",
            at=T0,
            source=Source(type=SourceType.ORDER, id="o1"),
            legs=[{"account": CASH, "debit": 1.0}, {"account": STORE, "credit": "1.00"}],
        )
    assert caught.value.details[0]["loc"] == ["legs", 0, "debit"]
    assert "not float" in caught.value.details[0]["msg"]


def test_a_leg_needs_exactly_one_side() -> None:
    with pytest.raises(InvalidInputError, match="exactly one"):
        Leg(account=CASH, debit=D("1.00"), credit=D("1.00"))
    with pytest.raises(InvalidInputError, match="exactly one"):
        Leg(account=CASH)


def test_shape_errors_become_invalid_input_and_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="posting 'n1' is invalid") as caught:
        sale("n1", datetime(2026, 11, 1))  # naive: no time zone
    assert caught.value.details[0]["loc"] == ["at"]


def test_a_posting_is_immutable() -> None:
    p = sale("p1", T0)
    with pytest.raises(ValidationError):
        p.memo = "edited"  # type: ignore[misc]


def test_account_ids_and_presentation_by_type() -> None:
    payable = Account(id=STORE, type=AccountType.LIABILITY)
    cash = Account(id=CASH, type=AccountType.ASSET)
    # ledger sign: debits - credits; a store owed 50 reads -50 in the ledger, 50 on its statement
    assert payable.presented(D("-50.00")) == D("50.00")
    assert cash.presented(D("100.00")) == D("100.00")
    with pytest.raises(ValidationError):
        Account(id="no colons", type=AccountType.ASSET)


# ---------------------------------------------------------------- reversal and idempotency


def test_reversal_mirrors_the_posting_and_cancels_it() -> None:
    original = sale("p1", T0)
    rev = reverse(original, T0 + timedelta(days=3), "customer refund")
    assert rev.id == "rev:p1" and rev.reverses == "p1" and rev.source == original.source
    assert "customer refund" in rev.memo
    assert [(leg.account, leg.credit, leg.debit) for leg in rev.legs] == [
        (leg.account, leg.debit, leg.credit) for leg in original.legs
    ]
    assert all(v == 0 for v in balances([original, rev]).values())
    assert original.legs[0].debit == D("100.00")  # the original is untouched


def test_a_reversal_cannot_predate_the_posting() -> None:
    with pytest.raises(InvalidInputError, match="predates"):
        reverse(sale("p1", T0), T0 - timedelta(seconds=1), "oops")


def test_retried_posts_write_nothing_new_and_reused_ids_conflict() -> None:
    p = sale("p1", T0)
    ledger = {p.id: p}
    assert new_postings(ledger, [sale("p1", T0)]) == []
    assert [x.id for x in new_postings(ledger, [sale("p2", T0), sale("p2", T0)])] == ["p2"]
    with pytest.raises(ConflictError, match="'p1'"):
        new_postings(ledger, [sale("p1", T0, "200.00")])
    assert balances([p, p]) == balances([p])  # a duplicate delivery counts once
    with pytest.raises(ConflictError):
        unique([p, sale("p1", T0, "200.00")])


# ---------------------------------------------------------------- balances and statements


def test_statement_has_opening_running_and_closing_balances() -> None:
    # GIVEN a sale in October and two in November, one refunded in November
    oct_sale = sale("p0", T0 - timedelta(days=10), "20.00")
    s1 = sale("p1", T0 + timedelta(days=1), "100.00")
    s2 = sale("p2", T0 + timedelta(days=2), "60.00")
    refund = reverse(s1, T0 + timedelta(days=5), "refund")
    december = sale("p3", T0 + timedelta(days=31), "8.00")
    ledger = [december, refund, s2, s1, oct_sale]  # order of input does not matter
    # WHEN the store's November statement is drawn
    st_ = statement(ledger, STORE, T0, T0 + timedelta(days=30))
    # THEN the opening is October's, each line carries the running balance, closing = opening + lines
    assert st_.opening_balance == D("-10.00")
    assert [(line.posting_id, line.debit, line.credit, line.balance) for line in st_.lines] == [
        ("p1", D("0"), D("50.00"), D("-60.00")),
        ("p2", D("0"), D("30.00"), D("-90.00")),
        ("rev:p1", D("50.00"), D("0"), D("-40.00")),
    ]
    assert st_.closing_balance == D("-40.00")
    assert Account(id=STORE, type=AccountType.LIABILITY).presented(st_.closing_balance) == D("40.00")
    assert st_.lines[0].source == Source(type=SourceType.TICKET, id="tk-p1")
    assert st_.total_credits - st_.total_debits == D("30.00")
    # the period is half-open: a posting exactly at period_to belongs to the next statement
    edge = sale("p4", T0 + timedelta(days=30), "2.00")
    assert statement([*ledger, edge], STORE, T0, T0 + timedelta(days=30)).closing_balance == D("-40.00")
    assert balances(ledger, before=T0 + timedelta(days=30))[STORE] == D("-40.00")


def test_statement_period_must_not_be_inverted() -> None:
    with pytest.raises(InvalidInputError):
        statement([], STORE, T0, T0 - timedelta(days=1))


# ---------------------------------------------------------------- properties

ACCOUNTS = [CASH, STORE, ENGINEER, PLATFORM, "party:platform:hq:commission_expense"]
amounts = st.decimals(min_value=D("0.01"), max_value=D("1000000.00"), places=2)


@st.composite
def balanced_postings(draw: st.DrawFn) -> list[Posting]:
    postings = []
    for n in range(draw(st.integers(min_value=0, max_value=12))):
        debits = draw(st.lists(st.tuples(st.sampled_from(ACCOUNTS), amounts), min_size=1, max_size=3))
        total = sum((a for _, a in debits), D("0"))
        # split the total over 1-3 credit legs, every piece > 0
        k = draw(st.integers(min_value=1, max_value=min(3, int(total * 100))))
        fen_total = int(total * 100)
        cut_points = st.integers(min_value=1, max_value=max(1, fen_total - 1))
        cuts = sorted(draw(st.lists(cut_points, min_size=k - 1, max_size=k - 1, unique=True)))
        bounds = [0, *cuts, int(total * 100)]
        credits = [D(hi - lo) / 100 for lo, hi in pairwise(bounds)]
        legs = [{"account": acc, "debit": a} for acc, a in debits]
        legs += [{"account": draw(st.sampled_from(ACCOUNTS)), "credit": c} for c in credits]
        at = T0 + timedelta(hours=draw(st.integers(min_value=-100, max_value=1000)))
        postings.append(
            Posting(
                id=f"p{n}", tenant_id="t1", at=at, source=Source(type=SourceType.ORDER, id=f"o{n}"), legs=legs
            )
        )
    return postings


@settings(max_examples=150, deadline=None)
@given(balanced_postings(), st.integers(min_value=-50, max_value=1100))
def test_a_balanced_ledger_sums_to_zero_and_statements_agree(postings: list[Posting], hours: int) -> None:
    start, end = T0, T0 + timedelta(hours=hours) if hours >= 0 else T0
    totals = balances(postings)
    assert sum(totals.values(), D("0")) == 0
    closing = {acc: statement(postings, acc, start, end) for acc in ACCOUNTS}
    assert sum((s.closing_balance for s in closing.values()), D("0")) == 0
    for acc, s in closing.items():
        assert s.closing_balance == balances(postings, before=end).get(acc, D("0"))
        running = s.opening_balance
        for line in s.lines:
            running += line.debit - line.credit
            assert line.balance == running
        assert running == s.closing_balance


@settings(max_examples=100, deadline=None)
@given(balanced_postings())
def test_reversing_everything_nets_every_account_to_zero(postings: list[Posting]) -> None:
    later = T0 + timedelta(days=365)
    reversed_ = [reverse(p, later, "refund") for p in postings]
    assert all(v == 0 for v in balances([*postings, *reversed_]).values())
    # and reversing is idempotent by id
    assert new_postings({p.id: p for p in reversed_}, [reverse(p, later, "refund") for p in postings]) == []
