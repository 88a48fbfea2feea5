"""The simple touch path (no transaction): every prefix of its writes, left by a crash, is repaired by the
redelivery, and a redelivery never applies a touch twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.customers import Identity
from chalicelib.domain.timeline import Actor
from chalicelib.services.resolver import Touch
from chalicelib.store import customers as store
from tests.integration.conftest import TenantKeys


class Crash(Exception):
    pass


def touch(tenant: TenantKeys, clock, *identities: tuple[str, str], key: str):
    def update(customer) -> None:
        customer.attributes["touches"] = customer.attributes.get("touches", 0) + 1

    return Touch(
        tenant_id=tenant.tenant_id,
        identities=[Identity(type=t, value=v) for t, v in identities],
        kind="test.touched",
        source="test",
        at=clock.now(),
        actor=Actor(type="integration", id="test"),
        idempotency_key=key,
        update=update,
    )


def timeline_kinds(container, tenant: TenantKeys, customer_id: str) -> list[str]:
    page = container.customer_repo.timeline(tenant.tenant_id, customer_id, limit=50, cursor=None)
    return [e.kind for e in page.items]


def crash_once(monkeypatch, obj, name: str) -> None:
    real = getattr(obj, name)
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, failing)


@pytest.mark.parametrize("step", ["mark", "put_profile"])
def test_a_crash_before_the_marker_is_repaired_without_a_second_effect(
    container, tenant: TenantKeys, clock, monkeypatch, step
):
    r, repo = container.resolver, container.customer_repo
    first = r.touch(touch(tenant, clock, ("unionid", "U1"), key="k1"))
    crash_once(monkeypatch, repo, step)
    second = touch(tenant, clock, ("unionid", "U1"), ("phone", "+8613800000001"), key="k2")
    with pytest.raises(Crash):
        r.touch(second)
    again = r.touch(second)  # the queue redelivers
    assert again.customer_id == first.customer_id
    customer = repo.get(tenant.tenant_id, first.customer_id)
    assert customer is not None and customer.attributes["touches"] == 2
    assert customer.phone == "+8613800000001"
    assert timeline_kinds(container, tenant, first.customer_id) == ["test.touched"] * 2
    assert repo.seen(tenant.tenant_id, ["k2"]) == {"k2"}
    assert r.touch(second).duplicate


def test_a_new_customer_written_without_its_marker_is_found_by_the_redelivery(
    container, tenant: TenantKeys, clock, monkeypatch
):
    r, repo = container.resolver, container.customer_repo
    crash_once(monkeypatch, repo, "mark")
    t = touch(tenant, clock, ("unionid", "U1"), ("phone", "+8613800000001"), key="k1")
    with pytest.raises(Crash):
        r.touch(t)
    again = r.touch(t)
    assert again.duplicate
    customer = repo.find_by_identity(tenant.tenant_id, Identity(type="phone", value="+8613800000001"))
    assert customer is not None and customer.id == again.customer_id
    assert customer.attributes["touches"] == 1
    assert timeline_kinds(container, tenant, customer.id) == ["test.touched"]


def test_claims_left_by_a_crash_hold_other_touches_back_until_they_are_old(
    container, tenant: TenantKeys, clock, monkeypatch
):
    r, repo = container.resolver, container.customer_repo
    crash_once(monkeypatch, store.Item, "batch_write")
    t = touch(tenant, clock, ("unionid", "U1"), key="k1")
    with pytest.raises(Crash):
        r.touch(t)
    other = touch(tenant, clock, ("unionid", "U1"), key="k2")
    with pytest.raises(Exception, match="retried"):
        r.touch(other)  # a claim without a profile, young: a write in flight as far as anyone else can tell
    monkeypatch.setattr(store, "ORPHAN_AFTER", timedelta(0))
    created = r.touch(other)
    assert created.created
    customer = repo.find_by_identity(tenant.tenant_id, Identity(type="unionid", value="U1"))
    assert customer is not None and customer.id == created.customer_id


def test_the_redelivery_of_the_touch_that_died_takes_its_own_claim_back_at_once(
    container, tenant: TenantKeys, clock, monkeypatch
):
    """A worker killed between the claim and the profile: the same message, redelivered, must not wait out
    ORPHAN_AFTER (its receives would run out first and it would land in the dead-letter queue)."""
    r, repo = container.resolver, container.customer_repo
    crash_once(monkeypatch, store.Item, "batch_write")
    t = touch(tenant, clock, ("unionid", "U1"), ("phone", "+8613800000003"), key="k1")
    with pytest.raises(Crash):
        r.touch(t)
    created = r.touch(t)  # at once, no ageing
    assert created.created
    customer = repo.find_by_identity(tenant.tenant_id, Identity(type="phone", value="+8613800000003"))
    assert customer is not None and customer.id == created.customer_id
    assert customer.attributes["touches"] == 1
    assert r.touch(t).duplicate


def test_an_identity_taken_meanwhile_undoes_our_claims_and_resolves_again(
    container, tenant: TenantKeys, clock, monkeypatch
):
    """Between our read and our claims another writer takes the second identity: the first claim is
    given back and the retry links the touch to that writer's customer."""
    r, repo = container.resolver, container.customer_repo
    real_lookup = repo.lookup
    state = {"raced": False}

    def racing_lookup(tenant_id, identities, key):
        found = real_lookup(tenant_id, identities, key)
        if not state["raced"]:
            state["raced"] = True
            monkeypatch.setattr(repo, "lookup", real_lookup)
            r.touch(touch(tenant, clock, ("phone", "+8613800000002"), key="other"))
        return found

    monkeypatch.setattr(repo, "lookup", racing_lookup)
    result = r.touch(touch(tenant, clock, ("unionid", "U9"), ("phone", "+8613800000002"), key="mine"))
    other = repo.find_by_identity(tenant.tenant_id, Identity(type="phone", value="+8613800000002"))
    assert other is not None and result.customer_id == other.id and not result.created
    mine = repo.find_by_identity(tenant.tenant_id, Identity(type="unionid", value="U9"))
    assert mine is not None and mine.id == other.id
    assert mine.attributes["touches"] == 2  # both touches, on the one customer


def test_a_batch_writes_its_markers_once_at_the_end_and_a_duplicate_inside_it_has_no_effect(
    container, tenant: TenantKeys, clock
):
    r, repo = container.resolver, container.customer_repo
    t = touch(tenant, clock, ("unionid", "U1"), key="k1")
    with r.batch():
        first = r.touch(t)
        assert repo.seen(tenant.tenant_id, ["k1"]) == set()  # not yet: the profile holds the key meanwhile
        again = r.touch(t)
    assert first.created and again.duplicate and again.customer_id == first.customer_id
    assert repo.seen(tenant.tenant_id, ["k1"]) == {"k1"}
    customer = repo.get(tenant.tenant_id, first.customer_id)
    assert customer is not None and customer.attributes["touches"] == 1


def test_a_batch_that_fails_half_way_still_marks_what_it_applied(container, tenant: TenantKeys, clock):
    r, repo = container.resolver, container.customer_repo
    with pytest.raises(Crash), r.batch():
        r.touch(touch(tenant, clock, ("unionid", "U1"), key="k1"))
        raise Crash("the rest of the batch")
    assert repo.seen(tenant.tenant_id, ["k1"]) == {"k1"}
