"""Region price strategies: precedence, effective dates, modifier stacking and per-step rounding, exclusive
modifiers, rush windows across midnight, immutable quotes, validation, and (hypothesis) quote invariants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.pricing import (
    Effect,
    Modifier,
    ModifierKind,
    PriceRule,
    QuoteItem,
    QuoteRequest,
    Region,
    TimeWindow,
    best_price_rule,
    quote,
    validate_rules,
)

SH = Region(province="上海", city="上海", tier=1)
CD = Region(province="四川", city="成都", tier=2)
MARCH = date(2026, 3, 15)
JAN1 = date(2026, 1, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def rule(rule_id: str, price: str, item: str = "AC-CLEAN", **kw: object) -> PriceRule:
    return PriceRule.model_validate(
        {"rule_id": rule_id, "item": item, "price": price, "effective_from": JAN1} | kw
    )


def mod(modifier_id: str, kind: ModifierKind, **kw: object) -> Modifier:
    data: dict[str, object] = {
        "modifier_id": modifier_id,
        "kind": kind,
        "name": modifier_id,
        "effective_from": JAN1,
    }
    return Modifier.model_validate(data | kw)


def req(*items: str | QuoteItem, region: Region = SH, **kw: object) -> QuoteRequest:
    lines = [QuoteItem(item=i) if isinstance(i, str) else i for i in items] or [QuoteItem(item="AC-CLEAN")]
    return QuoteRequest.model_validate({"items": lines, "region": region} | kw)


# --- base price precedence -------------------------------------------------------------------------------

PRECEDENCE_RULES = [
    rule("R-ANY", "100"),
    rule("R-T1", "110", tier=1),
    rule("R-SH-P", "120", province="上海"),
    rule("R-SH-C", "130", city="上海"),
]


@pytest.mark.parametrize(
    ("rules", "winner"),
    [
        (PRECEDENCE_RULES, "R-SH-C"),  # city beats province
        (PRECEDENCE_RULES[:3], "R-SH-P"),  # province beats tier
        (PRECEDENCE_RULES[:2], "R-T1"),  # tier beats any
        (PRECEDENCE_RULES[:1], "R-ANY"),
    ],
)
def test_the_most_specific_region_wins(rules: list[PriceRule], winner: str) -> None:
    # GIVEN rules at every region level WHEN quoting in Shanghai THEN the most specific one prices the line
    q = quote(req(), rules, [], MARCH)
    assert q.lines[0].rule_id == winner


def test_more_matched_dimensions_beat_a_more_specific_region() -> None:
    # customer type + tier (2 dimensions) beats city alone (1); with one dimension each, the city wins
    rules = [rule("R-CITY", "130", city="上海"), rule("R-T1-VIP", "90", tier=1, customer_type="vip")]
    assert quote(req(customer_types=["vip"]), rules, [], MARCH).lines[0].rule_id == "R-T1-VIP"
    rules = [rule("R-CITY", "130", city="上海"), rule("R-VIP", "90", customer_type="vip")]
    assert quote(req(customer_types=["vip"]), rules, [], MARCH).lines[0].rule_id == "R-CITY"


def test_customer_type_selects_its_rule_and_others_fall_back() -> None:
    rules = [
        rule("R-SH", "150", city="上海"),
        rule("R-SH-3A", "120", city="上海", customer_type="三甲医院"),
        rule("R-SH-CL", "90", city="上海", customer_type="社区诊所"),
    ]
    assert quote(req(customer_types=["三甲医院", "vip"]), rules, [], MARCH).lines[0].rule_id == "R-SH-3A"
    assert quote(req(customer_types=["社区诊所"]), rules, [], MARCH).lines[0].rule_id == "R-SH-CL"
    assert quote(req(customer_types=["walk_in"]), rules, [], MARCH).lines[0].rule_id == "R-SH"


def test_a_rule_naming_another_region_never_matches() -> None:
    rules = [rule("R-ANY", "100"), rule("R-SH", "130", city="上海"), rule("R-T1", "110", tier=1)]
    assert quote(req(region=CD), rules, [], MARCH).lines[0].rule_id == "R-ANY"
    # a request that does not know its city cannot match a city rule
    assert quote(req(region=Region(tier=1)), rules, [], MARCH).lines[0].rule_id == "R-T1"


def test_ties_break_by_later_effective_from_then_rule_id() -> None:
    older = rule("R-B", "100", city="上海")
    newer = rule("R-A", "105", city="上海", effective_from=date(2026, 2, 1))
    assert best_price_rule([older, newer], item="AC-CLEAN", region=SH, customer_types=(), on=MARCH) == newer
    twin_a, twin_b = rule("R-A", "100", city="上海"), rule("R-B", "101", city="上海")
    for order in ([twin_a, twin_b], [twin_b, twin_a]):
        picked = best_price_rule(order, item="AC-CLEAN", region=SH, customer_types=(), on=MARCH)
        assert picked == twin_b  # the greater rule id, whatever the input order


# --- effective dates ----------------------------------------------------------------------------------------


def test_effective_to_is_exclusive_and_effective_from_inclusive() -> None:
    v1 = rule("R", "100", version=1, effective_to=date(2026, 4, 1))
    v2 = rule("R", "110", version=2, effective_from=date(2026, 4, 1))
    assert quote(req(), [v1, v2], [], date(2026, 3, 31)).lines[0].unit_price == Decimal("100.00")
    assert quote(req(), [v1, v2], [], date(2026, 4, 1)).lines[0].unit_price == Decimal("110.00")
    with pytest.raises(InvalidInputError):
        quote(req(), [v1, v2], [], date(2025, 12, 31))


def test_as_of_datetime_uses_the_local_date_of_the_request_zone() -> None:
    v1 = rule("R", "100", version=1, effective_to=date(2026, 4, 1))
    v2 = rule("R", "110", version=2, effective_from=date(2026, 4, 1))
    # 17:00 UTC on 31 March is 01:00 on 1 April in Shanghai
    q = quote(req(), [v1, v2], [], datetime(2026, 3, 31, 17, 0, tzinfo=UTC))
    assert (q.as_of, q.lines[0].rule_version) == (date(2026, 4, 1), 2)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        quote(req(), [v1, v2], [], datetime(2026, 3, 31, 17, 0))


def test_modifiers_are_matched_by_date_too() -> None:
    promo = mod(
        "M-MAR",
        ModifierKind.PROMOTION,
        percent="30",
        effective_from=date(2026, 3, 1),
        effective_to=date(2026, 4, 1),
    )
    rules = [rule("R", "100")]
    assert quote(req(), rules, [promo], date(2026, 3, 31)).total == Decimal("70.00")
    assert quote(req(), rules, [promo], date(2026, 4, 1)).total == Decimal("100.00")
    assert quote(req(), rules, [promo], date(2026, 2, 28)).total == Decimal("100.00")


# --- stacking order and rounding ----------------------------------------------------------------------------


def test_a_percentage_step_rounds_half_up_to_the_fen() -> None:
    # 99.99 × 30 % = 29.997 → 30.00 off → 69.99 (= 99.99 × 0.7 = 69.993 → 69.99)
    q = quote(req(), [rule("R", "99.99")], [mod("P", ModifierKind.PROMOTION, percent="30")], MARCH)
    assert (q.lines[0].adjustments[0].amount, q.total) == (Decimal("30.00"), Decimal("69.99"))
    # an exact half rounds the shown adjustment up: 0.05 × 50 % = 0.025 → 0.03 off → 0.02
    q = quote(req(), [rule("R", "0.05")], [mod("P", ModifierKind.PROMOTION, percent="50")], MARCH)
    assert (q.lines[0].adjustments[0].amount, q.total) == (Decimal("0.03"), Decimal("0.02"))


def test_modifiers_stack_in_fixed_order_rounding_after_each_step() -> None:
    # GIVEN one modifier per stage, listed in reverse order
    mods = [
        mod("MEM", ModifierKind.MEMBER, percent="5", customer_types=["vip"]),
        mod("RUSH", ModifierKind.RUSH, percent="10", requires_rush=True),
        mod("WINTER", ModifierKind.SEASONAL, percent="5", provinces=["上海"]),
        mod("PROMO", ModifierKind.PROMOTION, percent="30"),
    ]
    q = quote(req(customer_types=["vip"], rush=True), [rule("R", "100")], mods, MARCH)
    line = q.lines[0]
    # THEN promotions → seasonal → rush → member, each on the running amount, each rounded to the fen:
    # 100 −30.00 = 70.00; +3.50 = 73.50; +7.35 = 80.85; −4.04 (4.0425) = 76.81
    assert [a.modifier_id for a in line.adjustments] == ["PROMO", "WINTER", "RUSH", "MEM"]
    assert [a.amount for a in line.adjustments] == [Decimal(x) for x in ("30.00", "3.50", "7.35", "4.04")]
    assert [a.running_total for a in line.adjustments] == [
        Decimal(x) for x in ("70.00", "73.50", "80.85", "76.81")
    ]
    assert (q.subtotal, q.discounts, q.surcharges, q.total) == (
        Decimal("100.00"),
        Decimal("34.04"),
        Decimal("10.85"),
        Decimal("76.81"),
    )


def test_rounding_per_step_differs_from_rounding_once() -> None:
    # 10.01: −15 % = 1.5015 → 1.50 → 8.51; +15 % of 8.51 = 1.2765 → 1.28 → 9.79.
    # Rounding once would give 10.01 × 0.85 × 1.15 = 9.784775 → 9.78, a figure no shown step adds up to.
    mods = [mod("P", ModifierKind.PROMOTION, percent="15"), mod("S", ModifierKind.SEASONAL, percent="15")]
    line = quote(req(), [rule("R", "10.01")], mods, MARCH).lines[0]
    assert [a.amount for a in line.adjustments] == [Decimal("1.50"), Decimal("1.28")]
    assert [a.running_total for a in line.adjustments] == [Decimal("8.51"), Decimal("9.79")]
    assert line.total == Decimal("9.79")


def test_fixed_amounts_are_per_unit_and_a_discount_never_goes_below_zero() -> None:
    rules = [rule("R", "30")]
    q = quote(
        req(QuoteItem(item="AC-CLEAN", quantity=3)),
        rules,
        [mod("F", ModifierKind.PROMOTION, amount="5")],
        MARCH,
    )
    assert (q.subtotal, q.discounts, q.total) == (Decimal("90.00"), Decimal("15.00"), Decimal("75.00"))
    q = quote(req(), rules, [mod("F", ModifierKind.PROMOTION, amount="50")], MARCH)
    assert (q.discounts, q.total) == (Decimal("30.00"), Decimal("0.00"))


def test_promotions_target_items_or_categories_and_seasonal_targets_regions() -> None:
    rules = [rule("R1", "100"), rule("R2", "200", item="FRIDGE-FIX"), rule("R3", "50", item="FILTER")]
    mods = [
        mod("P-AC", ModifierKind.PROMOTION, percent="30", items=["AC-CLEAN"]),
        mod("P-PARTS", ModifierKind.PROMOTION, amount="10", categories=["parts"]),
        mod("S-NORTH", ModifierKind.SEASONAL, percent="5", provinces=["北京", "黑龙江"]),
    ]
    items = [
        QuoteItem(item="AC-CLEAN"),
        QuoteItem(item="FRIDGE-FIX"),
        QuoteItem(item="FILTER", category="parts"),
    ]
    q = quote(req(*items), rules, mods, MARCH)
    assert [ln.total for ln in q.lines] == [Decimal("70.00"), Decimal("200.00"), Decimal("40.00")]
    q = quote(req(*items, region=Region(province="北京", city="北京", tier=1)), rules, mods, MARCH)
    assert [ln.total for ln in q.lines] == [Decimal("73.50"), Decimal("210.00"), Decimal("42.00")]


def test_an_exclusive_modifier_stops_further_discounts_but_not_surcharges() -> None:
    mods = [
        mod("P-A", ModifierKind.PROMOTION, percent="10"),
        mod("P-Z", ModifierKind.PROMOTION, percent="30", exclusive=True),
        mod("S", ModifierKind.SEASONAL, percent="10"),
        mod("MEM", ModifierKind.MEMBER, percent="5", customer_types=["vip"]),
    ]
    line = quote(req(customer_types=["vip"]), [rule("R", "100")], mods, MARCH).lines[0]
    # the exclusive promotion goes first in its stage, then no other discount applies: 100 −30 +7 = 77
    assert [a.modifier_id for a in line.adjustments] == ["P-Z", "S"]
    assert line.total == Decimal("77.00")


def test_a_member_discount_needs_the_customer_type() -> None:
    mods = [mod("MEM", ModifierKind.MEMBER, percent="5", customer_types=["vip", "member"])]
    assert quote(req(customer_types=["member"]), [rule("R", "100")], mods, MARCH).total == Decimal("95.00")
    assert quote(req(customer_types=["walk_in"]), [rule("R", "100")], mods, MARCH).total == Decimal("100.00")


# --- rush / after-hours -------------------------------------------------------------------------------------

NIGHT = mod(
    "NIGHT", ModifierKind.RUSH, amount="50", window={"start": "22:00", "end": "06:00"}, name="夜间加急"
)


@pytest.mark.parametrize(
    ("local", "applies"),
    [
        (time(21, 59), False),
        (time(22, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(5, 59), True),
        (time(6, 0), False),
        (time(12, 0), False),
    ],
)
def test_an_after_hours_window_crosses_midnight(local: time, applies: bool) -> None:
    service_at = datetime.combine(MARCH, local, tzinfo=SHANGHAI)
    q = quote(req(service_at=service_at), [rule("R", "100")], [NIGHT], MARCH)
    assert q.total == (Decimal("150.00") if applies else Decimal("100.00"))
    assert q.service_time == local


def test_window_uses_the_request_zone_and_falls_back_to_as_of_time() -> None:
    # 15:30 UTC = 23:30 in Shanghai
    late = datetime(2026, 3, 15, 15, 30, tzinfo=UTC)
    assert quote(req(service_at=late), [rule("R", "100")], [NIGHT], MARCH).total == Decimal("150.00")
    assert quote(req(), [rule("R", "100")], [NIGHT], late).total == Decimal("150.00")
    assert quote(req(), [rule("R", "100")], [NIGHT], MARCH).total == Decimal("100.00")  # no time known


def test_a_rush_flag_triggers_a_rush_surcharge() -> None:
    rush = mod("RUSH", ModifierKind.RUSH, amount="30", requires_rush=True)
    assert quote(req(rush=True), [rule("R", "100")], [rush], MARCH).total == Decimal("130.00")
    assert quote(req(rush=False), [rule("R", "100")], [rush], MARCH).total == Decimal("100.00")


def test_time_window_validation() -> None:
    assert TimeWindow(start=time(9), end=time(18)).contains(time(17, 59))
    assert not TimeWindow(start=time(9), end=time(18)).contains(time(18))
    with pytest.raises(ValidationError):
        TimeWindow(start=time(9), end=time(9))
    with pytest.raises(ValidationError, match="requires_rush or a window"):
        mod("RUSH", ModifierKind.RUSH, amount="30")


# --- explanation --------------------------------------------------------------------------------------------


def test_each_line_explains_itself_in_chinese_and_english() -> None:
    rules = [rule("R-SH-VIP", "120", city="上海", customer_type="三甲医院")]
    promo = mod(
        "M-MAR",
        ModifierKind.PROMOTION,
        percent="30",
        name="三月空调清洗 7 折",
        name_en="March AC cleaning 30% off",
        categories=["ac"],
    )
    q = quote(
        req(QuoteItem(item="AC-CLEAN", category="ac"), customer_types=["三甲医院"]), rules, [promo], MARCH
    )
    line = q.lines[0]
    assert (
        line.explain == "基础价 120.00（规则 R-SH-VIP，上海 三甲医院）; 三月空调清洗 7 折 −36.00; 合计 84.00"
    )
    assert (
        line.explain_en
        == "base 120.00 (rule R-SH-VIP, 上海 三甲医院); March AC cleaning 30% off −36.00; total 84.00"
    )
    assert line.adjustments[0].effect is Effect.DISCOUNT
    q = quote(
        req(QuoteItem(item="AC-CLEAN", quantity=2)),
        [rule("R-ANY", "10")],
        [NIGHT],
        datetime(2026, 3, 15, 23, 0, tzinfo=SHANGHAI),
    )
    assert q.lines[0].explain == "基础价 10.00 × 2 = 20.00（规则 R-ANY，通用）; 夜间加急 +100.00; 合计 120.00"


# --- immutability and reproducibility ----------------------------------------------------------------------


def test_editing_a_rule_never_changes_an_issued_quote() -> None:
    # GIVEN a quote issued in March under v1
    v1 = rule("R-SH", "120", city="上海")
    promo = mod("M-MAR", ModifierKind.PROMOTION, percent="30", effective_to=date(2026, 4, 1))
    issued = quote(req(), [v1], [promo], MARCH)
    frozen_json = issued.model_dump_json()
    # WHEN the rule is edited: v1 closed, v2 effective later, and the promotion gets a new later version
    v1_closed = v1.model_copy(update={"effective_to": date(2026, 5, 1)})
    v2 = rule("R-SH", "150", city="上海", version=2, effective_from=date(2026, 5, 1))
    promo2 = mod("M-MAR", ModifierKind.PROMOTION, percent="50", version=2, effective_from=date(2026, 4, 1))
    rules, mods = [v1_closed, v2], [promo.model_copy(update={"effective_to": date(2026, 4, 1)}), promo2]
    assert validate_rules(rules) == []
    # THEN re-quoting as of the old date gives the same figures, and the issued quote is untouched
    again = quote(req(), rules, mods, MARCH)
    assert again.lines == issued.lines and again.total == issued.total == Decimal("84.00")
    assert issued.model_dump_json() == frozen_json
    assert issued.price_rules == (v1,) and issued.modifiers == (promo,)
    assert quote(req(), rules, mods, date(2026, 5, 2)).total == Decimal("75.00")


def test_a_quote_is_frozen() -> None:
    q = quote(req(), [rule("R", "100")], [], MARCH)
    with pytest.raises(ValidationError):
        q.total = Decimal("1")  # type: ignore[misc]
    with pytest.raises(ValidationError):
        q.lines[0].total = Decimal("1")  # type: ignore[misc]
    assert isinstance(q.lines, tuple)


def test_a_quote_serialises_money_as_strings() -> None:
    data = quote(req(), [rule("R", "99.9")], [], MARCH).model_dump(mode="json")
    assert data["total"] == "99.90" and data["lines"][0]["unit_price"] == "99.90"


# --- validation ---------------------------------------------------------------------------------------------


def test_no_price_for_an_item_names_it() -> None:
    with pytest.raises(InvalidInputError, match="GHOST") as err:
        quote(req("AC-CLEAN", "GHOST"), [rule("R", "100")], [], MARCH)
    assert err.value.details == [
        {"field": "items[1].item", "message": "no price for item 'GHOST' on 2026-03-15"}
    ]


def test_validate_rules_reports_overlaps_with_the_same_dimensions() -> None:
    a = rule("R-1", "100", city="上海", effective_to=date(2026, 4, 1))
    b = rule("R-2", "110", city="上海", effective_from=date(2026, 3, 1))
    c = rule("R-3", "110", city="上海", effective_from=date(2026, 4, 1))  # touches a, does not overlap
    d = rule("R-4", "90", city="上海", customer_type="vip")  # other dimensions
    issues = validate_rules([a, b, c, d])
    assert [(i.code, i.rule_ids) for i in issues] == [
        ("overlap", ("R-1", "R-2")),
        ("overlap", ("R-2", "R-3")),
    ]
    assert validate_rules([a, c, d]) == []
    dup = validate_rules([a, a.model_copy(update={"price": Decimal("1.00")})])
    assert [i.code for i in dup] == ["duplicate_version", "overlap"]


@pytest.mark.parametrize(
    "bad",
    [
        {"price": 1.5},  # float money
        {"price": "-1"},
        {"tier": 6},
        {"effective_to": JAN1},  # empty range
        {"unknown": 1},
    ],
)
def test_price_rule_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PriceRule.model_validate({"rule_id": "R", "item": "X", "price": "100", "effective_from": JAN1} | bad)


@pytest.mark.parametrize(
    "bad",
    [
        {},  # neither percent nor amount
        {"percent": "10", "amount": "1"},
        {"percent": 10.0},  # float
        {"percent": "101"},  # a discount over 100 %
        {"percent": "-1"},
    ],
)
def test_modifier_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        mod("M", ModifierKind.PROMOTION, **bad)


def test_surcharges_may_exceed_100_percent_and_unknown_zones_are_refused() -> None:
    assert mod("S", ModifierKind.SEASONAL, percent="150").percent == Decimal("150")
    with pytest.raises(ValidationError, match="unknown time zone"):
        req(timezone="Mars/Olympus")


# --- properties ---------------------------------------------------------------------------------------------

ITEMS = ["AC-CLEAN", "FRIDGE-FIX", "FILTER"]
money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999.99"), places=2).map(str)
regions = st.builds(
    Region,
    province=st.sampled_from([None, "上海", "四川"]),
    city=st.sampled_from([None, "上海", "成都"]),
    tier=st.sampled_from([None, 1, 2]),
)
days = st.integers(min_value=0, max_value=400).map(lambda n: JAN1 + timedelta(days=n))


@st.composite
def price_rules(draw: st.DrawFn) -> list[PriceRule]:
    # a catch-all per item so every item has a price; then random, more specific ones
    rules = [rule(f"R-BASE-{i}", draw(money), item=i, effective_from=date(2000, 1, 1)) for i in ITEMS]
    for n in range(draw(st.integers(min_value=0, max_value=8))):
        start = draw(days)
        rules.append(
            rule(
                f"R-{n}",
                draw(money),
                item=draw(st.sampled_from(ITEMS)),
                customer_type=draw(st.sampled_from([None, "vip", "三甲医院"])),
                province=draw(st.sampled_from([None, "上海", "四川"])),
                city=draw(st.sampled_from([None, "上海", "成都"])),
                tier=draw(st.sampled_from([None, 1, 2])),
                effective_from=start,
                effective_to=draw(st.sampled_from([None, start + timedelta(days=draw(st.integers(1, 90)))])),
            )
        )
    return rules


@st.composite
def modifiers(draw: st.DrawFn) -> list[Modifier]:
    out = []
    for n in range(draw(st.integers(min_value=0, max_value=6))):
        kind = draw(st.sampled_from(list(ModifierKind)))
        size = (
            {"percent": str(draw(st.decimals(min_value=0, max_value=100, places=1)))}
            if draw(st.booleans())
            else {"amount": draw(money)}
        )
        out.append(
            mod(
                f"M-{n}",
                kind,
                **size,
                exclusive=draw(st.booleans()),
                items=draw(st.sampled_from([[], ["AC-CLEAN"]])),
                customer_types=draw(st.sampled_from([[], ["vip"]])),
                requires_rush=kind is ModifierKind.RUSH,
                effective_from=draw(days),
            )
        )
    return out


requests = st.builds(
    lambda items, region, types, rush: req(*items, region=region, customer_types=types, rush=rush),
    st.lists(
        st.builds(
            QuoteItem,
            item=st.sampled_from(ITEMS),
            quantity=st.integers(1, 50),
            category=st.sampled_from([None, "parts"]),
        ),
        min_size=1,
        max_size=4,
    ),
    regions,
    st.sampled_from([[], ["vip"], ["三甲医院", "vip"]]),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(request=requests, rules=price_rules(), mods=modifiers(), on=days)
def test_quote_invariants(
    request: QuoteRequest, rules: list[PriceRule], mods: list[Modifier], on: date
) -> None:
    q = quote(request, rules, mods, on)
    fen = Decimal("0.01")
    # totals equal the sum of the lines, to the fen, and every figure is a fen amount
    assert q.total == sum((ln.total for ln in q.lines), Decimal(0))
    assert q.subtotal == sum((ln.base_amount for ln in q.lines), Decimal(0))
    assert q.total == q.subtotal - q.discounts + q.surcharges
    for ln in q.lines:
        assert ln.total == ln.base_amount - ln.discounts + ln.surcharges
        assert ln.base_amount == ln.unit_price * ln.quantity
        assert all(a.amount > 0 and a.amount.quantize(fen) == a.amount for a in ln.adjustments)
        assert ln.total >= 0  # never negative
    assert q.total >= 0
    # quoting twice is identical, whatever order the rules come in
    assert quote(request, list(reversed(rules)), list(reversed(mods)), on) == q


@settings(max_examples=150, deadline=None)
@given(
    request=requests, rules=price_rules(), mods=modifiers(), on=days, kind=st.sampled_from(list(ModifierKind))
)
def test_a_zero_percent_modifier_changes_nothing(
    request: QuoteRequest, rules: list[PriceRule], mods: list[Modifier], on: date, kind: ModifierKind
) -> None:
    zero = mod("M-ZERO", kind, percent="0", requires_rush=kind is ModifierKind.RUSH, effective_from=JAN1)
    assert quote(request, rules, [*mods, zero], on) == quote(request, rules, mods, on)


def test_a_rush_fee_says_what_triggered_it_and_needs_a_rush_modifier() -> None:
    rush = mod("RUSH", ModifierKind.RUSH, amount="30", requires_rush=True)
    [flagged] = quote(req(rush=True), [rule("R", "100")], [rush], MARCH).lines[0].adjustments
    assert flagged.reason == "the job is a rush job" and flagged.amount == Decimal("30.00")
    late = datetime(2026, 3, 15, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    [night] = quote(req(service_at=late), [rule("R", "100")], [NIGHT], MARCH).lines[0].adjustments
    assert night.reason == "service at 23:30, within 22:00–06:00"
    # a rush job where the tenant's price rules have no rush modifier costs nothing extra
    assert quote(req(rush=True), [rule("R", "100")], [], MARCH).lines[0].adjustments == ()
