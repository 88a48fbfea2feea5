"""Serve the Chalice app locally (chalice.local) with our error shape for unknown routes.

API Gateway answers an unknown path with 403 "Missing Authentication Token"; infra/ maps that gateway
response to a 404 in our shape, and this handler does the same locally."""

from __future__ import annotations

import threading
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer, LocalGatewayException

from chalicelib.api.errors import error_body

_one_request_at_a_time = threading.Lock()


class _Handler(ChaliceRequestHandler):
    # Headers and body go out in separate writes on a kept-alive connection: with Nagle's algorithm on,
    # the body waits for the client's delayed ACK (~40 ms on every request).
    disable_nagle_algorithm = True

    def _generic_handle(self) -> None:
        # Chalice keeps the current request on the app object (one request per Lambda process), so the
        # threaded local server runs one request at a time: concurrent ones would see each other's.
        with _one_request_at_a_time:
            super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if error.CODE == 403:  # no such route
            body = error_body("not_found", f"no route {self.command} {self.path.split('?')[0]}")
            self._send_http_response(404, {"Content-Type": "application/json; charset=utf-8"}, body)
            return
        super()._send_error_response(error)

    def log_message(self, format: str, *args: Any) -> None:  # quiet access log; errors still go to the logger
        pass


def make_server(app: Chalice, host: str, port: int) -> LocalDevServer:
    class _LocalApp(LocalChalice, app.__class__):  # type: ignore[misc,name-defined]
        pass

    app.__class__ = _LocalApp
    config = Config.create(
        chalice_app=app, app_name=app.app_name, stage="local", lambda_timeout=30, lambda_memory_size=512
    )
    return LocalDevServer(app, config, host, port, handler_cls=_Handler)
