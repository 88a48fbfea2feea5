"""Merge review: candidates (different stable identifiers sharing others), merge with preview, unmerge."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.schemas import CustomerPublic, PageQuery
from chalicelib.bootstrap import container
from chalicelib.domain.access import can_see_pii
from chalicelib.domain.customers import Customer
from chalicelib.services.customers import CustomerView

api = Api(__name__, tag="customers")
bp = api.blueprint


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    absorb: str = Field(min_length=1, max_length=64, description="the customer merged into this one")
    preview: bool = Field(default=False, description="show the result without changing anything")


class UnmergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    absorbed_id: str = Field(min_length=1, max_length=64)


class MergePublic(BaseModel):
    applied: bool
    survivor: CustomerPublic
    record: dict[str, Any]


class UnmergePublic(BaseModel):
    survivor: CustomerPublic
    restored: CustomerPublic


class CandidatesPublic(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


def _public(ctx: Ctx, customer: Customer) -> CustomerPublic:
    return CustomerPublic.of(
        CustomerView(customer=customer, reveal_pii=can_see_pii(ctx.user, customer.ownership))
    )


@api.route(
    "/v1/merge-candidates",
    "GET",
    summary="Customer pairs to review for a merge",
    query=PageQuery,
    response=CandidatesPublic,
    errors=(400, 403),
)
def merge_candidates(ctx: Ctx) -> Result:
    q: PageQuery = ctx.query
    page = container().merges.candidates(principal=ctx.user, limit=q.limit, cursor=q.cursor)
    return Result(CandidatesPublic(items=page.items, next_cursor=page.next_cursor))


@api.route(
    "/v1/customers/{customer_id}/merge",
    "POST",
    summary="Merge another customer into this one (the survivor); `preview` shows the result first",
    body=MergeRequest,
    response=MergePublic,
    errors=(400, 403, 404, 409),
)
def merge_customer(ctx: Ctx, customer_id: str) -> Result:
    body: MergeRequest = ctx.body
    outcome = container().merges.merge(
        principal=ctx.user, survivor_id=customer_id, absorbed_id=body.absorb, preview=body.preview
    )
    return Result(
        MergePublic(applied=outcome.applied, survivor=_public(ctx, outcome.survivor), record=outcome.record)
    )


@api.route(
    "/v1/customers/{customer_id}/unmerge",
    "POST",
    summary="Undo a merge into this customer",
    body=UnmergeRequest,
    response=UnmergePublic,
    errors=(400, 403, 404, 409),
)
def unmerge_customer(ctx: Ctx, customer_id: str) -> Result:
    body: UnmergeRequest = ctx.body
    survivor, restored = container().merges.unmerge(
        principal=ctx.user, survivor_id=customer_id, absorbed_id=body.absorbed_id
    )
    return Result(UnmergePublic(survivor=_public(ctx, survivor), restored=_public(ctx, restored)))
