"""The ticket issue's acceptance scenario on the real local stack (moto runs the SLA timer's state machine):
a customer writes 空调漏水 on WeCom → an urgent repair ticket → assigned to the best engineer of the region
with the score stored → yellow then red escalation while nobody acts → the engineer resolves → the customer
rates 2 → a follow-up ticket."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.conftest import Stack, bearer

ALL_DAY = [["00:00", "00:00"]]  # a 24-hour shift every day: the test runs at any hour


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_wecom_message_to_follow_up(stack: Stack):
    tenant = json.loads(stack.cli("tenant", "create", "--name", "工单验收").stdout)
    admin = bearer(tenant["api_key"])
    http = httpx.Client(base_url=stack.url, timeout=30)

    def user(name: str, role: str, scope: str) -> dict[str, Any]:
        resp = http.post("/v1/users", headers=admin, json={"name": name, "role": role, "scope": scope})
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    east, north = user("华东师傅", "engineer", "region:华东"), user("华北师傅", "engineer", "region:华北")
    agent = user("客服", "agent", "all")
    user("华东店长", "manager", "store:SH-001")
    for engineer, region, level in ((east, "华东", 4), (north, "华北", 5)):
        profile = {
            "region": region,
            "skills": {"appliance_repair": level},
            "capacity": 5,
            "shifts": {str(d): ALL_DAY for d in range(7)},
            "wecom_userid": f"wx_{engineer['id'][-6:]}",
        }
        resp = http.put(f"/v1/staff/{engineer['id']}", headers=admin, json=profile)
        assert resp.status_code == 200, resp.text
    # Seconds instead of hours so the test can watch the escalations: 75 % → yellow, 100 % → red.
    policy = {
        "id": "standard",
        "name": "验收",
        "calendar_id": "24x7",
        "targets": {"urgent": {"first_response": "PT8S", "resolution": "PT1H"}},
    }
    assert http.put("/v1/sla-policies/standard", headers=admin, json=policy).status_code == 200
    customer = http.post(
        "/v1/customers",
        headers=admin,
        json={
            "name": "韩梅梅",
            "phone": "13700000001",
            "region": "华东",
            "store": "SH-001",
            "identities": [{"type": "wecom_external_userid", "value": "wmAccept01"}],
        },
    ).json()

    # 1. the customer writes on WeCom (the chat-archive puller pushes it)
    message = {
        "msgid": "accept-1",
        "from": "wmAccept01",
        "tolist": ["zhangsan"],
        "msgtime": int(time.time() * 1000),
        "msgtype": "text",
        "text": "你好，家里空调漏水了，地板都湿了",
    }
    assert (
        http.post("/v1/conversations/messages", headers=admin, json={"messages": [message]}).status_code
        == 202
    )

    # 2. an urgent repair ticket, assigned to the best engineer of the region, with the score stored
    def ticket() -> dict[str, Any] | None:
        items = http.get(f"/v1/customers/{customer['id']}/tickets", headers=admin).json()["items"]
        return items[0] if items else None

    t = wait_for("the ticket", ticket)
    assert t["type"] == "repair" and t["priority"] == "urgent" and t["urgent_keywords"] == ["漏水"]
    tid = t["id"]
    assigned = wait_for("the assignment", lambda: (ticket() or {}).get("assignment"))
    assert assigned["assignee_id"] == east["id"]  # 华北 has the higher skill but the wrong region
    assert assigned["score"] and float(assigned["score"]["total"]) > 0

    # 3. nobody acts: yellow, then red (the SLA timer is a Step Functions execution on moto)
    def escalations() -> list[str]:
        history = http.get(f"/v1/tickets/{tid}", headers=admin).json()["history"]
        return [h["action"] for h in history if h["action"].startswith("sla.")]

    wait_for("yellow", lambda: "sla.yellow" in escalations(), timeout=45)
    wait_for("red", lambda: "sla.red" in escalations(), timeout=45)
    assert escalations().count("sla.yellow") == 1 and escalations().count("sla.red") == 1
    sent = http.get(f"/v1/tickets/{tid}/notifications", headers=admin).json()["items"]
    assert {d["request"]["event"] for d in sent} >= {"sla.yellow", "sla.red", "ticket.assigned"}
    told = [
        d
        for d in sent
        if d["request"]["event"] == "ticket.assigned" and d["request"]["recipient_kind"] == "user"
    ]
    assert [d["request"]["recipient_id"] for d in told] == [east["id"]]

    # the tenant has no WeCom app configured: the local stack catches the message in its outbox (sent)
    def caught() -> list[dict[str, Any]]:
        entries = http.get("/local/outbox.json", params={"tenant": tenant["tenant_id"]}).json()["entries"]
        return [e for e in entries if e["delivery_id"] == told[0]["id"]]

    [entry] = wait_for("the assignment message in the outbox", caught)
    assert entry["channel"] == "wecom" and entry["recipient"] == f"wx_{east['id'][-6:]}"
    assert "<html" in http.get("/local/outbox").text

    # 4. the engineer resolves, the agent closes it with the customer
    for who, action in ((agent, "assign"), (east, "resolve"), (agent, "confirm")):
        resp = http.post(
            f"/v1/tickets/{tid}/transitions", headers=bearer(who["api_key"]), json={"action": action}
        )
        assert resp.status_code == 200, resp.text
    assert resp.json()["ticket"]["status"] == "closed"

    # 5. the customer rates 2 through the link of the rating request → a follow-up ticket
    def rating_link() -> str | None:
        sent = http.get(f"/v1/tickets/{tid}/notifications", headers=admin).json()["items"]
        found = [d for d in sent if d["request"]["event"] == "rating.requested"]
        return str(found[0]["request"]["data"]["link"]) if found else None

    link = wait_for("the rating request", rating_link)
    token = link.rsplit("/", 1)[1]
    rated = http.post(f"/public/ratings/{token}", json={"score": 2, "comment": "等了太久"})
    assert rated.status_code == 200, rated.text
    follow_up = wait_for(
        "the follow-up",
        lambda: [
            x
            for x in http.get(f"/v1/customers/{customer['id']}/tickets", headers=admin).json()["items"]
            if x["source"] == "follow_up"
        ],
    )
    assert len(follow_up) == 1 and follow_up[0]["source_ref"] == tid and follow_up[0]["priority"] == "high"
