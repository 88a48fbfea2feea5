"""Tickets through the HTTP API: templates, urgent triage skip, transitions with role checks, approval
thresholds, a parallel return, concurrent transitions, version pinning and the customer's timeline."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.common import ConflictError
from chalicelib.domain.tickets import Ticket, TicketSource
from chalicelib.services.tickets import TransitionCommand
from tests.fakes.dynamo import count_requests
from tests.integration.conftest import Api, TenantKeys, drain


def customer(api: Api, tenant: TenantKeys, **extra: Any) -> str:
    body = {"name": "李雷", "phone": "13900000001", "region": "华东", "store": "SH-001", **extra}
    resp = api.call("POST", "/v1/customers", tenant, body)
    assert resp.status_code == 201, resp.data
    return str(resp.data["id"])


def open_ticket(
    api: Api, tenant: TenantKeys, body: dict[str, Any], role: str = "agent_all"
) -> dict[str, Any]:
    resp = api.call("POST", "/v1/tickets", tenant, body, role=role)
    assert resp.status_code == 201, resp.data
    return dict(resp.data)


def act(api: Api, tenant: TenantKeys, ticket_id: str, role: str, action: str, **body: Any) -> Any:
    return api.call(
        "POST", f"/v1/tickets/{ticket_id}/transitions", tenant, {"action": action, **body}, role=role
    )


def active(view: dict[str, Any]) -> list[str]:
    return list(view["ticket"]["state"]["active"])


def give_to(api: Api, tenant: TenantKeys, ticket_id: str, who: str = "engineer") -> None:
    """Assign the ticket to a staff member (a manager's assignment; the profile made on first use)."""
    user = tenant.user_ids[who]
    if not any(s["profile"]["user_id"] == user for s in api.call("GET", "/v1/staff", tenant).data["items"]):
        profile = {"region": "华东", "skills": {"appliance_repair": 3}, "shifts": {"0": [["08:00", "20:00"]]}}
        assert api.call("PUT", f"/v1/staff/{user}", tenant, profile).status_code == 200
    body = {"user_id": user, "reason": "on shift"}
    resp = api.call("POST", f"/v1/tickets/{ticket_id}/assign", tenant, body)
    assert resp.status_code == 200, resp.data


def test_the_preset_library_is_there_for_a_new_tenant(api: Api, tenant: TenantKeys):
    items = api.call("GET", "/v1/ticket-templates", tenant, role="agent_all").data["items"]
    assert {t["id"] for t in items} >= {
        "repair",
        "installation",
        "return_exchange",
        "complaint",
        "maintenance_booking",
        "course_booking",
    }
    flows = api.call("GET", "/v1/workflows", tenant).data["items"]
    assert {"wf_repair", "wf_install", "wf_return", "wf_complaint", "wf_booking"} <= {w["id"] for w in flows}


def test_fields_are_validated_by_the_template_and_nothing_is_stored(api: Api, tenant: TenantKeys):
    cid = customer(api, tenant)
    resp = api.call(
        "POST",
        "/v1/tickets",
        tenant,
        {"template_id": "repair", "customer_id": cid, "fields": {"labour_fee": 12.5, "colour": "red"}},
        role="agent_all",
    )
    assert resp.status_code == 400
    named = {d["field"] for d in resp.data["error"]["details"]}
    assert {"fields.fault_description", "fields.labour_fee", "fields.colour"} <= named
    listed = api.call("GET", f"/v1/customers/{cid}/tickets", tenant).data["items"]
    assert listed == []


def test_an_urgent_keyword_raises_the_priority_and_skips_triage(api: Api, tenant: TenantKeys):
    cid = customer(api, tenant)
    normal = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "不制冷"}}
    )
    assert normal["ticket"]["priority"] == "normal" and active(normal) == ["triage"]
    urgent = open_ticket(
        api,
        tenant,
        {
            "template_id": "repair",
            "customer_id": cid,
            "fields": {"fault_description": "空调漏水，地板都湿了"},
        },
    )
    assert urgent["ticket"]["priority"] == "urgent"
    assert urgent["ticket"]["urgent_keywords"] == ["漏水"]
    assert active(urgent) == ["dispatch"]  # triage skipped
    assert urgent["ticket"]["region"] == "华东"  # from the customer


def test_transitions_follow_the_workflow_with_role_checks_history_and_timeline(api: Api, tenant: TenantKeys):
    cid = customer(api, tenant)
    t = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "异响"}}
    )
    tid = t["ticket"]["id"]
    assert [a["action"] for a in t["allowed_actions"]] == ["accept", "cancel"]

    wrong = act(api, tenant, tid, "engineer", "accept")
    assert wrong.status_code == 403
    assert wrong.data["error"]["details"][0]["role"] == "agent"
    impossible = act(api, tenant, tid, "agent_all", "resolve")
    assert impossible.status_code == 409
    assert {d["action"] for d in impossible.data["error"]["details"]} == {"accept", "cancel"}

    assert act(api, tenant, tid, "agent_all", "accept", comment="accept done").status_code == 200
    give_to(api, tenant, tid, "engineer")
    for role, action in (("agent_all", "assign"), ("engineer", "resolve")):
        resp = act(api, tenant, tid, role, action, comment=f"{action} done")
        assert resp.status_code == 200, resp.data
    resp = act(api, tenant, tid, "agent_all", "confirm", fields={"labour_fee": "80"})
    assert resp.status_code == 200 and resp.data["ticket"]["status"] == "closed"
    assert resp.data["ticket"]["fields"]["labour_fee"] == "80.00"

    view = api.call("GET", f"/v1/tickets/{tid}", tenant).data
    # the manager's assignment of the engineer is the second "assign" (the first is the dispatch step)
    actions = [h["action"] for h in view["history"]]
    assert actions == ["confirm", "resolve", "assign", "assign", "accept", "create"]
    assert view["ticket"]["version"] == 6
    reopened = act(api, tenant, tid, "agent_all", "reopen")
    assert reopened.status_code == 200 and reopened.data["ticket"]["status"] == "open"
    assert reopened.data["ticket"]["closed_at"] is None

    timeline = api.call("GET", f"/v1/customers/{cid}/timeline", tenant).data["items"]
    kinds = [e["kind"] for e in timeline]
    assert kinds[:2] == ["ticket.reopen", "ticket.confirm"] and "ticket.created" in kinds
    tickets = api.call("GET", f"/v1/customers/{cid}/tickets", tenant).data["items"]
    assert [x["id"] for x in tickets] == [tid]
    in_360 = api.call("GET", f"/v1/customers/{cid}", tenant).data["tickets"]
    assert [(x["id"], x["status"], x["steps"]) for x in in_360] == [(tid, "open", ["on_site"])]


@pytest.mark.parametrize(
    ("amount", "approver", "refused"),
    [("800", "manager_east", "store_mgr"), ("300", "store_mgr", "manager_east")],
)
def test_compensation_approval_goes_to_the_level_its_amount_needs(
    api: Api, tenant: TenantKeys, amount: str, approver: str, refused: str
):
    cid = customer(api, tenant)
    t = open_ticket(
        api, tenant, {"template_id": "complaint", "customer_id": cid, "fields": {"details": "服务态度差"}}
    )
    tid = t["ticket"]["id"]
    resp = act(api, tenant, tid, "agent_all", "request_compensation", fields={"compensation": amount})
    assert resp.status_code == 200, resp.data
    assert active(resp.data) == ["approval"]

    denied = act(api, tenant, tid, refused, "approve")
    assert denied.status_code == 403, denied.data
    ok = act(api, tenant, tid, approver, "approve", comment="同意")
    assert ok.status_code == 200, ok.data
    assert active(ok.data) == ["compensate"]


def test_a_return_runs_warehouse_and_finance_in_parallel_then_closes(api: Api, tenant: TenantKeys):
    cid = customer(api, tenant)
    t = open_ticket(
        api,
        tenant,
        {
            "template_id": "return_exchange",
            "customer_id": cid,
            "fields": {
                "order_id": "E1001",
                "request_type": "退货",
                "reason": "质量问题",
                "refund_amount": "99",
            },
        },
    )
    tid = t["ticket"]["id"]
    assert sorted(active(t)) == ["receive_goods", "refund_review"]
    assert act(api, tenant, tid, "agent_all", "received").status_code == 403  # not the warehouse
    first = act(api, tenant, tid, "warehouse", "received")
    assert first.status_code == 200, first.data
    assert first.data["ticket"]["status"] == "open"  # the join waits for finance
    done = act(api, tenant, tid, "finance", "refunded")
    assert done.status_code == 200, done.data
    assert done.data["ticket"]["status"] == "closed"


def test_of_two_concurrent_transitions_exactly_one_wins(container, api: Api, tenant: TenantKeys, monkeypatch):
    cid = customer(api, tenant)
    t = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "异响"}}
    )
    tid = t["ticket"]["id"]
    repo = container.ticket_repo
    stale = repo.get(tenant.tenant_id, tid)
    monkeypatch.setattr(repo, "get", lambda *_: stale.model_copy(deep=True))  # both read version 1
    agent = container.tenants.authenticate(f"Bearer {tenant.keys['agent_all']}")
    container.tickets.transition(principal=agent, ticket_id=tid, command=TransitionCommand(action="accept"))
    with pytest.raises(ConflictError):
        container.tickets.transition(
            principal=agent, ticket_id=tid, command=TransitionCommand(action="cancel")
        )
    monkeypatch.undo()
    view = api.call("GET", f"/v1/tickets/{tid}", tenant).data
    assert active(view) == ["dispatch"] and view["ticket"]["version"] == 2


def test_publishing_validates_and_running_tickets_keep_their_version(api: Api, tenant: TenantKeys):
    broken = {
        "id": "wf_broken",
        "name": "坏流程",
        "nodes": [{"id": "a", "name": "A", "kind": "task"}, {"id": "b", "name": "B", "kind": "end"}],
        "transitions": [{"from_node": "a", "action": "go", "to_node": "b", "guard": "amount >= 5"}],
    }
    resp = api.call("POST", "/v1/workflows", tenant, broken)
    assert resp.status_code == 400
    assert any("start" in d["message"] for d in resp.data["error"]["details"])
    assert any(d["field"] == "transitions[0].guard" for d in resp.data["error"]["details"])
    assert api.call("POST", "/v1/workflows", tenant, broken, role="agent_all").status_code == 403

    cid = customer(api, tenant)
    old = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "x"}}
    )
    repair = api.call("GET", "/v1/workflows/wf_repair", tenant).data
    assert repair["version"] == 1
    repair["transitions"] = [
        tr for tr in repair["transitions"] if not (tr["from_node"] == "triage" and tr["action"] == "cancel")
    ]
    published = api.call("POST", "/v1/workflows", tenant, repair)
    assert published.status_code == 201, published.data
    assert published.data["version"] == 2
    new = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "y"}}
    )
    assert new["ticket"]["workflow_version"] == 2
    assert [a["action"] for a in new["allowed_actions"]] == ["accept"]
    assert old["ticket"]["workflow_version"] == 1
    assert act(api, tenant, old["ticket"]["id"], "agent_all", "cancel").status_code == 200  # v1 still has it


def test_another_tenants_ticket_is_not_found(api: Api, tenant: TenantKeys, other_tenant: TenantKeys):
    cid = customer(api, tenant)
    t = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "x"}}
    )
    tid = t["ticket"]["id"]
    assert api.call("GET", f"/v1/tickets/{tid}", other_tenant).status_code == 404
    assert act(api, other_tenant, tid, "admin", "accept").status_code == 404


def test_a_transition_reads_the_ticket_and_writes_once(container, api: Api, tenant: TenantKeys):
    cid = customer(api, tenant)
    t = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "x"}}
    )
    agent = container.tenants.authenticate(f"Bearer {tenant.keys['agent_all']}")
    with count_requests() as n:
        container.tickets.transition(
            principal=agent, ticket_id=t["ticket"]["id"], command=TransitionCommand(action="accept")
        )
    # the ticket and the tenant's configuration counters (GetItem each; the counters once per request or
    # batch) and one transaction: ticket, history entry, customer timeline event
    assert dict(n.calls) == {"GetItem": 2, "TransactWriteItems": 1}


def test_a_low_rating_through_the_customers_link_opens_one_follow_up(container, api: Api, tenant: TenantKeys):
    cid = customer(api, tenant)
    t = open_ticket(
        api,
        tenant,
        {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "空调冒烟"}},
    )
    tid = t["ticket"]["id"]
    assert act(api, tenant, tid, "agent_all", "confirm").status_code == 409  # not closed yet
    too_early = api.call("POST", f"/v1/tickets/{tid}/rating", tenant, {"score": 5}, role="agent_all")
    assert too_early.status_code == 409
    give_to(api, tenant, tid, "engineer")
    for role, action in (("agent_all", "assign"), ("engineer", "resolve"), ("agent_all", "confirm")):
        assert act(api, tenant, tid, role, action).status_code == 200
    drain("scrm-events")  # the closing asks the customer for a rating
    deliveries = container.notifications.log_for_ticket(tenant.tenant_id, tid)
    [request] = [d for d in deliveries if d.request.event == "rating.requested"]
    link = request.request.data["link"]
    token = link.rsplit("/", 1)[1]

    other = "1" if token[-1] == "0" else "0"  # always a different token
    forged = api.call("POST", f"/public/ratings/{token[:-1]}{other}", None, {"score": 1})
    assert forged.status_code == 404
    rated = api.call("POST", f"/public/ratings/{token}", None, {"score": 2, "comment": "师傅迟到两小时"})
    assert rated.status_code == 200, rated.data
    assert api.call("POST", f"/public/ratings/{token}", None, {"score": 5}).status_code == 409  # once
    drain("scrm-events")
    drain("scrm-events")
    tickets = api.call("GET", f"/v1/customers/{cid}/tickets", tenant).data["items"]
    follow_ups = [x for x in tickets if x["source"] == "follow_up"]
    assert len(follow_ups) == 1
    assert follow_ups[0]["priority"] == "high" and follow_ups[0]["source_ref"] == tid
    assert "师傅迟到两小时" in follow_ups[0]["fields"]["details"]


def test_the_customer_hears_of_the_ticket_and_the_engineer_on_the_way(
    container, api: Api, tenant: TenantKeys
):
    cid = customer(api, tenant)
    t = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "漏水"}}
    )
    tid = t["ticket"]["id"]
    sub = api.call(
        "POST", f"/v1/tickets/{tid}/subscriptions", tenant, {"channels": ["sms"]}, role="agent_all"
    )
    assert sub.status_code == 200, sub.data
    give_to(api, tenant, tid, "engineer")
    assert act(api, tenant, tid, "agent_all", "assign").status_code == 200  # → on site: 工程师已出发
    drain("scrm-events")
    drain("scrm-events")
    log = api.call("GET", f"/v1/tickets/{tid}/notifications", tenant).data["items"]
    events = sorted(d["request"]["event"] for d in log if d["request"]["recipient_kind"] == "customer")
    assert events == ["ticket.created", "ticket.engineer_on_the_way"]
    assert all(d["address"] is None or "****" in d["address"] for d in log)  # phones masked in the log
    drain("scrm-events")  # redelivery-safe: still one of each
    again = api.call("GET", f"/v1/tickets/{tid}/notifications", tenant).data["items"]
    assert len(again) == len(log)


def test_an_approval_step_waits_on_step_functions_and_the_decision_returns_its_token(
    container, api: Api, tenant: TenantKeys
):
    starter = container.workflow_starter  # the integration container records executions (FakeStarter)
    cid = customer(api, tenant)
    t = open_ticket(
        api, tenant, {"template_id": "complaint", "customer_id": cid, "fields": {"details": "多收费"}}
    )
    tid = t["ticket"]["id"]
    resp = act(api, tenant, tid, "agent_all", "request_compensation", fields={"compensation": "800"})
    assert resp.status_code == 200, resp.data
    [(name, execution)] = [(n, e) for n, e in starter.started.items() if e["machine"] == "ticket_approval"]
    assert name == f"{tid}-approval-2" and execution["node"] == "approval"
    assert execution["timeout_seconds"] > 0

    # the execution's task token arrives through the timers queue and is kept with the ticket
    container.tickets.approval_waiting(tenant.tenant_id, tid, "approval", "token-1")
    container.tickets.approval_overdue(tenant.tenant_id, tid, "approval")  # late: the managers are told
    overdue = container.notifications.log_for_ticket(tenant.tenant_id, tid)
    assert any("审批超时" in d.request.data.get("status", "") for d in overdue)

    assert act(api, tenant, tid, "manager_east", "approve").status_code == 200
    assert starter.succeeded == [("token-1", {"decision": "decided", "version": 3})]
    # a token arriving after the decision is answered at once
    container.tickets.approval_waiting(tenant.tenant_id, tid, "approval", "token-late")
    assert starter.succeeded[-1][0] == "token-late"


def test_a_tenants_own_urgency_keywords(api: Api, tenant: TenantKeys):
    assert "漏水" in api.call("GET", "/v1/ticket-settings", tenant).data["urgency_keywords"]
    denied = api.call("PUT", "/v1/ticket-settings", tenant, {"urgency_keywords": ["断电"]}, role="agent_all")
    assert denied.status_code == 403
    assert (
        api.call("PUT", "/v1/ticket-settings", tenant, {"urgency_keywords": ["断电", " 断电 "]}).status_code
        == 200
    )
    assert api.call("GET", "/v1/ticket-settings", tenant).data["urgency_keywords"] == ["断电"]
    cid = customer(api, tenant)
    now_urgent = open_ticket(
        api,
        tenant,
        {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "店里断电了"}},
    )
    assert now_urgent["ticket"]["priority"] == "urgent" and active(now_urgent) == ["dispatch"]
    not_any_more = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "漏水"}}
    )
    assert not_any_more["ticket"]["priority"] == "normal"


def test_a_customers_h5_form_opens_one_ticket_for_them(api: Api, tenant: TenantKeys):
    form = {
        "request_id": "h5-req-0001",
        "identities": [{"type": "phone", "value": "138 0013 8000"}, {"type": "openid", "value": "o-h5-1"}],
        "name": "王先生",
        "template_id": "maintenance_booking",
        "fields": {"preferred_date": "2026-12-01", "time_slot": "上午"},
    }
    bad = api.call(
        "POST", "/v1/h5/tickets", tenant, {**form, "fields": {"time_slot": "半夜"}}, role="integration"
    )
    assert bad.status_code == 400
    assert {d["field"] for d in bad.data["error"]["details"]} >= {"fields.preferred_date", "fields.time_slot"}
    assert api.call("GET", "/v1/customers", tenant).data["items"] == []  # nothing stored
    assert api.call("POST", "/v1/h5/tickets", tenant, form, role="agent_all").status_code == 403  # staff
    first = api.call("POST", "/v1/h5/tickets", tenant, form, role="integration")
    assert first.status_code == 201, first.data
    again = api.call("POST", "/v1/h5/tickets", tenant, form, role="integration")
    assert again.data["ticket"]["id"] == first.data["ticket"]["id"]
    ticket = first.data["ticket"]
    assert ticket["source"] == "h5" and ticket["type"] == "maintenance_booking"
    [person] = api.call("GET", "/v1/customers", tenant).data["items"]
    assert person["name"] == "王先生" and ticket["customer_id"] == person["id"]


def test_a_tenant_sets_its_own_texts_and_quiet_hours(api: Api, tenant: TenantKeys):
    texts = api.call("GET", "/v1/notification-templates", tenant, role="agent_all").data["items"]
    assert any(t["event"] == "sla.red" for t in texts)
    mine = {"event": "ticket.engineer_on_the_way", "channel": "sms", "text": "师傅{title}已出发"}
    assert api.call("PUT", "/v1/notification-templates", tenant, mine, role="agent_all").status_code == 403
    put = api.call("PUT", "/v1/notification-templates", tenant, mine)
    assert put.status_code == 200, put.data
    texts = api.call("GET", "/v1/notification-templates", tenant).data["items"]
    [sms] = [t for t in texts if t["event"] == "ticket.engineer_on_the_way" and t["channel"] == "sms"]
    assert sms["text"] == "师傅{title}已出发"
    policy = api.call("GET", "/v1/notification-policy", tenant).data
    policy["customer_requires_subscription"] = True
    assert api.call("PUT", "/v1/notification-policy", tenant, policy).status_code == 200
    assert api.call("GET", "/v1/notification-policy", tenant).data["customer_requires_subscription"] is True


def test_a_steps_timer_auto_closes_a_ticket_the_customer_never_confirmed(
    container, api: Api, tenant: TenantKeys
):
    starter = container.workflow_starter
    cid = customer(api, tenant)
    t = open_ticket(
        api, tenant, {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "漏水"}}
    )
    tid = t["ticket"]["id"]
    give_to(api, tenant, tid, "engineer")
    assert act(api, tenant, tid, "agent_all", "assign").status_code == 200
    assert act(api, tenant, tid, "engineer", "resolve").status_code == 200  # → 待客户确认, auto-close in 72 h
    [timer] = [
        e for e in starter.started.values() if e["machine"] == "ticket_timer" and e["node"] == "resolved"
    ]
    assert timer["action"] == "confirm" and timer["seconds"] == 72 * 3600

    stale = {**timer, "entered_at": "2000-01-01T00:00:00+00:00"}  # a timer of an earlier visit of the step
    args = ("tenant_id", "ticket_id", "node", "timer", "action", "entered_at")
    container.tickets.timer_fired(*(stale[a] for a in args))
    assert api.call("GET", f"/v1/tickets/{tid}", tenant).data["ticket"]["status"] == "open"
    container.tickets.timer_fired(*(timer[a] for a in args))
    container.tickets.timer_fired(*(timer[a] for a in args))  # redelivered: still one step
    view = api.call("GET", f"/v1/tickets/{tid}", tenant).data
    assert view["ticket"]["status"] == "closed"
    assert [h["action"] for h in view["history"]].count("confirm") == 1
    assert view["history"][0]["actor_id"] == "system" and "auto_close" in view["history"][0]["comment"]


def test_the_dropoff_threshold_is_a_tenant_setting(api: Api, tenant: TenantKeys):
    settings = api.call("GET", "/v1/ticket-settings", tenant).data
    assert settings["dropoff_threshold"] == "0.15"
    settings["dropoff_threshold"] = "0.3"
    assert api.call("PUT", "/v1/ticket-settings", tenant, settings).status_code == 200
    stats = api.call("GET", "/v1/workflows/wf_repair/stats", tenant).data
    assert stats["threshold"] == "0.3"
    assert api.call("GET", "/v1/workflows/wf_repair/stats?threshold=0.5", tenant).data["threshold"] == "0.5"


def test_the_open_tickets_list_is_each_persons_work_queue(
    api: Api, tenant: TenantKeys, other_tenant: TenantKeys
):
    cid = customer(api, tenant)
    body = {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "不制冷"}}
    t1, t2, t3 = (open_ticket(api, tenant, body)["ticket"]["id"] for _ in range(3))
    eng = tenant.user_ids["engineer"]
    profile = {"region": "华东", "skills": {"appliance_repair": 3}, "shifts": {"0": [["08:00", "20:00"]]}}
    assert api.call("PUT", f"/v1/staff/{eng}", tenant, profile).status_code == 200
    assigned = api.call("POST", f"/v1/tickets/{t1}/assign", tenant, {"user_id": eng, "reason": "熟悉这台机"})
    assert assigned.status_code == 200, assigned.data
    assert act(api, tenant, t2, "agent_all", "cancel").status_code == 200

    def ids(query: str, role: str = "agent_all", who: TenantKeys = tenant) -> list[str]:
        resp = api.call("GET", f"/v1/tickets{query}", who, role=role)
        assert resp.status_code == 200, resp.data
        return [t["id"] for t in resp.data["items"]]

    assert ids("?assignee=me", role="engineer") == [t1]
    assert ids(f"?assignee={eng}") == [t1]
    assert ids("?assignee=unassigned") == [t3]
    assert sorted(ids("")) == sorted([t1, t3])  # the cancelled ticket left the list
    assert ids("?assignee=me") == []  # the agent holds none
    assert ids("", role="agent_own") == []  # scope "own": only tickets they are assigned
    assert ids("", who=other_tenant, role="admin") == []

    seen, cursor = [], None
    while True:
        page = api.call("GET", "/v1/tickets?limit=1" + (f"&cursor={cursor}" if cursor else ""), tenant).data
        seen += [t["id"] for t in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert sorted(seen) == sorted([t1, t3])

    bad = api.call("GET", "/v1/tickets?assignee=a%20b", tenant)
    assert bad.status_code == 400 and bad.data["error"]["details"][0]["field"] == "assignee"


def test_a_page_of_open_tickets_is_one_query(container, api: Api, tenant: TenantKeys):
    cid = customer(api, tenant)
    body = {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "x"}}
    for _ in range(3):
        open_ticket(api, tenant, body)
    agent = container.tenants.authenticate(f"Bearer {tenant.keys['agent_all']}")
    for assignee in (None, "unassigned", "me"):
        with count_requests() as n:
            page = container.tickets.open_tickets(principal=agent, assignee=assignee, limit=20, cursor=None)
        assert dict(n.calls) == {"Query": 1}, assignee
        assert len(page.items) == (0 if assignee == "me" else 3)


def test_the_rating_link_opens_a_page_whose_form_records_the_rating(container, api: Api, tenant: TenantKeys):
    cid = customer(api, tenant)
    t = open_ticket(
        api,
        tenant,
        {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "<b>漏水</b>"}},
    )
    tid = t["ticket"]["id"]
    token = container.tickets.rating_link_token(
        container.tickets.get(
            principal=container.tenants.authenticate(f"Bearer {tenant.keys['admin']}"), ticket_id=tid
        ).ticket
    )
    not_yet = api.call("GET", f"/public/ratings/{token}", None)
    assert not_yet.status_code == 200 and "<form" not in not_yet.body.decode()  # open: nothing to rate yet
    give_to(api, tenant, tid, "engineer")
    for role, action in (("agent_all", "assign"), ("engineer", "resolve"), ("agent_all", "confirm")):
        assert act(api, tenant, tid, role, action).status_code == 200

    page = api.call("GET", f"/public/ratings/{token}", None)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    assert '<form id="rating" method="post">' in text and 'name="score" value="5"' in text
    assert 'name="comment"' in text and "width=device-width" in text
    assert "http://" not in text and "https://" not in text  # served whole: no CDN
    forged = api.call("GET", f"/public/ratings/{token[:-1]}{'1' if token[-1] == '0' else '0'}", None)
    assert forged.status_code == 404 and forged.headers["Content-Type"].startswith("text/html")
    hostile = api.call("GET", "/public/ratings/%3Cscript%3Ealert(1)%3C%2Fscript%3E", None)
    assert hostile.status_code == 404 and "alert(1)" not in hostile.body.decode()

    # what the page's script sends: the form's fields as JSON, to the page's own URL
    sent = api.call("POST", f"/public/ratings/{token}", None, {"score": 4, "comment": "师傅很专业"})
    assert sent.status_code == 200, sent.data
    rated = api.call("GET", f"/v1/tickets/{tid}", tenant).data["ticket"]["rating"]
    assert rated["score"] == 4 and rated["comment"] == "师傅很专业" and rated["by"] == "customer"
    again = api.call("GET", f"/public/ratings/{token}", None).body.decode()
    assert "<form" not in again and "已评价" in again


def test_a_customers_message_opens_the_template_the_tenants_intake_rules_pick(
    container, api: Api, tenant: TenantKeys
):
    own = {
        "id": "ac_service",
        "type": "ac_service",
        "name": "空调服务",
        "fields": [{"key": "issue", "label": "问题", "type": "text", "required": True}],
        "workflow_id": "wf_repair",
    }
    assert api.call("PUT", "/v1/ticket-templates/ac_service", tenant, own).status_code == 200
    settings = api.call("GET", "/v1/ticket-settings", tenant).data
    assert settings["intake_rules"] == [] and settings["default_template_id"] is None

    unknown = {**settings, "intake_rules": [{"keyword": "空调", "template_id": "nope"}]}
    refused = api.call("PUT", "/v1/ticket-settings", tenant, unknown)
    assert refused.status_code == 400
    assert "intake_rules[0].template_id" in str(refused.data)
    assert api.call("GET", "/v1/ticket-settings", tenant).data["intake_rules"] == []  # nothing stored

    rules = {
        **settings,
        "intake_rules": [{"category": "repair", "template_id": "ac_service"}],
        "default_template_id": "ac_service",
    }
    saved = api.call("PUT", "/v1/ticket-settings", tenant, rules)
    assert saved.status_code == 200, saved.data
    assert saved.data["intake_rules"] == [
        {"keyword": None, "category": "repair", "template_id": "ac_service"}
    ]

    # what the WeCom callback and the ingest worker call for a customer's message
    def message(text: str, ref: str) -> Ticket | None:
        cid = customer(api, tenant, phone=f"1390000{ref[-4:]}")
        return container.tickets.from_customer_message(
            tenant_id=tenant.tenant_id,
            customer_id=cid,
            text=text,
            at=container.clock.now(),
            source=TicketSource.WECOM,
            ref=ref,
        )

    by_category = message("空调坏了要维修", "m-0001")
    assert by_category is not None and by_category.template_id == "ac_service"
    assert by_category.fields == {"issue": "空调坏了要维修"}
    by_default = message("家里冒烟了", "m-0002")  # an urgency keyword alone: the default, not the preset
    assert by_default is not None and by_default.template_id == "ac_service"
    assert by_default.priority == "urgent"
    other = message("想换货", "m-0003")  # another category: the template its words hint at
    assert other is not None and other.template_id == "return_exchange"
