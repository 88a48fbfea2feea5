"""/v1/price-rules, /v1/price-modifiers and /v1/quotes: region price strategies and itemised quotes."""

from __future__ import annotations

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.schemas import PageQuery
from chalicelib.bootstrap import container
from chalicelib.domain.billing import RegionCoefficient
from chalicelib.domain.price_book import IssuedQuote
from chalicelib.domain.pricing import Modifier, PriceRule
from chalicelib.services.pricing import (
    CoefficientDraft,
    CoefficientList,
    ModifierDraft,
    ModifierList,
    PriceRuleDraft,
    PriceRuleList,
    QuoteCommand,
)

api = Api(__name__, tag="pricing")
bp = api.blueprint


@api.route(
    "/v1/price-rules",
    "POST",
    summary="Publish a price rule, or the next version of one (never retroactive; versions are immutable)",
    body=PriceRuleDraft,
    response=PriceRule,
    status=201,
    errors=(400, 403, 409),
)
def publish_rule(ctx: Ctx) -> Result:
    return Result(container().pricing.publish_rule(principal=ctx.user, draft=ctx.body), status=201)


@api.route(
    "/v1/price-rules",
    "GET",
    summary="Every version of every price rule, by item",
    query=PageQuery,
    response=PriceRuleList,
)
def list_rules(ctx: Ctx) -> Result:
    page = container().pricing.list_rules(principal=ctx.user, limit=ctx.query.limit, cursor=ctx.query.cursor)
    return Result(PriceRuleList(items=page.items, next_cursor=page.next_cursor))


@api.route(
    "/v1/price-modifiers",
    "POST",
    summary="Publish a promotion, seasonal or rush surcharge, or member discount (or its next version)",
    body=ModifierDraft,
    response=Modifier,
    status=201,
    errors=(400, 403, 409),
)
def publish_modifier(ctx: Ctx) -> Result:
    return Result(container().pricing.publish_modifier(principal=ctx.user, draft=ctx.body), status=201)


@api.route("/v1/price-modifiers", "GET", summary="Every version of every modifier", response=ModifierList)
def list_modifiers(ctx: Ctx) -> Result:
    return Result(ModifierList(items=container().pricing.list_modifiers(principal=ctx.user)))


@api.route(
    "/v1/quotes",
    "POST",
    summary="An itemised, explained quote for a cart or a ticket; as_of re-quotes any past moment",
    body=QuoteCommand,
    response=IssuedQuote,
    status=201,
    errors=(400, 403, 404),
)
def create_quote(ctx: Ctx) -> Result:
    return Result(container().pricing.quote(principal=ctx.user, command=ctx.body), status=201)


@api.route(
    "/v1/quotes/{quote_id}", "GET", summary="An issued quote, as issued", response=IssuedQuote, errors=(404,)
)
def get_quote(ctx: Ctx, quote_id: str) -> Result:
    return Result(container().pricing.get_quote(principal=ctx.user, quote_id=quote_id))


@api.route(
    "/v1/depreciation-coefficients",
    "POST",
    summary="Publish a region's depreciation coefficient on out-of-warranty parts (or its next version)",
    body=CoefficientDraft,
    response=RegionCoefficient,
    status=201,
    errors=(400, 403, 409),
)
def publish_coefficient(ctx: Ctx) -> Result:
    return Result(container().pricing.publish_coefficient(principal=ctx.user, draft=ctx.body), status=201)


@api.route(
    "/v1/depreciation-coefficients",
    "GET",
    summary="Every version of every coefficient",
    response=CoefficientList,
)
def list_coefficients(ctx: Ctx) -> Result:
    return Result(CoefficientList(items=container().pricing.list_coefficients(principal=ctx.user)))
