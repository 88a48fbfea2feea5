"""Real answers, through chalice.test.Client, are what /openapi.json says: a documented status, the documented
content type, and a body its schema accepts (jsonschema, Draft 2020-12, formats checked). A representative
tour: customers, tags, templates (a new one at version 0), calendars (local times "09:00:00"), tickets,
staff, settlement rules, pricing, parts, errors, a 204. tests/e2e/test_api_fuzz.py covers every route."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.integration.conftest import Api, TenantKeys


@pytest.fixture
def doc(api: Api) -> dict[str, Any]:
    resp = api.call("GET", "/openapi.json", None)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    return dict(resp.data)


def conforms(doc: dict[str, Any], resp: Any, method: str, template: str) -> Any:
    """Assert the answer is one the operation documents; returns its JSON."""
    op = doc["paths"][template][method.lower()]
    documented = op["responses"].get(str(resp.status_code))
    assert documented is not None, f"{method} {template}: {resp.status_code} not in {sorted(op['responses'])}"
    content = documented.get("content")
    if not content:
        assert not resp.body, f"{method} {template}: a body where none is documented"
        return None
    media = resp.headers.get("Content-Type", "").split(";")[0]
    assert media in content, f"{method} {template}: {media} not in {sorted(content)}"
    schema = content[media]["schema"]
    validator = Draft202012Validator(
        {**schema, "components": doc["components"]}, format_checker=FormatChecker()
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(resp.data)]
    assert errors == [], f"{method} {template}"
    return resp.data


def test_a_tour_of_the_api_answers_as_documented(api: Api, tenant: TenantKeys, doc: dict[str, Any]) -> None:
    def call(
        method: str, template: str, body: Any = None, headers: dict[str, str] | None = None, **params: str
    ):
        resp = api.call(method, template.format(**params), tenant, body, headers=headers)
        return resp, conforms(doc, resp, method, template)

    call("GET", "/v1/me")
    call("GET", "/v1/tenant")
    call("GET", "/health")

    group = call("POST", "/v1/tag-groups", {"name": "等级", "tags": ["金卡"]})[1]
    call("GET", "/v1/tag-groups")
    resp, customer = call(
        "POST",
        "/v1/customers",
        {"name": "王芳", "phone": "+8613812345678", "tags": ["金卡"], "attributes": {"level": "gold"}},
    )
    assert resp.status_code == 201
    cid = customer["id"]
    call("GET", "/v1/customers")
    call("GET", "/v1/customers/{customer_id}", customer_id=cid)
    call("PATCH", "/v1/customers/{customer_id}", {"region": "华东"}, {"If-Match": '"1"'}, customer_id=cid)
    call("GET", "/v1/customers/{customer_id}/timeline", customer_id=cid)
    call("GET", "/v1/customers/by-identity/{id_type}/{value}", id_type="phone", value="+8613812345678")

    call("GET", "/v1/ticket-templates")
    template = call("GET", "/v1/ticket-templates/{template_id}", template_id="repair")[1]
    # A new template is sent at version 0, as the route says; it is stored at version 1.
    new = {**template, "id": "repair_vip", "name": "VIP 维修", "version": 0}
    resp, saved = call("PUT", "/v1/ticket-templates/{template_id}", new, template_id="repair_vip")
    assert resp.status_code == 200 and saved["version"] == 1
    call("GET", "/v1/workflows")
    call("GET", "/v1/sla-policies")
    calendars = call("GET", "/v1/calendars")[1]
    calendar = {**calendars["items"][0], "hours": {"0": [["09:00", "18:00"]]}}
    saved_calendar = call("PUT", "/v1/calendars/{calendar_id}", calendar, calendar_id=calendar["id"])[1]
    assert saved_calendar["hours"]["0"] == [["09:00:00", "18:00:00"]]  # what the time pattern must accept

    resp, view = call(
        "POST",
        "/v1/tickets",
        {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "不制冷"}},
    )
    assert resp.status_code == 201
    call("GET", "/v1/tickets/{ticket_id}", ticket_id=view["ticket"]["id"])
    c360 = call("GET", "/v1/customers/{customer_id}", customer_id=cid)[1]
    assert c360["tickets"][0]["id"] == view["ticket"]["id"]  # entries checked against their documented fields
    call("GET", "/v1/tickets")
    call("GET", "/v1/customers/{customer_id}/tickets", customer_id=cid)

    engineer = tenant.user_ids["engineer"]
    call(
        "PUT",
        "/v1/staff/{user_id}",
        {"skills": {"repair": 3}, "shifts": {"0": [["09:00", "18:00"]]}, "version": 0},
        user_id=engineer,
    )
    call("GET", "/v1/staff")
    call("GET", "/v1/assignment-weights")
    call("GET", "/v1/assignment-queue")

    split = {
        "kind": "split",
        "id": "rule_ticket",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00+08:00",
        "shares": [{"role": "engineer", "percent": "70"}, {"role": "platform", "percent": "30"}],
    }
    assert call("POST", "/v1/settlement-rules", {"rule": split})[0].status_code == 201
    call("GET", "/v1/settlement-rules")

    call("POST", "/v1/price-rules", {"item": "aircon_repair", "price": "120.00"})
    call("GET", "/v1/price-rules")
    call("POST", "/v1/quotes", {"items": [{"item": "aircon_repair", "quantity": 1}]})
    call(
        "PUT",
        "/v1/parts/{sku}",
        {"sku": "AC-1", "name": "压缩机", "unit_cost": "80.00", "price": "150.00", "version": 0},
        sku="AC-1",
    )
    call("GET", "/v1/parts")

    # Errors are documented and in the one shape.
    assert call("GET", "/v1/customers/{customer_id}", customer_id="c_missing")[0].status_code == 404
    assert call("POST", "/v1/customers", {"name": ""})[0].status_code == 400
    # And a 204 has no body.
    assert call("DELETE", "/v1/tag-groups/{group_id}", group_id=group["id"])[0].status_code == 204


def test_an_unknown_time_zone_is_a_400_naming_the_field_not_a_500(api: Api, tenant: TenantKeys) -> None:
    """Found by schemathesis: ZoneInfo's not-found error is a KeyError, which pydantic does not turn into a
    validation error, so the notification policy's quiet-hours zone answered 500."""
    resp = api.call("PUT", "/v1/notification-policy", tenant, {"quiet_hours": {"timezone": "Â"}})
    assert resp.status_code == 400
    assert resp.data["error"]["details"][0]["field"] == "quiet_hours.timezone"
    assert (
        api.call("GET", "/v1/notification-policy", tenant).data["quiet_hours"]["timezone"] == "Asia/Shanghai"
    )
