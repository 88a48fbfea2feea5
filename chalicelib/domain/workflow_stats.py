"""Per-step workflow statistics: entries, exits, time spent in a step (median, p90) and drop-off.

Counters come from the ticket step events (`entered` steps, `exited` steps with the seconds spent in them)
and are summed per tenant × workflow × version × step × day by the store; this module only holds the rules.

Time in a step is kept in a histogram with fixed log-scale buckets (`BUCKETS` = 40): bucket 0 holds
[0 s, 1 s), buckets 1…38 split [1 s, 30 days) into 38 buckets of equal ratio `RATIO` ≈ 1.475, bucket 39
holds 30 days and more. Fixed buckets make histograms addable (days, workers, versions) with atomic counter
increments and no samples kept. A quantile is interpolated geometrically inside the bucket holding its
rank, so the estimate always lies in the same bucket as the true quantile: **its error is at most a factor
`RATIO` (≈ +47 % / −32 %) and, for durations spread smoothly within the bucket, much less** (within a few
per cent on the unit tests' data). Below 1 s the interpolation is linear; at or above 30 days the estimate
is reported as 30 days (a lower bound).

Drop-off: an exit of a step *drops off* when the ticket goes from that step (directly, or through steps
passed automatically in the same step event) into a **drop-off end**: an `end` node the designer marked with
`ui.dropoff: true`, or, when the node's `ui` does not say (`ui.dropoff` absent), an end node whose id starts
with `cancel` — the presets' `cancelled`. Ends that complete the work (`closed`, `done`…) are not drop-offs;
a designer marks other abandon ends (e.g. `rejected`) with `ui.dropoff: true` or excludes a `cancel…` end
with `ui.dropoff: false`. The drop-off rate of a step is `dropped / entries` over the period (0 without
entries). Entries and exits are counted on the day they happen, so over a period a step may show exits of
tickets that entered before it.

Alerts: a step whose drop-off rate is above the tenant's threshold (default 15 %) raises an alert, but only
with at least `MIN_ENTRIES` (20) entries in the period: with 3 entries, one cancellation is already 33 %,
noise rather than a signal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel

from chalicelib.domain.workflows import NodeKind, WorkflowDefinition

BUCKETS = 40
MAX_SECONDS = 30 * 86_400  # the lower bound of the last (open) bucket
_LOG_BUCKETS = BUCKETS - 2  # between 1 s and MAX_SECONDS
RATIO = MAX_SECONDS ** (1 / _LOG_BUCKETS)
DEFAULT_THRESHOLD = Decimal("0.15")
MIN_ENTRIES = 20
_RATE_PLACES = Decimal("0.0001")


def bucket_lower(i: int) -> float:
    """The lower bound (seconds) of bucket `i`."""
    if i <= 0:
        return 0.0
    if i >= BUCKETS - 1:
        return float(MAX_SECONDS)
    return float(RATIO ** (i - 1))


def bucket_upper(i: int) -> float:
    """The upper bound (exclusive) of bucket `i`; the last bucket is open (infinity)."""
    return math.inf if i >= BUCKETS - 1 else bucket_lower(i + 1)


def bucket_of(seconds: float) -> int:
    if not seconds >= 1:  # also NaN and negatives (a clock skew): the first bucket
        return 0
    if seconds >= MAX_SECONDS:
        return BUCKETS - 1
    i = 1 + int(math.log(seconds) / math.log(RATIO))
    # float rounding at a bound: settle on the bucket whose [lower, upper) holds the value
    while i > 1 and seconds < bucket_lower(i):
        i -= 1
    while i < BUCKETS - 2 and seconds >= bucket_lower(i + 1):
        i += 1
    return i


@dataclass
class Histogram:
    """Counts per fixed bucket; histograms add bucket by bucket."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, seconds: float, n: int = 1) -> None:
        self.counts[bucket_of(seconds)] += n

    def merge(self, other: Histogram) -> None:
        for i, c in enumerate(other.counts):
            self.counts[i] += c

    @property
    def total(self) -> int:
        return sum(self.counts)

    def quantile(self, q: float) -> float | None:
        """The estimated q-quantile (0 < q ≤ 1) in seconds; None when empty. Within the bucket of the rank
        q·n, the position is interpolated (geometrically in the log buckets, linearly below 1 s)."""
        n = self.total
        if n == 0:
            return None
        rank = q * n
        below = 0
        for i, c in enumerate(self.counts):
            if c == 0 or below + c < rank:
                below += c
                continue
            fraction = min(max((rank - below) / c, 0.0), 1.0)
            lo, hi = bucket_lower(i), bucket_upper(i)
            if i == 0:
                return lo + (hi - lo) * fraction
            if math.isinf(hi):
                return lo
            return float(lo * (hi / lo) ** fraction)
        return bucket_lower(BUCKETS - 1)  # not reached: the ranks add up to n

    def median(self) -> float | None:
        return self.quantile(0.5)


@dataclass
class NodeCounters:
    """A step's counters over some period: what the store adds up."""

    entries: int = 0
    exits: int = 0
    dropped: int = 0
    durations: Histogram = field(default_factory=Histogram)

    def merge(self, other: NodeCounters) -> None:
        self.entries += other.entries
        self.exits += other.exits
        self.dropped += other.dropped
        self.durations.merge(other.durations)


def dropoff_ends(defn: WorkflowDefinition) -> set[str]:
    """End nodes that mean the work was abandoned (see the module's docstring)."""
    ends = set()
    for node in defn.nodes:
        if node.kind is not NodeKind.END:
            continue
        flag = node.ui.get("dropoff")
        if flag is True or (flag is None and node.id.startswith("cancel")):
            ends.add(node.id)
    return ends


def step_deltas(
    defn: WorkflowDefinition, entered: Sequence[str], exited: Mapping[str, float]
) -> dict[str, NodeCounters]:
    """The counters one ticket step adds: an entry per step entered, an exit (with its duration) per step
    exited, and a drop-off for each exit that led into a drop-off end entered in the same step."""
    deltas: dict[str, NodeCounters] = {}
    for node in entered:
        deltas.setdefault(node, NodeCounters()).entries += 1
    reached = set(entered)
    targets = dropoff_ends(defn) & reached
    out: dict[str, list[str]] = {}
    for t in defn.transitions:
        out.setdefault(t.from_node, []).append(t.to_node)
    for node, seconds in exited.items():
        counters = deltas.setdefault(node, NodeCounters())
        counters.exits += 1
        counters.durations.add(float(seconds))
        if targets and _leads_to(node, targets, out, reached):
            counters.dropped += 1
    return deltas


def _leads_to(source: str, targets: set[str], out: Mapping[str, list[str]], reached: set[str]) -> bool:
    """A path of transitions from `source` to a target through steps entered in this same step only."""
    seen, todo = {source}, [source]
    while todo:
        for nxt in out.get(todo.pop(), []):
            if nxt in targets:
                return True
            if nxt in reached and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


class NodeStats(BaseModel):
    node: str
    name: str
    kind: NodeKind
    entries: int
    exits: int
    dropped: int
    median_seconds: float | None  # None without exits
    p90_seconds: float | None
    drop_off_rate: Decimal  # dropped / entries, 4 decimal places; 0 without entries


class StatsAlert(BaseModel):
    node: str
    name: str
    entries: int
    dropped: int
    drop_off_rate: Decimal
    threshold: Decimal
    message: str


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def drop_off_rate(dropped: int, entries: int) -> Decimal:
    if entries <= 0:
        return Decimal(0)
    return (Decimal(dropped) / Decimal(entries)).quantize(_RATE_PLACES, rounding=ROUND_HALF_UP)


def node_stats(defn: WorkflowDefinition, counters: Mapping[str, NodeCounters]) -> list[NodeStats]:
    """One entry per node of the definition, in its order (steps never reached show zeros)."""
    result = []
    for node in defn.nodes:
        c = counters.get(node.id) or NodeCounters()
        result.append(
            NodeStats(
                node=node.id,
                name=node.name,
                kind=node.kind,
                entries=c.entries,
                exits=c.exits,
                dropped=c.dropped,
                median_seconds=_round(c.durations.median()),
                p90_seconds=_round(c.durations.quantile(0.9)),
                drop_off_rate=drop_off_rate(c.dropped, c.entries),
            )
        )
    return result


def alerts(
    stats: Iterable[NodeStats], threshold: Decimal = DEFAULT_THRESHOLD, min_entries: int = MIN_ENTRIES
) -> list[StatsAlert]:
    """The steps whose drop-off rate is above `threshold`, among those with at least `min_entries`."""
    return [
        StatsAlert(
            node=s.node,
            name=s.name,
            entries=s.entries,
            dropped=s.dropped,
            drop_off_rate=s.drop_off_rate,
            threshold=threshold,
            message=f"{s.name}: {s.drop_off_rate:.1%} of {s.entries} tickets dropped off "
            f"(threshold {threshold:.0%})",
        )
        for s in stats
        if s.entries >= min_entries and s.drop_off_rate > threshold
    ]
