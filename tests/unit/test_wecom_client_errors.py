"""WeComClient against the fake WeCom API: error codes handled as path/90313 defines them, the tag list
APIs never asked for the whole catalogue by accident, the 微信客服 Token optional."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from chalicelib.integrations.breaker import Breaker, CircuitOpenError
from chalicelib.integrations.wecom.client import (
    WeComApiError,
    WeComClient,
    WeComConfigError,
    WeComRateLimitedError,
)
from tests.fakes.clock import FrozenClock
from tests.fakes.wecom_api import FakeWeComApi
from tests.unit.test_notify_providers import MemoryTokenCache


@pytest.fixture
def api() -> FakeWeComApi:
    fake = FakeWeComApi()
    fake.contacts["wmA"] = {"name": "张三"}
    fake.tag_groups = [{"group_id": "g1", "group_name": "等级", "tag": [{"id": "t1", "name": "金卡"}]}]
    return fake


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def client(api: FakeWeComApi, clock: FrozenClock) -> WeComClient:
    return make_client(api, clock)


def make_client(api: FakeWeComApi, clock: FrozenClock) -> WeComClient:
    return WeComClient(
        tenant_id="t1",
        corp_id="wwcorp",
        secret="s",
        cache=MemoryTokenCache(),
        http=httpx.Client(transport=api.transport()),
        clock=clock,
        breaker=Breaker(clock),
    )


def test_an_invalid_secret_is_a_configuration_error_fetched_once_not_refreshed(
    client: WeComClient, api: FakeWeComApi
):
    api.bad_secret = True
    with pytest.raises(WeComConfigError) as e:
        client.external_contact("wmA")
    assert e.value.errcode == 40001
    assert api.calls == ["/gettoken"]  # one try: no refresh loop on a secret that is wrong


def test_40001_on_an_api_call_is_not_taken_for_an_expired_token(client: WeComClient, api: FakeWeComApi):
    client.external_contact("wmA")
    original = api._handle

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/externalcontact/get"):
            api.calls.append("/externalcontact/get")
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        return original(request)

    client._http = httpx.Client(transport=httpx.MockTransport(handle))
    with pytest.raises(WeComConfigError):
        client.external_contact("wmA")
    assert api.tokens_issued == 1  # no new token was fetched for it


def test_an_expired_token_is_refreshed_once(client: WeComClient, api: FakeWeComApi):
    client.external_contact("wmA")
    api.expire_next = True
    client.external_contact("wmA")
    assert api.tokens_issued == 2


def test_a_rate_limit_backs_off_instead_of_asking_again(
    client: WeComClient, api: FakeWeComApi, clock: FrozenClock
):
    client.external_contact("wmA")
    api.rate_limited = {"/externalcontact/get"}
    with pytest.raises(WeComRateLimitedError):
        client.external_contact("wmA")
    asked = len(api.calls)
    with pytest.raises(CircuitOpenError):  # an httpx transport error: callers retry later, via the queue
        client.external_contact("wmA")
    assert len(api.calls) == asked  # WeCom was not asked again meanwhile
    api.rate_limited = set()
    clock.advance(seconds=61)
    assert client.external_contact("wmA")["external_contact"]["name"] == "张三"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.corp_tags(tag_ids=[]),
        lambda c: c.corp_tags(group_ids=[]),
        lambda c: c.corp_tags(),
        lambda c: c.corp_tags(tag_ids=["t1"], group_ids=["g1"]),
        lambda c: c.strategy_tags(strategy_id=1, group_ids=[]),
    ],
)
def test_tag_lists_refuse_filters_that_would_mean_everything(
    client: WeComClient, api: FakeWeComApi, call: Callable[[WeComClient], object]
):
    with pytest.raises(ValueError):
        call(client)
    assert not [p for p, _ in api.requests if "tag_list" in p]  # nothing was asked


def test_tag_lists_send_exactly_the_filter_named(client: WeComClient, api: FakeWeComApi):
    api.strategy_tag_groups[7] = [
        {"group_id": "sg", "group_name": "规则组", "tag": [{"id": "st", "name": "A"}]}
    ]
    assert [g["group_id"] for g in client.corp_tags(tag_ids=["t1"])] == ["g1"]
    assert [g["group_id"] for g in client.strategy_tags(strategy_id=7, group_ids=["sg"])] == ["sg"]
    assert len(client.all_corp_tags()) == 1
    assert api.requests == [
        ("/externalcontact/get_corp_tag_list", {"tag_id": ["t1"]}),
        ("/externalcontact/get_strategy_tag_list", {"strategy_id": 7, "group_id": ["sg"]}),
        ("/externalcontact/get_corp_tag_list", {}),
    ]


def test_sync_msg_without_a_token_sends_none(client: WeComClient, api: FakeWeComApi):
    client.kf_sync_msg(open_kfid="wk1", cursor="4")
    client.kf_sync_msg(open_kfid="wk1", token="tok")
    assert [b for p, b in api.requests] == [
        {"open_kfid": "wk1", "limit": 1000, "cursor": "4"},
        {"open_kfid": "wk1", "limit": 1000, "token": "tok"},
    ]


def test_other_errors_keep_their_code(client: WeComClient, api: FakeWeComApi):
    with pytest.raises(WeComApiError) as e:
        client.external_contact("wmNobody")
    assert e.value.errcode == 84061 and not isinstance(e.value, WeComConfigError)
