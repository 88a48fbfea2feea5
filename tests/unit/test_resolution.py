"""Identity resolution: the decision rules, and order/duplicate independence (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.customers import Identity
from chalicelib.domain.resolution import Holder, decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class World:
    """An in-memory store that applies decisions the way the DynamoDB store does."""

    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], str] = {}
        self.customers: dict[str, set[tuple[str, str]]] = {}
        self.timelines: dict[str, set[str]] = {}
        self.created: dict[str, datetime] = {}
        self.redirects: dict[str, str] = {}

    def holder(self, cid: str) -> Holder:
        return Holder(cid, self.created[cid], frozenset(self.customers[cid]))

    def touch(self, event_id: str, identities: list[Identity]) -> str:
        owners = {i.key: self.holder(self.claims[i.key]) for i in identities if i.key in self.claims}
        d = decide(identities, owners)
        target = d.target or f"c{len(self.created)}"
        if d.creates:
            self.customers[target], self.timelines[target] = set(), set()
            self.created[target] = T0 + timedelta(seconds=len(self.created))
        for absorbed in d.absorb:
            for key in self.customers.pop(absorbed):
                self.claims[key] = target
                self.customers[target].add(key)
            self.timelines[target] |= self.timelines.pop(absorbed)
            self.redirects[absorbed] = target
        for key, loser in d.release.items():
            self.customers[loser].discard(key)
        for ident in d.claim:
            self.claims[ident.key] = target
            self.customers[target].add(ident.key)
        self.timelines[target].add(event_id)
        return target

    def partition(self) -> set[frozenset[tuple[str, str]]]:
        return {frozenset(ids) for ids in self.customers.values() if ids}

    def people(self) -> set[tuple[frozenset[tuple[str, str]], frozenset[str]]]:
        return {(frozenset(self.customers[c]), frozenset(self.timelines[c])) for c in self.customers}


def I(t: str, v: str) -> Identity:  # noqa: E743 - short helper in tests
    return Identity(type=t, value=v)


def test_unknown_creates_known_links_two_compatible_merge_into_older():
    w = World()
    a = w.touch("e1", [I("unionid", "U"), I("openid", "o1")])
    assert w.touch("e2", [I("openid", "o1"), I("phone", "+8613800000000")]) == a
    b = w.touch("e3", [I("wecom_external_userid", "wmX")])
    assert b != a
    # the WeCom contact turns out to carry A's unionid: B is merged into the older A
    assert w.touch("e4", [I("wecom_external_userid", "wmX"), I("unionid", "U")]) == a
    assert w.redirects == {b: a}
    assert w.timelines[a] == {"e1", "e2", "e3", "e4"}
    assert ("wecom_external_userid", "wmX") in w.customers[a]


def test_different_unionids_are_never_merged_but_become_candidates():
    w = World()
    a = w.touch("e1", [I("unionid", "U1"), I("phone", "+8613800000000")])
    owners = {("phone", "+8613800000000"): w.holder(a)}
    d = decide([I("unionid", "U2"), I("phone", "+8613800000000")], owners)
    assert d.target is None and d.absorb == []
    assert [i.key for i in d.claim] == [("unionid", "U2")]  # the phone stays with U1 (sorts first)
    assert d.candidates == [(a, "different unionid")]


def test_a_touchpoint_with_two_unionids_is_refused():
    import pytest

    from chalicelib.domain.common import InvalidInputError

    with pytest.raises(InvalidInputError):
        decide([I("unionid", "U1"), I("unionid", "U2")], {})


def test_contested_phone_goes_to_the_smaller_stable_identifier_whatever_the_order():
    w = World()
    b = w.touch("e1", [I("unionid", "U2"), I("phone", "+8613800000000")])
    a = w.touch("e2", [I("unionid", "U1"), I("phone", "+8613800000000")])
    assert ("phone", "+8613800000000") in w.customers[a] and ("phone", "+8613800000000") not in w.customers[b]


# Ground truth: three people. Each touchpoint carries some identities of one person (what real sources do).
PEOPLE = [
    [I("unionid", "U1"), I("wecom_external_userid", "wm1"), I("phone", "+8613800000001"), I("openid", "o1")],
    [I("unionid", "U2"), I("phone", "+8613800000002"), I("openid", "o2"), I("youzan_buyer_id", "y2")],
    [I("phone", "+8613800000003"), I("openid", "o3")],
]
TOUCHES = st.lists(
    st.integers(0, len(PEOPLE) - 1).flatmap(
        lambda p: st.lists(st.sampled_from(PEOPLE[p]), min_size=1, max_size=3, unique_by=lambda i: i.key)
    ),
    min_size=1,
    max_size=8,
)


def _run(touches: list[tuple[str, list[Identity]]]) -> World:
    w = World()
    for event_id, identities in touches:
        w.touch(event_id, identities)
    return w


@settings(max_examples=400, deadline=None)
@given(TOUCHES, st.randoms(use_true_random=False), st.lists(st.integers(0, 7), max_size=4))
def test_same_touches_any_order_any_repeats_same_customers_and_timelines(touches, rnd, repeats):
    events = [(f"e{i}", t) for i, t in enumerate(touches)]
    shuffled = events + [events[r % len(events)] for r in repeats]
    rnd.shuffle(shuffled)
    baseline = _run(events)
    assert baseline.people() == _run(shuffled).people()
    # and no two real people were ever merged
    for ids in baseline.partition():
        assert sum(any(i.key in ids for i in person) for person in PEOPLE) == 1


def test_contradictory_data_is_resolved_deterministically_for_a_shared_phone():
    phone = I("phone", "+8613800000009")
    one = [("a", [I("unionid", "U1"), phone]), ("b", [I("unionid", "U2"), phone])]
    assert _run(one).partition() == _run(list(reversed(one))).partition()
