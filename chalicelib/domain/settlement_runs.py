"""Month-end settlement runs: their record, and how a period's party postings are cut into chunks.

A run settles one period: the period postings of every party (tiers, threshold bonuses, incentives) are
computed at once by `settlement.settle_period` (pure, fast), stored in chunks of whole parties, and posted
chunk by chunk by a Step Functions Map. A party is marked finished after its postings are written, and a
re-run (or a resumed one) skips finished parties; posting ids are derived from the rule version, the
party and the period, so even a party interrupted half-way posts nothing twice.

A period already settled changes when a refund or a rating arrives after its run: running it again posts,
for each party whose period postings now come out differently, one adjustment (`adjustment`) dated at the
re-run — a bonus clawed back, or paid after all — and never edits what was posted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from chalicelib.domain.ledger import ZERO, Posting, Source, SourceType, balances, legs_for
from chalicelib.domain.settlement import PERIOD_PATTERN

MAX_POSTINGS_PER_CHUNK = 200  # ~600 B each: a chunk item stays far below DynamoDB's 400 KB


class RunStatus(StrEnum):
    PLANNING = "planning"
    SETTLING = "settling"
    CLOSED = "closed"


class SettlementRun(BaseModel):
    id: str
    tenant_id: str
    period: str = Field(pattern=PERIOD_PATTERN)
    status: RunStatus = RunStatus.PLANNING
    started_at: datetime
    started_by: str
    sources: int = 0  # tickets/orders settled in the period
    parties: int = 0  # parties with period postings
    chunks: int = 0
    postings_planned: int = 0
    closed_at: datetime | None = None
    version: int = 1


def party_of(posting: Posting) -> str:
    """The party a period posting is for: its source is settlement_run "<role>:<id>:<period>"."""
    return posting.source.id.rsplit(":", 1)[0]


def chunks_of(postings: Iterable[Posting], max_postings: int = MAX_POSTINGS_PER_CHUNK) -> list[list[Posting]]:
    """Postings grouped by party, parties packed into chunks of at most `max_postings` postings (a party
    with more gets a chunk of its own): a chunk is always whole parties, in a stable order."""
    by_party: dict[str, list[Posting]] = defaultdict(list)
    for p in postings:
        by_party[party_of(p)].append(p)
    chunks: list[list[Posting]] = []
    current: list[Posting] = []
    for party in sorted(by_party):
        group = sorted(by_party[party], key=lambda p: p.id)
        if current and len(current) + len(group) > max_postings:
            chunks.append(current)
            current = []
        current.extend(group)
    if current:
        chunks.append(current)
    return chunks


def period_source(party: str, period: str) -> Source:
    """The source of a party's period postings and their adjustments: settlement_run "<party>:<period>"."""
    return Source(type=SourceType.SETTLEMENT_RUN, id=f"{party}:{period}")


def adjustment(
    *,
    tenant_id: str,
    party: str,
    period: str,
    planned: Iterable[Posting],
    posted: Iterable[Posting],
    at: datetime,
    run_id: str,
) -> Posting | None:
    """What a re-run of a settled period posts for one party: the period's rules applied to its facts as
    they are now (`planned`) less everything posted for the party's period so far (`posted`: its period
    postings and earlier adjustments), per account, as one posting dated `at`. None when nothing changed.
    Idempotent per run (the id names it) and cumulative across runs: a third run after no change posts
    nothing, and a clawback followed by a reversal of the refund pays the bonus back."""
    net = balances(planned)
    for account, amount in balances(posted).items():
        net[account] = net.get(account, ZERO) - amount
    legs = legs_for(dict(sorted(net.items())))
    if not legs:
        return None
    return Posting(
        id=f"adj:{party}:{period}:{run_id}",
        tenant_id=tenant_id,
        at=at,
        source=period_source(party, period),
        memo=f"adjustment of {period} for {party}: its period rules on its facts as they are now (refunds, "
        "ratings since the run)",
        legs=legs,
    )
