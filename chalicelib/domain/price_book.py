"""A tenant's price book: immutable rule and modifier versions, publishing rules, and issued quotes.

Versions are never edited. A rule (or modifier) id has a chain of versions; each version is in force from
its own `effective_from` until the next version's `effective_from` (or its own `effective_to`, whichever
comes first), so publishing a new price closes the old one without touching it. `in_force_versions`
derives those windows; the quote engine (domain/pricing.py) then sees at most one version of an id on any
date — two versions of one modifier can never both apply.

Publishing is never retroactive: a new version takes effect today or later (tenant-local date). The past
stays as it was, so `as_of` reproduces what any past date quoted, and an issued quote (which carries
snapshots of the versions it used) never changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from chalicelib.domain.billing import RegionCoefficient
from chalicelib.domain.common import InvalidInputError, new_id
from chalicelib.domain.pricing import Modifier, PriceRule, Quote, validate_rules

V = TypeVar("V", PriceRule, Modifier, RegionCoefficient)


def _chain_id(v: PriceRule | Modifier | RegionCoefficient) -> str:
    if isinstance(v, PriceRule):
        return v.rule_id
    return v.modifier_id if isinstance(v, Modifier) else v.coefficient_id


def in_force_versions(versions: Iterable[V]) -> list[V]:
    """Every version with its window cut at the next version's start (see the module doc). A version a
    later one replaces on the same day is dropped: it was never in force."""
    chains: dict[str, list[V]] = defaultdict(list)
    for v in versions:
        chains[_chain_id(v)].append(v)
    out: list[V] = []
    for versions_of_one in chains.values():
        chain: list[V] = sorted(versions_of_one, key=lambda v: (v.effective_from, v.version))
        for i, v in enumerate(chain):
            nxt = chain[i + 1] if i + 1 < len(chain) else None
            end = v.effective_to
            if nxt is not None and (end is None or nxt.effective_from < end):
                end = nxt.effective_from
            if end is not None and end <= v.effective_from:
                continue
            out.append(v if end == v.effective_to else v.model_copy(update={"effective_to": end}))
    return out


def next_version(existing: Sequence[PriceRule | Modifier | RegionCoefficient]) -> int:
    return max((v.version for v in existing), default=0) + 1


def check_publishable(effective_from: date, today: date) -> None:
    if effective_from < today:
        raise InvalidInputError(
            "a price cannot take effect in the past: issued and past quotes must stay reproducible",
            details=[{"field": "effective_from", "message": f"must be {today.isoformat()} or later"}],
        )


def check_rule_set(rules: Iterable[PriceRule]) -> None:
    """Refuse a rule set whose prices would be ambiguous on some date (after version chaining)."""
    issues = validate_rules(in_force_versions(rules))
    if issues:
        raise InvalidInputError(
            "the rule would make prices ambiguous: " + "; ".join(i.message for i in issues),
            details=[{"field": "rule", "message": i.message} for i in issues],
        )


class IssuedQuote(BaseModel):
    """A quote as issued: stored once under its id and never changed."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    customer_id: str | None = None
    ticket_id: str | None = None
    created_at: datetime
    created_by: str
    quote: Quote
    expires_on: date | None = None  # a quote is an offer: honoured until then (None = as the tenant says)


def new_quote_id() -> str:
    return new_id("qt")
