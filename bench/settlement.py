"""`make bench` (settlement): the settlement center's pure domain code, in-process, no I/O.

1. Month-end run (`settlement.settle_period`): 100,000 completed tickets of one month across 500 parties
   (300 engineers, 150 stores, 50 partners on a third of the tickets; one platform), with one split rule
   (store / engineer / platform), one tiered rule for the engineers (marginal), one threshold bonus for the
   stores, a region coefficient and a satisfaction multiplier on the engineers' tier. Seeded random amounts
   (50.00-1,500.00 at the fen), completion times across the month, ratings on 70 % of the tickets. The facts
   are parsed (validated) once before the timed runs, as a run would load them; their parsing is timed
   apart. Checks: the postings balance (`ledger.balances` sums to zero), the whole run posted a second time
   is a no-op (`ledger.new_postings` returns []), and a ticket's month-end split posting is the one
   real-time settlement (`settle_source`) posts.
2. Quotes (`pricing.quote`): 500 price rules (100 items, each with a national price, older versions closed
   by effective_to, and province / city / tier / customer-type prices) and 50 modifiers (promotions,
   seasonal, rush with windows, member discounts) in force; requests of 3-5 items in random regions for
   random customer types, some rush; p50/p99 over 2,000 quotes after 100 warm-up quotes."""

from __future__ import annotations

import gc
import os
import platform
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from chalicelib.domain.ledger import balances, new_postings
from chalicelib.domain.pricing import Modifier, ModifierKind, PriceRule, QuoteRequest, quote
from chalicelib.domain.settlement import (
    Facts,
    PartyRole,
    RegionCoefficient,
    SatisfactionMultiplier,
    SplitRule,
    ThresholdBonusRule,
    TieredRule,
    settle_period,
    settle_source,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:settlement:start -->", "<!-- bench:settlement:end -->"
SEED = 20261123
TICKETS = int(os.environ.get("SCRM_BENCH_SETTLEMENT_TICKETS", "100000"))
ENGINEERS, STORES, PARTNERS = 300, 150, 50
RUNS = int(os.environ.get("SCRM_BENCH_SETTLEMENT_RUNS", "7"))
QUOTES, WARMUP = 2000, 100
PERIOD, TENANT = "2026-11", "t-bench"
MONTH_START = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 2026-11-01 00:00 in Shanghai
REGIONS = ["华东", "华北", "华南", "西南", "西北"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def settlement_rules():
    rules = [
        SplitRule.model_validate(
            {
                "id": "split-repair",
                "version": 1,
                "effective_from": T0,
                "shares": [
                    {"role": "store", "percent": "55"},
                    {"role": "engineer", "percent": "35"},
                    {"role": "platform", "percent": "10"},
                ],
            }
        ),
        TieredRule.model_validate(
            {
                "id": "engineer-tier",
                "version": 1,
                "effective_from": T0,
                "beneficiary": "engineer",
                "mode": "marginal",
                "tiers": [
                    {"from_amount": "0", "rate_percent": "0"},
                    {"from_amount": "100000", "rate_percent": "1.5"},
                    {"from_amount": "200000", "rate_percent": "3"},
                ],
            }
        ),
        ThresholdBonusRule.model_validate(
            {
                "id": "store-bonus",
                "version": 1,
                "effective_from": T0,
                "beneficiary": "store",
                "threshold": "350000",
                "rate_percent": "2",
            }
        ),
    ]
    modifiers = [
        RegionCoefficient.model_validate(
            {
                "id": "region-eng",
                "version": 1,
                "effective_from": T0,
                "rule_ids": ["engineer-tier"],
                "coefficients": {"西北": "1.2", "西南": "1.1"},
            }
        ),
        SatisfactionMultiplier.model_validate(
            {
                "id": "satisfaction-eng",
                "version": 1,
                "effective_from": T0,
                "role": "engineer",
                "levels": [
                    {"min_average": "1", "multiplier": "0.9"},
                    {"min_average": "3.5", "multiplier": "1"},
                    {"min_average": "4.5", "multiplier": "1.1"},
                ],
                "min_ratings": 20,
            }
        ),
    ]
    return rules, modifiers


def ticket_rows(rng: random.Random) -> list[dict]:
    """What a run loads: one JSON-like row per completed ticket."""
    rows = []
    seconds = 30 * 24 * 3600
    for i in range(TICKETS):
        engineer = rng.randrange(ENGINEERS)
        parties = {
            "store": f"S{engineer % STORES:03d}" if rng.random() < 0.8 else f"S{rng.randrange(STORES):03d}",
            "engineer": f"E{engineer:03d}",
            "platform": "hq",
        }
        if rng.random() < 1 / 3:
            parties["partner"] = f"P{rng.randrange(PARTNERS):02d}"
        good = engineer % 3  # some engineers are rated better than others
        rows.append(
            {
                "source": {"type": "ticket", "id": f"tk-{i:06d}"},
                "period": PERIOD,
                "amount": f"{rng.randint(5000, 150000) / 100:.2f}",
                "count": 1,
                "parties": parties,
                "completed_at": (MONTH_START + timedelta(seconds=rng.randrange(seconds))).isoformat(),
                "rating": rng.choices([5, 4, 3, 2, 1], weights=[5 + 3 * good, 3, 1, 1, 1])[0]
                if rng.random() < 0.7
                else None,
            }
        )
    return rows


def month_end() -> dict:
    rng = random.Random(SEED)
    rules, modifiers = settlement_rules()
    rows = ticket_rows(rng)
    regions = {(PartyRole.ENGINEER, f"E{i:03d}"): REGIONS[i % len(REGIONS)] for i in range(ENGINEERS)}

    started = time.perf_counter()
    facts = [Facts.model_validate(row) for row in rows]
    parse_s = time.perf_counter() - started

    times, cpu = [], []
    result = None
    for _ in range(RUNS):
        result = None  # each run starts without the previous one's 100,000 postings alive
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = settle_period(PERIOD, TENANT, rules, facts, modifiers=modifiers, regions=regions)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert result is not None
    postings = result.postings
    started = time.perf_counter()
    ledger = {p.id: p for p in postings}
    totals = balances(postings)
    balanced = sum(totals.values(), Decimal(0)) == 0 and len(ledger) == len(postings)
    again = settle_period(PERIOD, TENANT, rules, facts, modifiers=modifiers, regions=regions)
    rerun_new = len(new_postings(ledger, again.postings))
    realtime = [p for f in facts[:1000] for p in settle_source(rules, f, tenant_id=TENANT)]
    realtime_same = len(new_postings(ledger, realtime)) == 0 and all(ledger[p.id] == p for p in realtime)
    checks_s = time.perf_counter() - started
    engineers = [p for p in result.parties if p.role is PartyRole.ENGINEER]
    return {
        "times": times,
        "cpu": cpu,
        "parse_s": parse_s,
        "checks_s": checks_s,
        "splits": len(result.split_postings),
        "period": len(result.period_postings),
        "parties": len(result.parties),
        "balanced": balanced,
        "rerun_new": rerun_new,
        "realtime_same": realtime_same,
        "scaled": sum("×" in p.memo for p in result.period_postings),
        "engineer_mean": statistics.mean(p.amount for p in engineers),
    }


ITEMS = [f"SKU-{i:03d}" for i in range(100)]
CATEGORIES = ["ac", "fridge", "washer", "tv", "parts"]
PROVINCES = {"上海": ["上海"], "浙江": ["杭州", "宁波"], "四川": ["成都", "绵阳"], "广东": ["广州", "深圳"]}
CUSTOMER_TYPES = ["vip", "三甲医院", "企业", "学校"]
JAN1 = date(2026, 1, 1)
AS_OF = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)


def price_book(rng: random.Random) -> tuple[list[PriceRule], list[Modifier]]:
    rules: list[PriceRule] = []
    for i, item in enumerate(ITEMS):
        price = rng.randint(50, 2000)
        # the national price, an old version closed when the current one started
        rules.append(
            PriceRule(
                rule_id=f"R-{item}",
                version=1,
                item=item,
                price=str(price - 10),
                effective_from=date(2025, 1, 1),
                effective_to=JAN1,
            )
        )
        rules.append(
            PriceRule(rule_id=f"R-{item}", version=2, item=item, price=str(price), effective_from=JAN1)
        )
        rules.append(
            PriceRule(rule_id=f"R-{item}-T1", item=item, tier=1, price=str(price + 20), effective_from=JAN1)
        )
        province = list(PROVINCES)[i % len(PROVINCES)]
        rules.append(
            PriceRule(
                rule_id=f"R-{item}-{province}",
                item=item,
                province=province,
                price=str(price + 10),
                effective_from=JAN1,
            )
        )
        city = PROVINCES[province][0]
        rules.append(
            PriceRule(
                rule_id=f"R-{item}-{city}-{CUSTOMER_TYPES[i % 4]}",
                item=item,
                city=city,
                customer_type=CUSTOMER_TYPES[i % 4],
                price=str(price + 30),
                effective_from=JAN1,
            )
        )
    modifiers: list[Modifier] = []
    kinds = [ModifierKind.PROMOTION] * 20 + [ModifierKind.SEASONAL] * 12 + [ModifierKind.RUSH] * 8
    kinds += [ModifierKind.MEMBER] * 10
    for n, kind in enumerate(kinds):
        data: dict = {
            "modifier_id": f"M-{n:02d}",
            "kind": kind,
            "name": f"{kind.value} {n}",
            "effective_from": JAN1,
            "exclusive": n % 7 == 0,
        }
        data |= {"percent": str(rng.randint(5, 30))} if n % 3 else {"amount": str(rng.randint(5, 50))}
        if kind is ModifierKind.PROMOTION:
            data |= {"items": rng.sample(ITEMS, 5)} if n % 2 else {"categories": [rng.choice(CATEGORIES)]}
        elif kind is ModifierKind.SEASONAL:
            data |= {"provinces": [rng.choice(list(PROVINCES))]}
        elif kind is ModifierKind.RUSH:
            data |= {"requires_rush": True} if n % 2 else {"window": {"start": "20:00", "end": "08:00"}}
        else:
            data |= {"customer_types": [rng.choice(CUSTOMER_TYPES)]}
        if n % 10 == 9:  # some not yet in force
            data["effective_from"] = date(2027, 1, 1)
        modifiers.append(Modifier.model_validate(data))
    return rules, modifiers


def random_request(rng: random.Random) -> QuoteRequest:
    province = rng.choice(list(PROVINCES))
    city = rng.choice(PROVINCES[province])
    return QuoteRequest.model_validate(
        {
            "items": [
                {"item": item, "quantity": rng.randint(1, 3), "category": rng.choice(CATEGORIES)}
                for item in rng.sample(ITEMS, rng.randint(3, 5))
            ],
            "region": {
                "province": province,
                "city": city,
                "tier": 1 if city in ("上海", "广州", "深圳") else 2,
            },
            "customer_types": rng.sample(CUSTOMER_TYPES, rng.randint(0, 2)),
            "rush": rng.random() < 0.2,
            "service_at": (AS_OF + timedelta(hours=rng.randint(0, 23))).isoformat(),
        }
    )


def quotes() -> dict:
    rng = random.Random(SEED)
    rules, modifiers = price_book(rng)
    requests = [random_request(rng) for _ in range(QUOTES + WARMUP)]
    for request in requests[:WARMUP]:
        quote(request, rules, modifiers, AS_OF)
    gc.collect()
    times = []
    adjusted = 0
    c0 = time.process_time()
    for request in requests[WARMUP:]:
        t0 = time.perf_counter()
        q = quote(request, rules, modifiers, AS_OF)
        times.append((time.perf_counter() - t0) * 1000)
        adjusted += any(line.adjustments for line in q.lines)
    cpu_ms = (time.process_time() - c0) * 1000 / QUOTES
    ordered = sorted(times)
    return {
        "rules": len(rules),
        "modifiers": len(modifiers),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
        "cpu_ms": cpu_ms,
        "adjusted": adjusted / QUOTES,
    }


def main() -> None:
    load = os.getloadavg()[0]
    m = month_end()
    q = quotes()
    median, best = statistics.median(m["times"]), min(m["times"])
    cpu_median = statistics.median(m["cpu"])
    ok = "✅" if median <= 2 else "❌"
    ok_q = "✅" if q["p99"] <= 5 else "❌"
    block = (
        f"{START}\nMeasured by `make bench` on {time.strftime('%Y-%m-%d')} (`bench/settlement.py`, "
        f"in-process, CPython {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at the start: wall times include other processes, "
        "the CPU column does not).\n\n"
        "| month-end run (`settle_period`) | tickets | parties | postings (splits + period) | runs "
        "| median s | min s | CPU s (median) |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| {ENGINEERS} engineers, {STORES} stores, {PARTNERS} partners; split + tier + threshold bonus + "
        f"region and satisfaction modifiers | {TICKETS:,} | {m['parties']} | "
        f"{m['splits'] + m['period']:,} ({m['splits']:,} + {m['period']}) | {RUNS} | **{median:.2f}** | "
        f"{best:.2f} | {cpu_median:.2f} |\n\n"
        f"Target ≤ 2 s (median): {ok}. Checks: the run's postings balance (balances sum to 0.00) "
        f"{'✅' if m['balanced'] else '❌'}; the same run posted again adds {m['rerun_new']} postings "
        f"{'✅' if m['rerun_new'] == 0 else '❌'}; real-time `settle_source` of 1,000 of the tickets gives "
        f"the month-end postings exactly {'✅' if m['realtime_same'] else '❌'}. {m['scaled']} of the "
        f"{m['period']} period postings were scaled by a modifier. Outside the timed run: parsing the "
        f"{TICKETS:,} facts from JSON-like rows (pydantic, at the edge) {m['parse_s']:.2f} s; the checks "
        f"{m['checks_s']:.2f} s.\n\n"
        "| quote (`pricing.quote`) | price rules | modifiers | items per request | quotes | p50 ms | p99 ms "
        "| max ms | CPU ms (mean) |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"| random region, customer types, rush | {q['rules']} | {q['modifiers']} | 3-5 | {QUOTES:,} | "
        f"{q['p50']:.2f} | **{q['p99']:.2f}** | {q['max']:.2f} | {q['cpu_ms']:.2f} |\n\n"
        f"Target p99 ≤ 5 ms: {ok_q}. {q['adjusted']:.0%} of the quotes carry at least one modifier.\n"
        f"{END}"
    )
    print(block)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n## Settlement\n\n" + block + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    main()
