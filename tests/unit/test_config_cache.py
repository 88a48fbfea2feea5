"""The configuration cache: a value is used only while the tenant's counter for its kind stands, so a change
acknowledged by one process applies in every other at the next unit of work; counters are read once per
unit of work and tenant."""

from __future__ import annotations

from chalicelib.domain.configuration import ConfigKind
from chalicelib.services.cache import ConfigCache, InProcessConfigVersions, config_scope

RULES = ConfigKind.SETTLEMENT_RULES


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_change_in_another_process_applies_at_the_next_lookup() -> None:
    # GIVEN two processes' caches over the same counters (the API's and a worker's)
    versions = InProcessConfigVersions()
    api: ConfigCache[str, str] = ConfigCache(RULES, versions)
    worker: ConfigCache[str, str] = ConfigCache(RULES, versions)
    stored = {"t1": "old"}
    assert worker.get("t1", "t1", lambda: stored["t1"]) == "old"
    # WHEN the API stores a new rule and says so
    stored["t1"] = "new"
    api.changed("t1", "t1")
    # THEN the worker's next lookup loads it; its cache of another tenant stands
    assert worker.get("t1", "t1", lambda: stored["t1"]) == "new"


def test_a_scope_reads_the_counters_once_per_tenant_and_sees_its_own_change() -> None:
    versions = InProcessConfigVersions()
    cache: ConfigCache[str, int] = ConfigCache(RULES, versions)
    loads: list[str] = []
    with config_scope():
        for _ in range(5):
            cache.get("t1", "t1", lambda: loads.append("t1") or 1)  # type: ignore[func-returns-value]
            cache.get("t2", "t2", lambda: loads.append("t2") or 2)  # type: ignore[func-returns-value]
        assert versions.reads == 2
        assert loads == ["t1", "t2"]
        cache.changed("t1", "t1")  # a request that writes, then reads again
        cache.get("t1", "t1", lambda: loads.append("t1 again") or 3)  # type: ignore[func-returns-value]
    assert loads[-1] == "t1 again"
    assert versions.reads == 3


def test_outside_a_scope_every_lookup_reads_the_counters() -> None:
    versions = InProcessConfigVersions()
    cache: ConfigCache[str, int] = ConfigCache(RULES, versions)
    for _ in range(3):
        assert cache.get("t1", "t1", lambda: 7) == 7
    assert versions.reads == 3


def test_a_change_of_another_kind_keeps_the_value() -> None:
    versions = InProcessConfigVersions()
    rules: ConfigCache[str, str] = ConfigCache(RULES, versions)
    settings: ConfigCache[str, str] = ConfigCache(ConfigKind.TICKET_SETTINGS, versions)
    rules.get("t1", "t1", lambda: "rules")
    settings.changed("t1", "t1")
    assert rules.get("t1", "t1", lambda: "reloaded") == "rules"


def test_none_is_cached_as_an_answer() -> None:
    reads: list[str] = []
    cache: ConfigCache[tuple[str, str], str | None] = ConfigCache(RULES, InProcessConfigVersions())
    for _ in range(3):
        assert cache.get("t1", ("t1", "wecom"), lambda: reads.append("read")) is None  # type: ignore[func-returns-value]
    assert reads == ["read"]


def test_the_ttl_only_bounds_memory() -> None:
    clock, reads = Clock(), []
    cache: ConfigCache[str, int] = ConfigCache(RULES, InProcessConfigVersions(), ttl_s=60, timer=clock)

    def load() -> int:
        reads.append(1)
        return len(reads)

    assert cache.get("t1", "t1", load) == 1
    clock.now = 59.9
    assert cache.get("t1", "t1", load) == 1
    clock.now = 60.1  # dropped from memory: loaded again, same counter
    assert cache.get("t1", "t1", load) == 2


def test_a_value_loaded_under_an_older_counter_never_replaces_a_newer_one() -> None:
    versions = InProcessConfigVersions()
    cache: ConfigCache[str, str] = ConfigCache(RULES, versions)
    versions.bump("t1", RULES)
    versions.bump("t1", RULES)
    assert cache.get("t1", "t1", lambda: "v2") == "v2"

    class Stale:  # a slow reader that read counter 1 before the second bump
        def read(self, tenant_id: str) -> dict[str, int]:
            return {RULES.value: 1}

        def bump(self, tenant_id: str, kind: ConfigKind) -> None:
            raise AssertionError

    cache._versions = Stale()  # type: ignore[assignment]
    assert cache.get("t1", "t1", lambda: "v1") == "v1"
    cache._versions = versions
    assert cache.get("t1", "t1", lambda: "reloaded") == "v2"
