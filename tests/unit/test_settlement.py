"""Commission/settlement rules: splits, base + incentive, tiers, period thresholds, postings, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from chalicelib.domain.common import InvalidInputError, NotFoundError
from chalicelib.domain.ledger import (
    AccountType,
    Posting,
    Source,
    SourceType,
    balances,
    new_postings,
    reverse,
    trusted_leg,
    trusted_posting,
)
from chalicelib.domain.settlement import (
    COLLECTIONS,
    BasePlusIncentiveRule,
    Facts,
    PartyRole,
    PeriodModifier,
    PeriodSettlement,
    RatingLevel,
    RegionCoefficient,
    Rule,
    SatisfactionMultiplier,
    SplitRule,
    ThresholdBonusRule,
    Tier,
    TieredRule,
    account,
    period_bounds,
    posting_id,
    postings_for,
    rule_in_effect,
    settle,
    settle_period,
    settle_source,
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


def test_floats_are_refused() -> None:
    # Amounts are Money (domain/money.py): a ValidationError naming the field; percentages are their own.
    with pytest.raises(ValidationError, match=r"amount\n.*not float"):
        facts(12.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not a float"):
        split((PartyRole.STORE, 60.0), (PartyRole.PLATFORM, "40"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"base\n.*not float"):
        BasePlusIncentiveRule(id="x", beneficiary="store", base=100.0, **RULE)
    with pytest.raises(ValidationError, match=r"from_amount\n.*not float"):
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


# ---------------------------------------------------------------- month-end runs (settle_period)

SH = ZoneInfo("Asia/Shanghai")
SPLIT = {
    "kind": "split",
    "id": "split-repair",
    "version": 1,
    "effective_from": "2026-01-01T00:00:00Z",
    "shares": [
        {"role": "store", "percent": "60"},
        {"role": "engineer", "percent": "30"},
        {"role": "platform", "percent": "10"},
    ],
}
ENGINEER_TIER = {
    "kind": "tiered",
    "id": "eng-tier",
    "version": 1,
    "effective_from": "2026-01-01T00:00:00Z",
    "beneficiary": "engineer",
    "mode": "whole",
    "tiers": [{"from_amount": "0", "rate_percent": "10"}],
}
rule_adapter: TypeAdapter[object] = TypeAdapter(Rule)
modifier_adapter: TypeAdapter[object] = TypeAdapter(PeriodModifier)


def ticket(
    n: int,
    amount: str,
    engineer: str = "E-7",
    *,
    rating: int | None = None,
    day: int = 5,
    store: str = "SH-001",
) -> Facts:
    return Facts.model_validate(
        {
            "source": {"type": "ticket", "id": f"tk-{n}"},
            "period": "2026-11",
            "amount": amount,
            "count": 1,
            "parties": {"store": store, "engineer": engineer, "platform": "hq"},
            "completed_at": datetime(2026, 11, day, 10, tzinfo=SH),
            "rating": rating,
        }
    )


def rules(*extra: dict[str, object]) -> list[object]:
    return [rule_adapter.validate_python(r) for r in (SPLIT, ENGINEER_TIER, *extra)]


def period_memo(run: PeriodSettlement, source_id: str) -> tuple[D, str]:
    [p] = [p for p in run.period_postings if p.source.id == source_id]
    return p.total, p.memo


def test_month_end_splits_are_the_real_time_postings_and_a_rerun_adds_nothing() -> None:
    rs = rules()
    tickets = [ticket(1, "388.00"), ticket(2, "100.01", "E-8"), ticket(3, "0.00")]
    # real time: one posting per completed ticket, dated when it completed, with the rule then in effect
    realtime = [p for f in tickets for p in settle_source(rs, f, tenant_id="t1")]
    [first, _] = realtime
    assert first.at == datetime(2026, 11, 5, 10, tzinfo=SH)
    slow = postings_for(settle(rs[0], tickets[0]), rule=rs[0], facts=tickets[0], tenant_id="t1", at=first.at)
    assert [first] == slow  # the trusted fast path builds exactly what the validated path builds
    assert first.model_dump() == slow[0].model_dump()
    assert first.model_dump(exclude_unset=True) == slow[0].model_dump(exclude_unset=True)
    assert hash(first) == hash(slow[0])

    run = settle_period("2026-11", "t1", rs, tickets)
    assert list(run.split_postings) == realtime
    assert new_postings({p.id: p for p in realtime}, run.split_postings) == []
    # period postings: one per engineer, under a source key stable across re-runs
    assert run.at == datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH)
    assert [p.source.id for p in run.period_postings] == ["engineer:E-7:2026-11", "engineer:E-8:2026-11"]
    assert all(p.source.type is SourceType.SETTLEMENT_RUN and p.at == run.at for p in run.period_postings)
    assert period_memo(run, "engineer:E-7:2026-11")[0] == D("38.80")  # 10 % of 388.00 (+ 0.00)
    ledger = {p.id: p for p in run.postings}
    again = settle_period("2026-11", "t1", rs, tickets)
    assert new_postings(ledger, again.postings) == []
    assert sum(balances(run.postings).values(), D(0)) == 0
    assert [(p.role, p.party_id, p.amount, p.count) for p in run.parties] == [
        (PartyRole.ENGINEER, "E-7", D("388.00"), 2),
        (PartyRole.ENGINEER, "E-8", D("100.01"), 1),
        (PartyRole.STORE, "SH-001", D("488.01"), 3),
    ]


def test_a_trusted_posting_copies_like_a_validated_one() -> None:
    [p] = settle_source(rules(), ticket(1, "10.00"), tenant_id="t1")
    [q] = settle_source(rules(), ticket(2, "20.00"), tenant_id="t1")
    changed = p.model_copy(update={"memo": "x"})
    assert changed.memo == "x" and "memo" in changed.model_fields_set
    assert q.model_fields_set == {"id", "tenant_id", "at", "source", "memo", "legs", "rule"}
    assert q.legs[1].model_fields_set == {"account", "credit"}
    assert Posting.model_validate_json(q.model_dump_json()) == q


def test_trusted_posting_still_refuses_an_unbalanced_entry() -> None:
    legs = (
        trusted_leg("clearing:collections", D("1.00")),
        trusted_leg("party:store:S:payable", None, D("0.99")),
    )
    source = Source(type=SourceType.TICKET, id="tk")
    with pytest.raises(InvalidInputError, match="unbalanced"):
        trusted_posting(id="x", tenant_id="t1", at=T0, source=source, memo="", legs=legs)
    with pytest.raises(InvalidInputError, match="two legs"):
        trusted_posting(id="x", tenant_id="t1", at=T0, source=source, memo="", legs=legs[:1])


def test_the_split_version_follows_each_ticket_and_the_period_version_the_close() -> None:
    mid = datetime(2026, 11, 15, tzinfo=SH)
    v1 = {**SPLIT, "effective_to": mid.isoformat()}
    v2 = {**SPLIT, "version": 2, "effective_from": mid.isoformat()}
    v2["shares"] = [{"role": "store", "percent": "50"}, {"role": "platform", "percent": "50"}]
    tier2 = {**ENGINEER_TIER, "version": 2, "effective_from": "2026-11-30T00:00:00+08:00"}
    tier2["tiers"] = [{"from_amount": "0", "rate_percent": "20"}]
    rs = [rule_adapter.validate_python(r) for r in (v1, v2, ENGINEER_TIER, tier2)]
    run = settle_period("2026-11", "t1", rs, [ticket(1, "100.00", day=14), ticket(2, "100.00", day=16)])
    assert [p.rule.version for p in run.split_postings if p.rule] == [1, 2]
    assert [p.rule.version for p in run.period_postings if p.rule] == [2]
    assert period_memo(run, "engineer:E-7:2026-11")[0] == D("40.00")  # 20 % of 200.00


def test_satisfaction_multiplier_scales_the_incentive_half_up_and_explains_itself() -> None:
    satisfaction = modifier_adapter.validate_python(
        {
            "kind": "satisfaction",
            "id": "csat",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00Z",
            "role": "engineer",
            "levels": [{"min_average": "4.5", "multiplier": "1.1"}],
        }
    )
    # E-7: ratings 5, 4 (4.5 exactly: reached), 123.45 → tier 12.35 (12.345 half up) × 1.1 = 13.585 → 13.59
    # E-8: ratings 5, 4, 4 (4.33): not reached; E-9: no ratings at all
    tickets = [
        ticket(1, "100.00", rating=5),
        ticket(2, "23.45", rating=4),
        ticket(3, "100.00", "E-8", rating=5),
        ticket(4, "100.00", "E-8", rating=4),
        ticket(5, "100.00", "E-8", rating=4),
        ticket(6, "100.00", "E-9"),
    ]
    run = settle_period("2026-11", "t1", rules(), tickets, modifiers=[satisfaction])
    amount, memo = period_memo(run, "engineer:E-7:2026-11")
    assert amount == D("13.59")
    assert "average rating 4.50 over 2 ratings >= 4.5 (csat): × 1.1 = 13.59" in memo
    assert period_memo(run, "engineer:E-8:2026-11") == (
        D("30.00"),
        "tiered eng-tier v1 2026-11: tiered (whole): 10% of 300.00 (tier from 0.00)",
    )
    assert period_memo(run, "engineer:E-9:2026-11")[0] == D("10.00")
    # fewer ratings than required: no multiplier
    strict = satisfaction.model_copy(update={"min_ratings": 3})
    run = settle_period("2026-11", "t1", rules(), tickets, modifiers=[strict])
    assert period_memo(run, "engineer:E-7:2026-11")[0] == D("12.35")


def test_region_coefficient_applies_before_satisfaction_each_step_rounded() -> None:
    region = modifier_adapter.validate_python(
        {
            "kind": "region",
            "id": "region",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00Z",
            "rule_ids": ["eng-tier"],
            "coefficients": {"西北": "1.2"},
            "default": "1",
        }
    )
    satisfaction = SatisfactionMultiplier(
        id="csat",
        version=1,
        effective_from=T0,
        role=PartyRole.ENGINEER,
        levels=[
            RatingLevel(min_average=D("1"), multiplier=D("0.9")),
            RatingLevel(min_average="4", multiplier="1.1"),
        ],
    )
    tickets = [ticket(1, "123.45", rating=5), ticket(2, "123.45", "E-8", rating=2), ticket(3, "50.00", "E-9")]
    regions = {(PartyRole.ENGINEER, "E-7"): "西北", (PartyRole.ENGINEER, "E-8"): "华东"}
    run = settle_period("2026-11", "t1", rules(), tickets, modifiers=[satisfaction, region], regions=regions)
    # E-7: 12.35 × 1.2 = 14.82, × 1.1 = 16.302 → 16.30
    amount, memo = period_memo(run, "engineer:E-7:2026-11")
    assert amount == D("16.30")
    assert memo.index("region 西北 (region): × 1.2 = 14.82") < memo.index("× 1.1 = 16.30")
    # E-8: 华东 is not listed (default 1: nothing to say), rating 2 → × 0.9: 12.35 × 0.9 = 11.115 → 11.12
    amount, memo = period_memo(run, "engineer:E-8:2026-11")
    assert amount == D("11.12") and "region" not in memo
    # E-9: no region known, no ratings: unscaled
    assert period_memo(run, "engineer:E-9:2026-11")[0] == D("5.00")
    # the coefficient is scoped to the rule it names
    other = region.model_copy(update={"rule_ids": ("another-rule",)})
    run = settle_period("2026-11", "t1", rules(), tickets[:1], modifiers=[other], regions=regions)
    assert period_memo(run, "engineer:E-7:2026-11")[0] == D("12.35")


def test_modifiers_scale_only_the_floating_incentive_and_the_cap_bounds_the_result() -> None:
    pay = {
        "kind": "base_plus_incentive",
        "id": "eng-pay",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00Z",
        "beneficiary": "engineer",
        "base": "3000",
        "rate_percent": "10",
        "incentive_cap": "120.00",
    }
    region = RegionCoefficient(id="region", version=1, effective_from=T0, coefficients={"西北": "1.5"})
    rs = [rule_adapter.validate_python(r) for r in (SPLIT, pay)]
    regions = {(PartyRole.ENGINEER, "E-7"): "西北", (PartyRole.ENGINEER, "E-8"): "西北"}
    tickets = [ticket(1, "500.00"), ticket(2, "1000.00", "E-8")]
    run = settle_period("2026-11", "t1", rs, tickets, modifiers=[region], regions=regions)
    # E-7: 3,000 + 50.00 × 1.5 = 3,075.00; E-8: 3,000 + min(100.00 × 1.5, 120.00) = 3,120.00
    assert period_memo(run, "engineer:E-7:2026-11")[0] == D("3075.00")
    amount, memo = period_memo(run, "engineer:E-8:2026-11")
    assert amount == D("3120.00") and memo.endswith("× 1.5 = 150.00 (incentive capped at 120.00)")


def test_period_modifiers_are_validated_data() -> None:
    base = {"kind": "satisfaction", "id": "m", "version": 1, "effective_from": "2026-01-01T00:00:00Z"}
    with pytest.raises(InvalidInputError, match="not a float"):
        modifier_adapter.validate_python(
            {**base, "role": "engineer", "levels": [{"min_average": "4.5", "multiplier": 1.1}]}
        )
    with pytest.raises(InvalidInputError, match="ascend"):
        modifier_adapter.validate_python(
            {
                **base,
                "role": "engineer",
                "levels": [
                    {"min_average": "4", "multiplier": "1"},
                    {"min_average": "4", "multiplier": "1.1"},
                ],
            }
        )
    with pytest.raises(InvalidInputError, match="between 1 and 5"):
        RatingLevel(min_average="5.5", multiplier="1")
    with pytest.raises(InvalidInputError, match="4 decimal places"):
        RatingLevel(min_average="4", multiplier="1.00001")
    with pytest.raises(InvalidInputError, match="between 0 and 10"):
        RegionCoefficient(id="r", version=1, effective_from=T0, coefficients={"西北": "-1"})
    with pytest.raises(ValidationError):
        Facts(source=Source(type="ticket", id="t"), period="2026-11", amount="1", parties={}, rating=6)


def test_month_end_refuses_inconsistent_facts() -> None:
    rs = rules()
    with pytest.raises(InvalidInputError, match="twice"):
        settle_period("2026-11", "t1", rs, [ticket(1, "1.00"), ticket(1, "2.00")])
    with pytest.raises(InvalidInputError, match="not 2026-12"):
        settle_period("2026-12", "t1", rs, [ticket(1, "1.00")])
    with pytest.raises(InvalidInputError, match="cannot name an account"):
        settle_period("2026-11", "t1", rs, [ticket(1, "1.00", "E 7")])
    with pytest.raises(InvalidInputError, match="name no engineer"):
        f = ticket(1, "1.00").model_copy(update={"parties": {PartyRole.STORE: "S", PartyRole.PLATFORM: "hq"}})
        settle_period("2026-11", "t1", rs, [f])
    other = ticket(2, "1.00").model_copy(
        update={"parties": {PartyRole.STORE: "S", PartyRole.ENGINEER: "E", PartyRole.PLATFORM: "hq2"}}
    )
    with pytest.raises(InvalidInputError, match="several platforms"):
        settle_period("2026-11", "t1", rs, [ticket(1, "1.00"), other])
    twin = {**SPLIT, "id": "split-other"}
    with pytest.raises(InvalidInputError, match="one only"):
        settle_period("2026-11", "t1", [*rs, rule_adapter.validate_python(twin)], [ticket(1, "1.00")])
    with pytest.raises(InvalidInputError, match="YYYY-MM"):
        settle_period("2026-13", "t1", rs, [])
    with pytest.raises(InvalidInputError, match="completed_at"):
        settle_source(rs, ticket(1, "1.00").model_copy(update={"completed_at": None}), tenant_id="t1")


def test_no_split_rule_in_effect_means_no_split_posting_but_the_period_still_counts() -> None:
    late = {**SPLIT, "effective_from": "2026-11-20T00:00:00+08:00"}
    rs = [rule_adapter.validate_python(r) for r in (late, ENGINEER_TIER)]
    run = settle_period("2026-11", "t1", rs, [ticket(1, "100.00", day=3), ticket(2, "100.00", day=25)])
    assert len(run.split_postings) == 1
    assert period_memo(run, "engineer:E-7:2026-11")[0] == D("20.00")
    assert period_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH))
