"""The local outbox: on the local stage a notification on a tenant without any channel configured is caught
(recorded and reported sent) instead of failing "not configured", and `scrm outbox` lists it; on another
stage the same notification fails as before."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from chalicelib import bootstrap
from chalicelib.cli import app
from chalicelib.domain.notifications import Channel, DeliveryStatus, NotificationRequest, RecipientKind
from chalicelib.local import outbox_page
from tests.integration.conftest import Api, TenantKeys


def _customer(api: Api, tenant: TenantKeys) -> str:
    created = api.call("POST", "/v1/customers", tenant, {"name": "李雷", "phone": "13900000001"})
    assert created.status_code == 201, created.data
    return str(created.data["id"])


def _assigned(tenant_id: str, customer_id: str, key: str) -> NotificationRequest:
    return NotificationRequest(
        tenant_id=tenant_id,
        event="ticket.assigned",
        recipient_kind=RecipientKind.CUSTOMER,
        recipient_id=customer_id,
        channel=Channel.SMS,
        data={"ticket_id": "TK1", "engineer": "张工", "title": "空调不制冷", "status": "assigned"},
        idempotency_key=key,
        ticket_id="TK1",
    )


def _outbox(*args: str) -> dict:
    result = CliRunner().invoke(app, ["--aws", "outbox", *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_locally_a_notification_lands_in_the_outbox_and_the_cli_lists_it(
    container: bootstrap.Container, api: Api, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    container.settings = container.settings.model_copy(update={"stage": "local"})
    customer_id = _customer(api, tenant)

    [delivery] = container.notifications.submit([_assigned(tenant.tenant_id, customer_id, "k1")])
    sent = container.notifications.deliver(tenant.tenant_id, delivery.id)

    assert sent is not None and sent.status is DeliveryStatus.SENT
    listed = _outbox("--tenant", tenant.tenant_id)
    assert listed["count"] == 1
    [entry] = listed["entries"]
    assert entry["channel"] == "sms" and entry["recipient"] == "139****0001"  # masked, as in the log
    assert entry["event"] == "ticket.assigned" and entry["delivery_id"] == delivery.id
    assert "TK1" in entry["text"] and "张工" in entry["text"]
    assert _outbox("--tenant", other_tenant.tenant_id)["count"] == 0
    # Without --tenant: every registered tenant's, newest first.
    assert [e["delivery_id"] for e in _outbox()["entries"]] == [delivery.id]
    # The local API's page shows the same, escaped, and as JSON.
    status, headers, body = outbox_page.respond("/local/outbox?limit=5", "text/html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "139****0001" in body.decode() and delivery.id in body.decode()
    status, _, body = outbox_page.respond(f"/local/outbox.json?tenant={tenant.tenant_id}", "")
    assert status == 200 and json.loads(body)["entries"] == listed["entries"]
    status, _, body = outbox_page.respond("/local/outbox?limit=0", "")
    assert status == 400 and "limit" in body.decode()


def test_on_another_stage_an_unconfigured_channel_still_fails(
    container: bootstrap.Container, api: Api, tenant: TenantKeys
) -> None:
    assert container.settings.stage != "local"
    customer_id = _customer(api, tenant)

    [delivery] = container.notifications.submit([_assigned(tenant.tenant_id, customer_id, "k1")])

    assert delivery.status is DeliveryStatus.FAILED
    assert "sms: not configured" in (delivery.reason or "")
    assert container.outbox.newest(tenant.tenant_id, limit=10) == []
