"""A circuit breaker for an outbound API, per key (a tenant's WeCom corp): after a few calls in a row could
not reach it, calls fail at once for a cool-down instead of each waiting on the network (and reading a
token first). During an outage that keeps the queue moving and spares the API; after the cool-down one call
goes through as a probe, and a success closes the breaker.

Written here rather than taken from `pybreaker`: it runs on the app's injected Clock (tests move time
instead of sleeping), and an open breaker raises an httpx transport error, so every caller's existing
"WeCom cannot be reached now" handling covers it unchanged."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import httpx

from chalicelib.domain.common import Clock


class CircuitOpenError(httpx.TransportError):
    """Not attempted: the API failed just before and is left alone for a moment."""


class Breaker:
    def __init__(
        self, clock: Clock, *, threshold: int = 3, cooldown: timedelta = timedelta(seconds=30)
    ) -> None:
        self._clock = clock
        self._threshold = threshold
        self._cooldown = cooldown
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, datetime] = {}
        self._lock = threading.Lock()  # the local runner's consumers share one process

    def check(self, key: str) -> None:
        """Raise CircuitOpenError while the breaker is open; after the cool-down let one call through."""
        with self._lock:
            until = self._open_until.get(key)
            if until is None:
                return
            now = self._clock.now()
            if now < until:
                raise CircuitOpenError(
                    f"{key}: not reachable a moment ago; retried after {until.isoformat()}"
                )
            self._open_until[key] = now + self._cooldown  # this call is the probe; others wait for it

    def failed(self, key: str) -> None:
        with self._lock:
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
            if count >= self._threshold:
                self._open_until[key] = self._clock.now() + self._cooldown

    def hold(self, key: str, until: datetime) -> None:
        """Leave the API alone until `until` whatever the count: it asked us to slow down (a rate limit),
        so calls made meanwhile fail at once and their messages come back from the queue later."""
        with self._lock:
            current = self._open_until.get(key)
            if current is None or until > current:
                self._open_until[key] = until

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._open_until.pop(key, None)
