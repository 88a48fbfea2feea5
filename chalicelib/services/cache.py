"""Per-process caches of tenant configuration (settlement rules, ticket templates and settings, SLA config,
integration secrets), kept exact by a per-tenant configuration version.

A warm function reads such configuration on every request or event. Cached by time alone, a worker would act
on an old rule for the TTL after the API acknowledged a new one, in every process but the writer's. So each
tenant has one small item of counters, one per kind of configuration (store/config_versions.py): a writer
bumps its kind's counter after the change is stored and before the API answers; a reader compares the
counter with the one its cached value was loaded under and reloads on a difference.

The counters are read once per unit of work (`config_scope()`: one HTTP request, one SQS batch) and tenant,
lazily: a unit that reads no cached configuration reads no counters. Cost: one strongly consistent GetItem
(1 RRU, $0.125 per million at on-demand list price) per batch and tenant, ~$0.0125 per million events in
batches of 10; a webhook ack that reads the tenant's secrets pays it per request. Every change the API
acknowledged before a unit of work starts applies to all of it, in every process. The TTL only bounds
memory (entries of idle tenants go)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

from cachetools import TTLCache

from chalicelib.domain.configuration import ConfigKind
from chalicelib.services.ports import ConfigVersions

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_ENTRIES = 1024  # tenants (or tenant × kind) a warm process keeps
MEMORY_TTL_S = 900.0  # an idle tenant's entry is dropped; correctness comes from the version, not this


class InProcessConfigVersions:
    """Counters in this process's memory: the fake for service tests, and what a service built without the
    composition root uses (bootstrap.py always passes the table's)."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self.reads = 0

    def read(self, tenant_id: str) -> Mapping[str, int]:
        with self._lock:
            self.reads += 1
            return dict(self._counters.get(tenant_id, {}))

    def bump(self, tenant_id: str, kind: ConfigKind) -> None:
        with self._lock:
            counters = self._counters.setdefault(tenant_id, {})
            counters[kind.value] = counters.get(kind.value, 0) + 1


PROCESS_VERSIONS = InProcessConfigVersions()

# Per unit of work: (id of the counters' store, tenant) → the counters read in it.
_scope: ContextVar[dict[tuple[int, str], Mapping[str, int]] | None] = ContextVar("config_scope", default=None)


@contextmanager
def config_scope() -> Iterator[None]:
    """One unit of work (a request, a queue batch, a schedule tick): each tenant's counters are read at most
    once in it. Outside any scope every cache lookup reads the counters (exact, one GetItem each). Inside one
    already (a batch handler around `process_batch`), the outer scope holds."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def current_versions(versions: ConfigVersions, tenant_id: str) -> Mapping[str, int]:
    memo = _scope.get()
    key = (id(versions), tenant_id)
    if memo is not None and key in memo:
        return memo[key]
    found = versions.read(tenant_id)
    if memo is not None:
        memo[key] = found
    return found


def config_changed(versions: ConfigVersions, tenant_id: str, kind: ConfigKind) -> None:
    """A writer stored a change of `kind`: bump its counter (before the API answers), and forget what this
    unit of work read, so its own later lookups see the change too."""
    versions.bump(tenant_id, kind)
    memo = _scope.get()
    if memo is not None:
        memo.pop((id(versions), tenant_id), None)


class ConfigCache(Generic[K, V]):
    def __init__(
        self,
        kind: ConfigKind,
        versions: ConfigVersions,
        *,
        ttl_s: float = MEMORY_TTL_S,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kind = kind
        self._versions = versions
        self._entries: TTLCache[K, tuple[int, V]] = TTLCache(maxsize=MAX_ENTRIES, ttl=ttl_s, timer=timer)
        self._lock = threading.Lock()  # the local API server handles requests on threads

    def get(self, tenant_id: str, key: K, load: Callable[[], V]) -> V:
        """The cached value if it was loaded under the tenant's current counter, else `load()`'s (cached
        too, None included: "not configured" is an answer)."""
        version = current_versions(self._versions, tenant_id).get(self._kind.value, 0)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
        value = load()  # outside the lock: a slow read must not hold up other tenants
        with self._lock:
            held = self._entries.get(key)
            if held is None or held[0] <= version:  # never replace a value loaded under a newer counter
                self._entries[key] = (version, value)
        return value

    def changed(self, tenant_id: str, key: K) -> None:
        """The writer's side: the change is stored; every process reloads `key` from now on."""
        config_changed(self._versions, tenant_id, self._kind)
        with self._lock:
            self._entries.pop(key, None)
