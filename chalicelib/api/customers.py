"""/v1/customers: create, the 360 view, update, tags, lists, identity lookup, timeline."""

from __future__ import annotations

from urllib.parse import unquote

from chalicelib.api.http import Api, Ctx, Result, if_match_version
from chalicelib.api.schemas import (
    Customer360Public,
    CustomerCreate,
    CustomerListQuery,
    CustomerPublic,
    CustomersPublic,
    CustomerUpdate,
    PageQuery,
    TagsAdd,
    TimelineEventPublic,
    TimelinePublic,
)
from chalicelib.bootstrap import container
from chalicelib.domain.access import Permission
from chalicelib.services.customers import CustomerView

api = Api(__name__, tag="customers")
bp = api.blueprint


def _customer(view: CustomerView, status: int | None = None) -> Result:
    return Result(CustomerPublic.of(view), status=status, headers={"ETag": f'"{view.customer.version}"'})


@api.route(
    "/v1/customers",
    "POST",
    summary="Create a customer",
    body=CustomerCreate,
    response=CustomerPublic,
    status=201,
    errors=(400, 403, 409),
)
def create_customer(ctx: Ctx) -> Result:
    view = container().customers.create(principal=ctx.user, draft=ctx.body)
    result = _customer(view)
    result.headers["Location"] = f"/v1/customers/{view.customer.id}"
    return result


@api.route(
    "/v1/customers",
    "GET",
    summary="List customers (by tag, name prefix or phone)",
    query=CustomerListQuery,
    response=CustomersPublic,
    errors=(400,),
)
def list_customers(ctx: Ctx) -> Result:
    q: CustomerListQuery = ctx.query
    page = container().customers.list(principal=ctx.user, tag=q.tag, q=q.q, limit=q.limit, cursor=q.cursor)
    return Result(
        CustomersPublic(items=[CustomerPublic.of(v) for v in page.items], next_cursor=page.next_cursor)
    )


@api.route(
    "/v1/customers/{customer_id}",
    "GET",
    summary="The customer 360 view",
    response=Customer360Public,
    errors=(404,),
)
def get_customer(ctx: Ctx, customer_id: str) -> Result:
    view = container().customers.get_360(principal=ctx.user, customer_id=customer_id)
    tickets = (
        container().tickets.for_customer(
            principal=ctx.user, customer_id=view.customer.id, limit=10, cursor=None
        )
        if ctx.user.has(Permission.TICKETS_READ)
        else None
    )
    public = Customer360Public.of_360(view, tickets.items if tickets else ())
    settlement = container().settlement
    if ctx.user.has(Permission.TICKETS_READ):
        public.bills = [
            {
                "ticket_id": b.ticket_id,
                "completed_on": b.completed_on.isoformat(),
                "total": f"{b.total:.2f}",
                "waived": f"{b.waived:.2f}",
                "summary": b.summary("zh"),
            }
            for b in settlement.bills_of(ctx.user.tenant_id, view.customer.id)
        ]
    public.settlements = [
        {
            "posting_id": p.id,
            "at": p.at.isoformat(),
            "source": p.source.model_dump(mode="json"),
            "amount": f"{p.amount:.2f}",
            "memo": p.memo,
            "reverses": p.reverses,
        }
        for p in settlement.history_of(principal=ctx.user, customer_id=view.customer.id)
    ]
    return Result(public, headers={"ETag": f'"{view.customer.version}"'})


@api.route(
    "/v1/customers/{customer_id}",
    "PATCH",
    summary="Update a customer (If-Match: the version read)",
    body=CustomerUpdate,
    response=CustomerPublic,
    headers=("If-Match",),
    errors=(400, 403, 404, 409, 428),
)
def update_customer(ctx: Ctx, customer_id: str) -> Result:
    view = container().customers.update(
        principal=ctx.user, customer_id=customer_id, patch=ctx.body, if_match=if_match_version(ctx)
    )
    return _customer(view)


@api.route(
    "/v1/customers/{customer_id}/tags",
    "POST",
    summary="Tag a customer",
    body=TagsAdd,
    response=CustomerPublic,
    errors=(400, 403, 404),
)
def tag_customer(ctx: Ctx, customer_id: str) -> Result:
    view = container().customers.add_tags(principal=ctx.user, customer_id=customer_id, refs=ctx.body.tags)
    return _customer(view)


@api.route(
    "/v1/customers/{customer_id}/tags/{tag}",
    "DELETE",
    summary="Remove a tag from a customer",
    response=CustomerPublic,
    errors=(403, 404),
)
def untag_customer(ctx: Ctx, customer_id: str, tag: str) -> Result:
    view = container().customers.remove_tag(principal=ctx.user, customer_id=customer_id, ref=unquote(tag))
    return _customer(view)


@api.route(
    "/v1/customers/{customer_id}/timeline",
    "GET",
    summary="A customer's timeline, newest first",
    query=PageQuery,
    response=TimelinePublic,
    errors=(400, 404),
)
def customer_timeline(ctx: Ctx, customer_id: str) -> Result:
    q: PageQuery = ctx.query
    page = container().customers.timeline(
        principal=ctx.user, customer_id=customer_id, limit=q.limit, cursor=q.cursor
    )
    return Result(
        TimelinePublic(items=[TimelineEventPublic.of(e) for e in page.items], next_cursor=page.next_cursor)
    )


@api.route(
    "/v1/customers/by-identity/{id_type}/{value}",
    "GET",
    summary="Find a customer by an identity",
    response=CustomerPublic,
    errors=(404,),
)
def customer_by_identity(ctx: Ctx, id_type: str, value: str) -> Result:
    view = container().customers.find_by_identity(
        principal=ctx.user, id_type=unquote(id_type), value=unquote(value)
    )
    return _customer(view)
