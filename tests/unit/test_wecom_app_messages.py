"""WeCom app messages as path/90236 defines them: byte limits cut on a character boundary, undeliverable
recipients named lower-cased (compared ignoring case), a refused secret a permanent failure."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.notifications import (
    Channel,
    PermanentProviderError,
    RenderedMessage,
    TemporaryProviderError,
)
from chalicelib.integrations.breaker import Breaker
from chalicelib.integrations.notify.wecom import WeComAppProvider, truncate_utf8, undeliverable
from chalicelib.integrations.wecom.client import WeComClient
from tests.fakes.clock import FrozenClock
from tests.fakes.wecom_api import FakeWeComApi
from tests.unit.test_notify_providers import MemoryTokenCache


def msg(**fields: str) -> RenderedMessage:
    return RenderedMessage.model_validate({"event": "ticket.assigned", "channel": Channel.WECOM, **fields})


def provider(api: FakeWeComApi) -> WeComAppProvider:
    clock = FrozenClock()
    client = WeComClient(
        tenant_id="t1",
        corp_id="wwcorp",
        secret="s",
        cache=MemoryTokenCache(),
        http=httpx.Client(transport=api.transport()),
        clock=clock,
        breaker=Breaker(clock),
    )
    return WeComAppProvider(client=client, agent_id=1000002)


@given(st.text(max_size=3000), st.integers(min_value=0, max_value=2100))
def test_truncation_counts_bytes_and_never_splits_a_character(text: str, limit: int):
    cut = truncate_utf8(text, limit)
    assert len(cut.encode("utf-8")) <= limit
    assert text.startswith(cut)
    if len(text.encode("utf-8")) <= limit:
        assert cut == text
    else:  # as much as fits: the next character would not
        assert len((cut + text[len(cut)]).encode("utf-8")) > limit


def test_chinese_text_is_cut_to_2048_bytes_not_2048_characters():
    api = FakeWeComApi()
    long_text = "漏" * 1000  # 3,000 bytes
    provider(api).send("zhangsan", msg(text=long_text))
    content = api.sent[0]["text"]["content"]
    assert len(content.encode("utf-8")) <= 2048 and content == "漏" * 682


def test_textcard_title_and_description_are_cut_in_bytes():
    api = FakeWeComApi()
    provider(api).send("zhangsan", msg(title="标" * 50, text="描" * 300, url="https://h5/t/1"))
    card = api.sent[0]["textcard"]
    assert card["title"] == "标" * 42 and len(card["title"].encode()) <= 128
    assert card["description"] == "描" * 170 and len(card["description"].encode()) <= 512


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"invaliduser": "zhangsan"}, True),  # WeCom lower-cases what it names
        ({"unlicenseduser": "lisi|zhangsan"}, True),
        ({"invaliduser": "zhangsan2"}, False),
        ({"invaliduser": ""}, False),
        ({}, False),
    ],
)
def test_undeliverable_compares_userids_ignoring_case(answer: dict[str, str], expected: bool):
    assert undeliverable("ZhangSan", answer) is expected


def test_a_recipient_wecom_names_in_lower_case_is_not_recorded_as_sent():
    api = FakeWeComApi()
    api.app_members = {"zhangsan", "lisi"}
    api.unlicensed = {"zhangsan"}
    with pytest.raises(PermanentProviderError, match="ZhangSan"):
        provider(api).send("ZhangSan", msg(text="工单已派给你"))
    assert provider(api).send("LiSi", msg(text="工单已派给你")).provider_message_id


def test_a_refused_secret_is_permanent_and_says_so():
    api = FakeWeComApi()
    api.bad_secret = True
    with pytest.raises(PermanentProviderError, match="settings"):
        provider(api).send("zhangsan", msg(text="x"))


def test_a_rate_limit_is_temporary():
    api = FakeWeComApi()
    api.rate_limited = {"/message/send"}
    with pytest.raises(TemporaryProviderError):
        provider(api).send("zhangsan", msg(text="x"))
