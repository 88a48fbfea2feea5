"""WeCom callbacks end to end on moto: Tencent's reference vectors through the HTTP routes, the ingest
queue and the worker; replay and duplicate deliveries; the same-second idempotency case."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib.integrations.wecom.crypto import WeComCrypto
from chalicelib.resources import INGEST_QUEUE
from tests.integration.conftest import Api, TenantKeys, drain

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "wecom_callback_vectors.json").read_text()
)


@pytest.fixture
def wecom(api: Api, tenant: TenantKeys, clock, wecom_api) -> TenantKeys:
    for i, v in enumerate(VECTORS["callbacks"]):
        if "<ExternalUserID>" in v["plaintext"]:
            external = v["plaintext"].split("<ExternalUserID><![CDATA[")[1].split("]]>")[0]
            wecom_api.contacts[external] = {
                "name": f"张三{i}",
                "unionid": f"oUnion{external[-4:]}",
                "gender": 1,
            }
    settings = {
        "corp_id": VECTORS["corp_id"],
        "token": VECTORS["token"],
        "encoding_aes_key": VECTORS["encoding_aes_key"],
        "secret": "app-secret-0123456789",
    }
    resp = api.call("PUT", "/v1/integrations/wecom", tenant, settings)
    assert resp.status_code == 200, resp.data
    assert VECTORS["token"] not in json.dumps(resp.data)
    clock.at = datetime.fromtimestamp(int(VECTORS["callbacks"][0]["timestamp"]), tz=UTC) + timedelta(
        seconds=30
    )
    return tenant


def queued() -> int:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=INGEST_QUEUE.name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def post(api: Api, tenant_id: str, vector: dict, clock=None) -> object:
    if clock is not None:  # receive it a few seconds after WeCom sent it
        clock.at = datetime.fromtimestamp(int(vector["timestamp"]), tz=UTC) + timedelta(seconds=3)
    query = urlencode({k: vector[k] for k in ("msg_signature", "timestamp", "nonce")})
    return api.call(
        "POST",
        f"/webhooks/wecom/{tenant_id}?{query}",
        None,
        raw=vector["body"].encode(),
        headers={"Content-Type": "text/xml"},
    )


def customers(api: Api, t: TenantKeys) -> list[dict]:
    return api.call("GET", "/v1/customers?limit=100", t).data["items"]


def test_url_verification_vectors(api: Api, wecom: TenantKeys):
    for v in VECTORS["url_verification"]:
        query = urlencode({k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")})
        resp = api.call("GET", f"/webhooks/wecom/{wecom.tenant_id}?{query}", None)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert resp.body == v["expected_reply"].encode()  # no quotes, BOM or newline


def test_url_verification_with_a_bad_signature_is_403(api: Api, wecom: TenantKeys):
    v = dict(VECTORS["url_verification"][0], msg_signature="0" * 40)
    query = urlencode({k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")})
    assert api.call("GET", f"/webhooks/wecom/{wecom.tenant_id}?{query}", None).status_code == 403


def test_every_callback_vector_is_acked_enqueued_and_processed(container, api: Api, wecom: TenantKeys, clock):
    for v in VECTORS["callbacks"]:
        resp = post(api, wecom.tenant_id, v, clock)
        assert resp.status_code == 200 and resp.body == b"success"
    assert queued() == len(VECTORS["callbacks"])
    result = drain(INGEST_QUEUE.name)  # contact details are fetched inline: no extra messages
    assert result == {"delivered": len(VECTORS["callbacks"]), "failed": 0}
    contacts = {
        c["identities"][0]["value"]
        for c in customers(api, wecom)
        if c["identities"] and c["identities"][0]["type"] == "wecom_external_userid"
    }
    added = {
        v["plaintext"].split("<ExternalUserID><![CDATA[")[1].split("]]>")[0]
        for v in VECTORS["callbacks"]
        if v["kind"] == "add_external_contact"
    }
    assert added <= contacts
    # what no handler maps yet is kept raw and visible
    month = datetime.fromtimestamp(int(VECTORS["callbacks"][0]["timestamp"]), tz=UTC).strftime("%Y-%m")
    inbox = api.call("GET", f"/v1/inbox?month={month}", wecom).data["items"]
    assert "wecom:text" in {i["kind"] for i in inbox}  # staff app messages stay visible as received
    # … and the one that reads like a request (我要退货) opened a return ticket, the other (a price question)
    # nothing; a redelivery of the vectors opens nothing twice
    for v in VECTORS["callbacks"]:
        post(api, wecom.tenant_id, v, clock)
    drain(INGEST_QUEUE.name)
    opened = [
        t
        for t in container.ticket_repo.open_tickets(wecom.tenant_id)
        if (t.source_ref or "").startswith("app:")
    ]
    assert [(t.type, t.source_ref) for t in opened] == [("return_exchange", "app:7000000000000000002")]


def test_bad_vectors_are_rejected_and_nothing_is_stored(api: Api, wecom: TenantKeys):
    expected = {
        "signature does not match": 403,
        "encrypted for another corp id (receive id mismatch)": 403,
        "body is not XML": 400,
    }
    for v in VECTORS["bad"]:
        resp = post(api, wecom.tenant_id, v)
        assert resp.status_code == expected[v["why"]], v["why"]
        assert set(resp.data["error"]) == {"code", "message", "details"}
    assert queued() == 0


def test_replayed_callback_outside_five_minutes_is_403(api: Api, wecom: TenantKeys, clock):
    clock.advance(minutes=10)
    assert post(api, wecom.tenant_id, VECTORS["callbacks"][0]).status_code == 403
    assert queued() == 0


def test_unconfigured_tenant_is_404(api: Api, other_tenant: TenantKeys, wecom: TenantKeys):
    assert post(api, other_tenant.tenant_id, VECTORS["callbacks"][0]).status_code == 404


def test_duplicate_delivery_has_one_effect(api: Api, wecom: TenantKeys):
    add = next(v for v in VECTORS["callbacks"] if v["kind"] == "add_external_contact")
    for _ in range(3):
        assert post(api, wecom.tenant_id, add).status_code == 200
    drain(INGEST_QUEUE.name)
    [customer] = customers(api, wecom)
    view = api.call("GET", f"/v1/customers/{customer['id']}", wecom).data
    assert [e["kind"] for e in view["timeline"]] == ["wecom.contact_added"]  # details in the same touch
    assert view["timeline"][0]["data"]["state"] == "store_0" and view["timeline"][0]["data"]["has_unionid"]
    assert view["name"].startswith("张三") and view["gender"] == "male"  # from externalcontact/get
    assert {"type": "unionid", "value": view["identities"][1]["value"]} in view["identities"]


def test_same_second_same_staff_different_customers_are_two_contacts(api: Api, wecom: TenantKeys):
    """The bug class of SCRMs that keyed events on CreateTime+FromUserName: both contacts must survive."""
    crypto = WeComCrypto(VECTORS["token"], VECTORS["encoding_aes_key"], VECTORS["corp_id"])
    ts = VECTORS["callbacks"][0]["timestamp"]
    for external in ("wmSameSecondAAAA", "wmSameSecondBBBB"):
        plaintext = (
            f"<xml><ToUserName><![CDATA[{VECTORS['corp_id']}]]></ToUserName><FromUserName><![CDATA[sys]]>"
            f"</FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA["
            "change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID>"
            f"<![CDATA[staff0]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID></xml>"
        )
        encrypted, signature = crypto.encrypt(plaintext, nonce="123", timestamp=ts)
        to_user = f"<ToUserName><![CDATA[{VECTORS['corp_id']}]]></ToUserName>"
        body = f"<xml>{to_user}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        resp = post(
            api, wecom.tenant_id, {"msg_signature": signature, "timestamp": ts, "nonce": "123", "body": body}
        )
        assert resp.status_code == 200
    drain(INGEST_QUEUE.name)
    values = sorted(c["identities"][0]["value"] for c in customers(api, wecom))
    assert values == ["wmSameSecondAAAA", "wmSameSecondBBBB"]


def test_contact_removed_keeps_the_customer_and_the_history(api: Api, wecom: TenantKeys, clock):
    by_kind = {v["kind"]: v for v in VECTORS["callbacks"]}
    for kind in ("add_external_contact", "del_follow_user", "del_external_contact"):
        assert post(api, wecom.tenant_id, by_kind[kind], clock).status_code == 200
    drain(INGEST_QUEUE.name)
    kinds = {
        e["kind"]
        for c in customers(api, wecom)
        for e in api.call("GET", f"/v1/customers/{c['id']}", wecom).data["timeline"]
    }
    assert {"wecom.contact_added", "wecom.contact_removed_by_customer"} <= kinds or {
        "wecom.contact_added",
        "wecom.contact_removed_by_staff",
    } <= kinds


def test_settings_validation_and_admin_only(api: Api, tenant: TenantKeys):
    bad = api.call(
        "PUT",
        "/v1/integrations/wecom",
        tenant,
        {"corp_id": "x", "token": "!", "encoding_aes_key": "short", "secret": "s"},
    )
    assert bad.status_code == 400
    assert {d["field"] for d in bad.data["error"]["details"]} == {
        "corp_id",
        "token",
        "encoding_aes_key",
        "secret",
    }
    ok = {
        "corp_id": VECTORS["corp_id"],
        "token": VECTORS["token"],
        "encoding_aes_key": VECTORS["encoding_aes_key"],
        "secret": "app-secret-0123456789",
    }
    assert api.call("PUT", "/v1/integrations/wecom", tenant, ok, role="manager_east").status_code == 403
    assert api.call("GET", "/v1/integrations/wecom", tenant).status_code == 404


def test_wecom_outage_never_loses_the_contact_and_details_arrive_later(
    api: Api, wecom: TenantKeys, wecom_api
):
    add = next(v for v in VECTORS["callbacks"] if v["kind"] == "add_external_contact")
    wecom_api.outage = True
    _no_visibility_timeout()  # so the test need not wait 120 s for the retry
    assert post(api, wecom.tenant_id, add).status_code == 200
    first = drain(INGEST_QUEUE.name, max_batches=2)
    assert first["failed"] >= 1  # the detail fetch failed and stays on the queue
    [customer] = customers(api, wecom)  # but the contact exists already, from what the event carried
    assert customer["name"].startswith("企业微信客户")
    wecom_api.outage = False
    drain(INGEST_QUEUE.name)
    assert customers(api, wecom)[0]["name"].startswith("张三")


def test_during_an_outage_wecom_is_left_alone_after_a_few_failures_and_probed_after_the_cooldown(
    api: Api, wecom: TenantKeys, wecom_api, clock, container, monkeypatch
):
    wecom_api.outage = True
    _no_visibility_timeout()
    added = [f"wmOUTAGE{i:02d}" for i in range(6)]
    for external in added:
        wecom_api.contacts[external] = {"name": f"李四{external[-2:]}", "gender": 2}
        inner = (
            "<FromUserName><![CDATA[sys]]></FromUserName><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event>"
            "<ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID>"
            f"<ExternalUserID><![CDATA[{external}]]></ExternalUserID>"
        )
        _post_plaintext(api, wecom.tenant_id, clock, inner)
    publisher = container.ingest_publisher
    sent: list[list[str]] = []
    real_publish = publisher.publish

    def publish(messages):
        sent.append([m["source"] for m in messages])
        real_publish(messages)

    monkeypatch.setattr(publisher, "publish", publish)
    drain(INGEST_QUEUE.name, max_batches=2)  # the callbacks, then one try of the queued detail fetches
    # The batch's six detail fetches went out together at its end (one SendMessageBatch), not one each.
    assert sent == [["wecom_detail"] * 6]
    # Three tries reached for WeCom (a token, as none is cached); then the breaker failed the rest at once.
    assert wecom_api.calls == ["/gettoken"] * 3
    assert len(customers(api, wecom)) == 6  # every contact exists from what its event carried
    wecom_api.outage = False
    drain(INGEST_QUEUE.name, max_batches=1)  # still within the cool-down: WeCom is not asked
    assert wecom_api.calls == ["/gettoken"] * 3
    clock.advance(seconds=31)
    drain(INGEST_QUEUE.name)
    names = {c["name"] for c in customers(api, wecom)}
    assert {f"李四{e[-2:]}" for e in added} <= names  # the details arrived once WeCom answered


def test_expired_token_is_refreshed_once_and_cached_between_calls(container, wecom: TenantKeys, wecom_api):
    client = container.wecom_client(wecom.tenant_id)
    external = next(iter(wecom_api.contacts))
    client.external_contact(external)
    client.external_contact(external)
    assert wecom_api.tokens_issued == 1  # cached in the table, shared by calls
    wecom_api.expire_next = True
    assert client.external_contact(external)["external_contact"]["name"].startswith("张三")
    assert wecom_api.tokens_issued == 2


def _no_visibility_timeout() -> None:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=INGEST_QUEUE.name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})


def _post_plaintext(api: Api, tenant_id: str, clock, inner: str) -> None:
    crypto = WeComCrypto(VECTORS["token"], VECTORS["encoding_aes_key"], VECTORS["corp_id"])
    ts = str(int(clock.now().timestamp()))
    plaintext = (
        f"<xml><ToUserName><![CDATA[{VECTORS['corp_id']}]]></ToUserName><CreateTime>{ts}</CreateTime>"
        f"{inner}</xml>"
    )
    encrypted, signature = crypto.encrypt(plaintext, nonce="7", timestamp=ts)
    to_user = f"<ToUserName><![CDATA[{VECTORS['corp_id']}]]></ToUserName>"
    body = f"<xml>{to_user}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    resp = post(api, tenant_id, {"msg_signature": signature, "timestamp": ts, "nonce": "7", "body": body})
    assert resp.status_code == 200


def test_customer_service_messages_are_pulled_onto_timelines(api: Api, wecom: TenantKeys, clock, wecom_api):
    wecom_api.kf_messages = [
        {
            "msgid": f"kf{i}",
            "open_kfid": "wkKF1",
            "external_userid": "wmKfCustomer01",
            "send_time": 1763856000 + i,
            "origin": 3 if i % 2 == 0 else 5,
            "msgtype": "text",
            "text": {"content": f"消息{i}"},
        }
        for i in range(5)
    ]
    inner = (
        "<FromUserName><![CDATA[sys]]></FromUserName><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[kf-token]]></Token>"
        "<OpenKfId><![CDATA[wkKF1]]></OpenKfId>"
    )
    _post_plaintext(api, wecom.tenant_id, clock, inner)
    clock.advance(seconds=1)
    _post_plaintext(
        api, wecom.tenant_id, clock, inner
    )  # a second callback: the saved cursor avoids a re-pull
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    [customer] = customers(api, wecom)
    kinds = [
        e["data"]["text"]
        for e in api.call("GET", f"/v1/customers/{customer['id']}", wecom).data["timeline"]
        if e["kind"] == "wecom_kf.message"
    ]
    assert sorted(kinds) == [f"消息{i}" for i in range(5)]


def test_group_chat_changes_are_kept(api: Api, wecom: TenantKeys, clock, wecom_api, container):
    wecom_api.chats["wrChat1"] = {
        "chat_id": "wrChat1",
        "name": "门店福利群",
        "owner": "staff0",
        "member_list": [{"userid": "staff0", "type": 1}, {"userid": "wmA", "type": 2}],
    }
    create = (
        "<FromUserName><![CDATA[sys]]></FromUserName><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrChat1]]></ChatId>"
        "<ChangeType><![CDATA[create]]></ChangeType>"
    )
    _post_plaintext(api, wecom.tenant_id, clock, create)
    drain(INGEST_QUEUE.name)
    chat = container.group_chats.get(wecom.tenant_id, "wrChat1")
    assert chat["name"] == "门店福利群" and len(chat["members"]) == 2 and not chat["dismissed"]
    clock.advance(seconds=5)
    _post_plaintext(api, wecom.tenant_id, clock, create.replace("[create]", "[dismiss]"))
    drain(INGEST_QUEUE.name)
    assert container.group_chats.get(wecom.tenant_id, "wrChat1")["dismissed"] is True


def _tag_event(change: str, tag_type: str, wecom_id: str) -> str:
    return (
        "<FromUserName><![CDATA[sys]]></FromUserName><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[change_external_tag]]></Event><Id><![CDATA[{wecom_id}]]></Id>"
        f"<TagType><![CDATA[{tag_type}]]></TagType><ChangeType><![CDATA[{change}]]></ChangeType>"
    )


def test_wecom_tag_catalogue_is_synced_and_renames_reach_customers(
    api: Api, wecom: TenantKeys, clock, wecom_api
):
    from chalicelib.resources import EVENTS_QUEUE

    wecom_api.tag_groups = [
        {
            "group_id": "etG1",
            "group_name": "会员等级",
            "tag": [{"id": "etT1", "name": "金卡"}, {"id": "etT2", "name": "银卡"}],
        }
    ]
    _post_plaintext(api, wecom.tenant_id, clock, _tag_event("create", "tag_group", "etG1"))
    drain(INGEST_QUEUE.name)
    groups = {g["name"]: g for g in api.call("GET", "/v1/tag-groups", wecom).data["items"]}
    gold = next(t for t in groups["会员等级"]["tags"] if t["name"] == "金卡")
    customer = api.call("POST", "/v1/customers", wecom, {"name": "金卡客户", "tags": [gold["id"]]}).data["id"]
    wecom_api.tag_groups[0]["tag"][0]["name"] = "黑金卡"
    clock.advance(seconds=2)
    _post_plaintext(api, wecom.tenant_id, clock, _tag_event("update", "tag", "etT1"))
    drain(INGEST_QUEUE.name)
    drain(EVENTS_QUEUE.name)  # the rename fans out to customers
    assert api.call("GET", f"/v1/customers/{customer}", wecom).data["tags"] == [
        {"id": gold["id"], "name": "黑金卡"}
    ]
    clock.advance(seconds=2)
    _post_plaintext(api, wecom.tenant_id, clock, _tag_event("delete", "tag", "etT1"))
    drain(INGEST_QUEUE.name)
    drain(EVENTS_QUEUE.name)
    assert api.call("GET", f"/v1/customers/{customer}", wecom).data["tags"] == []
    names = [t["name"] for g in api.call("GET", "/v1/tag-groups", wecom).data["items"] for t in g["tags"]]
    assert "黑金卡" not in names and "银卡" in names
