"""moto's server (the werkzeug dev server moto ships), with HTTP keep-alive.

werkzeug's dev server closes the connection after every response (`Connection: close`): `http.server` cannot
skip a request body the application left unread, so the next request line could be read from the middle of
it. Every AWS call of the app then costs a TCP connection and a server thread: on the local stack, where
the workers make a few thousand small DynamoDB and SQS calls a minute, that was a good part of moto's CPU
and of the clients' (botocore reconnects each time).

Here the handler reads the whole request body (its Content-Length) before the application runs, so the
stream is always at the next request, and sends the response with its length: the connection stays open.
(werkzeug's handler also waits up to 10 ms after each response for more request data to discard.) A request
with a chunked body (none of the app's calls sends one) is still handled by werkzeug's way, and closes it.

Each response is one socket write, and DynamoDB and SQS requests skip moto's Flask routing (`_json_api`):
together with the header parsing in moto_patches.py, a third less server CPU per request."""

from __future__ import annotations

import functools
import io
import logging
import threading
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.serving import BaseWSGIServer, make_server


class KeepAliveMotoRequestHandler(MotoRequestHandler):
    # With the connection kept open, Nagle's algorithm would hold a response's body back until the client's
    # delayed ACK of its headers (~40 ms).
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The stack turns the access log off; werkzeug would still format a line for every request.
        if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
            super().log_request(code, size)

    def run_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            super().run_wsgi()  # werkzeug's way: answer, drain what is left, close the connection
            return
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
        try:
            status, headers, body = _json_api(environ) or self._call_app(self.server.app, environ)
        except Exception as e:
            if self.server.passthrough_errors:
                raise
            status, headers, body = self._call_app(InternalServerError(), environ)
            from werkzeug.debug.tbtools import DebugTraceback

            self.server.log("error", f"Error on request:\n{DebugTraceback(e).render_traceback_text()}")
        code_text, _, message = status.partition(" ")
        code = int(code_text)
        self.send_response(code, message)
        for key, value in headers:
            self.send_header(key, value)
        if not any(k.lower() == "content-length" for k, _ in headers) and not (
            environ["REQUEST_METHOD"] == "HEAD" or 100 <= code < 200 or code in (204, 304)
        ):
            self.send_header("Content-Length", str(len(body)))
        # Head and body in one socket write: every write gives up the interpreter lock, and taking it back
        # waits out another busy request thread's switch interval (up to 5 ms).
        self._headers_buffer.append(b"\r\n")
        if body:
            self._headers_buffer.append(body)
        self.flush_headers()

    @staticmethod
    def _call_app(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        app_iter = app(environ, start_response)
        try:
            chunks.extend(app_iter)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        return started[0], started[1], b"".join(chunks)


class MotoServer:
    """moto's `ThreadedMotoServer` (start/stop in a thread of this process) with the handler above."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = make_server(
            self._host,
            self._port,
            DomainDispatcherApplication(create_backend_app),
            threaded=True,
            request_handler=KeepAliveMotoRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join()


# DynamoDB and SQS (JSON protocol) requests: POST / with an X-Amz-Target. moto's Flask app routes them to
# these classes' `dispatch` through a backend lookup, URL matching, an app context and CORS hooks: about a
# fifth of the server's CPU per request, for a route that never varies. They are handed to `dispatch` here
# the way moto's Flask view (`moto.core.utils.convert_to_flask_response`) does; anything else goes to the app.
@functools.cache
def _json_handlers() -> dict[str, Any]:
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    return {"DynamoDB_20120810": DynamoHandler.dispatch, "AmazonSQS": SQSResponse.dispatch}


def _json_api(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    dispatch = _json_handlers().get(target.partition(".")[0]) if target else None
    if dispatch is None or environ["REQUEST_METHOD"] != "POST" or environ.get("PATH_INFO") != "/":
        return None
    from botocore.exceptions import ClientError
    from flask import Response
    from moto.moto_api import recorder
    from moto.moto_server.werkzeug_app import BackendRequest

    request = BackendRequest(environ)
    try:
        recorder._record_request(request)
        result = dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    except HTTPException as exc:  # what Flask would have rendered for the view
        error = exc.get_response(environ)
        return error.status, list(error.headers.items()), error.get_data()
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    response = Response(response=content, status=status, headers=headers)
    return response.status, list(response.headers.items()), response.get_data()
