"""Merge candidates, a manual merge with preview, and unmerge through the API."""

from __future__ import annotations

from chalicelib.domain.customers import Identity
from chalicelib.domain.timeline import Actor
from chalicelib.services.resolver import Touch
from tests.integration.conftest import Api, TenantKeys


def touch(container, tenant: TenantKeys, clock, *ids: tuple[str, str], key: str) -> str:
    t = Touch(
        tenant_id=tenant.tenant_id,
        identities=[Identity(type=a, value=b) for a, b in ids],
        kind="test.touched",
        source="test",
        at=clock.now(),
        actor=Actor(type="integration", id="t"),
        idempotency_key=key,
    )
    return container.resolver.touch(t).customer_id


def test_conflicting_unionids_become_a_candidate_then_a_manual_merge_and_unmerge(
    container, api: Api, tenant: TenantKeys, clock
):
    a = api.call(
        "POST",
        "/v1/customers",
        tenant,
        {
            "name": "王芳",
            "phone": "13500000001",
            "identities": [{"type": "unionid", "value": "U-A"}],
            "tags": ["VIP"],
            "region": "华东",
        },
    ).data["id"]
    clock.advance(minutes=1)
    b = touch(
        container, tenant, clock, ("unionid", "U-B"), ("phone", "+8613500000001"), ("openid", "o-B"), key="k1"
    )
    assert b != a
    candidates = api.call("GET", "/v1/merge-candidates", tenant).data["items"]
    assert {(c["a"], c["b"]) for c in candidates} == {(b, a)}
    assert candidates[0]["reason"] == "different unionid"

    preview = api.call("POST", f"/v1/customers/{a}/merge", tenant, {"absorb": b, "preview": True}).data
    assert preview["applied"] is False
    assert {"type": "openid", "value": "o-B"} in preview["survivor"]["identities"]
    assert api.call("GET", f"/v1/customers/{b}", tenant).data["id"] == b  # nothing changed yet

    merged = api.call("POST", f"/v1/customers/{a}/merge", tenant, {"absorb": b})
    assert merged.status_code == 200 and merged.data["applied"] is True
    assert api.call("GET", f"/v1/customers/{b}", tenant).data["id"] == a  # the absorbed id redirects
    assert api.call("GET", "/v1/customers/by-identity/openid/o-B", tenant).data["id"] == a
    view = api.call("GET", f"/v1/customers/{a}", tenant).data
    assert "test.touched" in [e["kind"] for e in view["timeline"]]  # b's timeline is served by a

    undone = api.call("POST", f"/v1/customers/{a}/unmerge", tenant, {"absorbed_id": b})
    assert undone.status_code == 200, undone.data
    assert api.call("GET", "/v1/customers/by-identity/openid/o-B", tenant).data["id"] == b
    assert api.call("GET", "/v1/customers/by-identity/unionid/U-A", tenant).data["id"] == a
    restored = api.call("GET", f"/v1/customers/{b}", tenant).data
    assert restored["id"] == b and "customer.unmerged" in [e["kind"] for e in restored["timeline"]]
    survivor = api.call("GET", f"/v1/customers/{a}", tenant).data
    assert {"type": "openid", "value": "o-B"} not in survivor["identities"]
    assert [t["name"] for t in survivor["tags"]] == ["VIP"] and survivor["name"] == "王芳"
    assert api.call("POST", f"/v1/customers/{a}/unmerge", tenant, {"absorbed_id": b}).status_code == 404


def test_merge_errors(api: Api, tenant: TenantKeys):
    a = api.call("POST", "/v1/customers", tenant, {"name": "A"}).data["id"]
    assert api.call("POST", f"/v1/customers/{a}/merge", tenant, {"absorb": a}).status_code == 400
    assert api.call("POST", f"/v1/customers/{a}/merge", tenant, {"absorb": "cus_nope"}).status_code == 404
    assert (
        api.call("POST", f"/v1/customers/{a}/merge", tenant, {"absorb": a}, role="engineer").status_code
        == 403
    )


def test_the_timeline_of_a_survivor_pages_through_the_absorbed_customers_events_in_time_order(
    container, api: Api, tenant: TenantKeys, clock
):
    a = touch(container, tenant, clock, ("unionid", "U1"), key="a0")
    clock.advance(minutes=1)
    b = touch(container, tenant, clock, ("phone", "+8613800000009"), key="b0")
    for n in range(1, 6):  # interleave: a, b, a, b … one minute apart
        clock.advance(minutes=1)
        touch(
            container, tenant, clock, ("unionid", "U1") if n % 2 else ("phone", "+8613800000009"), key=f"x{n}"
        )
    clock.advance(minutes=1)
    merged = touch(container, tenant, clock, ("unionid", "U1"), ("phone", "+8613800000009"), key="m")
    assert merged == a and b != a
    seen: list[dict] = []
    cursor = None
    while True:
        params = f"?limit=3{f'&cursor={cursor}' if cursor else ''}"
        resp = api.call("GET", f"/v1/customers/{a}/timeline{params}", tenant)
        assert resp.status_code == 200, resp.data
        page = resp.data
        assert len(page["items"]) <= 3
        seen += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    ats = [e["at"] for e in seen]
    assert ats == sorted(ats, reverse=True)  # newest first across both partitions
    assert len({e["id"] for e in seen}) == len(seen)  # no event twice across pages
    assert [e["kind"] for e in seen].count("test.touched") == 8


def test_the_cli_reviews_previews_merges_and_unmerges(container, tenant: TenantKeys, clock):
    import json

    from typer.testing import CliRunner

    from chalicelib.cli import app

    def scrm(*argv: str):
        return CliRunner().invoke(app, ["--aws", "customers", *argv])

    def run(*argv: str) -> dict:
        result = scrm(*argv, "--tenant", tenant.tenant_id)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def refused(*argv: str) -> str:
        """What `scrm` says when it refuses: one line on stderr, exit code 1, no traceback."""
        result = scrm(*argv)
        assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.stderr, result
        [line] = result.stderr.strip().splitlines()
        return line

    a = touch(container, tenant, clock, ("unionid", "U-A"), ("phone", "+8613500000002"), key="a")
    clock.advance(minutes=1)
    b = touch(
        container, tenant, clock, ("unionid", "U-B"), ("phone", "+8613500000002"), ("openid", "o-B"), key="b"
    )
    assert a != b
    assert [(c["a"], c["b"]) for c in run("merge-candidates")["items"]] == [(b, a)]

    preview = run("merge", a, b, "--preview")
    assert preview["applied"] is False
    assert {"type": "openid", "value": "o-B"} in preview["survivor"]["identities"]
    assert container.customer_repo.get(tenant.tenant_id, b).merged_into is None  # nothing changed

    merged = run("merge", a, b)
    assert merged["applied"] is True and merged["record"]["absorbed_id"] == b
    assert container.customer_repo.get(tenant.tenant_id, b).merged_into == a
    assert "merged into" in refused("merge", b, a, "--tenant", tenant.tenant_id)  # b is no longer live

    undone = run("unmerge", a, b)
    assert undone["restored"]["id"] == b and undone["restored"]["merged_into"] is None
    assert {"type": "openid", "value": "o-B"} not in undone["survivor"]["identities"]
    assert "not merged" in refused("unmerge", a, b, "--tenant", tenant.tenant_id)
    assert "does not exist" in refused("merge-candidates", "--tenant", "t_nope")
