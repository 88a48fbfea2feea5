"""Shared domain vocabulary: ids, clock, errors, actors."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any, Protocol

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str, *, now_ms: int | None = None, entropy: bytes | None = None) -> str:
    """A ULID-style id (48-bit ms time + 80 random bits, Crockford base32): sortable by creation time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rnd = int.from_bytes(entropy if entropy is not None else os.urandom(10), "big")
    value = (ms << 80) | rnd
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars)).lower()}"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class DomainError(Exception):
    """Base of every error a use case raises on purpose; api/errors.py maps each subclass to HTTP."""

    code = "error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInputError(DomainError):
    code = "validation_error"


class UnauthorizedError(DomainError):
    code = "unauthorized"


class ForbiddenError(DomainError):
    code = "forbidden"


class NotFoundError(DomainError):
    code = "not_found"


class ConflictError(DomainError):
    code = "conflict"


class ContentionError(DomainError):
    """Other writers kept the same records busy through every retry; nothing was written, so retrying later is
    safe. Deliberately not a ConflictError: callers that read a conflict as "someone else did it" (and return
    what is stored) must not swallow this one. HTTP 409 with code `conflict`; a queue redelivers."""

    code = "conflict"


class PreconditionRequiredError(DomainError):
    code = "precondition_required"


def utc_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DocumentedAs:
    """`Annotated[dict[str, object], DocumentedAs(T)]`: a field parsed later, by a use case that names each
    error itself (a settlement rule), shown in JSON Schema as T, so /openapi.json lists its real fields."""

    def __init__(self, documented: Any) -> None:
        self.documented = documented

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        from pydantic import TypeAdapter  # pydantic is imported by every model anyway; kept local here

        return handler(TypeAdapter(self.documented).core_schema)
