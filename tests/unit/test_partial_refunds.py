"""Partial refunds take back a share of a settled posting: cumulative, balanced to the fen, and a refund of
everything leaves nothing posted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.ledger import Leg, Posting, Source, SourceType, balances, partial_reversal

AT = datetime(2026, 11, 3, 10, tzinfo=UTC)
D = Decimal


def split(amounts: dict[str, str], total: str) -> Posting:
    legs = (
        Leg(account="order:o1:collections", debit=D(total)),
        *tuple(Leg(account=a, credit=D(v)) for a, v in amounts.items()),
    )
    return Posting(
        id="p1", tenant_id="t1", at=AT, source=Source(type=SourceType.ORDER, id="o1"), legs=legs, memo="split"
    )


def nets(*postings: Posting) -> dict[str, Decimal]:
    """Each account's net over the postings, the accounts left at zero left out."""
    return {a: n for a, n in balances(postings).items() if n}


ORIGINAL = split(
    {"store:SH-001:payable": "70.00", "platform:hq:revenue": "20.00", "staff:u1:payable": "10.00"}, "100.00"
)


def test_a_third_refunded_takes_back_a_third_to_the_fen_with_the_left_over_fen_by_largest_remainder() -> None:
    part = partial_reversal(ORIGINAL, refunded=D("33.33"), of=D("100.00"), earlier=[], at=AT, reason="退一件")
    assert part is not None and part.id == "rev:p1:33.33" and part.reverses == "p1"
    assert nets(part) == {
        "order:o1:collections": D("-33.33"),
        "store:SH-001:payable": D("23.33"),  # 23.331
        "platform:hq:revenue": D("6.67"),  # 6.666: the largest remainder gets the fen left over
        "staff:u1:payable": D("3.33"),  # 3.333
    }


def test_the_rest_refunded_later_leaves_nothing_and_a_redelivery_adds_nothing() -> None:
    first = partial_reversal(ORIGINAL, refunded=D("33.33"), of=D("100.00"), earlier=[], at=AT, reason="r1")
    assert first is not None
    again = partial_reversal(
        ORIGINAL, refunded=D("33.33"), of=D("100.00"), earlier=[first], at=AT, reason="r1"
    )
    assert again is None
    rest = partial_reversal(
        ORIGINAL, refunded=D("100.00"), of=D("100.00"), earlier=[first], at=AT, reason="r2"
    )
    assert rest is not None and rest.id == "rev:p1"
    assert nets(ORIGINAL, first, rest) == {}
    assert (
        partial_reversal(
            ORIGINAL, refunded=D("100.00"), of=D("100.00"), earlier=[first, rest], at=AT, reason="x"
        )
        is None
    )


def test_nothing_refunded_or_nothing_to_share_takes_nothing_back() -> None:
    assert partial_reversal(ORIGINAL, refunded=D("0"), of=D("100.00"), earlier=[], at=AT, reason="x") is None
    assert partial_reversal(ORIGINAL, refunded=D("5"), of=D("0"), earlier=[], at=AT, reason="x") is None


def test_a_reversal_cannot_predate_the_posting() -> None:
    try:
        partial_reversal(
            ORIGINAL, refunded=D("1"), of=D("100"), earlier=[], at=AT - timedelta(days=1), reason="x"
        )
    except Exception as e:  # InvalidInputError
        assert "predates" in str(e)
    else:
        raise AssertionError("an earlier reversal was accepted")


fen = st.integers(min_value=1, max_value=10_000_00).map(lambda n: D(n) / 100)


@given(
    shares=st.lists(fen, min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=99), max_size=4),
)
def test_refunds_in_any_steps_balance_and_add_up_to_the_whole(shares: list[Decimal], cuts: list[int]) -> None:
    total = sum(shares, D("0.00"))
    original = split({f"party:p{i}:payable": f"{s:.2f}" for i, s in enumerate(shares)}, f"{total:.2f}")
    done: list[Posting] = []
    steps = [*sorted({(total * c / 100).quantize(D("0.01")) for c in cuts} - {D("0.00")}), total]
    for refunded in steps:
        part = partial_reversal(original, refunded=refunded, of=total, earlier=done, at=AT, reason="r")
        if part is not None:  # Posting validates the balance
            done.append(part)
            taken = -nets(*done).get("order:o1:collections", D("0.00"))
            assert taken == refunded  # the collections side is exactly what was refunded so far
    assert nets(original, *done) == {}
