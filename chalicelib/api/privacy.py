"""/v1/privacy-requests: what shops asked about their customers' data (Shopify's mandatory compliance
topics) and what was done, for admins; a data request's export is here for the merchant to hand over."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.schemas import PageQuery
from chalicelib.bootstrap import container
from chalicelib.domain.privacy import PrivacyRequest

api = Api(__name__, tag="integrations")
bp = api.blueprint


class PrivacyRequestsPublic(BaseModel):
    items: list[PrivacyRequest]
    next_cursor: str | None


class PrivacyExportPublic(BaseModel):
    request: PrivacyRequest
    export: dict[str, Any]


@api.route(
    "/v1/privacy-requests",
    "GET",
    summary="Privacy requests from shops and what was done, newest first (admin)",
    query=PageQuery,
    response=PrivacyRequestsPublic,
    errors=(400, 403),
)
def list_privacy_requests(ctx: Ctx) -> Result:
    q: PageQuery = ctx.query
    page = container().privacy.list_requests(principal=ctx.user, limit=q.limit, cursor=q.cursor)
    return Result(PrivacyRequestsPublic(items=page.items, next_cursor=page.next_cursor))


@api.route(
    "/v1/privacy-requests/{request_id}",
    "GET",
    summary="One privacy request (admin)",
    response=PrivacyRequest,
    errors=(403, 404),
)
def get_privacy_request(ctx: Ctx, request_id: str) -> Result:
    return Result(container().privacy.get(principal=ctx.user, request_id=request_id))


@api.route(
    "/v1/privacy-requests/{request_id}/export",
    "GET",
    summary="What we hold about the customer of a data request, personal data in clear (admin)",
    response=PrivacyExportPublic,
    errors=(403, 404),
)
def get_privacy_export(ctx: Ctx, request_id: str) -> Result:
    request, export = container().privacy.export(principal=ctx.user, request_id=request_id)
    return Result(PrivacyExportPublic(request=request, export=export))
