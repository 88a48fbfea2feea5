"""Sources that no split rule could settle yet (no rule in force at their date, a rule naming a party they
lack, two rules in force at once): kept with their facts and the reason, listed by the period's
reconciliation, and settled when a rule covering them is published. Nothing paid is ever silently dropped."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from chalicelib.domain.money import Money
from chalicelib.domain.settlement import AnyRule, Facts, split_rule_in_effect


class UnsettledSource(BaseModel):
    model_config = ConfigDict(frozen=True)

    applies_to: str  # which rules settle it: ticket, ticket_rush, order
    facts: Facts
    customer_id: str | None = None
    reason: str
    # What happened to the source while it waited (read from its facts in the period): a refund in full
    # leaves nothing to settle; a partial one is taken back as soon as the source is settled.
    refunded: Decimal | None = None
    reversed: bool = False
    rating: int | None = None


def unsettled_reason(rules: Sequence[AnyRule], facts: Facts, applies_to: str) -> str | None:
    """Why a source that posted nothing is not settled, or None when nothing was owed (a zero amount under
    a rule in effect)."""
    at = facts.completed_at
    if at is None:
        return "the source has no completion time"
    if not split_rule_in_effect(rules, at):
        return f"no {applies_to} split rule in effect at {at.isoformat()}"
    return None


class UnsettledPublic(BaseModel):
    """One unsettled source in a reconciliation."""

    source_type: str
    source_id: str
    applies_to: str
    amount: Money
    completed_at: str | None
    reason: str

    @classmethod
    def of(cls, u: UnsettledSource) -> UnsettledPublic:
        at = u.facts.completed_at
        return cls(
            source_type=u.facts.source.type.value,
            source_id=u.facts.source.id,
            applies_to=u.applies_to,
            amount=u.facts.amount,
            completed_at=at.isoformat() if at else None,
            reason=u.reason,
        )
