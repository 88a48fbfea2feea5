"""The worked example of docs/settlement.md, computed with the domain code and compared with the doc.

One source of truth: the doc's machine-readable block (between `<!-- worked-example:start -->` and
`<!-- worked-example:end -->`) must equal `figures()`, and every table and explanation block the doc shows
must equal what `render()` builds from the same rules and results. Change a price, a rule or a figure on
either side and a test here fails. After a deliberate change, regenerate the doc's blocks with

    .venv/bin/python -m tests.unit.test_settlement_worked_example

and paste them into docs/settlement.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.billing import (
    Bill,
    BillRequest,
    Part,
    PartUsed,
    RegionCoefficient,
    WarrantyBasis,
    bill,
    warranty_last_day,
)
from chalicelib.domain.ledger import Posting, Source, SourceType
from chalicelib.domain.money import FEN
from chalicelib.domain.pricing import Modifier, ModifierKind, PriceRule, QuoteItem, Region
from chalicelib.domain.settlement import (
    Allocation,
    Facts,
    PartyRole,
    SplitRule,
    Tier,
    TieredRule,
    postings_for,
    settle,
    tiered_amount,
)

D = Decimal
DOC = Path(__file__).resolve().parents[2] / "docs" / "settlement.md"
TZ = ZoneInfo("Asia/Shanghai")
JAN1 = date(2026, 1, 1)
RULES_FROM = datetime(2026, 1, 1, tzinfo=TZ)
PERIOD = "2026-03"
TENANT = "t-demo"

# ---------------------------------------------------------------- inputs (the doc's "Inputs" tables)

PRICE_RULES = (
    PriceRule(rule_id="R-AC-SH", item="AC-REPAIR", city="上海", price="188.00", effective_from=JAN1),
    PriceRule(rule_id="R-AC-T2", item="AC-REPAIR", tier=2, price="158.00", effective_from=JAN1),
    PriceRule(rule_id="R-FAN-SH", item="FAN-MOTOR", city="上海", price="285.50", effective_from=JAN1),
)
MODIFIERS = (
    Modifier(
        modifier_id="M-RUSH",
        kind=ModifierKind.RUSH,
        name="加急服务费 20%",
        name_en="rush fee 20%",
        percent="20",
        requires_rush=True,
        items=("AC-REPAIR",),
        effective_from=JAN1,
    ),
    Modifier(
        modifier_id="M-VIP",
        kind=ModifierKind.MEMBER,
        name="VIP 会员 95 折",
        name_en="VIP member 5% off",
        percent="5",
        customer_types=("vip",),
        effective_from=JAN1,
    ),
)
PARTS = (
    Part(
        sku="CAP-35UF",
        name="压缩机启动电容",
        category="电容",
        unit_cost="12.00",
        price="45.00",
        warranty_months=36,
    ),
    Part(
        sku="FAN-MOTOR",
        name="室外风机电机",
        category="电机",
        unit_cost="150.00",
        price="268.30",
        warranty_months=18,
    ),
)
COEFFICIENTS = (
    RegionCoefficient(coefficient_id="C-CD", city="成都", coefficient="0.95", effective_from=JAN1),
)
WARRANTY = WarrantyBasis(kind="purchase", start=date(2024, 5, 20), labour_months=12)
COMPLETED_AT = datetime(2026, 3, 18, 20, 30, tzinfo=TZ)
SPLIT = SplitRule(
    id="split-repair",
    version=1,
    name="维修工单分账",
    effective_from=RULES_FROM,
    shares=(
        {"role": PartyRole.STORE, "percent": "35"},
        {"role": PartyRole.ENGINEER, "percent": "45"},
        {"role": PartyRole.PLATFORM, "percent": "20"},
    ),
)
BONUS = TieredRule(
    id="engineer-month-tiers",
    version=1,
    name="工程师月度阶梯奖",
    effective_from=RULES_FROM,
    beneficiary=PartyRole.ENGINEER,
    mode="marginal",
    tiers=(
        Tier(from_amount="0", rate_percent="0"),
        Tier(from_amount="5000", rate_percent="2"),
        Tier(from_amount="10000", rate_percent="3.5"),
    ),
)


@dataclass(frozen=True)
class City:
    key: str  # the figures' prefix
    title: str
    region: Region
    ticket: str
    store: str
    engineer: str
    other_tickets: Decimal  # the engineer's other tickets this month (payable, already billed)


SHANGHAI = Region(province="上海", city="上海", tier=1)
CHENGDU = Region(province="四川", city="成都", tier=2)
CITIES = (
    City("shanghai", "上海 Shanghai", SHANGHAI, "TK-SH-0318", "SH-001", "E-SH-07", D("9876.54")),
    City("chengdu", "成都 Chengdu", CHENGDU, "TK-CD-0318", "CD-002", "E-CD-03", D("6543.21")),
)


# ---------------------------------------------------------------- the computation


@dataclass(frozen=True)
class Result:
    city: City
    bill: Bill
    split: list[Allocation]
    split_postings: list[Posting]
    month_total: Decimal
    bonus: list[Allocation]
    bonus_postings: list[Posting]


def compute(city: City) -> Result:
    request = BillRequest(
        ticket_id=city.ticket,
        customer_id="C-1001",
        region=city.region,
        customer_types=("vip",),
        rush=True,
        completed_at=COMPLETED_AT,
        labour=(QuoteItem(item="AC-REPAIR", category="空调维修"),),
        parts=(PartUsed(sku="CAP-35UF"), PartUsed(sku="FAN-MOTOR")),
        warranty=WARRANTY,
    )
    b = bill(request, rules=PRICE_RULES, modifiers=MODIFIERS, parts=PARTS, coefficients=COEFFICIENTS)
    parties = {PartyRole.STORE: city.store, PartyRole.ENGINEER: city.engineer, PartyRole.PLATFORM: "hq"}
    ticket_facts = Facts(
        source=Source(type=SourceType.TICKET, id=city.ticket), period=PERIOD, amount=b.total, parties=parties
    )
    split = settle(SPLIT, ticket_facts)
    month_total = city.other_tickets + b.total
    month_facts = Facts(
        source=Source(type=SourceType.SETTLEMENT_RUN, id=f"engineer:{city.engineer}:{PERIOD}"),
        period=PERIOD,
        amount=month_total,
        parties=parties,
    )
    bonus = settle(BONUS, month_facts)
    at = datetime(2026, 3, 31, 23, 0, tzinfo=TZ)
    return Result(
        city=city,
        bill=b,
        split=split,
        split_postings=postings_for(split, rule=SPLIT, facts=ticket_facts, tenant_id=TENANT, at=at),
        month_total=month_total,
        bonus=bonus,
        bonus_postings=postings_for(bonus, rule=BONUS, facts=month_facts, tenant_id=TENANT, at=at),
    )


def results() -> list[Result]:
    return [compute(city) for city in CITIES]


def _m(d: Decimal) -> str:
    return f"{d:.2f}"


def _signed(sign: str, d: Decimal) -> str:
    return f"{sign}{d:.2f}" if d else "0.00"


def _exact_share(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * percent / 100


def _naive_split_sum(amount: Decimal) -> Decimal:
    return sum((_exact_share(amount, s.percent).quantize(FEN, ROUND_HALF_UP) for s in SPLIT.shares), D(0))


def _bonus_pieces(month_total: Decimal) -> list[tuple[Tier, Decimal, Decimal]]:
    """(tier, the part of the month total inside it, its bonus) — the marginal arithmetic, shown per tier."""
    uppers = [t.from_amount for t in BONUS.tiers[1:]] + [None]
    pieces = []
    for tier, upper in zip(BONUS.tiers, uppers, strict=True):
        top = month_total if upper is None else min(month_total, upper)
        piece = max(top - tier.from_amount, D("0.00"))
        pieces.append((tier, piece, (piece * tier.rate_percent / 100).quantize(FEN, ROUND_HALF_UP)))
    return pieces


def figures() -> dict[str, str]:
    """Every figure of the worked example by name, as the doc's machine-readable block lists them."""
    out: dict[str, str] = {}
    for r in results():
        k, b = r.city.key, r.bill
        for line in b.lines:
            p = f"{k}.line.{line.item}"
            out[f"{p}.unit_price"] = _m(line.unit_price)
            out[f"{p}.depreciation"] = _m(line.depreciation)
            out[f"{p}.surcharges"] = _m(line.surcharges)
            out[f"{p}.discounts"] = _m(line.discounts)
            out[f"{p}.charge"] = _m(line.charge)
            out[f"{p}.waived"] = _m(line.waived)
            out[f"{p}.payable"] = _m(line.total)
        for name in ("subtotal", "depreciation", "surcharges", "discounts", "waived", "total"):
            out[f"{k}.bill.{name}"] = _m(getattr(b, name))
        for a in r.split:
            out[f"{k}.split.{a.role.value}"] = _m(a.amount)
        out[f"{k}.split.naive_half_up_sum"] = _m(_naive_split_sum(b.total))
        out[f"{k}.engineer.other_tickets"] = _m(r.city.other_tickets)
        out[f"{k}.engineer.month_total"] = _m(r.month_total)
        out[f"{k}.engineer.tier_bonus"] = _m(r.bonus[0].amount)
    return out


# ---------------------------------------------------------------- the doc's tables, rendered


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _region_of(rule: PriceRule) -> str:
    return rule.label("zh") + ("" if rule.label("zh") == rule.label("en") else f" ({rule.label('en')})")


def render_inputs() -> list[str]:
    rules = _table(
        ["price rule", "item", "region", "price"],
        ["---", "---", "---", "---:"],
        [[r.rule_id, r.item, _region_of(r), _m(r.price)] for r in PRICE_RULES],
    )
    parts = _table(
        ["sku", "part", "unit cost", "catalogue price", "warranty", "covered until"],
        ["---", "---", "---:", "---:", "---:", "---"],
        [
            [
                p.sku,
                p.name,
                _m(p.unit_cost),
                _m(p.price),
                f"{p.warranty_months} months",
                _last_day(p.warranty_months),
            ]
            for p in PARTS
        ]
        + [
            [
                "(labour)",
                "整机 whole machine",
                "",
                "",
                f"{WARRANTY.labour_months} months",
                _last_day(WARRANTY.labour_months),
            ]
        ],
    )
    modifiers = _table(
        ["modifier", "stage", "name", "applies to", "amount"],
        ["---", "---", "---", "---", "---:"],
        [
            [
                m.modifier_id,
                m.kind.value,
                f"{m.name} / {m.name_en}",
                ", ".join(m.items or m.customer_types) + (" when rush" if m.requires_rush else ""),
                f"{m.percent} %",
            ]
            for m in MODIFIERS
        ],
    )
    coefficients = _table(
        ["id", "region", "coefficient"],
        ["---", "---", "---:"],
        [[c.coefficient_id, c.label(), str(c.coefficient)] for c in COEFFICIENTS],
    )
    return [rules, parts, modifiers, coefficients]


def _last_day(months: int) -> str:
    return str(warranty_last_day(WARRANTY.start, months))


def render_bill(r: Result) -> str:
    b = r.bill
    rows = []
    for line in b.lines:
        price = f"{_m(line.base_amount)} ({line.rule_id or 'catalogue'})"
        warranty = "保内 in warranty" if line.in_warranty else "保外 out"
        rows.append(
            [
                f"{line.name} {line.item}" if line.name != line.item else line.item,
                price,
                _signed("−", line.depreciation),
                _signed("+", line.surcharges),
                _signed("−", line.discounts),
                _m(line.charge),
                warranty,
                _signed("−", line.waived),
                f"**{_m(line.total)}**",
            ]
        )
    rows.append(
        [
            "**bill**",
            _m(b.subtotal),
            _signed("−", b.depreciation),
            _signed("+", b.surcharges),
            _signed("−", b.discounts),
            _m(b.subtotal - b.depreciation + b.surcharges - b.discounts),
            "",
            _signed("−", b.waived),
            f"**{_m(b.total)}**",
        ]
    )
    return _table(
        [
            r.city.title,
            "base",
            "depreciation",
            "surcharges",
            "discounts",
            "charge",
            "warranty",
            "waived",
            "payable",
        ],
        ["---", "---:", "---:", "---:", "---:", "---:", "---", "---:", "---:"],
        rows,
    )


def render_explanations(r: Result) -> str:
    return "```text\n" + "\n".join(line.explain for line in r.bill.lines) + "\n" + r.bill.summary() + "\n```"


def render_split() -> str:
    rs = results()
    rows = []
    for i, share in enumerate(SPLIT.shares):
        row = [f"{share.role.value}", f"{share.percent} %"]
        for r in rs:
            exact = _exact_share(r.bill.total, share.percent)
            row += [f"{exact:.4f}", f"**{_m(r.split[i].amount)}**"]
        rows.append(row)
    total_row = ["**total**", "100 %"]
    for r in rs:
        total_row += [_m(r.bill.total), f"**{_m(sum((a.amount for a in r.split), D(0)))}**"]
    rows.append(total_row)
    header = ["party", "share"]
    for r in rs:
        header += [f"{r.city.title} exact", "share"]
    return _table(header, ["---", "---:", "---:", "---:", "---:", "---:"], rows)


def render_bonus() -> str:
    rs = results()
    rows = [
        ["this ticket", "", *[c for r in rs for c in (_m(r.bill.total), "")]],
        ["other tickets in March", "", *[c for r in rs for c in (_m(r.city.other_tickets), "")]],
        ["**month total**", "", *[c for r in rs for c in (f"**{_m(r.month_total)}**", "")]],
    ]
    per_city = [_bonus_pieces(r.month_total) for r in rs]
    uppers = [_m(t.from_amount) for t in BONUS.tiers[1:]] + ["…"]
    for i, tier in enumerate(BONUS.tiers):
        row = [f"tier {_m(tier.from_amount)} – {uppers[i]}", f"{tier.rate_percent} %"]
        for pieces in per_city:
            _, piece, value = pieces[i]
            row += [_m(piece), _m(value)]
        rows.append(row)
    rows.append(["**tier bonus**", "", *[c for r in rs for c in ("", f"**{_m(r.bonus[0].amount)}**")]])
    header = ["engineer's March", "rate"]
    for r in rs:
        header += [f"{r.city.engineer} amount", "bonus"]
    return _table(header, ["---", "---:", "---:", "---:", "---:", "---:"], rows)


def render_postings(r: Result) -> str:
    rows = []
    for posting, label in ((r.split_postings[0], "split"), (r.bonus_postings[0], "tier bonus")):
        for leg in posting.legs:
            rows.append(
                [
                    label,
                    f"`{leg.account}`",
                    _m(leg.debit) if leg.debit is not None else "",
                    _m(leg.credit) if leg.credit is not None else "",
                ]
            )
    return _table(["posting", "account", "debit", "credit"], ["---", "---", "---:", "---:"], rows)


def render() -> list[str]:
    """Every table and explanation block the doc shows, in the doc's order."""
    rs = results()
    blocks = render_inputs()
    for r in rs:
        blocks += [render_bill(r), render_explanations(r)]
    blocks += [render_split(), render_bonus(), render_postings(rs[0])]
    return blocks


def figures_block() -> str:
    return "```json\n" + json.dumps(figures(), ensure_ascii=False, indent=2) + "\n```"


# ---------------------------------------------------------------- the tests


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _doc_figures() -> dict[str, str]:
    m = re.search(
        r"<!-- worked-example:start -->\s*```json\n(.*?)\n```\s*<!-- worked-example:end -->", _doc(), re.S
    )
    assert m, "docs/settlement.md has no worked-example block"
    loaded = json.loads(m.group(1))
    assert isinstance(loaded, dict)
    return {str(k): str(v) for k, v in loaded.items()}


def test_the_doc_figures_are_what_the_code_computes_to_the_fen() -> None:
    doc, code = _doc_figures(), figures()
    assert sorted(doc) == sorted(code), "the doc and the code name different figures"
    differing = {k: (doc[k], code[k]) for k in code if doc[k] != code[k]}
    assert not differing, f"doc vs code: {differing}"


@pytest.mark.parametrize("index", range(len(render())))
def test_the_doc_shows_each_table_as_computed(index: int) -> None:
    block = render()[index]
    assert block in _doc(), f"docs/settlement.md does not show this block as computed:\n{block}"


def test_the_key_figures() -> None:
    # The headline numbers, pinned here too, so a change that shifts both the doc and the code is noticed.
    f = figures()
    assert f["shanghai.bill.total"] == "485.54"
    assert f["chengdu.bill.total"] == "422.27"
    assert f["shanghai.line.CAP-35UF.waived"] == "42.75"
    assert f["chengdu.line.FAN-MOTOR.depreciation"] == "13.41"  # 268.30 × 0.95 = 254.885 → 254.89
    assert (f["chengdu.split.store"], f["chengdu.split.engineer"], f["chengdu.split.platform"]) == (
        "147.80",
        "190.02",
        "84.45",
    )
    assert f["chengdu.split.naive_half_up_sum"] == "422.26"  # rounding each share alone loses a fen
    assert f["shanghai.engineer.tier_bonus"] == "112.67"
    assert f["chengdu.engineer.tier_bonus"] == "39.31"


def test_the_example_adds_up() -> None:
    for r in results():
        b = r.bill
        assert b.total == sum((ln.total for ln in b.lines), D(0))
        assert b.total == b.subtotal - b.depreciation + b.surcharges - b.discounts - b.waived
        assert sum((a.amount for a in r.split), D(0)) == b.total
        for posting in r.split_postings + r.bonus_postings:
            debits = sum((leg.debit or D(0) for leg in posting.legs), D(0))
            credits = sum((leg.credit or D(0) for leg in posting.legs), D(0))
            assert debits == credits
        # the per-tier pieces shown in the doc add up to what the engine settles
        assert sum((v for _, _, v in _bonus_pieces(r.month_total)), D(0)) == r.bonus[0].amount
        assert tiered_amount(r.month_total, BONUS.tiers, "marginal")[0] == r.bonus[0].amount


if __name__ == "__main__":
    for block in [*render(), figures_block()]:
        print(block, end="\n\n")
