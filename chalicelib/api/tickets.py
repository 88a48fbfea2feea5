"""/v1/tickets, /v1/ticket-templates and /v1/workflows: work orders, their templates and workflow designer."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from chalice.app import Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.api.rating_page import invalid_link_page, rating_page
from chalicelib.api.schemas import PageQuery
from chalicelib.bootstrap import container
from chalicelib.domain.access import KeyKind
from chalicelib.domain.calendars import BusinessCalendar
from chalicelib.domain.common import NotFoundError
from chalicelib.domain.notifications import (
    Channel,
    Delivery,
    NotificationPolicy,
    NotificationTemplate,
    Subscription,
)
from chalicelib.domain.sla import SlaPolicy
from chalicelib.domain.ticket_templates import TicketTemplate
from chalicelib.domain.tickets import Ticket, TicketSettings
from chalicelib.domain.workflow_stats import MIN_ENTRIES
from chalicelib.domain.workflows import WorkflowDefinition
from chalicelib.services.tickets import H5TicketRequest, TicketDraft, TicketView, TransitionCommand
from chalicelib.services.workflow_stats import MAX_DAYS, WorkflowStatsView

api = Api(__name__, tag="tickets")
bp = api.blueprint


class TicketTemplatesPublic(BaseModel):
    items: list[TicketTemplate]


class WorkflowsPublic(BaseModel):
    items: list[WorkflowDefinition]


class WorkflowQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, description="a published version; default the latest")


class TicketsPublic(BaseModel):
    items: list[Ticket]
    next_cursor: str | None = None


def _ticket(view: TicketView, status: int | None = None) -> Result:
    return Result(view, status=status, headers={"ETag": f'"{view.ticket.version}"'})


@api.route(
    "/v1/ticket-templates",
    "GET",
    summary="Ticket templates: the preset library and the tenant's own",
    response=TicketTemplatesPublic,
)
def list_templates(ctx: Ctx) -> Result:
    return Result(TicketTemplatesPublic(items=container().tickets.templates(principal=ctx.user)))


@api.route(
    "/v1/ticket-templates/{template_id}",
    "GET",
    summary="One ticket template",
    response=TicketTemplate,
    errors=(404,),
)
def get_template(ctx: Ctx, template_id: str) -> Result:
    return Result(container().tickets.template(principal=ctx.user, template_id=template_id))


@api.route(
    "/v1/ticket-templates/{template_id}",
    "PUT",
    summary="Create or edit a ticket template (body.version: the version read, 0 for a new one)",
    body=TicketTemplate,
    response=TicketTemplate,
    errors=(400, 403, 404, 409),
)
def put_template(ctx: Ctx, template_id: str) -> Result:
    template: TicketTemplate = ctx.body
    if template.id != template_id:
        template = template.model_copy(update={"id": template_id})
    return Result(container().tickets.put_template(principal=ctx.user, template=template))


@api.route("/v1/workflows", "GET", summary="Workflows, latest version of each", response=WorkflowsPublic)
def list_workflows(ctx: Ctx) -> Result:
    return Result(WorkflowsPublic(items=container().tickets.workflows(principal=ctx.user)))


@api.route(
    "/v1/workflows",
    "POST",
    summary="Validate and publish a workflow as its next version (every problem is listed on 400)",
    body=WorkflowDefinition,
    response=WorkflowDefinition,
    status=201,
    errors=(400, 403, 409),
)
def publish_workflow(ctx: Ctx) -> Result:
    return Result(container().tickets.publish_workflow(principal=ctx.user, draft=ctx.body))


@api.route(
    "/v1/workflows/{workflow_id}",
    "GET",
    summary="A workflow (latest version, or ?version=)",
    query=WorkflowQuery,
    response=WorkflowDefinition,
    errors=(404,),
)
def get_workflow(ctx: Ctx, workflow_id: str) -> Result:
    q: WorkflowQuery = ctx.query
    return Result(
        container().tickets.workflow(principal=ctx.user, workflow_id=workflow_id, version=q.version)
    )


@api.route(
    "/v1/tickets",
    "POST",
    summary="Open a ticket from a template (fields validated by it; urgency keywords raise the priority)",
    body=TicketDraft,
    response=TicketView,
    status=201,
    errors=(400, 403, 404),
)
def create_ticket(ctx: Ctx) -> Result:
    view = container().tickets.create(principal=ctx.user, draft=ctx.body)
    result = _ticket(view, 201)
    result.headers["Location"] = f"/v1/tickets/{view.ticket.id}"
    return result


class OpenTicketsQuery(PageQuery):
    assignee: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:@-]+$",
        description='"me" (my work queue), "unassigned" (nobody took it yet) or a user id; all when absent',
    )


@api.route(
    "/v1/tickets",
    "GET",
    summary="Open tickets in the caller's data scope, nearest resolution deadline first",
    query=OpenTicketsQuery,
    response=TicketsPublic,
    errors=(400, 403),
)
def open_tickets(ctx: Ctx) -> Result:
    q: OpenTicketsQuery = ctx.query
    page = container().tickets.open_tickets(
        principal=ctx.user, assignee=q.assignee, limit=q.limit, cursor=q.cursor
    )
    return Result(TicketsPublic(items=page.items, next_cursor=page.next_cursor))


@api.route(
    "/v1/tickets/{ticket_id}",
    "GET",
    summary="A ticket, its newest history and the actions the caller may take",
    response=TicketView,
    errors=(404,),
)
def get_ticket(ctx: Ctx, ticket_id: str) -> Result:
    return _ticket(container().tickets.get(principal=ctx.user, ticket_id=ticket_id))


@api.route(
    "/v1/tickets/{ticket_id}/transitions",
    "POST",
    summary="Take a workflow action (409 lists the allowed actions; 403 names who may act)",
    body=TransitionCommand,
    response=TicketView,
    errors=(400, 403, 404, 409),
)
def transition_ticket(ctx: Ctx, ticket_id: str) -> Result:
    return _ticket(container().tickets.transition(principal=ctx.user, ticket_id=ticket_id, command=ctx.body))


@api.route(
    "/v1/customers/{customer_id}/tickets",
    "GET",
    summary="A customer's tickets, newest first",
    query=PageQuery,
    response=TicketsPublic,
    errors=(400, 404),
)
def customer_tickets(ctx: Ctx, customer_id: str) -> Result:
    q: PageQuery = ctx.query
    page = container().tickets.for_customer(
        principal=ctx.user, customer_id=customer_id, limit=q.limit, cursor=q.cursor
    )
    return Result(TicketsPublic(items=page.items, next_cursor=page.next_cursor))


class SlaPoliciesPublic(BaseModel):
    items: list[SlaPolicy]


class CalendarsPublic(BaseModel):
    items: list[BusinessCalendar]


class SlaClockCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["pause", "resume", "customer_message", "agent_response"]


@api.route(
    "/v1/sla-policies",
    "GET",
    summary="SLA policies: presets and the tenant's own",
    response=SlaPoliciesPublic,
)
def list_sla_policies(ctx: Ctx) -> Result:
    return Result(SlaPoliciesPublic(items=container().sla.policies(principal=ctx.user)))


@api.route(
    "/v1/sla-policies/{policy_id}",
    "PUT",
    summary="Create or replace an SLA policy (targets per priority, milestones)",
    body=SlaPolicy,
    response=SlaPolicy,
    errors=(400, 403),
)
def put_sla_policy(ctx: Ctx, policy_id: str) -> Result:
    policy: SlaPolicy = ctx.body.model_copy(update={"id": policy_id})
    return Result(container().sla.put_policy(principal=ctx.user, policy=policy))


@api.route(
    "/v1/calendars",
    "GET",
    summary="Business calendars: presets and the tenant's own",
    response=CalendarsPublic,
)
def list_calendars(ctx: Ctx) -> Result:
    return Result(CalendarsPublic(items=container().sla.calendars(principal=ctx.user)))


@api.route(
    "/v1/calendars/{calendar_id}",
    "PUT",
    summary="Create or replace a business calendar (open tickets' deadlines are recomputed)",
    body=BusinessCalendar,
    response=BusinessCalendar,
    errors=(400, 403),
)
def put_calendar(ctx: Ctx, calendar_id: str) -> Result:
    calendar: BusinessCalendar = ctx.body.model_copy(update={"id": calendar_id})
    return Result(container().sla.put_calendar(principal=ctx.user, calendar=calendar))


@api.route(
    "/v1/tickets/{ticket_id}/sla",
    "POST",
    summary="The SLA clock: pause / resume (waiting on the customer), customer_message, agent_response",
    body=SlaClockCommand,
    response=TicketView,
    errors=(400, 403, 404, 409),
)
def sla_clock(ctx: Ctx, ticket_id: str) -> Result:
    return _ticket(
        container().tickets.sla_event(principal=ctx.user, ticket_id=ticket_id, action=ctx.body.action)
    )


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)


class RatingAccepted(BaseModel):
    ticket_id: str
    score: int
    thanks: str = "感谢您的评价"


@api.route(
    "/v1/tickets/{ticket_id}/rating",
    "POST",
    summary="Record the customer's rating of a closed ticket (1–5; 2 or less opens a follow-up ticket)",
    body=RatingIn,
    response=TicketView,
    errors=(400, 403, 404, 409),
)
def rate_ticket(ctx: Ctx, ticket_id: str) -> Result:
    body: RatingIn = ctx.body
    return _ticket(
        container().tickets.rate(
            principal=ctx.user, ticket_id=ticket_id, score=body.score, comment=body.comment
        )
    )


@api.route(
    "/public/ratings/{token}",
    "POST",
    summary="The customer's own rating, through the signed link of the rating request (no API key)",
    body=RatingIn,
    response=RatingAccepted,
    auth=False,
    errors=(400, 404, 409),
)
def rate_by_link(ctx: Ctx, token: str) -> Result:
    body: RatingIn = ctx.body
    ticket = container().tickets.rate_by_token(token=token, score=body.score, comment=body.comment)
    return Result(RatingAccepted(ticket_id=ticket.id, score=body.score))


# A page for the customer's phone, not an API operation (so not in /openapi.json): the rating link opens it,
# and its form posts to the same URL, the route above.
@bp.route("/public/ratings/{token}", methods=["GET"])
def rating_form(token: str) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
    }
    try:
        ticket = container().tickets.ticket_by_rating_link(token=token)
    except NotFoundError:  # the customer sees a page, not a JSON error
        return Response(body=invalid_link_page(), status_code=404, headers=headers)
    return Response(body=rating_page(ticket), status_code=200, headers=headers)


class DeliveriesPublic(BaseModel):
    items: list[Delivery]


@api.route(
    "/v1/tickets/{ticket_id}/notifications",
    "GET",
    summary="The ticket's notification log: each delivery, its channel, attempts and status",
    response=DeliveriesPublic,
    errors=(404,),
)
def ticket_notifications(ctx: Ctx, ticket_id: str) -> Result:
    container().tickets.get(principal=ctx.user, ticket_id=ticket_id)  # readable by the caller, or 404
    return Result(
        DeliveriesPublic(items=container().notifications.log_for_ticket(ctx.user.tenant_id, ticket_id))
    )


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="default: the ticket's customer"
    )
    channels: list[Channel] = Field(default_factory=list, description="empty: the default order")
    events: list[str] = Field(default_factory=list, description="empty: every ticket event")
    active: bool = Field(default=True, description="false unsubscribes")


@api.route(
    "/v1/tickets/{ticket_id}/subscriptions",
    "POST",
    summary="Subscribe a customer to a ticket's progress (or unsubscribe with active=false)",
    body=SubscriptionIn,
    response=Subscription,
    errors=(400, 404),
)
def subscribe(ctx: Ctx, ticket_id: str) -> Result:
    body: SubscriptionIn = ctx.body
    return Result(
        container().ticket_subscriptions.subscribe(
            principal=ctx.user,
            ticket_id=ticket_id,
            customer_id=body.customer_id,
            channels=body.channels,
            events=body.events,
            active=body.active,
        )
    )


# -- per-step workflow statistics ----------------------------------------------------------------------
class WorkflowStatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, description="a published version; default the latest")
    days: int = Field(default=30, ge=1, le=MAX_DAYS, description="the last N days (UTC), today included")
    threshold: Decimal | None = Field(
        default=None,
        ge=0,
        le=1,
        description="drop-off rate above which a step raises an alert (0–1); default the tenant's setting "
        "(GET /v1/ticket-settings: dropoff_threshold, 0.15 unless changed)",
    )
    min_entries: int = Field(
        default=MIN_ENTRIES, ge=1, description="steps with fewer entries in the period raise no alert"
    )


@api.route(
    "/v1/workflows/{workflow_id}/stats",
    "GET",
    summary="Per-step statistics of a workflow version: entries, exits, median and p90 time in the step, "
    "drop-off rate, and alerts for steps whose drop-off is above the threshold",
    query=WorkflowStatsQuery,
    response=WorkflowStatsView,
    errors=(400, 403, 404),
)
def workflow_stats(ctx: Ctx, workflow_id: str) -> Result:
    q: WorkflowStatsQuery = ctx.query
    return Result(
        container().workflow_stats.stats(
            principal=ctx.user,
            workflow_id=workflow_id,
            version=q.version,
            days=q.days,
            threshold=q.threshold
            if q.threshold is not None
            else container().tickets.settings(principal=ctx.user).dropoff_threshold,
            min_entries=q.min_entries,
        )
    )


@api.route("/v1/ticket-settings", "GET", summary="Ticket settings: urgency keywords", response=TicketSettings)
def get_ticket_settings(ctx: Ctx) -> Result:
    return Result(container().tickets.settings(principal=ctx.user))


@api.route(
    "/v1/ticket-settings",
    "PUT",
    summary="Set the words that make a ticket urgent (e.g. 漏水, 冒烟, 投诉): urgent tickets skip triage",
    body=TicketSettings,
    response=TicketSettings,
    errors=(400, 403),
)
def put_ticket_settings(ctx: Ctx) -> Result:
    return Result(container().tickets.put_settings(principal=ctx.user, settings=ctx.body))


@api.route(
    "/v1/h5/tickets",
    "POST",
    summary="A customer's own request from an H5 page or mini program (sent by the tenant's H5 backend "
    "with an integration key)",
    body=H5TicketRequest,
    response=TicketView,
    status=201,
    errors=(400, 403, 404),
    key=KeyKind.INTEGRATION,
)
def h5_ticket(ctx: Ctx) -> Result:
    return _ticket(container().tickets.from_h5(principal=ctx.user, request=ctx.body), 201)


class NotificationTemplatesPublic(BaseModel):
    items: list[NotificationTemplate]


@api.route(
    "/v1/notification-templates",
    "GET",
    summary="The texts in force per event and channel (the tenant's own over the built-in ones)",
    response=NotificationTemplatesPublic,
)
def list_notification_templates(ctx: Ctx) -> Result:
    return Result(
        NotificationTemplatesPublic(items=container().notifications.templates_of(principal=ctx.user))
    )


@api.route(
    "/v1/notification-templates",
    "PUT",
    summary="Set the tenant's text for one event and channel ({var} placeholders; SMS/voice: approved codes)",
    body=NotificationTemplate,
    response=NotificationTemplate,
    errors=(400, 403),
)
def put_notification_template(ctx: Ctx) -> Result:
    return Result(container().notifications.put_template(principal=ctx.user, template=ctx.body))


@api.route(
    "/v1/notification-policy",
    "GET",
    summary="Quiet hours, retries and subscription rules",
    response=NotificationPolicy,
)
def get_notification_policy(ctx: Ctx) -> Result:
    return Result(container().notifications.policy_of(principal=ctx.user))


@api.route(
    "/v1/notification-policy",
    "PUT",
    summary="Set quiet hours (customers by default), retries and whether customers must subscribe first",
    body=NotificationPolicy,
    response=NotificationPolicy,
    errors=(400, 403),
)
def put_notification_policy(ctx: Ctx) -> Result:
    return Result(container().notifications.put_policy(principal=ctx.user, policy=ctx.body))
