"""One JSON error shape everywhere: {"error": {"code", "message", "details"}}; one mapping to HTTP."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Response
from pydantic import ValidationError

from chalicelib.domain.common import (
    ConflictError,
    ContentionError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PreconditionRequiredError,
    UnauthorizedError,
)


class PayloadTooLargeError(DomainError):
    code = "payload_too_large"


class MethodNotAllowedError(DomainError):
    code = "method_not_allowed"


_STATUS: dict[type[DomainError], int] = {
    InvalidInputError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    MethodNotAllowedError: 405,
    ConflictError: 409,
    ContentionError: 409,
    PayloadTooLargeError: 413,
    PreconditionRequiredError: 428,
}


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> str:
    return json.dumps(
        {"error": {"code": code, "message": message, "details": details or []}}, ensure_ascii=False
    )


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        body=error_body(code, message, details),
        status_code=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def from_domain_error(e: DomainError) -> Response:
    status = next((s for cls, s in _STATUS.items() if isinstance(e, cls)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, e.code, e.message, e.details, headers)


def from_validation_error(e: ValidationError, *, where: str) -> Response:
    details = [
        {
            "field": ".".join(str(p) for p in err["loc"]) or where,
            "message": err["msg"],
            "type": err["type"],
        }
        for err in e.errors(include_url=False, include_input=False)
    ]
    fields = ", ".join(dict.fromkeys(d["field"] for d in details))
    return error_response(400, "validation_error", f"invalid {where}: {fields}", details)


def internal_error() -> Response:
    return error_response(500, "internal_error", "an internal error occurred; it has been logged")
