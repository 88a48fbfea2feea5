"""Serve the Chalice app locally (chalice.local) with our error shape for unknown routes, requests served
concurrently (one thread each), as API Gateway runs concurrent Lambda invocations.

API Gateway answers an unknown path with 403 "Missing Authentication Token"; infra/ maps that gateway
response to a 404 in our shape, and this handler does the same locally."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from chalicelib.api.errors import error_body
from chalicelib.local import outbox_page


class _Server(ThreadedHTTPServer):
    # socketserver's listen backlog is 5: a burst of new connections beyond it was reset.
    request_queue_size = 128


class _Handler(ChaliceRequestHandler):
    # Headers and body go out in separate writes on a kept-alive connection: with Nagle's algorithm on,
    # the body waits for the client's delayed ACK (~40 ms on every request).
    disable_nagle_algorithm = True

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if error.CODE == 403:  # no such route
            body = error_body("not_found", f"no route {self.command} {self.path.split('?')[0]}")
            self._send_http_response(404, {"Content-Type": "application/json; charset=utf-8"}, body)
            return
        super()._send_error_response(error)

    def do_GET(self) -> None:
        if outbox_page.handles(self.path):  # a local-only page: not a route of the app, so never on AWS
            status, headers, body = outbox_page.respond(self.path, self.headers.get("Accept", ""))
            self._send_http_response(status, headers, body)
            return
        self._generic_handle()

    def log_message(self, format: str, *args: Any) -> None:  # quiet access log; errors still go to the logger
        pass


def make_server(app: Chalice, host: str, port: int) -> LocalDevServer:
    class _LocalApp(LocalChalice, app.__class__):  # type: ignore[misc,name-defined]
        # Chalice keeps the request and the Lambda context on the app object (one request per Lambda
        # process); LocalChalice makes the request per thread, and this the context too, so concurrent
        # requests never see each other's.
        @property
        def lambda_context(self) -> Any:
            return getattr(self._THREAD_LOCAL, "lambda_context", None)

        @lambda_context.setter
        def lambda_context(self, value: Any) -> None:
            self._THREAD_LOCAL.lambda_context = value

    app.__class__ = _LocalApp
    config = Config.create(
        chalice_app=app, app_name=app.app_name, stage="local", lambda_timeout=30, lambda_memory_size=512
    )
    return LocalDevServer(app, config, host, port, handler_cls=_Handler, server_cls=_Server)
