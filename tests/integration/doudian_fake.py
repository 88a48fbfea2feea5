"""An in-memory 抖店 open API behind httpx.MockTransport: nothing in the tests reaches the internet. It checks
every request's signature the way 抖店 does, so a signing mistake fails the tests."""

from __future__ import annotations

import json
from typing import Any

import httpx

from chalicelib.integrations.shops.doudian_api import sign

APP_KEY = "7123456789012345678"
APP_SECRET = "doudian-app-secret-0123"


class FakeDoudianApi:
    def __init__(self) -> None:
        self.buyers: dict[str, str] = {}  # shop_order_id → doudian_open_id
        self.calls: list[str] = []
        self.tokens_issued = 0
        self.outage = False  # every request fails as if 抖店 cannot be reached
        self.status_500 = False  # every request answers HTTP 500
        self.expire_next = False  # the next API call answers isv.access-token-expired
        self.bad_secret = False  # token.create refuses the app secret

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        method = request.url.params.get("method", "")
        self.calls.append(method)
        if self.outage:
            raise httpx.ConnectError("openapi-fxg.jinritemai.com unreachable", request=request)
        if self.status_500:
            return httpx.Response(500, text="<html>bad gateway</html>")
        params = request.url.params
        body = request.content.decode()
        expected = sign(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            method=method,
            param_json=body,
            timestamp=params["timestamp"],
        )
        if params.get("sign") != expected or request.url.path != "/" + method.replace(".", "/"):
            return _answer(40003, "isv.signature-invalid")
        data = json.loads(body)
        if method == "token.create":
            if self.bad_secret:
                return _answer(50001, "dop.token-generate-failed:app-secret-invalid")
            self.tokens_issued += 1
            token = {"access_token": f"token-{self.tokens_issued}", "expires_in": 604800}
            return _answer(10000, data=token | {"shop_id": str(data["shop_id"])})
        if params.get("access_token") != f"token-{self.tokens_issued}" or self.expire_next:
            self.expire_next = False
            return _answer(40003, "isv.access-token-expired")
        if method == "order.orderDetail":
            order_id = data["shop_order_id"]
            if order_id not in self.buyers:
                return _answer(50002, "isv.business-failed:订单不存在")
            detail = {
                "order_id": order_id,
                "doudian_open_id": self.buyers[order_id],
                "encrypt_post_tel": "$$WN9Vd+JaYgXc8nJg==*CgkIARCtHCABKAESPgo8…$1$$",
            }
            return _answer(10000, data={"shop_order_detail": detail})
        return _answer(70000, "isp.api-service-off")


def _answer(code: int, sub_code: str = "", data: dict[str, Any] | None = None) -> httpx.Response:
    body = {"code": code, "msg": "success" if code == 10000 else "error", "sub_code": sub_code, "data": data}
    return httpx.Response(200, json=body)


def routed(*apis: tuple[str, httpx.MockTransport]) -> httpx.MockTransport:
    """One transport for several fake APIs, chosen by host (the container has one http client)."""
    by_host = dict(apis)

    def handle(request: httpx.Request) -> httpx.Response:
        return by_host[request.url.host].handle_request(request)

    return httpx.MockTransport(handle)
