"""Ticket billing: warranty dates (boundaries, month-end clamping), parts vs labour warranty, price source
(rule over catalogue), region depreciation, modifiers exactly as in quotes, rounding to the fen, validation,
and (hypothesis) the bill's invariants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.billing import (
    Bill,
    BillLine,
    BillRequest,
    LineKind,
    Part,
    RegionCoefficient,
    WarrantyBasis,
    add_months,
    bill,
    in_warranty,
    region_coefficient,
    warranty_last_day,
)
from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.pricing import (
    Modifier,
    ModifierKind,
    PriceRule,
    QuoteItem,
    QuoteRequest,
    Region,
    quote,
)

D = Decimal
TZ = ZoneInfo("Asia/Shanghai")
JAN1 = date(2024, 1, 1)
SH = Region(province="上海", city="上海", tier=1)
CD = Region(province="四川", city="成都", tier=2)
MY = Region(province="四川", city="绵阳", tier=3)

RULES = (
    PriceRule(rule_id="R-AC", item="AC-REPAIR", price="150.00", effective_from=JAN1),
    PriceRule(rule_id="R-AC-SH", item="AC-REPAIR", city="上海", price="180.00", effective_from=JAN1),
)
CAP = Part(sku="CAP", name="电容", category="电容", unit_cost="5.00", price="30.10", warranty_months=24)
FAN = Part(sku="FAN", name="风机", category="电机", unit_cost="90.00", price="10.10", warranty_months=6)
VIP = Modifier(
    modifier_id="M-VIP",
    kind=ModifierKind.MEMBER,
    name="VIP 95 折",
    name_en="VIP 5% off",
    percent="5",
    customer_types=("vip",),
    effective_from=JAN1,
)
RUSH = Modifier(
    modifier_id="M-RUSH",
    kind=ModifierKind.RUSH,
    name="加急 50 元",
    amount="50.00",
    requires_rush=True,
    items=("AC-REPAIR",),
    effective_from=JAN1,
)
CD_095 = RegionCoefficient(coefficient_id="C-CD", city="成都", coefficient="0.95", effective_from=JAN1)


def at(d: date, hh: int = 15, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=TZ)


def request(**kw: object) -> BillRequest:
    data: dict[str, object] = {
        "ticket_id": "TK-1",
        "customer_id": "C-1",
        "region": SH,
        "completed_at": at(date(2026, 3, 10)),
        "labour": [{"item": "AC-REPAIR"}],
        "parts": [{"sku": "CAP"}, {"sku": "FAN"}],
    }
    return BillRequest.model_validate(data | kw)


def run(
    req: BillRequest,
    *,
    rules: Sequence[PriceRule] = RULES,
    modifiers: Sequence[Modifier] = (),
    parts: Sequence[Part] = (CAP, FAN),
    coefficients: Sequence[RegionCoefficient] = (),
) -> Bill:
    return bill(req, rules=rules, modifiers=modifiers, parts=parts, coefficients=coefficients)


def line(b: Bill, item: str) -> BillLine:
    [found] = [ln for ln in b.lines if ln.item == item]
    return found


# ---------------------------------------------------------------- warranty dates


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),  # clamped to the shorter month
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),  # across the year end
        (date(2025, 3, 10), 0, date(2025, 3, 10)),
        (date(2025, 3, 10), 120, date(2035, 3, 10)),
    ],
)
def test_add_months_is_calendar_months_clamped_at_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("start", "months", "last_inside"),
    [
        (date(2025, 3, 10), 12, date(2026, 3, 9)),
        (date(2025, 1, 31), 1, date(2025, 2, 27)),  # + 1 month = Feb 28: Feb 27 is the last day inside
        (date(2024, 1, 31), 1, date(2024, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 27)),
    ],
)
def test_warranty_boundaries_last_day_inside_first_day_outside(
    start: date, months: int, last_inside: date
) -> None:
    first_outside = date.fromordinal(last_inside.toordinal() + 1)
    assert in_warranty(start, months, start)  # the purchase day itself is covered
    assert in_warranty(start, months, last_inside)
    assert not in_warranty(start, months, first_outside)
    assert warranty_last_day(start, months) == last_inside
    assert not in_warranty(start, months, date.fromordinal(start.toordinal() - 1))


def test_a_warranty_of_zero_months_covers_nothing() -> None:
    assert not in_warranty(date(2025, 3, 10), 0, date(2025, 3, 10))
    assert warranty_last_day(date(2025, 3, 10), 0) is None


def test_bill_warranty_boundary_last_day_free_next_day_charged() -> None:
    basis = WarrantyBasis(start=date(2025, 3, 10), labour_months=12)
    inside = run(request(warranty=basis, completed_at=at(date(2026, 3, 9), 23, 59)))
    outside = run(request(warranty=basis, completed_at=at(date(2026, 3, 10), 0, 0)))
    assert line(inside, "AC-REPAIR").in_warranty
    assert line(inside, "AC-REPAIR").total == D("0.00")
    assert line(inside, "AC-REPAIR").waived == D("180.00")
    assert not line(outside, "AC-REPAIR").in_warranty
    assert line(outside, "AC-REPAIR").total == D("180.00")


def test_warranty_is_judged_on_the_local_completion_date() -> None:
    basis = WarrantyBasis(start=date(2025, 3, 10), labour_months=12)
    # 2026-03-09 16:30 UTC is 2026-03-10 00:30 in Shanghai: the first day outside
    b = run(request(warranty=basis, completed_at=datetime(2026, 3, 9, 16, 30, tzinfo=UTC)))
    assert b.completed_on == date(2026, 3, 10)
    assert not line(b, "AC-REPAIR").in_warranty


def test_bill_warranty_month_end_clamping() -> None:
    basis = WarrantyBasis(start=date(2025, 1, 31), labour_months=1)
    assert line(run(request(warranty=basis, completed_at=at(date(2025, 2, 27)))), "AC-REPAIR").in_warranty
    assert not line(run(request(warranty=basis, completed_at=at(date(2025, 2, 28)))), "AC-REPAIR").in_warranty


def test_parts_and_labour_warranty_are_judged_separately() -> None:
    # labour 12 months, capacitor 24, fan 6; 18 months after purchase only the capacitor is free
    basis = WarrantyBasis(kind="installation", start=date(2024, 9, 10), labour_months=12)
    b = run(request(warranty=basis, completed_at=at(date(2026, 3, 10))))
    assert [(ln.item, ln.in_warranty) for ln in b.lines] == [
        ("AC-REPAIR", False),
        ("CAP", True),
        ("FAN", False),
    ]
    assert b.waived == D("30.10")
    assert b.total == D("180.00") + D("10.10")
    assert line(b, "CAP").warranty_last_day == date(2026, 9, 9)
    assert "保修期内免费（保修至 2026-09-09）−30.10; 应付 0.00" in line(b, "CAP").explain
    assert "free under warranty (until 2026-09-09) −30.10; payable 0.00" in line(b, "CAP").explain_en
    assert "已过保（保修至 2025-09-09）" in line(b, "AC-REPAIR").explain
    # 4 months after installation everything is covered
    early = run(request(warranty=basis, completed_at=at(date(2025, 1, 10))))
    assert all(ln.in_warranty for ln in early.lines)
    assert early.total == D("0.00")
    assert early.waived == early.subtotal


def test_labour_without_a_warranty_term_is_charged_and_says_so() -> None:
    b = run(request(warranty=WarrantyBasis(start=date(2026, 3, 1)), completed_at=at(date(2026, 3, 10))))
    labour = line(b, "AC-REPAIR")
    assert not labour.in_warranty
    assert labour.warranty_last_day is None
    assert labour.explain.endswith("无保修")
    assert line(b, "CAP").in_warranty


def test_without_a_purchase_record_nothing_is_free() -> None:
    b = run(request(completed_at=at(date(2024, 2, 1))))
    assert not any(ln.in_warranty for ln in b.lines)
    assert b.waived == D("0.00")
    assert all(ln.explain.endswith("无购买/安装记录，按保外收费") for ln in b.lines)


def test_completion_before_the_purchase_date_is_refused() -> None:
    basis = WarrantyBasis(start=date(2026, 4, 1), labour_months=12)
    with pytest.raises(InvalidInputError, match="before the purchase date"):
        run(request(warranty=basis, completed_at=at(date(2026, 3, 10))))


# ---------------------------------------------------------------- price source


def test_a_price_rule_for_the_sku_wins_over_the_catalogue() -> None:
    fan_sh = PriceRule(rule_id="R-FAN-SH", item="FAN", city="上海", price="12.00", effective_from=JAN1)
    sh = run(request(), rules=(*RULES, fan_sh))
    cd = run(request(region=CD), rules=(*RULES, fan_sh))
    assert (line(sh, "FAN").unit_price, line(sh, "FAN").price_source, line(sh, "FAN").rule_id) == (
        D("12.00"),
        "price_rule",
        "R-FAN-SH",
    )
    assert (line(cd, "FAN").unit_price, line(cd, "FAN").price_source, line(cd, "FAN").rule_id) == (
        D("10.10"),
        "catalogue",
        None,
    )
    assert "基础价 12.00（规则 R-FAN-SH，上海）" in line(sh, "FAN").explain
    assert "目录价 10.10" in line(cd, "FAN").explain
    # the snapshot holds the real rules used, never a stand-in for the catalogue
    assert [r.rule_id for r in sh.price_rules] == ["R-AC-SH", "R-FAN-SH"]
    assert [r.rule_id for r in cd.price_rules] == ["R-AC"]
    assert [p.sku for p in cd.parts] == ["CAP", "FAN"]


def test_a_price_rule_not_yet_in_force_does_not_win() -> None:
    later = PriceRule(rule_id="R-FAN", item="FAN", price="99.00", effective_from=date(2026, 4, 1))
    assert line(run(request(), rules=(*RULES, later)), "FAN").unit_price == D("10.10")


def test_unpriced_labour_and_unknown_parts_are_refused_by_name() -> None:
    with pytest.raises(InvalidInputError) as e:
        run(request(labour=[{"item": "AC-REPAIR"}, {"item": "WASH"}]))
    assert e.value.details == [{"field": "labour[1].item", "message": "no price for 'WASH' on 2026-03-10"}]
    with pytest.raises(InvalidInputError) as e:
        run(request(parts=[{"sku": "CAP"}, {"sku": "NOPE"}]))
    assert e.value.details == [{"field": "parts[1].sku", "message": "'NOPE' is not in the parts catalogue"}]


# ---------------------------------------------------------------- depreciation


def test_depreciation_only_where_configured_on_parts_only_before_the_member_discount() -> None:
    sh = run(request(customer_types=["vip"]), modifiers=(VIP,), coefficients=(CD_095,))
    cd = run(request(region=CD, customer_types=["vip"]), modifiers=(VIP,), coefficients=(CD_095,))
    assert sh.depreciation == D("0.00")
    assert sh.coefficient is None
    assert all(ln.depreciation_coefficient is None for ln in sh.lines)
    assert cd.coefficient == CD_095
    labour, cap, fan = cd.lines
    assert (labour.depreciation, labour.depreciation_coefficient) == (D("0.00"), None)
    # 30.10 × 0.95 = 28.595 → 28.60 (half up); then VIP 5 % of 28.60 = 1.43
    assert (cap.base_amount, cap.depreciation, cap.discounts, cap.total) == (
        D("30.10"),
        D("1.50"),
        D("1.43"),
        D("27.17"),
    )
    # 10.10 × 0.95 = 9.595 → 9.60; 5 % of 9.60 = 0.48
    assert (fan.depreciation, fan.discounts, fan.total) == (D("0.50"), D("0.48"), D("9.12"))
    assert cd.depreciation == D("2.00")
    assert "区域折旧系数 0.95（成都）−1.50 = 28.60; VIP 95 折 −1.43; 合计 27.17" in cap.explain
    assert "region depreciation coefficient 0.95 (成都) −1.50 = 28.60; VIP 5% off −1.43" in cap.explain_en


def test_depreciation_is_per_unit_price_then_times_quantity() -> None:
    b = run(request(region=CD, labour=[], parts=[{"sku": "FAN", "quantity": 3}]), coefficients=(CD_095,))
    [fan] = b.lines
    # unit 10.10 → 9.60; 3 × 9.60 = 28.80 against a base of 30.30
    assert (fan.base_amount, fan.depreciation, fan.total) == (D("30.30"), D("1.50"), D("28.80"))
    assert "目录价 10.10 × 3 = 30.30" in fan.explain


def test_the_most_specific_coefficient_in_force_wins() -> None:
    province = RegionCoefficient(
        coefficient_id="C-SC", province="四川", coefficient="0.9", effective_from=JAN1
    )
    tier = RegionCoefficient(coefficient_id="C-T3", tier=3, coefficient="0.8", effective_from=JAN1)
    later = CD_095.model_copy(
        update={"version": 2, "coefficient": D("0.97"), "effective_from": date(2026, 4, 1)}
    )
    options = (province, tier, CD_095, later)
    assert region_coefficient(options, CD, date(2026, 3, 10)) == CD_095  # city > province
    assert region_coefficient(options, CD, date(2026, 4, 1)) == later
    assert region_coefficient(options, MY, date(2026, 3, 10)) == province  # province > tier
    assert region_coefficient(options, SH, date(2026, 3, 10)) is None


def test_a_coefficient_of_one_changes_nothing_and_is_not_shown() -> None:
    one = RegionCoefficient(coefficient_id="C-1", city="成都", coefficient="1", effective_from=JAN1)
    b = run(request(region=CD), coefficients=(one,))
    assert b.depreciation == D("0.00")
    assert b.coefficient is None
    assert "折旧" not in " ".join(ln.explain for ln in b.lines)


@pytest.mark.parametrize("value", [0.95, "0", "1.01", "-0.5", "0.12345", "abc", True])
def test_bad_coefficients_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        RegionCoefficient(coefficient_id="C", city="成都", coefficient=value, effective_from=JAN1)


def test_a_coefficient_names_a_region() -> None:
    with pytest.raises(ValidationError, match="names a province"):
        RegionCoefficient(coefficient_id="C", coefficient="0.9", effective_from=JAN1)


# ---------------------------------------------------------------- modifiers as in quotes


def test_rush_and_member_discount_apply_exactly_as_in_a_quote() -> None:
    req = request(customer_types=["vip"], rush=True, parts=[{"sku": "CAP", "quantity": 2}])
    b = run(req, modifiers=(VIP, RUSH))
    q = quote(
        QuoteRequest(
            items=(QuoteItem(item="AC-REPAIR"), QuoteItem(item="CAP", quantity=2, category="电容")),
            region=SH,
            customer_types=("vip",),
            rush=True,
        ),
        (*RULES, PriceRule(rule_id="catalogue", item="CAP", price="30.10", effective_from=JAN1)),
        (VIP, RUSH),
        at(date(2026, 3, 10)),
    )
    for ln, ql in zip(b.lines, q.lines, strict=True):
        assert (ln.adjustments, ln.surcharges, ln.discounts, ln.charge) == (
            ql.adjustments,
            ql.surcharges,
            ql.discounts,
            ql.total,
        )
    labour = line(b, "AC-REPAIR")
    # 180.00 + 50.00 rush (labour only) = 230.00; VIP 5 % = 11.50 → 218.50
    assert [(a.modifier_id, a.amount, a.running_total) for a in labour.adjustments] == [
        ("M-RUSH", D("50.00"), D("230.00")),
        ("M-VIP", D("11.50"), D("218.50")),
    ]
    # 2 × 30.10 = 60.20; VIP 5 % = 3.01 → 57.19
    assert line(b, "CAP").total == D("57.19")
    assert b.surcharges == D("50.00")
    assert b.discounts == D("14.51")
    assert b.total == D("275.69")
    assert {(m.modifier_id, m.version) for m in b.modifiers} == {("M-RUSH", 1), ("M-VIP", 1)}
    assert "加急 50 元 +50.00; VIP 95 折 −11.50; 合计 218.50" in labour.explain


def test_no_rush_no_member_no_modifiers() -> None:
    b = run(request(rush=False), modifiers=(VIP, RUSH))
    assert b.surcharges == b.discounts == D("0.00")
    assert b.modifiers == ()


def test_member_discount_rounds_half_up_at_half_a_fen() -> None:
    # 5 % of 30.10 = 1.505 → 1.51 (banker's rounding would give 1.50)
    b = run(request(customer_types=["vip"], labour=[], parts=[{"sku": "CAP"}]), modifiers=(VIP,))
    assert b.discounts == D("1.51")
    assert b.total == D("28.59")


def test_a_full_discount_never_makes_a_bill_negative() -> None:
    free = Modifier(
        modifier_id="M-FREE", kind=ModifierKind.PROMOTION, name="免单", amount="10000.00", effective_from=JAN1
    )
    b = run(request(customer_types=["vip"]), modifiers=(free, VIP))
    assert b.total == D("0.00")
    assert all(ln.total == D("0.00") for ln in b.lines)


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("field", ["price", "unit_cost"])
@pytest.mark.parametrize("value", [12.5, "12.345", "-1.00", "abc", True, "NaN"])
def test_part_amounts_are_exact_non_negative_decimals_never_floats(field: str, value: object) -> None:
    data: dict[str, object] = {"sku": "X", "name": "x", "unit_cost": "1.00", "price": "2.00"}
    with pytest.raises(ValidationError):
        Part.model_validate(data | {field: value})


def test_part_round_trips_as_json_with_string_amounts() -> None:
    part = Part(sku=" CAP ", name="电容", unit_cost="5", price="30.1", warranty_months=24)
    dumped = part.model_dump(mode="json")
    assert dumped == {
        "sku": "CAP",
        "name": "电容",
        "category": None,
        "unit_cost": "5.00",
        "price": "30.10",
        "warranty_months": 24,
        "low_stock_threshold": 2,
    }
    assert Part.model_validate(dumped) == part
    with pytest.raises(ValidationError):
        Part.model_validate(dumped | {"surprise": 1})


def test_requests_are_validated() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        request(labour=[], parts=[])
    with pytest.raises(ValidationError, match="each part once"):
        request(parts=[{"sku": "CAP"}, {"sku": "CAP"}])
    with pytest.raises(ValidationError, match="both a labour item and a part"):
        request(labour=[{"item": "CAP"}])
    with pytest.raises(ValidationError):
        request(completed_at=datetime(2026, 3, 10, 15, 0))  # naive
    with pytest.raises(ValidationError):
        request(parts=[{"sku": "CAP", "quantity": 0}])
    with pytest.raises(ValidationError):
        request(timezone="Mars/Base")
    assert request(customer_types=["vip", "b", "vip"]).customer_types == ("b", "vip")


def test_a_bill_is_immutable_and_adds_up() -> None:
    b = run(request(customer_types=["vip"], rush=True), modifiers=(VIP, RUSH))
    with pytest.raises(ValidationError):
        b.total = D("0.00")  # type: ignore[misc]
    assert [ln.kind for ln in b.lines] == [LineKind.LABOUR, LineKind.PART, LineKind.PART]
    assert b.total == b.labour_total + b.parts_total
    assert b.summary() == f"人工费 {b.labour_total:.2f} + 配件费 {b.parts_total:.2f} = 应付 {b.total:.2f}"
    assert b.model_dump(mode="json")["total"] == f"{b.total:.2f}"


# ---------------------------------------------------------------- invariants

prices = st.decimals(min_value=D("0.00"), max_value=D("9999.99"), places=2)
coefficients = st.decimals(min_value=D("0.0001"), max_value=D("1"), places=4)


@settings(max_examples=150, deadline=None)
@given(
    labour_price=prices,
    cap_price=prices,
    fan_price=prices,
    qty=st.integers(min_value=1, max_value=50),
    coefficient=coefficients,
    percent=st.decimals(min_value=D("0"), max_value=D("100"), places=2),
    vip=st.booleans(),
    rush=st.booleans(),
    months_after=st.integers(min_value=0, max_value=40),
)
def test_bill_invariants(
    labour_price: Decimal,
    cap_price: Decimal,
    fan_price: Decimal,
    qty: int,
    coefficient: Decimal,
    percent: Decimal,
    vip: bool,
    rush: bool,
    months_after: int,
) -> None:
    rules = (PriceRule(rule_id="R", item="AC-REPAIR", price=labour_price, effective_from=JAN1),)
    parts = (CAP.model_copy(update={"price": cap_price}), FAN.model_copy(update={"price": fan_price}))
    vip_mod = VIP.model_copy(update={"percent": percent})
    start = date(2024, 1, 31)
    req = request(
        region=CD,
        customer_types=["vip"] if vip else [],
        rush=rush,
        parts=[{"sku": "CAP", "quantity": qty}, {"sku": "FAN"}],
        warranty=WarrantyBasis(start=start, labour_months=12),
        completed_at=at(add_months(start, months_after)),
    )
    coef = RegionCoefficient(coefficient_id="C", city="成都", coefficient=coefficient, effective_from=JAN1)
    b = run(req, rules=rules, modifiers=(vip_mod, RUSH), parts=parts, coefficients=(coef,))
    zero = D("0.00")
    for ln in b.lines:
        assert ln.charge == ln.base_amount - ln.depreciation + ln.surcharges - ln.discounts
        assert ln.total == ln.charge - ln.waived
        assert ln.total >= zero
        assert ln.waived == (ln.charge if ln.in_warranty else zero)
        for amount in (ln.base_amount, ln.depreciation, ln.discounts, ln.surcharges, ln.total):
            assert amount == amount.quantize(D("0.01"))
            assert amount >= zero
    assert b.total == sum((ln.total for ln in b.lines), zero)
    assert b.total == b.subtotal - b.depreciation + b.surcharges - b.discounts - b.waived
    assert b.total >= zero


def test_the_bill_says_where_warranty_came_from_and_uses_or_refuses_the_tickets_flag() -> None:
    basis = WarrantyBasis(start=date(2025, 3, 10), labour_months=12)
    inside, outside = at(date(2026, 3, 9)), at(date(2026, 3, 10))
    plain = run(request(warranty=basis, completed_at=inside))
    assert (
        plain.warranty_note
        == "warranty counted from the ticket's purchase_date 2025-03-10 (labour 12 months)"
    )

    def note(claim: str, basis: WarrantyBasis | None, when: datetime) -> str:
        labour_only = request(warranty=basis, warranty_claim=claim, completed_at=when, parts=[])
        return run(labour_only).warranty_note

    assert note("保内", basis, inside).endswith("保内 used: the dates agree")
    assert note("保内", basis, outside).endswith("保内 refused: every line's warranty had ended")
    assert note("保外", basis, outside).endswith("保外 used: the dates agree")
    assert note("保外", basis, inside).endswith("保外 refused: lines are still under warranty")
    no_date = run(request(warranty_claim="保内"))
    assert no_date.warranty_note == (
        "no purchase_date or install_date on the ticket: nothing is under warranty; "
        "保内 refused: no date to count a warranty from"
    )
    assert no_date.waived == D("0.00")  # refused: charged in full
    installed = WarrantyBasis(kind="installation", start=date(2025, 3, 10))
    assert "install_date 2025-03-10 (labour 0 months)" in note("保外", installed, inside)
