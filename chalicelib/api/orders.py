"""Orders: a customer's orders (newest first) and one order with its status history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.schemas import PageQuery
from chalicelib.bootstrap import container
from chalicelib.domain.money import Money
from chalicelib.domain.orders import Order

api = Api(__name__, tag="orders")
bp = api.blueprint


class OrderPublic(BaseModel):
    platform: str
    shop_id: str
    order_id: str
    status: str
    customer_id: str | None
    items: list[dict[str, Any]]
    total_amount: Money | None
    refunded_amount: Money | None
    currency: str
    created_at: datetime | None
    paid_at: datetime | None
    updated_at: datetime
    history: list[dict[str, Any]]

    @classmethod
    def of(cls, o: Order) -> OrderPublic:
        data = o.model_dump(mode="json", exclude={"tenant_id", "version", "buyer_types", "coupons"})
        return cls.model_validate(data)


class OrdersPublic(BaseModel):
    items: list[OrderPublic]
    next_cursor: str | None


@api.route(
    "/v1/customers/{customer_id}/orders",
    "GET",
    summary="A customer's orders, newest first",
    query=PageQuery,
    response=OrdersPublic,
    errors=(400, 404),
)
def customer_orders(ctx: Ctx, customer_id: str) -> Result:
    q: PageQuery = ctx.query
    container().customers.ensure_readable(principal=ctx.user, customer_id=customer_id)
    page = container().orders.for_customer(
        principal=ctx.user, customer_id=customer_id, limit=q.limit, cursor=q.cursor
    )
    return Result(OrdersPublic(items=[OrderPublic.of(o) for o in page.items], next_cursor=page.next_cursor))


@api.route(
    "/v1/orders/{platform}/{order_id}",
    "GET",
    summary="One order and its status history",
    response=OrderPublic,
    errors=(404,),
)
def get_order(ctx: Ctx, platform: str, order_id: str) -> Result:
    return Result(
        OrderPublic.of(container().orders.get(principal=ctx.user, platform=platform, order_id=order_id))
    )
