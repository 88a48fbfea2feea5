from chalicelib.services.cache import ConfigCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_loads_once_per_ttl_then_again() -> None:
    clock, reads = Clock(), []
    cache: ConfigCache[str, int] = ConfigCache(60, timer=clock)

    def load() -> int:
        reads.append(1)
        return len(reads)

    assert cache.get("t1", load) == 1
    clock.now = 59.9
    assert cache.get("t1", load) == 1
    clock.now = 60.1
    assert cache.get("t1", load) == 2
    assert len(reads) == 2


def test_none_is_cached_as_an_answer() -> None:
    reads: list[str] = []
    cache: ConfigCache[tuple[str, str], str | None] = ConfigCache(60, timer=Clock())
    for _ in range(3):
        assert cache.get(("t1", "wecom"), lambda: reads.append("read")) is None  # type: ignore[func-returns-value]
    assert reads == ["read"]


def test_invalidate_drops_one_key_only() -> None:
    cache: ConfigCache[str, str] = ConfigCache(60, timer=Clock())
    cache.get("t1", lambda: "old")
    cache.get("t2", lambda: "t2")
    cache.invalidate("t1")
    cache.invalidate("never-cached")
    assert cache.get("t1", lambda: "new") == "new"
    assert cache.get("t2", lambda: "reloaded") == "t2"
