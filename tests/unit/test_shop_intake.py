"""A delivery is verified against each of the tenant's settings for the platform; it may speak for the
shops of every setting its app signs for, and the rest of what it carries is kept, not refused."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from chalicelib.integrations.shops import DoudianCredentials, SignatureError, YouzanCredentials, get_adapter
from chalicelib.integrations.shops.intake import ShopSettings, receive, shop_of

NOW = datetime(2024, 5, 1, 4, 31, 10, tzinfo=UTC)
APP_A = {"app_key": "7000000000000000001", "app_secret": "secret-a-0123"}
APP_B = {"app_key": "7000000000000000002", "app_secret": "secret-b-0123"}


def doudian(app: dict[str, str], shop: str | None) -> ShopSettings:
    creds = DoudianCredentials.model_validate({**app, "shop_id": shop})
    return ShopSettings(credentials=creds, shop_id=shop_of("doudian", creds))


def batch(*shops: int, app: dict[str, str] = APP_A) -> tuple[dict[str, str], bytes]:
    elements = [
        {
            "tag": "101",
            "msg_id": f"m{i}",
            "data": json.dumps({"p_id": 100 + i, "shop_id": shop, "pay_amount": 1}),
        }
        for i, shop in enumerate(shops)
    ]
    body = json.dumps(elements).encode()
    sign = hashlib.md5(app["app_key"].encode() + body + app["app_secret"].encode()).hexdigest()
    return {"app-id": app["app_key"], "event-sign": sign}, body


def run(settings: list[ShopSettings], headers: dict[str, str], body: bytes):
    return receive(get_adapter("doudian"), settings, headers=headers, body=body, now=NOW)


def test_the_shops_of_the_signing_app_are_taken_in_and_the_others_kept():
    settings = [doudian(APP_A, "1"), doudian(APP_A, "2"), doudian(APP_B, "3")]
    headers, body = batch(1, 2, 3, 4)
    intake = run(settings, headers, body)
    assert [e.shop_id for e in intake.events] == ["1", "2"]
    # shop 3 is configured, but under another app: this app cannot speak for it
    assert [e.shop_id for e in intake.foreign] == ["3", "4"] and intake.rejected == []


def test_settings_without_a_shop_take_every_shop_of_their_app():
    intake = run([doudian(APP_A, None)], *batch(1, 99))
    assert [e.shop_id for e in intake.events] == ["1", "99"] and intake.foreign == []


def test_each_shop_may_have_its_own_app():
    settings = [doudian(APP_A, "1"), doudian(APP_B, "2")]
    assert [e.shop_id for e in run(settings, *batch(2, app=APP_B)).events] == ["2"]


def test_no_setting_verifies_the_delivery():
    headers, body = batch(1, app={"app_key": APP_A["app_key"], "app_secret": "forged"})
    with pytest.raises(SignatureError, match="event-sign"):
        run([doudian(APP_A, "1"), doudian(APP_B, "2")], headers, body)


def test_youzan_shops_are_named_by_kdt_id():
    creds = YouzanCredentials(client_id="c", client_secret="s", kdt_id="41566520")
    assert shop_of("youzan", creds) == "41566520"
    assert shop_of("youzan", creds.model_copy(update={"kdt_id": None})) is None
    assert shop_of("generic", creds) is None  # platforms without shops are never filtered
