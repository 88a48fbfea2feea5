"""The outbound circuit breaker, alone and inside the WeCom client."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from chalicelib.integrations.breaker import Breaker, CircuitOpenError
from chalicelib.integrations.wecom.client import WeComApiError, WeComClient
from tests.fakes.clock import FrozenClock


def test_opens_after_the_threshold_then_lets_one_probe_through_after_the_cooldown() -> None:
    clock = FrozenClock()
    breaker = Breaker(clock, threshold=3)
    for _ in range(2):
        breaker.failed("t1")
        breaker.check("t1")  # still closed below the threshold
    breaker.failed("t1")
    with pytest.raises(CircuitOpenError):
        breaker.check("t1")
    breaker.check("t2")  # per key: another tenant is not affected
    clock.advance(seconds=31)
    breaker.check("t1")  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.check("t1")  # others wait for the probe's answer
    breaker.failed("t1")  # the probe failed: open again at once
    clock.advance(seconds=31)
    breaker.check("t1")
    breaker.succeeded("t1")
    breaker.check("t1")
    breaker.failed("t1")
    breaker.check("t1")  # a success resets the count


class _Cache:
    def __init__(self) -> None:
        self.reads = 0

    def get_token(self, tenant_id: str, now: datetime) -> str | None:
        self.reads += 1
        return "tok"

    def put_token(self, tenant_id: str, token: str, expires_at: datetime) -> None:
        raise AssertionError("not asked for")


def _client(handler, clock: FrozenClock, cache: _Cache) -> WeComClient:  # type: ignore[no-untyped-def]
    return WeComClient(
        tenant_id="t1",
        corp_id="ww1",
        secret="s",
        cache=cache,
        http=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        breaker=Breaker(clock, threshold=2),
    )


def test_the_wecom_client_stops_calling_an_unreachable_wecom_until_the_cooldown_ends() -> None:
    clock, cache, calls = FrozenClock(), _Cache(), []
    state = {"down": True}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if state["down"]:
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.Response(200, json={"errcode": 0, "external_contact": {"name": "张三"}})

    client = _client(handler, clock, cache)
    for _ in range(2):
        with pytest.raises(httpx.ConnectError):
            client.external_contact("wm1")
    reads = cache.reads
    with pytest.raises(CircuitOpenError):
        client.external_contact("wm1")
    assert len(calls) == 2 and cache.reads == reads  # neither the network nor the token store was asked
    assert isinstance(CircuitOpenError("x"), httpx.HTTPError)  # callers' "unreachable" handling covers it
    state["down"] = False
    clock.advance(seconds=31)
    assert client.external_contact("wm1")["external_contact"]["name"] == "张三"
    assert client.external_contact("wm1")  # closed again


def test_server_errors_and_busy_count_but_a_wecom_answer_does_not() -> None:
    clock, cache = FrozenClock(), _Cache()
    answers = iter(
        [
            httpx.Response(502),
            httpx.Response(200, json={"errcode": 84061, "errmsg": "not external contact"}),
            httpx.Response(200, json={"errcode": -1, "errmsg": "system busy"}),
            httpx.Response(503),
        ]
    )
    client = _client(lambda request: next(answers), clock, cache)
    with pytest.raises(httpx.HTTPStatusError):
        client.external_contact("wm1")
    with pytest.raises(WeComApiError):
        client.external_contact("wm1")  # an answer: reachable, the count restarts
    with pytest.raises(WeComApiError):
        client.external_contact("wm1")  # busy: one
    with pytest.raises(httpx.HTTPStatusError):
        client.external_contact("wm1")  # 503: two → open
    with pytest.raises(CircuitOpenError):
        client.external_contact("wm1")
