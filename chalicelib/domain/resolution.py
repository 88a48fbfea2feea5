"""Identity resolution: which customer a touchpoint belongs to. One pure decision used by every source
(WeCom, shops, behaviour events, imports); the store executes it atomically.

Rules
- Unknown identities → a new customer. Identities of one customer → link (the new ones are added).
- Identities of several customers that do not contradict each other → merge into the oldest.
- Stable identifiers (`unionid`, `wecom_external_userid`) are single-valued: two different values are two
  different people. A customer is never linked or merged across such a conflict; the touchpoint's other
  identities go to a new customer (or the compatible one) and a merge candidate records the evidence for a
  person to review.
- An identifier claimed by a conflicting customer (a phone shared by two unionids, or a WeCom contact seen
  with two unionids) stays with the customer whose smallest stable identifier sorts first.
For touchpoints that are consistent (each carries identities of one real person) the outcome does not
depend on arrival order or repeats: the same set of touchpoints gives the same customers and timelines
(property-tested). Contradictory data is resolved deterministically pair by pair and leaves candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.customers import Identity

STABLE_TYPES = frozenset({"unionid", "wecom_external_userid"})


@dataclass(frozen=True)
class Holder:
    """What the decision needs to know about a customer that holds one of the identities."""

    customer_id: str
    created_at: datetime
    identities: frozenset[tuple[str, str]]

    def stable(self) -> dict[str, str]:
        return {t: v for t, v in self.identities if t in STABLE_TYPES}

    def stable_key(self) -> tuple[str, str] | None:
        """The smallest stable identifier: who keeps a contested phone."""
        pairs = sorted((t, v) for t, v in self.identities if t in STABLE_TYPES)
        return pairs[0] if pairs else None


@dataclass
class Decision:
    target: str | None  # None → create a new customer
    absorb: list[str] = field(default_factory=list)  # customers merged into the target (newest last)
    claim: list[Identity] = field(default_factory=list)  # identities the target takes (not yet its own)
    release: dict[tuple[str, str], str] = field(default_factory=dict)  # contested identity → loser it leaves
    candidates: list[tuple[str, str]] = field(default_factory=list)  # (customer id, reason) to review

    @property
    def creates(self) -> bool:
        return self.target is None


def conflicts(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """Stable identifier types on which a and b hold different values."""
    return sorted(t for t in a.keys() & b.keys() if a[t] != b[t])


def _stable_of(identities: list[Identity]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in identities:
        if i.type in STABLE_TYPES and out.setdefault(i.type, i.value) != i.value:
            raise InvalidInputError(f"one touchpoint carries two different {i.type} values")
    return out


def decide(identities: list[Identity], owners: dict[tuple[str, str], Holder]) -> Decision:
    """`owners`: the holder of each identity that is already claimed (identities absent are unclaimed)."""
    touch_stable = _stable_of(identities)
    holders = {h.customer_id: h for h in owners.values()}
    compatible = [h for h in holders.values() if not conflicts(h.stable(), touch_stable)]
    # Among compatible holders, keep those that do not contradict each other, oldest first.
    compatible.sort(key=lambda h: (h.created_at, h.customer_id))
    group: list[Holder] = []
    merged_stable = dict(touch_stable)
    candidates: list[tuple[str, str]] = []
    for h in compatible:
        clash = conflicts(h.stable(), merged_stable)
        if clash:
            candidates.append((h.customer_id, f"different {', '.join(clash)}"))
            continue
        group.append(h)
        merged_stable.update(h.stable())
    for h in holders.values():
        if h not in compatible:
            candidates.append((h.customer_id, f"different {', '.join(conflicts(h.stable(), touch_stable))}"))

    target = group[0].customer_id if group else None
    group_ids = {h.customer_id for h in group}
    my_key = min(merged_stable.items()) if merged_stable else None
    claim: list[Identity] = []
    release: dict[tuple[str, str], str] = {}
    for ident in identities:
        holder = owners.get(ident.key)
        if holder is None:
            claim.append(ident)
        elif holder.customer_id in group_ids:
            continue
        elif _wins(my_key, holder.stable_key()):
            claim.append(ident)
            release[ident.key] = holder.customer_id
    return Decision(
        target=target,
        absorb=[h.customer_id for h in group[1:]],
        claim=_dedupe(claim),
        release=release,
        candidates=sorted(set(candidates)),
    )


def _wins(mine: tuple[str, str] | None, theirs: tuple[str, str] | None) -> bool:
    """A contested identity goes to the side whose smallest stable identifier sorts first; a
    side without stable identifiers never takes it from one that has them."""
    if mine is None:
        return False
    return theirs is None or mine < theirs


def _dedupe(identities: list[Identity]) -> list[Identity]:
    seen: set[tuple[str, str]] = set()
    out: list[Identity] = []
    for i in identities:
        if i.key not in seen:
            seen.add(i.key)
            out.append(i)
    return out
