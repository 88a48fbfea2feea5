"""The identity resolver on the real store (moto): create, link, merge into the older, redirects,
idempotent redelivery, candidates for conflicting stable identifiers."""

from __future__ import annotations

import threading

from chalicelib.domain.customers import Identity
from chalicelib.domain.timeline import Actor
from chalicelib.services.resolver import Touch
from tests.integration.conftest import Api, TenantKeys


def touch(
    tenant: TenantKeys,
    clock,
    *identities: tuple[str, str],
    key: str | None = None,
    kind: str = "test.touched",
):
    return Touch(
        tenant_id=tenant.tenant_id,
        identities=[Identity(type=t, value=v) for t, v in identities],
        kind=kind,
        source="test",
        at=clock.now(),
        actor=Actor(type="integration", id="test"),
        idempotency_key=key,
    )


def test_create_link_and_duplicate(container, tenant: TenantKeys, clock, api: Api):
    r = container.resolver
    first = r.touch(touch(tenant, clock, ("wecom_external_userid", "wmA"), key="k1"))
    assert first.created
    again = r.touch(touch(tenant, clock, ("wecom_external_userid", "wmA"), key="k1"))
    assert again.duplicate and again.customer_id == first.customer_id
    linked = r.touch(touch(tenant, clock, ("wecom_external_userid", "wmA"), ("unionid", "U1"), key="k2"))
    assert linked.customer_id == first.customer_id and not linked.created
    view = api.call("GET", f"/v1/customers/{first.customer_id}", tenant).data
    assert {"type": "unionid", "value": "U1"} in view["identities"]
    assert [e["kind"] for e in view["timeline"]] == [
        "test.touched",
        "test.touched",
    ]  # the duplicate left nothing


def test_merge_into_the_older_keeps_everything_and_redirects(container, tenant: TenantKeys, clock, api: Api):
    r = container.resolver
    a = r.touch(touch(tenant, clock, ("unionid", "U1"), key="a")).customer_id
    clock.advance(minutes=1)
    b = r.touch(touch(tenant, clock, ("phone", "+8613800000001"), key="b")).customer_id
    clock.advance(minutes=1)
    merged = r.touch(touch(tenant, clock, ("unionid", "U1"), ("phone", "+8613800000001"), key="c"))
    assert merged.customer_id == a and merged.merged == [b]
    view = api.call("GET", f"/v1/customers/{a}", tenant).data
    assert {"type": "phone", "value": "+8613800000001"} in view["identities"]
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.count("test.touched") == 3 and "customer.merged" in kinds  # b's timeline is served too
    found = api.call("GET", "/v1/customers/by-identity/phone/13800000001", tenant).data
    assert found["id"] == a
    assert api.call("GET", f"/v1/customers/{b}", tenant).data["id"] == a  # the old id redirects
    stale = api.call("PATCH", f"/v1/customers/{b}", tenant, {"name": "x", "version": 1})
    assert stale.status_code == 409 and a in stale.data["error"]["message"]
    assert [c["id"] for c in api.call("GET", "/v1/customers", tenant).data["items"]] == [a]


def test_different_unionids_are_not_merged(container, tenant: TenantKeys, clock):
    r = container.resolver
    a = r.touch(touch(tenant, clock, ("unionid", "U1"), ("phone", "+8613800000002"))).customer_id
    other = r.touch(touch(tenant, clock, ("unionid", "U2"), ("phone", "+8613800000002")))
    assert other.customer_id != a and other.created
    assert other.candidates == [(a, "different unionid")]


def test_concurrent_touches_of_one_new_person_make_one_customer(container, tenant: TenantKeys, clock):
    results: list[str] = []
    barrier = threading.Barrier(4)

    def go(i: int) -> None:
        barrier.wait()
        results.append(
            container.resolver.touch(touch(tenant, clock, ("openid", "o-race"), key=f"r{i}")).customer_id
        )

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
