"""Per-process caches of tenant configuration (settings, rules, templates, SLA config, integration secrets).

A warm function reads such configuration on every request or event; cached, it reads it once a TTL. One
shape for all of them: cachetools' `TTLCache` (expiry on a monotonic clock, bounded so many tenants cannot
grow a warm process without limit), a loader on a miss, and the writer's `invalidate` in its own process;
other processes see a change within the TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_ENTRIES = 1024  # tenants (or tenant × kind) a warm process keeps


class ConfigCache(Generic[K, V]):
    def __init__(self, ttl_s: float, *, timer: Callable[[], float] = time.monotonic) -> None:
        self._entries: TTLCache[K, V] = TTLCache(maxsize=MAX_ENTRIES, ttl=ttl_s, timer=timer)
        self._lock = threading.Lock()  # the local API server handles requests on threads

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, else `load()`'s (cached too, None included: "not configured" is an answer)."""
        with self._lock:
            if key in self._entries:
                return self._entries[key]
        value = load()  # outside the lock: a slow read must not hold up other tenants
        with self._lock:
            self._entries[key] = value
        return value

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
