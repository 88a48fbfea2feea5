"""/v1/staff, /v1/assignment-queue, /v1/assignment-weights and the manual assignment of tickets (reassign by
a manager, claim by an engineer)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.bootstrap import container
from chalicelib.domain.assignment import AssignmentWeights
from chalicelib.services.assignment import (
    AssignmentOutcome,
    AssignmentService,
    QueueList,
    StaffList,
    StaffProfileDraft,
)
from chalicelib.services.ports import StaffRecord

api = Api(__name__, tag="assignment")
bp = api.blueprint


class AssignCommand(BaseModel):
    """POST /v1/tickets/{id}/assign."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


def _service() -> AssignmentService:
    return container().assignment


@api.route(
    "/v1/staff", "GET", summary="Staff profiles in the caller's scope, with their loads", response=StaffList
)
def list_staff(ctx: Ctx) -> Result:
    return Result(StaffList(items=_service().list_staff(principal=ctx.user)))


@api.route(
    "/v1/staff/{user_id}",
    "PUT",
    summary="Create or edit a staff profile (body.version: the version read, 0 for a new one)",
    body=StaffProfileDraft,
    response=StaffRecord,
    errors=(400, 403, 404, 409),
)
def put_staff(ctx: Ctx, user_id: str) -> Result:
    record = _service().put_staff(principal=ctx.user, user_id=user_id, draft=ctx.body)
    return Result(record, headers={"ETag": f'"{record.version}"'})


@api.route(
    "/v1/tickets/{ticket_id}/assign",
    "POST",
    summary="Assign a ticket to someone (managers and admins; may exceed their capacity)",
    body=AssignCommand,
    response=AssignmentOutcome,
    errors=(400, 403, 404, 409),
)
def assign_ticket(ctx: Ctx, ticket_id: str) -> Result:
    command: AssignCommand = ctx.body
    return Result(
        _service().reassign(
            principal=ctx.user, ticket_id=ticket_id, user_id=command.user_id, reason=command.reason
        )
    )


@api.route(
    "/v1/tickets/{ticket_id}/claim",
    "POST",
    summary="An engineer takes a queued ticket (403 lists why they cannot)",
    response=AssignmentOutcome,
    errors=(403, 404, 409),
)
def claim_ticket(ctx: Ctx, ticket_id: str) -> Result:
    return Result(_service().claim(principal=ctx.user, ticket_id=ticket_id))


@api.route(
    "/v1/assignment-queue",
    "GET",
    summary="Tickets waiting for someone with room, oldest first",
    response=QueueList,
)
def assignment_queue(ctx: Ctx) -> Result:
    return Result(QueueList(items=_service().queue(principal=ctx.user)))


@api.route(
    "/v1/assignment-weights",
    "GET",
    summary="The tenant's assignment weights (the defaults until set)",
    response=AssignmentWeights,
)
def get_weights(ctx: Ctx) -> Result:
    return Result(_service().weights(principal=ctx.user))


@api.route(
    "/v1/assignment-weights",
    "PUT",
    summary="Set the tenant's assignment weights (admins)",
    body=AssignmentWeights,
    response=AssignmentWeights,
    errors=(400, 403),
)
def put_weights(ctx: Ctx) -> Result:
    return Result(_service().put_weights(principal=ctx.user, weights=ctx.body))
