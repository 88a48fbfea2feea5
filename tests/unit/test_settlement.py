"""Commission/settlement rules: splits, base + incentive, tiers, period thresholds, postings, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from chalicelib.domain.common import InvalidInputError, NotFoundError
from chalicelib.domain.ledger import AccountType, Posting, Source, SourceType, balances, new_postings, reverse
from chalicelib.domain.settlement import (
    COLLECTIONS,
    BasePlusIncentiveRule,
    Facts,
    PartyRole,
    Rule,
    SplitRule,
    ThresholdBonusRule,
    Tier,
    TieredRule,
    account,
    posting_id,
    postings_for,
    rule_in_effect,
    settle,
    split_amount,
    tiered_amount,
)

D = Decimal
T0 = datetime(2026, 11, 1, tzinfo=UTC)
PARTIES = {
    PartyRole.STORE: "SH-001",
    PartyRole.ENGINEER: "E-7",
    PartyRole.PLATFORM: "hq",
    PartyRole.PARTNER: "P-1",
}
RULE = {"effective_from": T0, "version": 1}


def facts(amount: str, *, source_id: str = "tk-1", count: int = 0, period: str = "2026-11") -> Facts:
    return Facts(
        source=Source(type=SourceType.TICKET, id=source_id),
        period=period,
        amount=amount,
        count=count,
        parties=PARTIES,
    )


def split(*shares: tuple[PartyRole, str], **kw: object) -> SplitRule:
    return SplitRule(id="split-ac", shares=[{"role": r, "percent": p} for r, p in shares], **RULE, **kw)


LADDER = [
    Tier(from_amount="0", rate_percent="3"),
    Tier(from_amount="10000", rate_percent="5"),
    Tier(from_amount="50000", rate_percent="8"),
]


# ---------------------------------------------------------------- tiers (阶梯)


def test_worked_example_tiers_whole_and_marginal() -> None:
    # 0-10,000 at 3 %, 10,000-50,000 at 5 %, from 50,000 at 8 %; sales of 60,000.00
    whole, _ = tiered_amount(D("60000.00"), LADDER, "whole")
    marginal, lines = tiered_amount(D("60000.00"), LADDER, "marginal")
    assert whole == D("4800.00")  # 8 % of the whole amount
    assert marginal == D("3100.00")  # 300 + 2,000 + 800
    assert [line.rsplit("= ", 1)[1] for line in lines] == ["300.00", "2000.00", "800.00"]


@pytest.mark.parametrize(
    ("amount", "whole", "marginal"),
    [
        ("0.00", "0.00", "0.00"),
        ("9999.99", "300.00", "300.00"),  # 299.9997 → 300.00 (ROUND_HALF_UP)
        ("10000.00", "500.00", "300.00"),  # a threshold belongs to the tier it opens
        ("10000.01", "500.00", "300.00"),  # 300 + 0.0005 → 300.00
        ("49999.99", "2500.00", "2300.00"),  # 2,499.9995 → 2,500.00; 300 + 1,999.9995 → 2,000.00
        ("50000.00", "4000.00", "2300.00"),
        ("50000.01", "4000.00", "2300.00"),
    ],
)
def test_tier_edges_at_exact_thresholds(amount: str, whole: str, marginal: str) -> None:
    assert tiered_amount(D(amount), LADDER, "whole")[0] == D(whole)
    assert tiered_amount(D(amount), LADDER, "marginal")[0] == D(marginal)


def test_rounding_is_half_up_not_bankers() -> None:
    # 3 % of 1.50 = 0.045: HALF_UP gives 0.05 (banker's rounding would give 0.04)
    assert tiered_amount(D("1.50"), LADDER, "whole")[0] == D("0.05")


def test_tiered_rule_settles_to_the_beneficiary() -> None:
    rule = TieredRule(id="eng-tier", beneficiary=PartyRole.ENGINEER, mode="marginal", tiers=LADDER, **RULE)
    [alloc] = settle(rule, facts("60000.00"))
    assert (alloc.role, alloc.party_id, alloc.amount) == (PartyRole.ENGINEER, "E-7", D("3100.00"))
    assert "5% of 40000.00" in alloc.basis


def test_tiers_must_start_at_zero_and_ascend() -> None:
    with pytest.raises(InvalidInputError, match="start at 0"):
        TieredRule(id="t", beneficiary="store", mode="whole", tiers=LADDER[1:], **RULE)
    with pytest.raises(InvalidInputError, match="ascend"):
        TieredRule(id="t", beneficiary="store", mode="whole", tiers=[LADDER[0], LADDER[0]], **RULE)


# ---------------------------------------------------------------- period thresholds


def test_course_sales_bonus_only_from_the_threshold_per_month() -> None:
    # "course sales of 50,000 or more in the month → 10 % bonus"
    rule = ThresholdBonusRule(
        id="course-bonus", beneficiary=PartyRole.PARTNER, threshold="50000", rate_percent="10", **RULE
    )
    month = Source(type=SourceType.SETTLEMENT_RUN, id="partner:P-1:2026-11")

    def run(amount: str) -> list[D]:
        f = Facts(source=month, period="2026-11", amount=amount, parties=PARTIES)
        return [a.amount for a in settle(rule, f)]

    assert run("49999.99") == [D("0.00")]
    assert run("50000.00") == [D("5000.00")]
    excess = rule.model_copy(update={"basis": "excess"})
    f = Facts(source=month, period="2026-11", amount="60000.00", parties=PARTIES)
    assert [a.amount for a in settle(excess, f)] == [D("1000.00")]
    # nothing to post below the threshold
    below = Facts(source=month, period="2026-11", amount="100.00", parties=PARTIES)
    assert postings_for(settle(rule, below), rule=rule, facts=below, tenant_id="t1", at=T0) == []


# ---------------------------------------------------------------- base + incentive


def test_fixed_base_plus_floating_incentive() -> None:
    rule = BasePlusIncentiveRule(
        id="eng-pay", beneficiary=PartyRole.ENGINEER, base="3000", rate_percent="2", per_unit="5", **RULE
    )
    # 3,000 + 2 % of 45,678.90 (913.578 → 913.58) + 5.00 × 37 = 4,098.58
    [alloc] = settle(rule, facts("45678.90", count=37))
    assert alloc.amount == D("4098.58")
    capped = rule.model_copy(update={"incentive_cap": D("1000.00")})
    [alloc] = settle(capped, facts("45678.90", count=37))
    assert alloc.amount == D("4000.00") and "capped at 1000.00" in alloc.basis


# ---------------------------------------------------------------- splits


def test_split_of_a_ticket_among_store_engineer_platform() -> None:
    rule = split((PartyRole.STORE, "60"), (PartyRole.ENGINEER, "30"), (PartyRole.PLATFORM, "10"))
    allocs = settle(rule, facts("388.00"))
    assert [(a.role, a.party_id, a.amount) for a in allocs] == [
        (PartyRole.STORE, "SH-001", D("232.80")),
        (PartyRole.ENGINEER, "E-7", D("116.40")),
        (PartyRole.PLATFORM, "hq", D("38.80")),
    ]


def test_the_two_rounding_modes_differ_only_in_who_gets_the_fen() -> None:
    shares = [D("45"), D("45"), D("10")]  # store, engineer, platform; 1.01 → 0.4545, 0.4545, 0.101
    # largest remainder: floors 0.45/0.45/0.10, the spare fen to the largest fraction (tie: first declared)
    assert split_amount(D("1.01"), shares) == [D("0.46"), D("0.45"), D("0.10")]
    # remainder to the platform: others HALF_UP, the platform takes the rest
    assert split_amount(D("1.01"), shares, rounding="remainder_to", remainder_index=2) == [
        D("0.45"),
        D("0.45"),
        D("0.11"),
    ]
    # a third each of 100.00: the 0.0034 fraction wins the spare fen
    assert split_amount(D("100.00"), [D("33.3333"), D("33.3333"), D("33.3334")]) == [
        D("33.33"),
        D("33.33"),
        D("33.34"),
    ]


def test_remainder_party_is_never_overdrawn() -> None:
    # 0.01 split 50/50/0: both halves round up to 0.01, which would leave the platform at -0.01
    parts = split_amount(D("0.01"), [D("50"), D("50"), D("0")], rounding="remainder_to", remainder_index=2)
    assert parts == [D("0.00"), D("0.01"), D("0.00")]


def test_split_rules_are_validated() -> None:
    with pytest.raises(InvalidInputError, match="sum to 90"):
        split((PartyRole.STORE, "60"), (PartyRole.PLATFORM, "30"))
    with pytest.raises(InvalidInputError, match="twice"):
        split((PartyRole.STORE, "50"), (PartyRole.STORE, "50"))
    with pytest.raises(InvalidInputError, match="no share"):
        split((PartyRole.STORE, "100"), rounding="remainder_to")
    with pytest.raises(InvalidInputError, match="4 decimal places"):
        split((PartyRole.STORE, "33.33333"), (PartyRole.PLATFORM, "66.66667"))
    with pytest.raises(InvalidInputError, match="no engineer"):
        settle(
            split((PartyRole.ENGINEER, "100")),
            Facts(source=Source(type="order", id="o"), period="2026-11", amount="1", parties={}),
        )


def test_floats_are_refused_with_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="not float"):
        facts(12.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not a float"):
        split((PartyRole.STORE, 60.0), (PartyRole.PLATFORM, "40"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not float"):
        BasePlusIncentiveRule(id="x", beneficiary="store", base=100.0, **RULE)
    with pytest.raises(InvalidInputError, match="not float"):
        Tier(from_amount=0.0, rate_percent="3")


# ---------------------------------------------------------------- postings, idempotency, versions


def test_split_postings_are_balanced_and_traceable() -> None:
    rule = split((PartyRole.STORE, "60"), (PartyRole.ENGINEER, "30"), (PartyRole.PLATFORM, "10"))
    f = facts("388.00")
    [p] = postings_for(settle(rule, f), rule=rule, facts=f, tenant_id="t1", at=T0)
    assert p.id == posting_id(rule.ref, f.source, "2026-11") and p.id.startswith("stl:")
    assert p.rule == rule.ref and p.source == f.source
    assert balances([p]) == {
        COLLECTIONS: D("388.00"),
        "party:store:SH-001:payable": D("-232.80"),
        "party:engineer:E-7:payable": D("-116.40"),
        "party:platform:hq:revenue": D("-38.80"),
    }
    assert account("party:store:SH-001:payable").type is AccountType.LIABILITY
    assert account(COLLECTIONS).type is AccountType.ASSET


def test_commissions_are_funded_by_the_platform_expense() -> None:
    rule = TieredRule(id="eng-tier", beneficiary=PartyRole.ENGINEER, mode="whole", tiers=LADDER, **RULE)
    f = facts("60000.00")
    [p] = postings_for(settle(rule, f), rule=rule, facts=f, tenant_id="t1", at=T0)
    assert balances([p]) == {
        "party:platform:hq:commission_expense": D("4800.00"),
        "party:engineer:E-7:payable": D("-4800.00"),
    }
    assert account("party:platform:hq:commission_expense").type is AccountType.EXPENSE


def test_rerunning_a_period_posts_nothing_new_and_a_late_refund_reverses() -> None:
    rule = split((PartyRole.STORE, "70"), (PartyRole.PLATFORM, "30"))
    tickets = [facts(f"{100 + i}.00", source_id=f"tk-{i}") for i in range(5)]

    def run() -> list[Posting]:
        return [
            p
            for f in tickets
            for p in postings_for(settle(rule, f), rule=rule, facts=f, tenant_id="t1", at=T0)
        ]

    ledger = {p.id: p for p in run()}
    assert new_postings(ledger, run()) == []  # the same run again: nothing new
    v2 = rule.model_copy(update={"version": 2})
    assert posting_id(v2.ref, tickets[0].source, "2026-11") != posting_id(
        rule.ref, tickets[0].source, "2026-11"
    )
    assert posting_id(rule.ref, tickets[0].source, "2026-12") != posting_id(
        rule.ref, tickets[0].source, "2026-11"
    )
    refunded = reverse(
        ledger[posting_id(rule.ref, tickets[2].source, "2026-11")], T0 + timedelta(days=40), "refund"
    )
    after = balances([*ledger.values(), refunded])
    assert after["party:store:SH-001:payable"] == -(D("100") + D("101") + D("103") + D("104")) * D("0.7")


def test_rules_are_versioned_data() -> None:
    adapter = TypeAdapter(Rule)
    v1 = adapter.validate_python(
        {
            "kind": "split",
            "id": "split-ac",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00Z",
            "effective_to": "2026-11-01T00:00:00Z",
            "shares": [{"role": "store", "percent": "60"}, {"role": "platform", "percent": "40"}],
        }
    )
    v2 = adapter.validate_json(
        '{"kind": "tiered", "id": "split-ac", "version": 2, "effective_from": "2026-11-01T00:00:00Z",'
        ' "beneficiary": "store", "mode": "whole", "tiers": [{"from_amount": "0", "rate_percent": "3"}]}'
    )
    assert rule_in_effect([v1, v2], T0 - timedelta(seconds=1)) is v1
    assert rule_in_effect([v1, v2], T0) is v2
    with pytest.raises(NotFoundError):
        rule_in_effect([v1, v2], datetime(2025, 1, 1, tzinfo=UTC))


# ---------------------------------------------------------------- properties


@st.composite
def percent_lists(draw: st.DrawFn, max_parts: int = 5) -> list[D]:
    """1-max_parts percentages with up to 4 decimals summing to exactly 100."""
    n = draw(st.integers(min_value=1, max_value=max_parts))
    cuts = sorted(draw(st.lists(st.integers(0, 1_000_000), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 1_000_000]
    return [D(hi - lo) / 10_000 for lo, hi in pairwise(bounds)]


amounts = st.decimals(min_value=D("0.00"), max_value=D("99999999.99"), places=2)


@settings(max_examples=300, deadline=None)
@given(amounts, percent_lists(), st.data())
def test_splits_always_sum_exactly(amount: D, percents: list[D], data: st.DataObject) -> None:
    lr = split_amount(amount, percents)
    assert sum(lr, D("0")) == amount
    for part, p in zip(lr, percents, strict=True):
        exact = amount * p / 100
        assert part >= 0 and abs(part - exact) < D("0.01")  # floor or ceil of the exact share
        assert part == part.quantize(D("0.01"))
    idx = data.draw(st.integers(0, len(percents) - 1))
    rt = split_amount(amount, percents, rounding="remainder_to", remainder_index=idx)
    assert sum(rt, D("0")) == amount and all(part >= 0 for part in rt)


ROLES = [PartyRole.STORE, PartyRole.ENGINEER, PartyRole.PLATFORM, PartyRole.PARTNER]


@settings(max_examples=150, deadline=None)
@given(amounts, percent_lists(max_parts=len(ROLES)), st.sampled_from(["largest_remainder", "remainder_to"]))
def test_settled_postings_balance_and_refunds_net_to_zero(
    amount: D, percents: list[D], rounding: str
) -> None:
    shares = list(zip(ROLES, [str(p) for p in percents], strict=False))  # ROLES is the longer
    rule = split(*shares, rounding=rounding, remainder_to=shares[-1][0])
    f = facts(str(amount))
    allocs = settle(rule, f)
    assert sum((a.amount for a in allocs), D("0")) == amount
    posted = postings_for(allocs, rule=rule, facts=f, tenant_id="t1", at=T0)
    assert sum(balances(posted).values(), D("0")) == 0
    assert len(posted) == (1 if amount > 0 else 0)
    refunds = [reverse(p, T0 + timedelta(days=1), "refund") for p in posted]
    assert all(v == 0 for v in balances([*posted, *refunds]).values())


@settings(max_examples=200, deadline=None)
@given(amounts, amounts)
def test_marginal_tiers_never_decrease_and_never_exceed_whole(a: D, b: D) -> None:
    lo, hi = sorted([a, b])
    assert tiered_amount(lo, LADDER, "marginal")[0] <= tiered_amount(hi, LADDER, "marginal")[0]
    # with ascending rates the whole-amount mode pays at least the marginal one
    assert tiered_amount(hi, LADDER, "marginal")[0] <= tiered_amount(hi, LADDER, "whole")[0]
