"""The route helper every blueprint uses: auth, size limit, pydantic parsing of body and query, the error
mapping and JSON rendering, in one place. Each route also records its models, from which /openapi.json is
generated, so the document cannot drift from the code."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Blueprint, Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.errors import (
    PayloadTooLargeError,
    from_domain_error,
    from_validation_error,
    internal_error,
)
from chalicelib.bootstrap import container
from chalicelib.domain.access import KeyKind, Principal
from chalicelib.domain.common import DomainError, InvalidInputError
from chalicelib.observability import logger
from chalicelib.services.cache import config_scope

JSON = "application/json; charset=utf-8"
# Chalice answers 415 in its own shape for types a route does not list: accept these and validate ourselves.
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/xml",
    "text/xml",
    "multipart/form-data",
    "application/octet-stream",
]


@dataclass(frozen=True)
class Media:
    """A body a route reads or writes itself instead of through a model (a webhook's XML, a CSV export,
    per-platform credentials): documented in /openapi.json, never used to parse. `example` names an entry
    of api/examples.RAW_EXAMPLES; `schema` is any pydantic-compatible type, None for a plain string."""

    type: str
    example: str
    schema: Any = None


@dataclass(frozen=True)
class RouteSpec:
    path: str
    method: str
    summary: str
    tag: str
    auth: bool
    status: int
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    headers: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    key: KeyKind = KeyKind.STAFF  # the one kind of API key the route accepts (the other gets 403)
    raw_body: Media | None = None
    raw_response: tuple[Media, ...] = ()  # besides (or instead of) the JSON response model
    statuses: tuple[int, ...] = ()  # other statuses answered with the response model (503 of /health)


ROUTES: list[RouteSpec] = []


@dataclass
class Ctx:
    request: Request
    principal: Principal | None
    body: Any = None
    query: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> Principal:
        assert self.principal is not None
        return self.principal

    @property
    def body_bytes(self) -> bytes:
        return body_bytes(self.request)

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        return str(value) if value is not None else None


@dataclass
class Result:
    body: BaseModel | None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Api:
    def __init__(self, name: str, tag: str) -> None:
        self.blueprint = Blueprint(name)
        self._tag = tag

    def route(
        self,
        path: str,
        method: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        headers: tuple[str, ...] = (),
        errors: tuple[int, ...] = (),
        key: KeyKind = KeyKind.STAFF,
        raw_body: Media | None = None,
        raw_response: tuple[Media, ...] = (),
        statuses: tuple[int, ...] = (),
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        spec = RouteSpec(
            path,
            method,
            summary,
            self._tag,
            auth,
            status,
            body,
            query,
            response,
            headers,
            errors,
            key,
            raw_body,
            raw_response,
            statuses,
        )
        ROUTES.append(spec)

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def view(**params: str) -> Response:
                return self._handle(spec, fn, params)

            self.blueprint.route(path, methods=[method], content_types=CONTENT_TYPES)(view)
            return fn

        return decorator

    def _handle(self, spec: RouteSpec, fn: Callable[..., Any], params: dict[str, str]) -> Response:
        request = self.blueprint.current_request
        try:
            raw = body_bytes(request)
            if len(raw) > container().settings.max_body_bytes:
                raise PayloadTooLargeError(
                    f"the body is larger than {container().settings.max_body_bytes // 1024} KiB"
                )
            # Log keys per thread: the local API serves concurrent requests in one process.
            logger.thread_safe_append_keys(correlation_id=(request.context or {}).get("requestId"))
            principal = (
                container().tenants.authenticate(request.headers.get("authorization"), accepts=spec.key)
                if spec.auth
                else None
            )
            if principal is not None:
                logger.thread_safe_append_keys(tenant_id=principal.tenant_id, user_id=principal.user_id)
            ctx = Ctx(request=request, principal=principal)
            ctx.body = _parse_body(spec.body, raw) if spec.body else None
            ctx.query = _parse_query(spec.query, request) if spec.query else None
            with config_scope():  # each tenant's configuration counters read at most once per request
                result = fn(ctx, **params)
        except ValidationError as e:
            return from_validation_error(e, where="query" if _is_query_error(spec, e) else "body")
        except DomainError as e:
            return from_domain_error(e)
        except Exception:
            logger.exception("unhandled error", extra={"path": spec.path, "method": spec.method})
            return internal_error()
        finally:
            logger.thread_safe_remove_keys(["correlation_id", "tenant_id", "user_id"])
        return render(result, spec.status)


def body_bytes(request: Request) -> bytes:
    """The raw request body as bytes (Chalice gives str or bytes): what signatures are computed over."""
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def render(result: Result | Response, default_status: int) -> Response:
    if isinstance(result, Response):
        return result
    status = result.status or default_status
    if result.body is None:
        return Response(body="", status_code=status, headers=dict(result.headers))
    headers: dict[str, str | list[str]] = {"Content-Type": JSON, **result.headers}
    return Response(body=result.body.model_dump_json(by_alias=True), status_code=status, headers=headers)


def _parse_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    return model.model_validate(parse_json_object(raw))


def parse_json_object(raw: bytes | str | None) -> dict[str, Any]:
    """The request body as a JSON object, its strings without control characters, or a 400 naming `body`."""
    raw = raw or b""
    if not raw.strip():
        raise InvalidInputError("a JSON body is required", details=[{"field": "body", "message": "required"}])
    try:
        data = json.loads(raw)
    except RecursionError as e:  # json.loads gives up near 1,000 levels
        raise _too_deep() from e
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInputError(
            "the body is not valid JSON", details=[{"field": "body", "message": str(e)}]
        ) from e
    if not isinstance(data, dict):
        raise InvalidInputError(
            "the body must be a JSON object", details=[{"field": "body", "message": "object"}]
        )
    cleaned: dict[str, Any] = _clean(data, 1)
    return cleaned


# Arrays and objects inside one another. Nothing we accept needs a tenth of it; pydantic cannot serialise past
# about 255 levels and json.loads stops near 1,000 (both were 500s).
MAX_JSON_DEPTH = 64
# C0 controls but tab, LF and CR; DEL; C1 controls: invisible, they break logs, CSV exports, WeCom texts.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    return _CONTROL.sub("", text)


def _clean(value: Any, depth: int) -> Any:
    """Control characters stripped from every string and key *before* any model checks a length, so what is
    stored is what was checked (a name of only control characters fails `min_length`); too deep → 400."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, dict):
        return {strip_controls(k): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def _too_deep() -> InvalidInputError:
    return InvalidInputError(
        f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
        details=[{"field": "body", "message": f"at most {MAX_JSON_DEPTH} levels of nesting"}],
    )


def _parse_query(model: type[BaseModel], request: Request) -> BaseModel:
    params = {strip_controls(k): strip_controls(v) for k, v in (request.query_params or {}).items()}
    return model.model_validate(params)


def _is_query_error(spec: RouteSpec, e: ValidationError) -> bool:
    return spec.query is not None and e.title == spec.query.__name__


def if_match_version(ctx: Ctx) -> int | None:
    """`If-Match: "3"` (or W/"3", or 3) → 3."""
    raw = ctx.header("if-match")
    if raw is None:
        return None
    text = raw.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise InvalidInputError(
            'If-Match must be the ETag you read, e.g. "3"', details=[{"field": "If-Match", "message": raw}]
        )
    return int(text)
