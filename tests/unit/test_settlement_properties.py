"""Settlement center properties (hypothesis): the ledger always balances, splits sum to the amount and stay
within a fen of each exact share, a refund after settlement nets to zero, re-running a period posts nothing
new, and a quote as of a date does not move when later rules are published."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.ledger import balances, new_postings, reverse
from chalicelib.domain.pricing import (
    Modifier,
    ModifierKind,
    PriceRule,
    QuoteItem,
    QuoteRequest,
    Region,
    quote,
)
from chalicelib.domain.settlement import (
    AnyRule,
    Facts,
    PartyRole,
    RatingLevel,
    RegionCoefficient,
    SatisfactionMultiplier,
    SplitRule,
    ThresholdBonusRule,
    Tier,
    TieredRule,
    _split_decimal,
    settle_period,
    settle_source,
    split_amount,
)

D = Decimal
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FEN = D("0.01")
ROLES = [PartyRole.STORE, PartyRole.ENGINEER, PartyRole.PLATFORM, PartyRole.PARTNER]
amounts = st.decimals(min_value=D("0.00"), max_value=D("99999999.99"), places=2)
small_amounts = st.decimals(min_value=D("0.00"), max_value=D("5000.00"), places=2)


@st.composite
def percent_lists(draw: st.DrawFn, max_parts: int = 5) -> list[D]:
    """1-max_parts percentages with up to 4 decimals summing to exactly 100."""
    n = draw(st.integers(min_value=1, max_value=max_parts))
    cuts = sorted(draw(st.lists(st.integers(0, 1_000_000), min_size=n - 1, max_size=n - 1)))
    return [D(hi - lo) / 10_000 for lo, hi in pairwise([0, *cuts, 1_000_000])]


# ---------------------------------------------------------------- splits


@settings(max_examples=300, deadline=None)
@given(amounts, percent_lists(), st.data())
def test_split_parts_sum_to_the_amount_within_a_fen_of_each_share(
    amount: D, percents: list[D], data: st.DataObject
) -> None:
    exact = [amount * p / 100 for p in percents]
    lr = split_amount(amount, percents)
    assert sum(lr, D(0)) == amount
    assert all(part >= 0 and part.as_tuple().exponent == -2 for part in lr)
    assert all(abs(part - e) < FEN for part, e in zip(lr, exact, strict=True))

    index = data.draw(st.integers(0, len(percents) - 1), label="remainder_index")
    rt = split_amount(amount, percents, rounding="remainder_to", remainder_index=index)
    assert sum(rt, D(0)) == amount
    assert all(part >= 0 and part.as_tuple().exponent == -2 for part in rt)
    for i, (part, e) in enumerate(zip(rt, exact, strict=True)):
        if i != index:  # rounded half up (or, to keep the remainder >= 0, one fen back down)
            assert abs(part - e) <= FEN
        else:  # the designated share absorbs the others' rounding: up to half a fen for each of them
            assert abs(part - e) <= FEN / 2 * (len(percents) - 1)


@settings(max_examples=200, deadline=None)
@given(amounts, percent_lists(), st.sampled_from(["largest_remainder", "remainder_to"]), st.data())
def test_the_integer_split_is_the_decimal_reference(
    amount: D, percents: list[D], rounding: str, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(percents) - 1), label="remainder_index")
    fast = split_amount(amount, percents, rounding=rounding, remainder_index=index)  # type: ignore[arg-type]
    assert fast == _split_decimal(amount, percents, rounding, index)  # type: ignore[arg-type]


# ---------------------------------------------------------------- ledger and month-end runs


@st.composite
def split_rules(draw: st.DrawFn) -> SplitRule:
    percents = draw(percent_lists(max_parts=len(ROLES)))
    shares = [{"role": role, "percent": str(p)} for role, p in zip(ROLES, percents, strict=False)]
    rounding = draw(st.sampled_from(["largest_remainder", "remainder_to"]))
    return SplitRule.model_validate(
        {
            "id": "split",
            "version": 1,
            "effective_from": T0,
            "shares": shares,
            "rounding": rounding,
            "remainder_to": shares[-1]["role"],
        }
    )


@st.composite
def period_facts(draw: st.DrawFn, max_size: int = 25) -> list[Facts]:
    rows = draw(
        st.lists(
            st.tuples(
                small_amounts,
                st.integers(0, 3),  # store
                st.integers(0, 4),  # engineer
                st.integers(0, 2),  # partner
                st.one_of(st.none(), st.integers(1, 5)),  # rating
                st.integers(0, 29 * 24),  # hours into the month
            ),
            max_size=max_size,
        )
    )
    start = datetime(2026, 11, 1, tzinfo=SH)
    return [
        Facts(
            source={"type": "ticket", "id": f"tk-{i}"},
            period="2026-11",
            amount=amount,
            count=1,
            parties={"store": f"S{s}", "engineer": f"E{e}", "partner": f"P{p}", "platform": "hq"},
            completed_at=start + timedelta(hours=hours),
            rating=rating,
        )
        for i, (amount, s, e, p, rating, hours) in enumerate(rows)
    ]


@st.composite
def period_rules(draw: st.DrawFn) -> list[AnyRule]:
    tiers = [Tier(from_amount="0", rate_percent=str(draw(st.integers(0, 10))))]
    if draw(st.booleans()):
        tiers.append(Tier(from_amount="1000", rate_percent=str(draw(st.decimals(0, 20, places=2)))))
    return [
        draw(split_rules()),
        TieredRule(
            id="eng-tier",
            version=1,
            effective_from=T0,
            beneficiary=PartyRole.ENGINEER,
            mode=draw(st.sampled_from(["whole", "marginal"])),
            tiers=tiers,
        ),
        ThresholdBonusRule(
            id="store-bonus",
            version=1,
            effective_from=T0,
            beneficiary=PartyRole.STORE,
            threshold=str(draw(st.integers(0, 3000))),
            rate_percent=str(draw(st.decimals(0, 15, places=1))),
            basis=draw(st.sampled_from(["whole", "excess"])),
        ),
    ]


MODIFIERS = [
    RegionCoefficient(
        id="region", version=1, effective_from=T0, coefficients={"西北": "1.2", "西南": "1.15"}
    ),
    SatisfactionMultiplier(
        id="csat",
        version=1,
        effective_from=T0,
        role=PartyRole.ENGINEER,
        levels=[
            RatingLevel(min_average="1", multiplier="0.95"),
            RatingLevel(min_average="4.5", multiplier="1.1"),
        ],
    ),
]
REGIONS = {(PartyRole.ENGINEER, f"E{i}"): ["西北", "西南", "华东"][i % 3] for i in range(5)}


def run(rules: list[AnyRule], facts: list[Facts]):
    return settle_period("2026-11", "t1", rules, facts, modifiers=MODIFIERS, regions=REGIONS)


@settings(max_examples=60, deadline=None)
@given(period_rules(), period_facts(), st.data())
def test_the_ledger_always_balances(rules: list[AnyRule], facts: list[Facts], data: st.DataObject) -> None:
    postings = list(run(rules, facts).postings)
    # reverse a random few (refunds, corrections): the ledger still balances, per currency (CNY only)
    chosen = data.draw(
        st.lists(st.sampled_from(postings), unique_by=lambda p: p.id) if postings else st.just([])
    )
    later = datetime(2026, 12, 15, tzinfo=SH)
    ledger = postings + [reverse(p, later, "refund") for p in chosen]
    for posting in ledger:
        assert sum(leg.net for leg in posting.legs) == 0
        assert posting.currency == "CNY"
    assert sum(balances(ledger).values(), D(0)) == 0


@settings(max_examples=60, deadline=None)
@given(period_rules(), period_facts())
def test_a_refund_after_settlement_nets_every_account_to_zero(
    rules: list[AnyRule], facts: list[Facts]
) -> None:
    postings = run(rules, facts).postings
    refunds = [reverse(p, datetime(2026, 12, 15, tzinfo=SH), "refund") for p in postings]
    assert all(balance == 0 for balance in balances([*postings, *refunds]).values())


@settings(max_examples=60, deadline=None)
@given(period_rules(), period_facts())
def test_rerunning_a_period_is_a_no_op(rules: list[AnyRule], facts: list[Facts]) -> None:
    first = run(rules, facts)
    ledger = {p.id: p for p in first.postings}
    assert len(ledger) == len(first.postings)  # no id twice within a run
    assert new_postings(ledger, run(rules, list(reversed(facts))).postings) == []
    # and real-time settlement of any of the tickets posted exactly what the month-end run posts again
    realtime = [p for f in facts for p in settle_source(rules, f, tenant_id="t1")]
    assert new_postings(ledger, realtime) == []


# ---------------------------------------------------------------- quotes as of a date

ITEMS = ["AC-CLEAN", "FRIDGE-FIX", "TV-MOUNT"]
JAN1 = date(2026, 1, 1)
DAY = date(2026, 6, 15)
money = st.integers(1, 200_000).map(lambda fen: str(D(fen) / 100))
regions = st.builds(
    Region,
    province=st.sampled_from([None, "上海", "四川"]),
    city=st.sampled_from([None, "上海", "成都"]),
    tier=st.sampled_from([None, 1, 2]),
)


@st.composite
def price_rules(draw: st.DrawFn, after: date | None = None) -> list[PriceRule]:
    """A catch-all per item (unless `after`), then random more specific ones; with `after`, all of them
    take effect after that date (new prices, or new versions of existing rule ids)."""
    start = st.integers(1, 200).map(lambda n: after + timedelta(days=n)) if after else st.just(JAN1)
    rules = (
        []
        if after
        else [
            PriceRule(rule_id=f"R-BASE-{i}", item=i, price=draw(money), effective_from=date(2000, 1, 1))
            for i in ITEMS
        ]
    )
    for n in range(draw(st.integers(0, 6))):
        rules.append(
            PriceRule(
                rule_id=f"R-{n}" if not after else draw(st.sampled_from([f"R-{n}", f"R-BASE-{ITEMS[0]}"])),
                version=1 if not after else draw(st.integers(2, 5)),
                item=draw(st.sampled_from(ITEMS)),
                customer_type=draw(st.sampled_from([None, "vip"])),
                province=draw(st.sampled_from([None, "上海", "四川"])),
                city=draw(st.sampled_from([None, "上海", "成都"])),
                tier=draw(st.sampled_from([None, 1, 2])),
                price=draw(money),
                effective_from=draw(start),
            )
        )
    return rules


@st.composite
def modifiers(draw: st.DrawFn, after: date | None = None) -> list[Modifier]:
    start = st.integers(1, 200).map(lambda n: after + timedelta(days=n)) if after else st.just(JAN1)
    out = []
    for n in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(list(ModifierKind)))
        size = {"percent": str(draw(st.integers(0, 60)))} if draw(st.booleans()) else {"amount": draw(money)}
        out.append(
            Modifier.model_validate(
                {
                    "modifier_id": f"M-{n}",
                    "version": 1 if not after else 2,
                    "kind": kind,
                    "name": f"m{n}",
                    **size,
                    "exclusive": draw(st.booleans()),
                    "items": draw(st.sampled_from([[], [ITEMS[0]]])),
                    "requires_rush": kind is ModifierKind.RUSH,
                    "effective_from": draw(start),
                }
            )
        )
    return out


requests = st.builds(
    lambda items, region, types, rush: QuoteRequest(
        items=items, region=region, customer_types=types, rush=rush
    ),
    st.lists(
        st.builds(QuoteItem, item=st.sampled_from(ITEMS), quantity=st.integers(1, 5)), min_size=1, max_size=4
    ),
    regions,
    st.sampled_from([(), ("vip",)]),
    st.booleans(),
)


@settings(max_examples=80, deadline=None)
@given(
    request=requests,
    rules=price_rules(),
    mods=modifiers(),
    later_rules=price_rules(after=DAY),
    later_mods=modifiers(after=DAY),
    as_datetime=st.booleans(),
)
def test_a_quote_as_of_a_date_ignores_rules_published_to_take_effect_later(
    request: QuoteRequest,
    rules: list[PriceRule],
    mods: list[Modifier],
    later_rules: list[PriceRule],
    later_mods: list[Modifier],
    as_datetime: bool,
) -> None:
    as_of: date | datetime = datetime(2026, 6, 15, 23, 30, tzinfo=SH) if as_datetime else DAY
    before = quote(request, rules, mods, as_of)
    assert quote(request, rules, mods, as_of) == before  # same inputs, same quote
    after = quote(request, [*later_rules, *rules], [*mods, *later_mods], as_of)
    assert after == before
    assert after.model_dump_json() == before.model_dump_json()
