"""Staff contact details (WeCom userid, phone) on the staff profile: written through the API, the phone
stored only encrypted and shown masked, and resolved by the address book so that notifications to staff
(SLA escalations) find an address."""

from __future__ import annotations

import json
from typing import Any

import boto3

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.notifications import Channel, DeliveryStatus, NotificationRequest, RecipientKind
from chalicelib.store import keys
from tests.integration.conftest import Api, TenantKeys

PHONE, E164, MASKED = "138-1234-5678", "+8613812345678", "138****5678"


def put_staff(api: Api, tenant: TenantKeys, user_id: str, **body: Any) -> Any:
    return api.call("PUT", f"/v1/staff/{user_id}", tenant, {"region": "华东", **body})


def listed(api: Api, tenant: TenantKeys, user_id: str) -> dict[str, Any]:
    resp = api.call("GET", "/v1/staff", tenant)
    assert resp.status_code == 200, resp.data
    return next(r for r in resp.data["items"] if r["profile"]["user_id"] == user_id)


def raw_item(tenant: TenantKeys, user_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(get_settings().table_name)
    item = table.get_item(Key={"pk": keys.staff_pk(tenant.tenant_id), "sk": keys.staff_sk(user_id)})["Item"]
    assert isinstance(item, dict)
    return item


def sla_red(tenant: TenantKeys, user_id: str, key: str) -> NotificationRequest:
    return NotificationRequest(
        tenant_id=tenant.tenant_id,
        event="sla.red",
        recipient_kind=RecipientKind.USER,
        recipient_id=user_id,
        data={"ticket_id": "TK1", "title": "空调不制冷", "deadline": "18:00", "url": "https://x"},
        idempotency_key=key,
        ticket_id="TK1",
        channel=Channel.WECOM,
    )


def test_contacts_are_stored_encrypted_and_shown_masked(api: Api, tenant: TenantKeys) -> None:
    eng = tenant.user_ids["engineer"]
    resp = put_staff(api, tenant, eng, wecom_userid="zhangsan", phone=PHONE)
    assert resp.status_code == 200, resp.data
    assert resp.data["profile"]["wecom_userid"] == "zhangsan"
    assert resp.data["profile"]["phone"] == MASKED
    record = listed(api, tenant, eng)
    assert (record["profile"]["wecom_userid"], record["profile"]["phone"]) == ("zhangsan", MASKED)
    assert E164 not in json.dumps(api.call("GET", "/v1/staff", tenant).data)

    item = raw_item(tenant, eng)
    flat = json.dumps(item, default=str)
    for digits in (E164, "13812345678", "12345678", MASKED):
        assert digits not in flat
    doc = json.loads(item["doc"])
    assert "phone" not in doc and doc["phone_enc"].startswith("v1:")

    # A GET → PUT round trip (the masked number sent back) or leaving the phone out keeps it; null removes it.
    version = record["version"]
    resp = put_staff(api, tenant, eng, wecom_userid="zhangsan", phone=MASKED, capacity=3, version=version)
    assert resp.status_code == 200, resp.data
    resp = put_staff(api, tenant, eng, wecom_userid="zhangsan", version=version + 1)
    assert resp.status_code == 200, resp.data
    assert resp.data["profile"]["phone"] == MASKED
    repo = bootstrap.container().staff_repo
    stored = repo.get(tenant.tenant_id, eng)
    assert stored is not None and stored.profile.phone == E164
    resp = put_staff(api, tenant, eng, phone="139****0000", version=version + 2)  # not the stored one
    assert resp.status_code == 400, resp.data
    resp = put_staff(api, tenant, eng, phone="12345", version=version + 2)
    assert resp.status_code == 400, resp.data
    resp = put_staff(api, tenant, eng, phone=None, version=version + 2)
    assert resp.status_code == 200, resp.data
    assert resp.data["profile"]["phone"] is None and resp.data["profile"]["wecom_userid"] is None
    assert "phone_enc" not in json.loads(raw_item(tenant, eng)["doc"])


def test_profile_writes_leave_open_load_alone(api: Api, tenant: TenantKeys, container) -> None:
    eng = tenant.user_ids["engineer"]
    assert put_staff(api, tenant, eng, phone=PHONE).status_code == 200
    table = boto3.resource("dynamodb").Table(get_settings().table_name)
    key = {"pk": keys.staff_pk(tenant.tenant_id), "sk": keys.staff_sk(eng)}
    table.update_item(Key=key, UpdateExpression="SET open_load = :n", ExpressionAttributeValues={":n": 2})
    resp = put_staff(api, tenant, eng, wecom_userid="zs", version=1)
    assert resp.status_code == 200, resp.data
    assert resp.data["profile"]["open_load"] == 2 and resp.data["profile"]["phone"] == MASKED


def test_the_address_book_resolves_staff_and_staff_notifications_are_queued(
    api: Api, tenant: TenantKeys, container: bootstrap.Container
) -> None:
    eng, nobody = tenant.user_ids["engineer"], tenant.user_ids["agent_all"]
    assert put_staff(api, tenant, eng, wecom_userid="zhangsan", phone=PHONE).status_code == 200
    settings = {
        "corp_id": "ww0123456789",
        "token": "token123",
        "encoding_aes_key": "a" * 43,
        "secret": "app-secret-0123456789",
        "agent_id": 1000002,
    }
    assert api.call("PUT", "/v1/integrations/wecom", tenant, settings).status_code == 200

    book = container.notifications._addresses
    assert book.addresses(tenant.tenant_id, RecipientKind.USER, eng) == {
        Channel.WECOM: "zhangsan",
        Channel.SMS: E164,
        Channel.VOICE: E164,
    }
    assert book.addresses(tenant.tenant_id, RecipientKind.USER, nobody) == {}  # no staff profile

    [delivery] = container.notifications.submit([sla_red(tenant, eng, "sla.red:TK1:eng")])
    assert delivery.status is DeliveryStatus.QUEUED, delivery.reason
    assert (delivery.channel, delivery.address) == (Channel.WECOM, "zhangsan")
    [unreachable] = container.notifications.submit([sla_red(tenant, nobody, "sla.red:TK1:nobody")])
    assert unreachable.status is DeliveryStatus.FAILED and "no address" in (unreachable.reason or "")
