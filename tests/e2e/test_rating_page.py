"""The customer's rating link in a real headless Chromium on a phone-sized screen: the page the link opens
shows the form, a tap on a star and "提交评价" record the rating, and the page says thanks."""

from __future__ import annotations

import json
import shutil
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, bearer
from tests.e2e.test_ticket_scenario import ALL_DAY, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Chromium is not installed: `make browser` (apt-get install chromium, as root) installs it",
)


def test_the_rating_link_opens_a_form_that_records_the_rating(stack: Stack) -> None:
    from playwright.sync_api import sync_playwright

    tenant = json.loads(stack.cli("tenant", "create", "--name", "评价页验收").stdout)
    admin = bearer(tenant["api_key"])
    http = httpx.Client(base_url=stack.url, timeout=30)

    def user(role: str) -> dict[str, Any]:
        resp = http.post("/v1/users", headers=admin, json={"name": role, "role": role, "scope": "all"})
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    engineer, agent = user("engineer"), user("agent")
    profile = {"skills": {"appliance_repair": 3}, "shifts": {str(d): ALL_DAY for d in range(7)}}
    assert http.put(f"/v1/staff/{engineer['id']}", headers=admin, json=profile).status_code == 200
    customer = http.post("/v1/customers", headers=admin, json={"name": "顾客", "phone": "13700000009"}).json()
    draft = {
        "template_id": "repair",
        "customer_id": customer["id"],
        "fields": {"fault_description": "不制冷"},
    }
    created = http.post("/v1/tickets", headers=admin, json=draft)
    assert created.status_code == 201, created.text
    tid = created.json()["ticket"]["id"]

    def act(who: dict[str, Any], action: str) -> None:
        resp = http.post(
            f"/v1/tickets/{tid}/transitions", headers=bearer(who["api_key"]), json={"action": action}
        )
        assert resp.status_code == 200, resp.text

    act(agent, "accept")
    wait_for(
        "the assignment", lambda: http.get(f"/v1/tickets/{tid}", headers=admin).json()["ticket"]["assignment"]
    )
    for who, action in ((agent, "assign"), (engineer, "resolve"), (agent, "confirm")):
        act(who, action)

    def rating_link() -> str | None:
        sent = http.get(f"/v1/tickets/{tid}/notifications", headers=admin).json()["items"]
        found = [d for d in sent if d["request"]["event"] == "rating.requested"]
        return str(found[0]["request"]["data"]["link"]) if found else None

    token = wait_for("the rating request", rating_link).rsplit("/", 1)[1]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{stack.url}/public/ratings/{token}")
        page.get_by_label("4 分 满意").check()
        page.get_by_label("意见或建议（选填）").fill("师傅准时，修得很好")
        page.get_by_role("button", name="提交评价").click()
        page.get_by_role("status").filter(has_text="感谢您的评价").wait_for(timeout=15000)
        assert errors == []
        browser.close()

    rating = http.get(f"/v1/tickets/{tid}", headers=admin).json()["ticket"]["rating"]
    assert rating["score"] == 4 and rating["comment"] == "师傅准时，修得很好" and rating["by"] == "customer"
