"""The workflow engine: definition checks, guards, runtime steps, approvals, parallel blocks, presets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.domain.access import Principal, Role, Scope, ScopeKind
from chalicelib.domain.common import ConflictError, ForbiddenError, InvalidInputError
from chalicelib.domain.workflows import (
    Actor,
    ApprovalMode,
    ApprovalSpec,
    ApproverRule,
    FieldKind,
    GuardError,
    Node,
    NodeAction,
    NodeActionType,
    NodeKind,
    Performer,
    Step,
    Transition,
    WorkflowDefinition,
    WorkflowState,
    allowed_actions,
    apply,
    evaluate_guard,
    parse_guard,
    preset_workflows,
    publish,
    start,
    validate,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def who(role: str, scope: str = "all", user: str = "u1", department: str | None = None) -> Performer:
    return Performer(user_id=user, role=Role(role), scope_kind=ScopeKind(scope), department=department)


AGENT = who("agent", "own", "agent1")
ENGINEER = who("engineer", "own", "eng1")
STORE_MGR = who("manager", "store", "sm1")
REGION_MGR = who("manager", "region", "rm1")
ADMIN = who("admin", "all", "root")
REGIONAL = Actor(role=Role.MANAGER, scope=ScopeKind.REGION)


def presets() -> dict[str, WorkflowDefinition]:
    return {w.id: w for w in preset_workflows()}


def node(node_id: str, kind: str, **kw) -> Node:
    return Node(id=node_id, name=node_id, kind=NodeKind(kind), **kw)


def tr(src: str, action: str, dst: str, guard: str | None = None) -> Transition:
    return Transition(from_node=src, action=action, to_node=dst, guard=guard)


def simple(**overrides) -> WorkflowDefinition:
    base = {
        "id": "wf_t",
        "name": "测试",
        "fields": {"amount": FieldKind.MONEY},
        "nodes": [node("s", "start"), node("work", "task", actor=Actor(role=Role.AGENT)), node("end", "end")],
        "transitions": [tr("s", "auto", "work"), tr("work", "finish", "end")],
    }
    return WorkflowDefinition.model_validate({**base, **overrides})


def issues_of(defn: WorkflowDefinition) -> list[tuple[str, str]]:
    return [(i.field, i.message) for i in validate(defn)]


def has_issue(defn: WorkflowDefinition, where: str, text: str) -> bool:
    return any(f == where and text in m for f, m in issues_of(defn))


def go(defn: WorkflowDefinition, step: Step, action: str, performer: Performer, fields=None, **kw) -> Step:
    return apply(defn, step.state, action, performer=performer, fields=fields or {}, at=T0, **kw)


# --- validation ------------------------------------------------------------------------------------------


def test_a_simple_definition_is_valid():
    assert validate(simple()) == []


def test_no_start_node():
    d = simple(nodes=[node("work", "task"), node("end", "end")], transitions=[tr("work", "finish", "end")])
    assert has_issue(d, "nodes", "no start node")


def test_two_start_nodes():
    d = simple(
        nodes=[*simple().nodes, node("s2", "start")],
        transitions=[*simple().transitions, tr("s2", "auto", "end")],
    )
    assert has_issue(d, "nodes[3].kind", "a second start node")


def test_no_end_node():
    d = simple(nodes=[node("s", "start"), node("work", "task")], transitions=[tr("s", "auto", "work")])
    assert has_issue(d, "nodes", "no end node")


def test_unreachable_node():
    d = simple(
        nodes=[*simple().nodes, node("orphan", "task")],
        transitions=[*simple().transitions, tr("orphan", "x", "end")],
    )
    assert has_issue(d, "nodes[3]", "unreachable")


def test_dead_end():
    d = simple(
        nodes=[*simple().nodes, node("stuck", "task")],
        transitions=[tr("s", "auto", "work"), tr("work", "finish", "end"), tr("work", "park", "stuck")],
    )
    assert has_issue(d, "nodes[3]", "dead end")


def test_loop_with_no_way_out():
    d = simple(
        nodes=[*simple().nodes, node("a", "task"), node("b", "task")],
        transitions=[*simple().transitions, tr("work", "detour", "a"), tr("a", "x", "b"), tr("b", "y", "a")],
    )
    assert has_issue(d, "nodes[3]", "never reach an end")


def test_bad_guard_syntax():
    d = simple(transitions=[tr("s", "auto", "work"), tr("work", "finish", "end", guard="amount >")])
    assert has_issue(d, "transitions[1].guard", "syntax error")


def test_guard_on_unknown_field():
    d = simple(transitions=[tr("s", "auto", "work"), tr("work", "finish", "end", guard="salary > 5")])
    assert has_issue(d, "transitions[1].guard", "unknown field 'salary'")


@pytest.mark.parametrize(
    ("guard", "message"),
    [
        ("__import__('os').system('x')", "function calls are not allowed"),
        ("len(priority) > 3", "function calls are not allowed"),
        ("amount.real > 1", "attribute access"),
        ("priority[0] == 'u'", "indexing"),
        ("amount + 1 > 2", "arithmetic"),
        ("amount is None", "'is'"),
        ("amount == None", "None is not supported"),
        ("amount", "'amount' is declared money but used with yes/no"),
        ("priority == 5", "'priority' is declared enum but used with a number"),
        ("amount in ['a']", "'amount' is declared money but used with text"),
        ("amount > 0x10", "not a decimal number"),
    ],
)
def test_guards_outside_the_whitelist_are_refused(guard, message):
    d = simple(transitions=[tr("s", "auto", "work"), tr("work", "finish", "end", guard=guard)])
    assert has_issue(d, "transitions[1].guard", message), issues_of(d)


def test_approval_without_reject():
    spec = ApprovalSpec(approvers=[ApproverRule(actor=Actor(role=Role.MANAGER))])
    d = simple(
        nodes=[node("s", "start"), node("ok", "approval", approval=spec), node("end", "end")],
        transitions=[tr("s", "auto", "ok"), tr("ok", "approve", "end")],
    )
    assert has_issue(d, "nodes[1]", "needs a 'reject' transition")


def test_approval_without_approvers_and_bad_rule_guard():
    d = simple(
        nodes=[node("s", "start"), node("ok", "approval", approval=ApprovalSpec()), node("end", "end")],
        transitions=[tr("s", "auto", "ok"), tr("ok", "approve", "end"), tr("ok", "reject", "end")],
    )
    assert has_issue(d, "nodes[1].approval", "needs approvers")
    rule = ApproverRule(when="amount >>> 1", actor=Actor())
    d.nodes[1].approval = ApprovalSpec(approvers=[rule])
    assert has_issue(d, "nodes[1].approval.approvers[0].when", "syntax error")


def test_transitions_reference_existing_nodes_and_ids_are_unique_slugs():
    d = simple(
        nodes=[*simple().nodes, node("work", "task"), node("Bad Id", "task")],
        transitions=[*simple().transitions, tr("work", "go", "nowhere"), tr("ghost", "go", "end")],
    )
    assert has_issue(d, "nodes[3].id", "duplicate node id 'work'")
    assert has_issue(d, "nodes[4].id", "not a slug")
    assert has_issue(d, "transitions[2].to_node", "no node 'nowhere'")
    assert has_issue(d, "transitions[3].from_node", "no node 'ghost'")


def test_two_unguarded_transitions_with_one_action_but_guarded_ones_are_fine():
    d = simple(transitions=[*simple().transitions, tr("work", "finish", "s")])
    assert has_issue(d, "transitions[2].action", "never fires")
    d = simple(
        transitions=[
            tr("s", "auto", "work"),
            tr("work", "finish", "end", guard="amount > 5"),
            tr("work", "finish", "end"),
        ]
    )
    assert validate(d) == []


def test_automatic_transitions_need_a_fallback_and_cannot_mix_or_loop():
    d = simple(transitions=[tr("s", "auto", "work", guard="amount > 1"), tr("work", "finish", "end")])
    assert has_issue(d, "nodes[0]", "unguarded one last")
    d = simple(transitions=[tr("s", "auto", "work"), tr("s", "go", "end"), tr("work", "finish", "end")])
    assert has_issue(d, "nodes[0]", "mixes automatic")
    d = simple(
        nodes=[*simple().nodes, node("a", "task"), node("b", "task")],
        transitions=[
            *simple().transitions,
            tr("work", "detour", "a"),
            tr("a", "auto", "b"),
            tr("b", "auto", "a"),
        ],
    )
    assert any("automatic transitions loop" in m for _, m in issues_of(d))


def parallel_def(**overrides) -> WorkflowDefinition:
    nodes = [
        node("s", "start"),
        node("fork", "parallel", branches=["left", "right"]),
        node("left", "task", actor=Actor(department="warehouse")),
        node("right", "task", actor=Actor(role=Role.FINANCE)),
        node("meet", "join"),
        node("end", "end"),
    ]
    transitions = [
        tr("s", "auto", "fork"),
        tr("left", "done", "meet"),
        tr("right", "done", "meet"),
        tr("meet", "joined", "end"),
    ]
    return simple(**{"nodes": nodes, "transitions": transitions, **overrides})


def test_parallel_branches_must_reach_the_join_and_stay_apart():
    assert validate(parallel_def()) == []
    d = parallel_def()
    d.nodes.append(node("sidetrack", "task"))
    d.transitions[2] = tr("right", "done", "sidetrack")
    d.transitions.append(tr("sidetrack", "back", "right"))
    assert has_issue(
        d,
        "nodes[1].join",
        "no join node that every branch reaches (joins reached: left → meet; right → none)",
    )
    d.nodes[1].join = "meet"
    assert has_issue(d, "nodes[1].branches", "branch 'right' never reaches the join 'meet'")
    d = parallel_def()
    d.transitions.append(tr("left", "cross", "right"))
    assert has_issue(d, "nodes[1].branches", "share node 'right'")
    d = parallel_def()
    d.transitions.append(tr("left", "give_up", "end"))
    assert has_issue(d, "nodes[1].branches", "ends the workflow")
    d = parallel_def()
    d.nodes[1].branches = ["left"]
    assert has_issue(d, "nodes[1].branches", "at least two branches")


def test_publish_lists_every_problem_and_fills_in_the_join():
    d = simple(nodes=[node("work", "task"), node("work", "task")], transitions=[tr("work", "x", "nowhere")])
    with pytest.raises(InvalidInputError) as e:
        publish(d)
    fields = [i["field"] for i in e.value.details]
    assert {"nodes", "nodes[1].id", "transitions[0].to_node"} <= set(fields)
    assert all(set(i) == {"field", "message"} for i in e.value.details)
    published = publish(parallel_def())
    assert published.nodes[1].join == "meet"
    assert parallel_def().nodes[1].join is None  # the input is not modified


# --- guards ----------------------------------------------------------------------------------------------


def test_guards_compare_numbers_as_decimals():
    kinds = {"compensation": FieldKind.MONEY}
    assert evaluate_guard("compensation <= 500", {"compensation": "500.00"}, kinds)
    assert evaluate_guard("compensation <= 500", {"compensation": 500}, kinds)
    assert not evaluate_guard("compensation <= 500", {"compensation": Decimal("500.001")}, kinds)
    assert not evaluate_guard("compensation <= 500", {"compensation": "500.001"}, kinds)
    assert evaluate_guard("compensation == 0.3", {"compensation": "0.30"}, kinds)  # never 0.30000000000000004
    assert evaluate_guard(
        "compensation == 0.1", {"compensation": 0.1}, kinds
    )  # a float read through its repr
    assert evaluate_guard("-1 < compensation <= 500.00", {"compensation": "0"}, kinds)
    assert not evaluate_guard("-1 < compensation <= 500.00", {"compensation": "501"}, kinds)


def test_missing_values_make_comparisons_false():
    assert not evaluate_guard("compensation <= 500", {}, {"compensation": FieldKind.MONEY})
    assert not evaluate_guard("compensation != 500", {}, {"compensation": FieldKind.MONEY})
    assert evaluate_guard("not (compensation == 500)", {}, {"compensation": FieldKind.MONEY})
    assert not evaluate_guard("compensation > 1", {"compensation": "lots"}, {"compensation": FieldKind.MONEY})
    assert not evaluate_guard("cross_region", {})


def test_guard_language():
    kinds = {"reason": FieldKind.ENUM, "due": FieldKind.DATE, "vip": FieldKind.BOOL}
    fields = {
        "priority": "urgent",
        "cross_region": True,
        "reason": "发错货",
        "due": "2026-03-05",
        "vip": "true",
    }
    assert evaluate_guard('priority == "urgent" and cross_region', fields, kinds)
    assert evaluate_guard('reason in ["质量问题", "发错货"]', fields, kinds)
    assert not evaluate_guard("reason not in ('质量问题', '发错货')", fields, kinds)
    assert evaluate_guard('due < "2026-04-01" or not vip', fields, kinds)
    assert evaluate_guard("vip == True", fields, kinds)
    assert not evaluate_guard("priority == 1", {"priority": 1})  # types never mix: no "1" == 1, True == 1
    assert evaluate_guard(None, {})
    guard = parse_guard("compensation > 500 or cross_region")
    assert guard.names == {"compensation", "cross_region"}
    for bad in (
        "",
        "x = 1",
        "lambda: 1",
        "[1] in x",
        "x in y",
        "x in [1, 'a']",
        "open('f')",
        "a if b else c",
    ):
        with pytest.raises(GuardError):
            parse_guard(bad)


# --- presets ---------------------------------------------------------------------------------------------


def test_every_preset_validates():
    wfs = preset_workflows()
    assert [w.id for w in wfs] == ["wf_repair", "wf_install", "wf_return", "wf_complaint", "wf_booking"]
    for w in wfs:
        assert validate(w) == [], w.id
        assert w.version == 1


def test_definitions_round_trip_through_json():
    for w in preset_workflows():
        w.version = 7
        again = WorkflowDefinition.model_validate_json(w.model_dump_json())
        assert again == w
        assert again.version == 7


def test_repair_full_path_with_effects_and_reopen():
    wf = presets()["wf_repair"]
    step = start(wf, {"priority": "normal"})
    assert step.state.active == ["triage"] and step.entered == ["new", "triage"] and step.exited == ["new"]
    assert [e.type for e in step.effects] == ["start_timer"]
    step = go(wf, step, "accept", AGENT)
    step = go(wf, step, "assign", AGENT)
    assert step.state.active == ["on_site"]
    notify = step.effects[0]
    assert (notify.node, notify.type, notify.params["template"]) == (
        "on_site",
        "notify",
        "engineer_on_the_way",
    )
    assert notify.params["text"] == "工程师已出发，正在上门途中"
    step = go(wf, step, "resolve", ENGINEER)
    step = go(wf, step, "confirm", AGENT)
    assert step.state.active == ["closed"] and step.done
    assert [a.action for a in allowed_actions(wf, step.state, performer=AGENT, fields={})] == ["reopen"]
    step = go(wf, step, "reopen", AGENT)
    assert step.state.active == ["on_site"] and not step.done
    assert step.exited == ["closed"] and step.entered == ["on_site"]


def test_urgent_tickets_skip_triage():
    wf = presets()["wf_repair"]
    step = start(wf, {"priority": "urgent"})
    assert step.state.active == ["dispatch"]
    assert "triage" not in step.entered
    assert [e.type for e in step.effects] == ["assign"]


def test_install_runs_the_checks_in_parallel_and_joins_after_both():
    wf = presets()["wf_install"]
    step = start(wf, {})
    step = go(wf, step, "schedule", AGENT)
    step = go(wf, step, "installed", ENGINEER)
    assert step.state.active == ["electrical_check", "pipe_cleaning"]
    assert step.entered == ["checks", "electrical_check", "pipe_cleaning"]
    with pytest.raises(InvalidInputError) as e:  # both checks offer `complete`: which one?
        go(wf, step, "complete", ENGINEER)
    assert e.value.details[0]["field"] == "node"
    step = go(wf, step, "complete", ENGINEER, node="pipe_cleaning")
    assert step.state.active == ["electrical_check"]
    assert step.state.arrived == {"checks_done": ["pipe_cleaning"]}
    assert step.entered == [] and not step.done
    step = go(wf, step, "complete", ENGINEER, node="electrical_check")
    assert step.entered == ["checks_done", "pressure_test"]
    assert step.state.active == ["pressure_test"] and step.state.arrived == {}
    step = go(wf, step, "fail", ENGINEER)  # rework: the block runs again from scratch
    step = go(wf, step, "installed", ENGINEER)
    assert step.state.active == ["electrical_check", "pipe_cleaning"]
    step = go(wf, step, "complete", ENGINEER, node="electrical_check")
    step = go(wf, step, "complete", ENGINEER, node="pipe_cleaning")
    step = go(wf, step, "pass", ENGINEER)
    assert step.done and step.state.active == ["done"]


def test_install_cancel_releases_parts():
    wf = presets()["wf_install"]
    step = start(wf, {})
    assert [e.type for e in step.effects] == ["assign", "reserve_parts"]
    step = go(wf, step, "cancel", AGENT)
    assert step.done and [e.type for e in step.effects] == ["release_parts"]


def test_return_needs_warehouse_and_finance():
    wf = presets()["wf_return"]
    warehouse = who("agent", "store", "w1", department="warehouse")
    finance = who("finance", "all", "f1")
    step = start(wf, {"refund_amount": "99.00"})
    assert step.state.active == ["receive_goods", "refund_review"]
    actions = allowed_actions(wf, step.state, performer=warehouse, fields={})
    assert [(a.node, a.action) for a in actions] == [("receive_goods", "received")]
    with pytest.raises(ForbiddenError) as e:
        go(wf, step, "refunded", warehouse)
    assert e.value.details == [
        {
            "node": "refund_review",
            "role": "finance",
            "scope": None,
            "department": None,
            "description": "finance",
        }
    ]
    step = go(wf, step, "refunded", finance)
    assert not step.done and step.state.arrived == {"ready": ["refund_review"]}
    step = go(wf, step, "received", warehouse)
    assert step.done and step.state.active == ["closed"]
    assert step.entered == ["ready", "closed"]


def complaint_to_approval(fields: dict) -> tuple[WorkflowDefinition, Step]:
    wf = presets()["wf_complaint"]
    step = start(wf, fields)
    return wf, go(wf, step, "request_compensation", AGENT, fields)


def test_complaint_over_500_needs_the_regional_manager():
    fields = {"compensation": "800.00"}
    wf, step = complaint_to_approval(fields)
    assert step.state.active == ["approval"]
    with pytest.raises(ForbiddenError) as e:
        go(wf, step, "approve", STORE_MGR, fields)
    assert "region manager" in e.value.message
    assert [(d["role"], d["scope"], d["level"]) for d in e.value.details] == [("manager", "region", 2)]
    assert allowed_actions(wf, step.state, performer=STORE_MGR, fields=fields) == []
    assert {a.action for a in allowed_actions(wf, step.state, performer=REGION_MGR, fields=fields)} == {
        "approve",
        "reject",
    }
    step = go(wf, step, "approve", REGION_MGR, fields, comment="同意")
    assert step.state.active == ["compensate"] and step.state.votes == {}
    step = go(wf, step, "compensate", AGENT, fields)
    assert step.done


def test_complaint_up_to_500_only_the_store_manager():
    fields = {"compensation": 300}
    wf, step = complaint_to_approval(fields)
    with pytest.raises(ForbiddenError) as e:
        go(wf, step, "approve", REGION_MGR, fields)
    assert [(d["scope"], d["level"]) for d in e.value.details] == [("store", 1)]
    step = go(wf, step, "approve", STORE_MGR, fields)
    assert step.state.active == ["compensate"]


def test_complaint_cross_region_escalates_and_rejection_goes_back_to_the_agent():
    fields = {"compensation": "300", "cross_region": True}
    wf, step = complaint_to_approval(fields)
    with pytest.raises(ForbiddenError):
        go(wf, step, "approve", STORE_MGR, fields)
    step = go(wf, step, "reject", REGION_MGR, fields, comment="金额过高")
    assert step.state.active == ["handling"] and step.state.votes == {}


def test_complaint_compensation_guard_and_direct_resolution():
    wf = presets()["wf_complaint"]
    step = start(wf, {})
    with pytest.raises(ConflictError):  # no compensation set: nothing to approve
        go(wf, step, "request_compensation", AGENT)
    assert go(wf, step, "resolve", AGENT).done


def test_admin_may_act_anywhere():
    fields = {"compensation": "800"}
    wf, step = complaint_to_approval(fields)
    assert go(wf, step, "approve", ADMIN, fields).state.active == ["compensate"]


def all_of_def() -> WorkflowDefinition:
    spec = ApprovalSpec(
        mode=ApprovalMode.ALL,
        approvers=[
            ApproverRule(actor=Actor(role=Role.MANAGER), level=1),
            ApproverRule(actor=Actor(role=Role.MANAGER), level=1),
        ],
    )
    return simple(
        nodes=[
            node("s", "start"),
            node("ok", "approval", approval=spec),
            node("yes", "end"),
            node("no", "end"),
        ],
        transitions=[tr("s", "auto", "ok"), tr("ok", "approve", "yes"), tr("ok", "reject", "no")],
    )


def test_all_of_approval_needs_two_distinct_users():
    wf = publish(all_of_def())
    step = start(wf, {})
    step = go(wf, step, "approve", STORE_MGR)
    assert step.state.active == ["ok"] and [v.user_id for v in step.state.votes["ok"]] == ["sm1"]
    assert step.state.votes["ok"][0].at == T0
    with pytest.raises(ConflictError, match="already voted"):
        go(wf, step, "approve", STORE_MGR)
    assert allowed_actions(wf, step.state, performer=STORE_MGR, fields={}) == []
    step = go(wf, step, "approve", REGION_MGR)
    assert step.state.active == ["yes"] and step.done


def test_votes_count_only_at_the_level_that_applies():
    spec = ApprovalSpec(
        mode=ApprovalMode.ALL,
        approvers=[
            ApproverRule(actor=Actor(role=Role.MANAGER), level=1),
            ApproverRule(actor=Actor(role=Role.FINANCE), level=1),
            ApproverRule(when="amount > 500", actor=REGIONAL, level=2),
            ApproverRule(when="amount > 500", actor=Actor(role=Role.FINANCE), level=2),
        ],
    )
    wf = publish(all_of_def())
    wf.nodes[1].approval = spec
    finance = who("finance", "all", "f1")
    step = start(wf, {})
    step = go(wf, step, "approve", finance, {"amount": "100"})
    assert [(v.user_id, v.level, v.rules) for v in step.state.votes["ok"]] == [("f1", 1, [1])]
    big = {"amount": "900"}  # the amount grew: level 2 applies and the level-1 vote no longer counts
    with pytest.raises(ForbiddenError):
        go(wf, step, "approve", STORE_MGR, big)
    step = go(wf, step, "approve", REGION_MGR, big)
    assert step.state.active == ["ok"]
    step = go(wf, step, "approve", finance, big)
    assert step.state.active == ["yes"]


def test_timer_actions_must_be_offered_by_the_node():
    d = simple()
    d.nodes[1].on_enter = [
        NodeAction(type=NodeActionType.START_TIMER, params={"hours": 1, "action": "expire"})
    ]
    assert has_issue(d, "nodes[1].on_enter[0].params.action", "offers no 'expire' action")


def test_performer_from_principal():
    principal = Principal(tenant_id="t", user_id="u9", role=Role.MANAGER, scope=Scope.parse("region:华东"))
    assert Performer.of(principal, "after_sales") == who("manager", "region", "u9", "after_sales")


def test_action_not_possible_lists_allowed_actions():
    wf = presets()["wf_repair"]
    step = start(wf, {})
    with pytest.raises(ConflictError) as e:
        go(wf, step, "resolve", AGENT)
    assert [(d["node"], d["action"], d["to_node"]) for d in e.value.details] == [
        ("triage", "accept", "dispatch"),
        ("triage", "cancel", "cancelled"),
    ]
    assert e.value.details[0]["label"] == "受理"
    with pytest.raises(ConflictError):
        go(wf, step, "auto", AGENT)  # automatic actions are never requested
    with pytest.raises(ConflictError):
        go(wf, step, "accept", AGENT, node="on_site")  # not active


def test_wrong_actor_is_forbidden_with_who_may_act():
    wf = presets()["wf_repair"]
    step = start(wf, {})
    with pytest.raises(ForbiddenError) as e:
        go(wf, step, "accept", ENGINEER)
    assert e.value.details == [
        {"node": "triage", "role": "agent", "scope": None, "department": None, "description": "agent"}
    ]
    assert allowed_actions(wf, step.state, performer=ENGINEER, fields={}) == []


def test_apply_leaves_the_given_state_alone():
    wf = presets()["wf_repair"]
    step = start(wf, {})
    before = step.state.model_copy(deep=True)
    go(wf, step, "accept", AGENT)
    assert step.state == before
    assert WorkflowState.model_validate_json(step.state.model_dump_json()) == step.state


def test_booking_paths():
    wf = presets()["wf_booking"]
    step = start(wf, {"preferred_date": "2026-03-10"})
    step = go(wf, step, "confirm", AGENT)
    step = go(wf, step, "serve", ENGINEER)  # the confirmed step is open to anyone on the ticket
    assert go(wf, step, "close", AGENT).done
    step = start(wf, {})
    step = go(wf, step, "confirm", AGENT)
    cancelled = go(wf, step, "cancel", AGENT)
    assert cancelled.done and cancelled.state.active == ["cancelled"]
    assert cancelled.effects[0].params["template"] == "booking_cancelled"


def test_nested_parallel_blocks():
    nodes = [
        node("s", "start"),
        node("outer", "parallel", branches=["a", "inner"]),
        node("a", "task"),
        node("inner", "parallel", branches=["x", "y"]),
        node("x", "task"),
        node("y", "task"),
        node("inner_join", "join"),
        node("after_inner", "task"),
        node("outer_join", "join"),
        node("end", "end"),
    ]
    transitions = [
        tr("s", "auto", "outer"),
        tr("a", "done", "outer_join"),
        tr("x", "done", "inner_join"),
        tr("y", "done", "inner_join"),
        tr("inner_join", "joined", "after_inner"),
        tr("after_inner", "done", "outer_join"),
        tr("outer_join", "joined", "end"),
    ]
    wf = publish(simple(nodes=nodes, transitions=transitions))
    assert (wf.nodes[1].join, wf.nodes[3].join) == ("outer_join", "inner_join")
    step = start(wf, {})
    assert step.state.active == ["a", "x", "y"]
    step = go(wf, step, "done", AGENT, node="x")
    step = go(wf, step, "done", AGENT, node="a")
    assert step.state.active == ["y"]
    step = go(wf, step, "done", AGENT)
    assert step.state.active == ["after_inner"]
    assert go(wf, step, "done", AGENT).done
