"""405 for a method a path does not have, in our error shape, on AWS and locally alike: API Gateway only
sends declared methods to the app, so each path declares the missing ones and answers 405 itself."""

from __future__ import annotations

import re

from chalice.app import Chalice, Response

from chalicelib.api.errors import error_response

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def add_method_fallbacks(app: Chalice) -> None:
    for path, entries in list(app.routes.items()):
        allowed = sorted(entries)
        missing = [m for m in _METHODS if m not in entries]
        if not missing:
            continue

        def not_allowed(allowed: list[str] = allowed, **_: str) -> Response:
            return error_response(
                405,
                "method_not_allowed",
                f"allowed methods: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )

        # Deterministic names: they end up in the packaged template.
        not_allowed.__name__ = "method_not_allowed_" + re.sub(r"\W+", "_", path).strip("_")
        app.route(path, methods=missing, content_types=["*/*"])(not_allowed)
