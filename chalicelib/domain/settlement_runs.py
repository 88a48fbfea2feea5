"""Month-end settlement runs: their record, and how a period's party postings are cut into chunks.

A run settles one period: the period postings of every party (tiers, threshold bonuses, incentives) are
computed at once by `settlement.settle_period` (pure, fast), stored in chunks of whole parties, and posted
chunk by chunk by a Step Functions Map. A party is marked finished after its postings are written, and a
re-run (or a resumed one) skips finished parties; posting ids are derived from the rule version, the
party and the period, so even a party interrupted half-way posts nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from chalicelib.domain.ledger import Posting
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
