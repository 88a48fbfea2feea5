"""Ticket assignment on moto: the scored choice written with the ticket in one transaction, staff loads
kept exact, the waiting queue drained as tickets close, reopened tickets, races, manual assignment, and
the DynamoDB requests one automatic assignment costs."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.domain.access import Principal, Role, Scope
from chalicelib.domain.assignment import QueueReason
from chalicelib.domain.common import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from chalicelib.domain.customers import CustomerDraft
from chalicelib.domain.tickets import Ticket
from chalicelib.services.assignment import (
    AssignmentService,
    OutcomeStatus,
    StaffProfileDraft,
    TemplateCatalog,
)
from chalicelib.services.ports import TicketSnapshot
from chalicelib.services.tenants import UserDraft
from chalicelib.services.tickets import TicketDraft, TicketService, TransitionCommand
from chalicelib.store.assignments import DynamoAssignmentStore
from chalicelib.store.staff import COUNTERS, DynamoStaffRepository
from tests.fakes.clock import FrozenClock
from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys

# The frozen clock says Monday 2026-11-23 09:00 UTC = 17:00 in Shanghai.
DAY = {d: [(time(8), time(20))] for d in range(7)}
NIGHT = {d: [(time(20), time(23))] for d in range(7)}


def build_service(c: bootstrap.Container, store: DynamoAssignmentStore | None = None) -> AssignmentService:
    return AssignmentService(
        staff=DynamoStaffRepository(cipher=c.cipher),
        store=store or DynamoAssignmentStore(),
        customers=c.customer_repo,
        users=c.tenant_repo,
        template_of=TemplateCatalog(c.ticket_repo),
        clock=c.clock,
    )


@pytest.fixture
def service(container: bootstrap.Container) -> AssignmentService:
    return build_service(container)


class World:
    def __init__(self, c: bootstrap.Container, tenant: TenantKeys, service: AssignmentService) -> None:
        self.c, self.tenant, self.service = c, tenant, service
        self.staff = DynamoStaffRepository(cipher=c.cipher)
        # Its own TicketService: the container's also wires SLA timers, which are not the point here.
        self.tickets = TicketService(
            tickets=c.ticket_repo, customers=c.customer_repo, publisher=c.publisher, clock=c.clock
        )

    def who(self, role: str) -> Principal:
        return self.c.tenants.authenticate(f"Bearer {self.tenant.keys[role]}")

    def engineer(self, name: str, *, user_id: str | None = None, **profile: Any) -> str:
        """A staff profile (for a new engineer user unless `user_id` is given)."""
        if user_id is None:
            draft = UserDraft(name=name, role=Role.ENGINEER, scope=Scope.parse("all"))
            issued = self.c.tenants.create_user(tenant_id=self.tenant.tenant_id, draft=draft)
            user_id = issued.user.id
            self.tenant.keys[name], self.tenant.user_ids[name] = issued.api_key, user_id
        fields = {"region": "华东", "skills": {"appliance_repair": 3}, "shifts": DAY, **profile}
        self.service.put_staff(
            principal=self.who("admin"), user_id=user_id, draft=StaffProfileDraft.model_validate(fields)
        )
        return user_id

    def edit(self, user_id: str, **changes: Any) -> None:
        record = self.staff.get(self.tenant.tenant_id, user_id)
        assert record is not None
        data = record.profile.model_dump(exclude={"user_id", *COUNTERS})
        draft = StaffProfileDraft.model_validate({**data, **changes, "version": record.version})
        self.service.put_staff(principal=self.who("admin"), user_id=user_id, draft=draft)

    def ticket(self, region: str = "华东", customer_id: str | None = None) -> str:
        draft = TicketDraft(
            template_id="repair",
            fields={"fault_description": "不制冷"},
            region=region,
            customer_id=customer_id,
        )
        view = self.tickets.create(principal=self.who("agent_all"), draft=draft)
        assert isinstance(self.c.clock, FrozenClock)
        self.c.clock.advance(minutes=1)  # distinct creation and queue times: a stable oldest-first order
        return view.ticket.id

    def act(self, ticket_id: str, role: str, action: str) -> Ticket:
        cmd = TransitionCommand(action=action)
        return self.tickets.transition(principal=self.who(role), ticket_id=ticket_id, command=cmd).ticket

    def get(self, ticket_id: str) -> Ticket:
        found = self.c.ticket_repo.get(self.tenant.tenant_id, ticket_id)
        assert found is not None
        return found

    def assignee(self, ticket_id: str) -> str | None:
        t = self.get(ticket_id)
        return t.assignment.assignee_id if t.assignment else None

    def load(self, user_id: str) -> int:
        record = self.staff.get(self.tenant.tenant_id, user_id)
        assert record is not None
        return record.profile.open_load

    def history(self, ticket_id: str) -> list[Any]:
        found = self.c.ticket_repo.get_with_history(self.tenant.tenant_id, ticket_id, 50)
        assert found is not None
        return found[1]

    def queued(self) -> list[str]:
        return [q.ticket_id for q in self.service.queue(principal=self.who("admin"))]


@pytest.fixture
def world(container: bootstrap.Container, tenant: TenantKeys, service: AssignmentService) -> World:
    return World(container, tenant, service)


def test_auto_assign_picks_the_best_engineer_of_the_region_and_keeps_the_breakdown(world: World):
    expert = world.engineer("expert", skills={"appliance_repair": 4})
    world.engineer("junior", skills={"appliance_repair": 2})
    world.engineer("north", region="华北", skills={"appliance_repair": 5})
    world.engineer("asleep", skills={"appliance_repair": 5}, shifts=NIGHT)
    tid = world.ticket()

    outcome = world.service.auto_assign(world.tenant.tenant_id, tid)

    assert outcome.status is OutcomeStatus.ASSIGNED and outcome.assignee_id == expert
    assert outcome.decision is not None and outcome.decision.eligible_count == 2
    ticket = world.get(tid)
    assert ticket.assignment is not None and ticket.assignment.by == "engine"
    score = ticket.assignment.score
    assert score is not None
    # region 3 + load 4 (empty) + skill (4-2)/4 × 2 = 1 + rating prior (3-1)/4 × 2 = 1
    assert {k: score[k] for k in ("user_id", "region", "skill", "load", "rating", "total")} == {
        "user_id": expert,
        "region": "3.0000",
        "skill": "1.0000",
        "load": "4.0000",
        "rating": "1.0000",
        "total": "9.0000",
    }
    assert score["ranking"][0]["user_id"] == expert
    newest = world.history(tid)[0]
    assert newest.action == "assign" and newest.actor_id == "engine"
    assert newest.fields["assignee_id"] == expert and newest.fields["score"]["total"] == "9.0000"
    assert ticket.version == 2 and world.load(expert) == 1

    again = world.service.auto_assign(world.tenant.tenant_id, tid)  # idempotent
    assert again.status is OutcomeStatus.UNCHANGED and world.load(expert) == 1 and world.get(tid).version == 2


def test_loads_go_up_with_assignments_and_down_once_per_release(world: World):
    eng = world.engineer("eng", capacity=3)
    t1, t2 = world.ticket(), world.ticket()
    for t in (t1, t2):
        world.service.auto_assign(world.tenant.tenant_id, t)
    assert world.load(eng) == 2
    world.act(t1, "agent_all", "cancel")

    first = world.service.release(world.tenant.tenant_id, t1)
    second = world.service.release(world.tenant.tenant_id, t1)  # a redelivered close event

    assert first.released_from == eng and second.released_from is None
    assert world.load(eng) == 1
    # Editing the profile never clobbers the live load.
    world.edit(eng, capacity=5, senior=True)
    assert world.load(eng) == 1


def test_a_full_engineer_queues_tickets_and_a_release_assigns_the_oldest(world: World):
    eng = world.engineer("eng", capacity=1)
    t1, t2, t3 = world.ticket(), world.ticket(), world.ticket()
    assert world.service.auto_assign(world.tenant.tenant_id, t1).assignee_id == eng
    queued = world.service.auto_assign(world.tenant.tenant_id, t2)
    assert queued.status is OutcomeStatus.QUEUED and queued.queue_reason is QueueReason.CAPACITY
    world.service.auto_assign(world.tenant.tenant_id, t3)
    world.service.auto_assign(world.tenant.tenant_id, t2)  # queueing twice keeps its place
    assert world.queued() == [t2, t3]
    assert world.assignee(t2) is None

    world.act(t1, "agent_all", "cancel")
    with count_requests() as counted:
        released = world.service.release(world.tenant.tenant_id, t1)

    assert [(o.ticket_id, o.assignee_id) for o in released.drained] == [(t2, eng)]
    assert world.assignee(t2) == eng and world.assignee(t3) is None
    assert world.queued() == [t3]
    assert world.load(eng) == 1
    assert world.history(t2)[0].comment == "from the queue"
    # release: BatchGet + TransactWrite; drain: Query queue (GSI2) + Query roster, then per assignment
    # BatchGet + TransactWrite
    assert dict(counted.calls) == {"BatchGetItem": 2, "TransactWriteItems": 2, "Query": 2}


def test_a_reopened_ticket_goes_to_someone_else_when_its_engineer_is_off_shift(world: World):
    first = world.engineer("first", skills={"appliance_repair": 5})
    other = world.engineer("other", skills={"appliance_repair": 2})
    tid = world.ticket()
    assert world.service.auto_assign(world.tenant.tenant_id, tid).assignee_id == first
    for role, action in (("agent_all", "accept"), ("agent_all", "assign"), ("first", "resolve")):
        world.act(tid, role, action)  # the engineer the ticket is assigned to resolves it
    assert world.act(tid, "agent_all", "confirm").status == "closed"
    world.service.release(world.tenant.tenant_id, tid)
    assert world.load(first) == 0
    world.edit(first, shifts=NIGHT)

    world.act(tid, "agent_all", "reopen")
    outcome = world.service.auto_assign(world.tenant.tenant_id, tid)

    assert outcome.status is OutcomeStatus.ASSIGNED and outcome.assignee_id == other
    assert world.load(other) == 1 and world.load(first) == 0
    assert world.history(tid)[0].fields["previous_assignee_id"] == first


def test_a_reopened_ticket_stays_with_its_engineer_while_they_can_take_it(world: World):
    first = world.engineer("first", skills={"appliance_repair": 2})
    world.engineer("better", skills={"appliance_repair": 5}, capacity=0)  # full for now
    tid = world.ticket()
    assert world.service.auto_assign(world.tenant.tenant_id, tid).assignee_id == first
    world.service.release(world.tenant.tenant_id, tid)  # closed (the workflow is not the point here)
    world.edit(world.tenant.user_ids["better"], capacity=5)

    outcome = world.service.auto_assign(world.tenant.tenant_id, tid)

    assert outcome.assignee_id == first and world.load(first) == 1
    assert world.history(tid)[0].comment == "reopened"


class RacingStore(DynamoAssignmentStore):
    """Lets another worker assign the same ticket between this worker's read and its write."""

    def __init__(self, rival: AssignmentService) -> None:
        self.rival = rival
        self.raced = False

    def snapshot(self, tenant_id: str, ticket_id: str) -> TicketSnapshot | None:
        snap = super().snapshot(tenant_id, ticket_id)
        if not self.raced:
            self.raced = True
            assert self.rival.auto_assign(tenant_id, ticket_id).status is OutcomeStatus.ASSIGNED
        return snap


def test_concurrent_auto_assign_assigns_once_and_counts_the_load_once(
    world: World, container: bootstrap.Container
):
    a = world.engineer("a", skills={"appliance_repair": 4})
    world.engineer("b", skills={"appliance_repair": 4})
    tid = world.ticket()
    racer = build_service(container, RacingStore(build_service(container)))

    outcome = racer.auto_assign(world.tenant.tenant_id, tid)

    assert outcome.status is OutcomeStatus.UNCHANGED  # lost the race, re-read, found it done
    assert world.assignee(tid) == a
    assert [h.action for h in world.history(tid)] == ["assign", "create"]
    assert world.load(a) == 1 and world.load(world.tenant.user_ids["b"]) == 0


def test_a_full_engineer_is_not_overfilled_by_a_race(world: World, container: bootstrap.Container):
    eng = world.engineer("eng", capacity=1)
    t1, t2 = world.ticket(), world.ticket()

    class FillFirst(DynamoAssignmentStore):
        done = False

        def snapshot(self, tenant_id: str, ticket_id: str) -> TicketSnapshot | None:
            snap = super().snapshot(tenant_id, ticket_id)
            if not self.done:
                self.done = True
                build_service(container).auto_assign(tenant_id, t1)  # takes the last slot meanwhile
            return snap

    outcome = build_service(container, FillFirst()).auto_assign(world.tenant.tenant_id, t2)

    assert outcome.status is OutcomeStatus.QUEUED
    assert world.load(eng) == 1 and world.assignee(t1) == eng and world.queued() == [t2]


def test_reassign_is_for_managers_in_scope_and_may_exceed_capacity(world: World):
    a = world.engineer("a", skills={"appliance_repair": 4})
    b = world.engineer("b", skills={"appliance_repair": 2}, capacity=0)
    north = world.engineer("north", region="华北")
    tid = world.ticket()
    world.service.auto_assign(world.tenant.tenant_id, tid)
    for role in ("agent_all", "engineer"):
        with pytest.raises(ForbiddenError):
            world.service.reassign(principal=world.who(role), ticket_id=tid, user_id=b, reason="busy")
    with pytest.raises(InvalidInputError) as err:
        world.service.reassign(principal=world.who("admin"), ticket_id=tid, user_id=north, reason="x")
    assert err.value.details == [{"field": "user_id", "message": "region_mismatch"}]
    hidden = world.ticket(region="华北")
    with pytest.raises(NotFoundError):  # outside manager_east's region
        world.service.reassign(
            principal=world.who("manager_east"), ticket_id=hidden, user_id=north, reason="x"
        )

    outcome = world.service.reassign(
        principal=world.who("manager_east"), ticket_id=tid, user_id=b, reason="客户指定"
    )

    assert outcome.assignee_id == b and world.assignee(tid) == b
    assert world.load(a) == 0 and world.load(b) == 1  # over capacity by a manager's decision
    entry = world.history(tid)[0]
    assert entry.actor_id == world.tenant.user_ids["manager_east"] and entry.comment == "客户指定"
    assert entry.fields["previous_assignee_id"] == a


def test_an_engineer_claims_a_queued_ticket_when_eligible(world: World):
    me = world.engineer("engineer", user_id=world.tenant.user_ids["engineer"], active=False)
    tid = world.ticket()
    assert world.service.auto_assign(world.tenant.tenant_id, tid).status is OutcomeStatus.QUEUED
    with pytest.raises(ForbiddenError):
        world.service.claim(principal=world.who("agent_all"), ticket_id=tid)
    with pytest.raises(ForbiddenError) as err:  # inactive: not eligible
        world.service.claim(principal=world.who("engineer"), ticket_id=tid)
    assert {"field": "ticket", "message": "inactive"} in err.value.details
    world.edit(me, active=True)

    outcome = world.service.claim(principal=world.who("engineer"), ticket_id=tid)

    assert outcome.assignee_id == me and world.load(me) == 1 and world.queued() == []
    assert world.get(tid).assignment.by == me  # type: ignore[union-attr]
    with pytest.raises(ConflictError):  # no longer queued
        world.service.claim(principal=world.who("engineer"), ticket_id=tid)


def test_staff_profiles_need_a_tenant_user_a_manager_in_scope_and_the_version_read(world: World):
    eng = world.engineer("eng")
    with pytest.raises(NotFoundError):
        world.service.put_staff(principal=world.who("admin"), user_id="usr_nobody", draft=StaffProfileDraft())
    with pytest.raises(ForbiddenError):
        world.service.put_staff(
            principal=world.who("agent_all"), user_id=eng, draft=StaffProfileDraft(version=1)
        )
    with pytest.raises(ForbiddenError):  # manager_east cannot move someone into 华北
        world.service.put_staff(
            principal=world.who("manager_east"),
            user_id=eng,
            draft=StaffProfileDraft(region="华北", version=1),
        )
    with pytest.raises(ConflictError):
        world.service.put_staff(
            principal=world.who("admin"), user_id=eng, draft=StaffProfileDraft(region="华东", version=7)
        )
    world.staff.record_rating(world.tenant.tenant_id, eng, Decimal(5))
    world.service.record_rating(world.tenant.tenant_id, eng, Decimal(4))
    record = world.staff.get(world.tenant.tenant_id, eng)
    assert (
        record is not None and record.profile.rating == Decimal("4.50") and record.profile.ratings_count == 2
    )
    listed = world.service.list_staff(principal=world.who("manager_east"))
    assert [r.profile.user_id for r in listed] == [eng] and listed[0].profile.name == "eng"


def test_one_auto_assign_costs_four_requests(world: World, container: bootstrap.Container):
    world.engineer("eng")
    senior = world.engineer("senior", senior=True)
    customer = container.customers.create(
        principal=world.who("agent_all"),
        draft=CustomerDraft(name="王芳", region="华东", tags=[], attributes={"vip": True}),
    )
    tid = world.ticket(customer_id=customer.customer.id)
    world.service.auto_assign(world.tenant.tenant_id, world.ticket())  # warms the template cache

    with count_requests() as assigned:
        outcome = world.service.auto_assign(world.tenant.tenant_id, tid)
    assert outcome.assignee_id == senior  # the customer is a VIP (attributes.vip): seniors first
    assert outcome.decision is not None and outcome.decision.breakdown is not None
    assert outcome.decision.breakdown.vip_senior == Decimal("3.0000")
    assert dict(assigned.calls) == {"BatchGetItem": 1, "GetItem": 1, "Query": 1, "TransactWriteItems": 1}

    with count_requests() as unchanged:
        world.service.auto_assign(world.tenant.tenant_id, tid)
    assert dict(unchanged.calls) == {"BatchGetItem": 1}

    world.edit(world.tenant.user_ids["eng"], active=False)
    world.edit(senior, active=False)
    waiting = world.ticket()
    with count_requests() as queued:
        assert world.service.auto_assign(world.tenant.tenant_id, waiting).status is OutcomeStatus.QUEUED
    assert dict(queued.calls) == {"BatchGetItem": 1, "Query": 1, "TransactWriteItems": 1}


# -- the HTTP routes ---------------------------------------------------------------------------------------
@pytest.fixture
def staff_api(api: Api) -> Api:
    return api


def test_the_routes(staff_api: Api, world: World, tenant: TenantKeys):
    eng = tenant.user_ids["engineer"]
    body = {"region": "华东", "skills": {"appliance_repair": 3}, "shifts": {"0": [["08:00", "20:00"]]}}
    put = staff_api.call("PUT", f"/v1/staff/{eng}", tenant, body)
    assert put.status_code == 200, put.data
    assert put.data["version"] == 1 and put.headers["ETag"] == '"1"'
    bad = staff_api.call("PUT", f"/v1/staff/{eng}", tenant, {"timezone": "Mars/Olympus"})
    assert bad.status_code == 400
    assert staff_api.call("PUT", f"/v1/staff/{eng}", tenant, body, role="agent_all").status_code == 403
    listed = staff_api.call("GET", "/v1/staff", tenant, role="agent_all").data["items"]
    assert [i["profile"]["user_id"] for i in listed] == [eng]

    tid = world.ticket()
    world.edit(eng, active=False)
    world.service.auto_assign(tenant.tenant_id, tid)
    queue = staff_api.call("GET", "/v1/assignment-queue", tenant, role="engineer").data["items"]
    assert [q["ticket_id"] for q in queue] == [tid] and queue[0]["reason"] == "no_eligible_staff"
    world.edit(eng, active=True)
    claimed = staff_api.call("POST", f"/v1/tickets/{tid}/claim", tenant, role="engineer")
    assert claimed.status_code == 200 and claimed.data["assignee_id"] == eng
    again = staff_api.call("POST", f"/v1/tickets/{tid}/assign", tenant, {"user_id": eng, "reason": "x"})
    assert again.status_code == 400
    forbidden = staff_api.call(
        "POST", f"/v1/tickets/{tid}/assign", tenant, {"user_id": eng, "reason": "x"}, role="agent_all"
    )
    assert forbidden.status_code == 403

    weights = staff_api.call("PUT", "/v1/assignment-weights", tenant, {"load": "6", "region_strict": False})
    assert weights.status_code == 200 and weights.data["load"] == "6"
    assert staff_api.call("GET", "/v1/assignment-weights", tenant, role="agent_all").data["load"] == "6"
