"""抖店 open API client: the signature recipe (pinned vector), token caching shared through the table, and the
mapping of answers to "retry later" vs "permanent" errors. httpx.MockTransport only: no network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chalicelib.domain.customers import Identity, validate_identity_type
from chalicelib.domain.resolution import STABLE_TYPES
from chalicelib.integrations.shops.doudian_api import (
    DoudianClient,
    DoudianPermanentError,
    DoudianUnavailable,
    RepositoryTokenCache,
    param_json,
    sign,
)
from tests.fakes.clock import FrozenClock
from tests.integration.doudian_fake import APP_KEY, APP_SECRET, FakeDoudianApi

ORDER = "6928372837492837492"
SHOP = "4463798"


class MemoryRepo:
    """The IntegrationRepository port in memory (the table, shared by every 'Lambda' of a test)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[dict[str, Any], dict[str, str]]] = {}

    def put(self, tenant_id: str, kind: str, public: dict[str, Any], secrets: dict[str, str]) -> None:
        self.items[(tenant_id, kind)] = (public, secrets)

    def get(self, tenant_id: str, kind: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        return self.items.get((tenant_id, kind))


def client(
    transport: httpx.BaseTransport, repo: MemoryRepo | None = None, clock: FrozenClock | None = None
) -> DoudianClient:
    return DoudianClient(
        tenant_id="t1",
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        shop_id=SHOP,
        cache=RepositoryTokenCache(repo or MemoryRepo()),
        http=httpx.Client(transport=transport),
        clock=clock or FrozenClock(datetime(2024, 5, 1, 4, 31, 40, tzinfo=UTC)),
    )


def test_param_json_is_sorted_and_compact():
    assert param_json({"shop_order_id": ORDER, "a": 1, "名": "值"}) == (
        '{"a":1,"shop_order_id":"6928372837492837492","名":"值"}'
    )


def test_signature_vector():
    # Computed once from the documented recipe with openssl/md5sum (not with this code), then pinned:
    # secret + "app_key" + key + "method" + m + "param_json" + p + "timestamp" + ts + "v2" + secret.
    args = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "method": "order.orderDetail",
        "param_json": '{"shop_order_id":"6928372837492837492"}',
        "timestamp": "1714537900",
    }
    assert sign(**args) == "d2725d46a2029755bdbd50165723cd671474c526f48d70a017b35e2b68ccd63f"
    assert sign(**args, sign_method="md5") == "89000d43e3f17b1b11424de48024de07"


def test_request_shape_and_buyer():
    fake = FakeDoudianApi()
    fake.buyers[ORDER] = "1@#open-id-abc"
    seen: list[httpx.Request] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fake.handle(request)

    c = client(httpx.MockTransport(spy))
    assert c.buyer_identities(ORDER) == [Identity(type="doudian_open_id", value="1@#open-id-abc")]
    buyer = c.order_buyer(ORDER)
    assert buyer.encrypt_post_tel and buyer.encrypt_post_tel.startswith("$$")  # opaque: never decrypted here
    token_req, detail_req = seen[0], seen[1]
    assert str(token_req.url).startswith("https://openapi-fxg.jinritemai.com/token/create?")
    assert "access_token" not in token_req.url.params
    assert token_req.content == b'{"code":"","grant_type":"authorization_self","shop_id":4463798}'
    assert detail_req.url.path == "/order/orderDetail"
    assert detail_req.url.params["v"] == "2" and detail_req.url.params["sign_method"] == "hmac-sha256"
    assert detail_req.url.params["timestamp"] == "1714537900"
    assert detail_req.url.params["access_token"] == "token-1"


def test_token_is_cached_in_the_table_and_shared_between_invocations():
    fake, repo = FakeDoudianApi(), MemoryRepo()
    fake.buyers[ORDER] = "open-1"
    first = client(fake.transport(), repo)
    first.order_buyer(ORDER)
    first.order_buyer(ORDER)
    assert fake.tokens_issued == 1
    public, secrets = repo.items[("t1", f"doudian_token#{SHOP}")]
    assert secrets == {"access_token": "token-1"} and public["expires_at"] > "2024-05-08"
    client(fake.transport(), repo).order_buyer(ORDER)  # another Lambda: a fresh cache over the same table
    assert fake.tokens_issued == 1


def test_expired_token_is_refreshed_once():
    fake, repo = FakeDoudianApi(), MemoryRepo()
    fake.buyers[ORDER] = "open-1"
    c = client(fake.transport(), repo)
    c.order_buyer(ORDER)
    fake.expire_next = True
    assert c.order_buyer(ORDER).doudian_open_id == "open-1"
    assert fake.tokens_issued == 2
    assert repo.items[("t1", f"doudian_token#{SHOP}")][1] == {"access_token": "token-2"}


def test_token_past_its_expiry_is_not_used():
    fake, repo = FakeDoudianApi(), MemoryRepo()
    fake.buyers[ORDER] = "open-1"
    clock = FrozenClock(datetime(2024, 5, 1, tzinfo=UTC))
    client(fake.transport(), repo, clock).order_buyer(ORDER)
    clock.advance(days=7)
    client(fake.transport(), repo, clock).order_buyer(ORDER)
    assert fake.tokens_issued == 2


def test_unreachable_and_5xx_are_retry_later():
    fake = FakeDoudianApi()
    fake.outage = True
    with pytest.raises(DoudianUnavailable):
        client(fake.transport()).order_buyer(ORDER)
    fake.outage, fake.status_500 = False, True
    with pytest.raises(DoudianUnavailable):
        client(fake.transport()).order_buyer(ORDER)


@pytest.mark.parametrize("code", [20000, 20001, 60000, 90000])
def test_busy_codes_are_retry_later(code: int):
    answer = httpx.Response(200, json={"code": code, "msg": "busy", "sub_code": "dop.service-error"})
    with pytest.raises(DoudianUnavailable) as e:
        client(httpx.MockTransport(lambda _: answer)).order_buyer(ORDER)
    assert e.value.code == code


def test_bad_credentials_and_unknown_order_are_permanent():
    fake = FakeDoudianApi()
    fake.bad_secret = True
    with pytest.raises(DoudianPermanentError) as e:
        client(fake.transport()).order_buyer(ORDER)
    assert e.value.code == 50001 and "app-secret-invalid" in str(e.value.sub_code)
    fake.bad_secret = False
    with pytest.raises(DoudianPermanentError) as e:
        client(fake.transport()).order_buyer("404")
    assert e.value.code == 50002
    wrong_secret = DoudianClient(
        tenant_id="t1",
        app_key=APP_KEY,
        app_secret="not-the-secret",
        shop_id=SHOP,
        cache=RepositoryTokenCache(MemoryRepo()),
        http=httpx.Client(transport=fake.transport()),
        clock=FrozenClock(),
    )
    with pytest.raises(DoudianPermanentError):  # the signature is refused: will not change on retry
        wrong_secret.order_buyer(ORDER)


def test_a_token_still_rejected_after_a_refresh_is_permanent():
    answer = httpx.Response(200, json={"code": 40003, "sub_code": "isv.access-token-expired"})
    token = httpx.Response(200, json={"code": 10000, "data": {"access_token": "t", "expires_in": 60}})

    def handle(request: httpx.Request) -> httpx.Response:
        return token if request.url.path == "/token/create" else answer

    with pytest.raises(DoudianPermanentError):
        client(httpx.MockTransport(handle)).order_buyer(ORDER)


def test_no_open_id_means_no_identity():
    answer = httpx.Response(200, json={"code": 10000, "data": {"shop_order_detail": {"doudian_open_id": ""}}})
    token = httpx.Response(200, json={"code": 10000, "data": {"access_token": "t", "expires_in": 600000}})

    def handle(request: httpx.Request) -> httpx.Response:
        return token if request.url.path == "/token/create" else answer

    assert client(httpx.MockTransport(handle)).buyer_identities(ORDER) == []


def test_doudian_open_id_is_an_identity_type_but_not_a_stable_one():
    assert validate_identity_type("doudian_open_id") == "doudian_open_id"
    assert "doudian_open_id" not in STABLE_TYPES  # per shop app, like openid
