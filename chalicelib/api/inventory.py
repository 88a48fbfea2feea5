"""/v1/parts (catalogue, stock, transfers, low stock) and a ticket's part reservations."""

from __future__ import annotations

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.schemas import PageQuery
from chalicelib.bootstrap import container
from chalicelib.domain.inventory import StockChange, TransferCommand
from chalicelib.services.inventory import (
    LowStockList,
    PartDraft,
    PartList,
    PartView,
    ReservationList,
    ReserveCommand,
)

api = Api(__name__, tag="inventory")
bp = api.blueprint


@api.route(
    "/v1/parts/{sku}",
    "PUT",
    summary="Create or edit a catalogue part (body.version: the version read, 0 for a new part)",
    body=PartDraft,
    response=PartView,
    errors=(400, 403, 409),
)
def put_part(ctx: Ctx, sku: str) -> Result:
    return Result(container().inventory.put_part(principal=ctx.user, sku=sku, draft=ctx.body))


@api.route("/v1/parts", "GET", summary="The parts catalogue", query=PageQuery, response=PartList)
def list_parts(ctx: Ctx) -> Result:
    page = container().inventory.list_parts(
        principal=ctx.user, limit=ctx.query.limit, cursor=ctx.query.cursor
    )
    return Result(PartList(items=page.items, next_cursor=page.next_cursor))


@api.route(
    "/v1/parts/low-stock",
    "GET",
    summary="Replenishment requests: parts at or below their threshold",
    response=LowStockList,
)
def low_stock(ctx: Ctx) -> Result:
    return Result(LowStockList(items=container().inventory.low_stock(principal=ctx.user)))


@api.route(
    "/v1/parts/{sku}", "GET", summary="A part with its stock per warehouse", response=PartView, errors=(404,)
)
def get_part(ctx: Ctx, sku: str) -> Result:
    return Result(container().inventory.get_part(principal=ctx.user, sku=sku))


@api.route(
    "/v1/parts/{sku}/stock",
    "POST",
    summary="Goods received (+delta) or written off (−delta) at a warehouse",
    body=StockChange,
    response=PartView,
    errors=(400, 403, 404, 409),
)
def change_stock(ctx: Ctx, sku: str) -> Result:
    return Result(container().inventory.change_stock(principal=ctx.user, sku=sku, change=ctx.body))


@api.route(
    "/v1/parts/{sku}/transfers",
    "POST",
    summary="Move units between warehouses (one transaction; never more than is available)",
    body=TransferCommand,
    response=PartView,
    errors=(400, 403, 404, 409),
)
def transfer(ctx: Ctx, sku: str) -> Result:
    return Result(container().inventory.transfer(principal=ctx.user, sku=sku, command=ctx.body))


@api.route(
    "/v1/tickets/{ticket_id}/parts",
    "POST",
    summary="Reserve parts for a ticket (consumed on completion, released on cancellation)",
    body=ReserveCommand,
    response=ReservationList,
    errors=(400, 403, 404, 409),
)
def reserve(ctx: Ctx, ticket_id: str) -> Result:
    held = container().inventory.reserve(principal=ctx.user, ticket_id=ticket_id, command=ctx.body)
    return Result(ReservationList(items=held))


@api.route(
    "/v1/tickets/{ticket_id}/parts",
    "GET",
    summary="The parts a ticket holds or used",
    response=ReservationList,
    errors=(404,),
)
def reservations(ctx: Ctx, ticket_id: str) -> Result:
    return Result(
        ReservationList(items=container().inventory.reservations(principal=ctx.user, ticket_id=ticket_id))
    )
