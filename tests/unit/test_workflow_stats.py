"""Per-step workflow statistics: histogram buckets and quantile accuracy, drop-off, alerts."""

from __future__ import annotations

import random
import statistics
from decimal import Decimal

import pytest

from chalicelib.domain.workflow_stats import (
    BUCKETS,
    MAX_SECONDS,
    RATIO,
    Histogram,
    NodeCounters,
    alerts,
    bucket_lower,
    bucket_of,
    bucket_upper,
    drop_off_rate,
    dropoff_ends,
    node_stats,
    step_deltas,
)
from chalicelib.domain.workflows import NodeKind, preset_workflows


def _wf(workflow_id: str):  # type: ignore[no-untyped-def]
    return next(w for w in preset_workflows() if w.id == workflow_id)


def test_buckets_cover_one_second_to_thirty_days_in_forty_log_steps():
    assert BUCKETS == 40
    assert bucket_lower(1) == 1.0 and bucket_lower(BUCKETS - 1) == MAX_SECONDS
    assert 1.4 < RATIO < 1.5
    assert bucket_of(0) == 0 and bucket_of(0.99) == 0 and bucket_of(-3) == 0
    assert bucket_of(1) == 1 and bucket_of(MAX_SECONDS) == BUCKETS - 1 and bucket_of(1e9) == BUCKETS - 1
    for i in range(BUCKETS):
        lo = bucket_lower(i)
        assert bucket_of(lo) == i
        if i < BUCKETS - 1:
            assert bucket_of(bucket_upper(i) * (1 - 1e-9)) == i


def test_median_of_an_empty_histogram_is_none():
    assert Histogram().median() is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_median_and_p90_are_close_on_smooth_data(seed: int):
    rng = random.Random(seed)
    data = [rng.lognormvariate(8, 1.2) for _ in range(5000)]  # ~50 min median, minutes to days
    h = Histogram()
    for x in data:
        h.add(x)
    true_median = statistics.median(data)
    true_p90 = statistics.quantiles(data, n=10)[-1]
    est_median, est_p90 = h.median(), h.quantile(0.9)
    assert est_median is not None and est_p90 is not None
    assert abs(est_median / true_median - 1) < 0.05
    assert abs(est_p90 / true_p90 - 1) < 0.08


def test_the_estimate_stays_within_the_documented_bound_in_the_worst_case():
    # every sample at one value: the estimate is somewhere in its bucket, never off by more than RATIO
    for value in (1.0, 7.3, 600.0, 3 * 3600.0, 9 * 86400.0):
        h = Histogram()
        for _ in range(11):
            h.add(value)
        est = h.median()
        assert est is not None
        assert value / RATIO <= est <= value * RATIO


def test_beyond_thirty_days_the_estimate_is_the_lower_bound_and_below_one_second_linear():
    h = Histogram()
    h.add(40 * 86400, n=3)
    assert h.median() == MAX_SECONDS
    h2 = Histogram()
    h2.add(0.2, n=4)
    assert h2.median() == 0.5  # halfway through [0, 1)


def test_histograms_add_up():
    a, b = Histogram(), Histogram()
    a.add(10, n=3)
    b.add(1000, n=3)
    a.merge(b)
    assert a.total == 6 and a.counts[bucket_of(10)] == 3 and a.counts[bucket_of(1000)] == 3


def test_dropoff_ends_are_cancel_ends_unless_the_designer_says_otherwise():
    repair = _wf("wf_repair")
    assert dropoff_ends(repair) == {"cancelled"}
    marked = repair.model_copy(deep=True)
    for n in marked.nodes:
        if n.id == "cancelled":
            n.ui["dropoff"] = False
        if n.id == "closed":
            n.ui["dropoff"] = True
    assert dropoff_ends(marked) == {"closed"}
    assert dropoff_ends(_wf("wf_return")) == set()


def test_an_exit_into_cancelled_is_a_drop_off_and_a_normal_exit_is_not():
    repair = _wf("wf_repair")
    cancelled = step_deltas(repair, ["cancelled"], {"triage": 120.0})
    assert cancelled["triage"].exits == 1 and cancelled["triage"].dropped == 1
    assert cancelled["cancelled"].entries == 1 and cancelled["cancelled"].dropped == 0
    accepted = step_deltas(repair, ["dispatch"], {"triage": 60.0})
    assert accepted["triage"].dropped == 0 and accepted["dispatch"].entries == 1
    assert accepted["triage"].durations.counts[bucket_of(60)] == 1
    created = step_deltas(repair, ["new", "triage"], {})
    assert {k: (v.entries, v.exits) for k, v in created.items()} == {"new": (1, 0), "triage": (1, 0)}


def test_drop_off_rate_and_alerts_respect_threshold_and_min_entries():
    repair = _wf("wf_repair")
    counters = {
        "triage": NodeCounters(entries=40, exits=40, dropped=8),  # 20 %
        "dispatch": NodeCounters(entries=32, exits=30, dropped=4),  # 12.5 %
        "on_site": NodeCounters(entries=5, exits=2, dropped=3),  # 60 %, but a tiny sample
    }
    stats = node_stats(repair, counters)
    assert [s.node for s in stats] == [n.id for n in repair.nodes]
    by = {s.node: s for s in stats}
    assert by["triage"].drop_off_rate == Decimal("0.2000")
    assert by["dispatch"].drop_off_rate == Decimal("0.1250")
    assert by["closed"].drop_off_rate == 0 and by["closed"].median_seconds is None
    assert by["new"].kind is NodeKind.START
    assert [a.node for a in alerts(stats)] == ["triage"]
    assert [a.node for a in alerts(stats, Decimal("0.10"))] == ["triage", "dispatch"]
    assert [a.node for a in alerts(stats, Decimal("0.10"), min_entries=5)] == [
        "triage",
        "dispatch",
        "on_site",
    ]
    assert alerts(stats, Decimal("0.20")) == []  # above, not at, the threshold
    assert drop_off_rate(1, 0) == 0
