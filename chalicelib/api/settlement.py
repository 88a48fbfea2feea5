"""/v1/settlement-rules, /v1/settlements/* (statements, CSV, reconciliation) and a ticket's bill."""

from __future__ import annotations

from typing import Annotated

from chalice.app import Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.bootstrap import container
from chalicelib.domain.common import DocumentedAs
from chalicelib.domain.settlement import PERIOD_PATTERN, RuleOrModifier
from chalicelib.domain.settlement_runs import SettlementRun
from chalicelib.domain.statements import PartyStatement, statement_csv
from chalicelib.services.settlement import (
    BillView,
    ChargebackCommand,
    PostingList,
    Reconciliation,
    RuleDraft,
    RuleList,
    StatementQuery,
)

api = Api(__name__, tag="settlement")
bp = api.blueprint


class PeriodQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(pattern=PERIOD_PATTERN, description="YYYY-MM (China time)")


class RulePublished(BaseModel):
    applies_to: str
    rule: Annotated[dict[str, object], DocumentedAs(RuleOrModifier)]


@api.route(
    "/v1/settlement-rules",
    "POST",
    summary="Publish a commission rule or its next version (split, base + incentive, tiered, threshold)",
    body=RuleDraft,
    response=RulePublished,
    status=201,
    errors=(400, 403, 409),
)
def publish_rule(ctx: Ctx) -> Result:
    published = container().settlement.publish_rule(principal=ctx.user, draft=ctx.body)
    return Result(RulePublished.model_validate(published), status=201)


@api.route(
    "/v1/settlement-rules",
    "GET",
    summary="Every version of every commission rule (finance, managers and admins; not partners)",
    response=RuleList,
    errors=(403,),
)
def list_rules(ctx: Ctx) -> Result:
    return Result(RuleList(items=container().settlement.list_rules(principal=ctx.user)))


@api.route(
    "/v1/settlements/statements",
    "GET",
    summary="A party's statement for a month (format=csv for a spreadsheet); partners see only their own",
    query=StatementQuery,
    response=PartyStatement,
    errors=(400, 403),
)
def statement(ctx: Ctx) -> Result | Response:
    q: StatementQuery = ctx.query
    found = container().settlement.statement(principal=ctx.user, party=q.party, period=q.period)
    if q.format == "csv":
        name = f"statement-{q.party.replace(':', '-')}-{q.period}.csv"
        return Response(
            body=statement_csv(found),
            status_code=200,
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{name}"',
            },
        )
    return Result(found)


@api.route(
    "/v1/settlements/reconciliation",
    "GET",
    summary="A month's party balances against what was settled (finance)",
    query=PeriodQuery,
    response=Reconciliation,
    errors=(400, 403),
)
def reconciliation(ctx: Ctx) -> Result:
    return Result(container().settlement.reconcile(principal=ctx.user, period=ctx.query.period))


@api.route(
    "/v1/tickets/{ticket_id}/bill",
    "GET",
    summary="A completed ticket's bill: labour, parts, warranty waivers, explained line by line",
    response=BillView,
    errors=(404,),
)
def ticket_bill(ctx: Ctx, ticket_id: str) -> Result:
    return Result(container().settlement.bill_view(principal=ctx.user, ticket_id=ticket_id))


@api.route(
    "/v1/tickets/{ticket_id}/bill/preview",
    "GET",
    summary="What an open ticket would be billed if completed now (labour, held parts, warranty); not stored",
    response=BillView,
    errors=(400, 404),
)
def ticket_bill_preview(ctx: Ctx, ticket_id: str) -> Result:
    return Result(container().settlement.bill_preview(principal=ctx.user, ticket_id=ticket_id))


@api.route(
    "/v1/settlements/runs",
    "POST",
    summary="Start (or resume) a month-end settlement run: tiers, bonuses, incentives per party",
    body=PeriodQuery,
    response=SettlementRun,
    status=202,
    errors=(400, 403, 409),
)
def start_run(ctx: Ctx) -> Result:
    return Result(container().settlement_runs.start(principal=ctx.user, period=ctx.body.period), status=202)


@api.route(
    "/v1/settlements/runs/{period}",
    "GET",
    summary="A period's run",
    response=SettlementRun,
    errors=(403, 404),
)
def get_run(ctx: Ctx, period: str) -> Result:
    return Result(container().settlement_runs.get(principal=ctx.user, period=period))


@api.route(
    "/v1/settlements/reversals",
    "POST",
    summary="Reverse what a ticket or order posted (refund, chargeback): mirror postings, dated now",
    body=ChargebackCommand,
    response=PostingList,
    status=201,
    errors=(400, 403, 404),
)
def reverse(ctx: Ctx) -> Result:
    return Result(
        PostingList(items=container().settlement.chargeback(principal=ctx.user, command=ctx.body)), status=201
    )
