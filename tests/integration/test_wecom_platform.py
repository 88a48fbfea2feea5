"""WeCom and WeChat as documented (issue 14), end to end on moto: callbacks through the webhook route, the
ingest queue and its worker, outbound calls to the fake WeCom API (tests/fakes/wecom_api.py); staff app
messages through the ticket routes, the events and notify queues and their workers."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib.integrations.wecom.crypto import WeComCrypto
from chalicelib.resources import INGEST_QUEUE
from tests.fakes.clock import FrozenClock
from tests.fakes.wecom_api import FakeWeComApi
from tests.integration.conftest import Api, TenantKeys, drain

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "wecom_callback_vectors.json").read_text()
)
CORP = VECTORS["corp_id"]


@pytest.fixture
def wecom(api: Api, tenant: TenantKeys, clock: FrozenClock, wecom_api: FakeWeComApi) -> TenantKeys:
    settings = {
        "corp_id": CORP,
        "token": VECTORS["token"],
        "encoding_aes_key": VECTORS["encoding_aes_key"],
        "secret": "app-secret-0123456789",
        "agent_id": 1000002,
    }
    resp = api.call("PUT", "/v1/integrations/wecom", tenant, settings)
    assert resp.status_code == 200, resp.data
    wecom_api.clock = clock
    return tenant


def callback(api: Api, tenant_id: str, clock: FrozenClock, *elements: str) -> None:
    """A callback WeCom sends now: the event XML (CreateTime = now), encrypted and signed as WeCom does."""
    crypto = WeComCrypto(VECTORS["token"], VECTORS["encoding_aes_key"], CORP)
    ts = str(int(clock.now().timestamp()))
    plaintext = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><CreateTime>{ts}</CreateTime>"
    plaintext += "".join(elements) + "</xml>"
    encrypted, signature = crypto.encrypt(plaintext, nonce="n1", timestamp=ts)
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    query = urlencode({"msg_signature": signature, "timestamp": ts, "nonce": "n1"})
    resp = api.call(
        "POST",
        f"/webhooks/wecom/{tenant_id}?{query}",
        None,
        raw=body.encode(),
        headers={"Content-Type": "text/xml"},
    )
    assert resp.status_code == 200 and resp.body == b"success"


def cdata(name: str, value: str) -> str:
    return f"<{name}><![CDATA[{value}]]></{name}>"


def event(name: str, change: str | None = None, *more: str) -> tuple[str, ...]:
    head = (cdata("FromUserName", "sys"), cdata("MsgType", "event"), cdata("Event", name))
    return head + ((cdata("ChangeType", change),) if change else ()) + more


def contact(change: str, external: str, user: str = "ZhangSan", *more: str) -> tuple[str, ...]:
    return event(
        "change_external_contact", change, cdata("UserID", user), cdata("ExternalUserID", external), *more
    )


def customer_view(api: Api, tenant: TenantKeys, external: str) -> dict[str, Any]:
    for c in api.call("GET", "/v1/customers?limit=100", tenant).data["items"]:
        if {"type": "wecom_external_userid", "value": external} in c["identities"]:
            return dict(api.call("GET", f"/v1/customers/{c['id']}", tenant).data)
    raise AssertionError(f"no customer for {external}")


def inbox_kinds(api: Api, tenant: TenantKeys, clock: FrozenClock) -> list[str]:
    items = api.call("GET", f"/v1/inbox?month={clock.now():%Y-%m}", tenant).data["items"]
    return [i["kind"] for i in items]


def no_visibility_timeout() -> None:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=INGEST_QUEUE.name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})


# -- 微信客服 ------------------------------------------------------------------------------------------------
def kf_records(now: datetime) -> list[dict[str, Any]]:
    """As sync_msg returns them (path/94670): events name their customer inside `event`."""
    t = int(now.timestamp())

    def ev(msgid: str, **e: Any) -> dict[str, Any]:
        return {
            "msgid": msgid,
            "send_time": t,
            "origin": 4,
            "msgtype": "event",
            "event": {"open_kfid": "wkKF", **e},
        }

    return [
        {"msgid": "m1", "open_kfid": "wkKF", "external_userid": "wmKfA", "send_time": t, "origin": 3,
         "msgtype": "text", "text": {"content": "你好"}},
        ev("e1", event_type="enter_session", external_userid="wmKfB", scene="store_qr", scene_param="SH-001",
           welcome_code="WELCOME"),
        ev("e2", event_type="msg_send_fail", external_userid="wmKfA", fail_msgid="s1", fail_type=10),
        ev("e3", event_type="session_status_change", external_userid="wmKfB", change_type=1,
           new_servicer_userid="ZhangSan"),
        ev("e4", event_type="servicer_status_change", servicer_userid="ZhangSan", status=2),
        ev("e5", event_type="user_recall_msg", external_userid="wmKfA", recall_msgid="m1"),
    ]  # fmt: skip


def test_kf_events_reach_their_handlers_and_a_retry_after_the_token_expired_resumes_from_the_cursor(
    api: Api, wecom: TenantKeys, clock: FrozenClock, wecom_api: FakeWeComApi
):
    wecom_api.kf_messages = kf_records(clock.now())  # three pages of two
    wecom_api.kf_tokens["kf-token-1"] = clock.now()
    wecom_api.kf_fail_calls = {2}  # the second page cannot be fetched this time
    no_visibility_timeout()
    callback(
        api,
        wecom.tenant_id,
        clock,
        *event("kf_msg_or_event", None, cdata("Token", "kf-token-1"), cdata("OpenKfId", "wkKF")),
    )
    first = drain(INGEST_QUEUE.name, max_batches=1)
    assert first["failed"] == 1  # back on the queue
    clock.advance(minutes=11)  # the callback's Token (10 minutes) has expired
    assert drain(INGEST_QUEUE.name)["failed"] == 0

    pulls = [b for p, b in wecom_api.requests if p == "/kf/sync_msg"]
    assert [(b.get("token"), b.get("cursor")) for b in pulls] == [
        ("kf-token-1", None),
        ("kf-token-1", "2"),  # failed
        (None, "2"),  # the retry: from the saved cursor, no expired token
        (None, "4"),
    ]
    b = customer_view(api, wecom, "wmKfB")
    entered = next(e for e in b["timeline"] if e["kind"] == "wecom_kf.session_entered")
    assert entered["data"]["scene"] == "store_qr" and entered["data"]["welcome_code_offered"] is True
    assert "WELCOME" not in json.dumps(b)
    assert "wecom_kf.session_changed" in {e["kind"] for e in b["timeline"]}
    a = {e["kind"] for e in customer_view(api, wecom, "wmKfA")["timeline"]}
    assert {"wecom_kf.message", "wecom_kf.send_failed", "wecom_kf.message_recalled"} <= a
    assert inbox_kinds(api, wecom, clock).count("wecom_kf:servicer") == 1  # no customer: kept, not dropped


# -- staff app messages --------------------------------------------------------------------------------
def test_a_staff_message_to_a_userid_differing_only_in_case_is_reported_undeliverable(
    api: Api, wecom: TenantKeys, wecom_api: FakeWeComApi
):
    """WeCom names undeliverable recipients lower-cased (path/90236): the engineer's profile says
    `ZhangSan`, WeCom answers `unlicenseduser: zhangsan`; the delivery is dead, not sent. A ticket
    auto-assigned to each of two engineers (one per region) tells each through the notify worker."""
    wecom_api.app_members = {"zhangsan", "lisi"}
    wecom_api.unlicensed = {"zhangsan"}
    tickets = {}
    for who, userid, region in (("engineer", "ZhangSan", "华东"), ("agent_all", "LiSi", "华南")):
        profile = {
            "region": region,
            "skills": {"appliance_repair": 3},
            "shifts": {str(d): [["00:00", "23:59"]] for d in range(7)},
            "wecom_userid": userid,
        }
        assert api.call("PUT", f"/v1/staff/{wecom.user_ids[who]}", wecom, profile).status_code == 200
        cid = api.call("POST", "/v1/customers", wecom, {"name": f"客户{who}", "region": region}).data["id"]
        body = {"template_id": "repair", "customer_id": cid, "fields": {"fault_description": "漏水"}}
        tickets[userid] = api.call("POST", "/v1/tickets", wecom, body, role="agent_all").data["ticket"]["id"]
        drain("scrm-events")  # auto-assigned: the engineer is to be told
        drain("scrm-notify")
    for userid, status in (("ZhangSan", "dead"), ("LiSi", "sent")):
        log = api.call("GET", f"/v1/tickets/{tickets[userid]}/notifications", wecom).data["items"]
        [staff] = [d for d in log if d["request"]["recipient_kind"] == "user"]
        assert (staff["channel"], staff["status"]) == ("wecom", status), staff
    assert [m["touser"] for m in wecom_api.sent] == ["ZhangSan", "LiSi"]  # one try each: not retried


# -- contacts ---------------------------------------------------------------------------------------------
def test_chat_archive_consent_is_recorded_on_the_members_follow_with_its_time(
    api: Api, wecom: TenantKeys, clock: FrozenClock, wecom_api: FakeWeComApi
):
    wecom_api.contacts["wmArc"] = {"name": "王五"}
    callback(api, wecom.tenant_id, clock, *contact("add_external_contact", "wmArc"))
    clock.advance(minutes=3)
    approved_at = clock.now()
    callback(api, wecom.tenant_id, clock, *contact("msg_audit_approved", "wmArc", "zhangsan"))
    drain(INGEST_QUEUE.name)
    view = customer_view(api, wecom, "wmArc")
    [follow] = view["wecom_follows"]  # the same member, whatever the case WeCom used
    assert datetime.fromisoformat(follow["archive_approved_at"]) == approved_at
    assert "wecom.chat_archive_approved" in {e["kind"] for e in view["timeline"]}


def test_an_edit_syncs_each_members_remark_and_tags_from_follow_user(
    api: Api, wecom: TenantKeys, clock: FrozenClock, wecom_api: FakeWeComApi
):
    wecom_api.contacts["wmTag"] = {"name": "赵六"}
    gold = {"group_name": "等级", "tag_name": "金卡", "tag_id": "etGold", "type": 1}
    mine = {"group_name": "", "tag_name": "爱砍价", "type": 2}
    wecom_api.follow_users["wmTag"] = [
        {"userid": "ZhangSan", "remark": "老客户", "description": "买过空调", "createtime": 1763800000,
         "tags": [gold, mine]},
        {"userid": "lisi", "remark": "", "createtime": 1763700000, "state": "store_9", "tags": []},
    ]  # fmt: skip
    callback(api, wecom.tenant_id, clock, *contact("add_external_contact", "wmTag"))
    drain(INGEST_QUEUE.name)
    follows = {f["user_id"]: f for f in customer_view(api, wecom, "wmTag")["wecom_follows"]}
    assert follows["ZhangSan"]["remark"] == "老客户" and follows["ZhangSan"]["description"] == "买过空调"
    assert [(t["name"], t["tag_id"]) for t in follows["ZhangSan"]["tags"]] == [
        ("金卡", "etGold"),
        ("爱砍价", None),
    ]
    assert follows["lisi"]["state"] == "store_9"  # a member WeCom lists that we never saw add them
    wecom_api.follow_users["wmTag"][0].update(remark="VIP", tags=[mine])  # the member edits in WeCom
    clock.advance(seconds=30)
    callback(api, wecom.tenant_id, clock, *contact("edit_external_contact", "wmTag"))
    drain(INGEST_QUEUE.name)
    follows = {f["user_id"]: f for f in customer_view(api, wecom, "wmTag")["wecom_follows"]}
    assert follows["ZhangSan"]["remark"] == "VIP" and [t["name"] for t in follows["ZhangSan"]["tags"]] == [
        "爱砍价"
    ]


def test_acquisition_link_events_go_on_the_timeline_and_quota_events_to_the_inbox(
    api: Api, wecom: TenantKeys, clock: FrozenClock
):
    start = event(
        "customer_acquisition",
        "customer_start_chat",
        cdata("LinkId", "cawLink1"),
        cdata("UserID", "ZhangSan"),
        cdata("ExternalUserID", "wmAcq"),
    )
    callback(api, wecom.tenant_id, clock, *start)
    callback(api, wecom.tenant_id, clock, *event("customer_acquisition", "balance_exhausted"))
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    view = customer_view(api, wecom, "wmAcq")
    chat = next(e for e in view["timeline"] if e["kind"] == "wecom.acquisition.customer_start_chat")
    assert (
        chat["data"]["link_id"] == "cawLink1" and view["attributes"]["wecom_acquisition_link"] == "cawLink1"
    )
    assert "wecom:customer_acquisition:balance_exhausted" in inbox_kinds(api, wecom, clock)


# -- the org ----------------------------------------------------------------------------------------------
def test_the_org_is_mirrored_and_a_changed_userid_keeps_the_staff_user_linked(
    api: Api, wecom: TenantKeys, clock: FrozenClock, container
):
    user = {"name": "张三", "role": "agent", "scope": "own", "wecom_userid": "ZhangSan"}
    created = api.call("POST", "/v1/users", wecom, user)
    assert created.status_code == 201, created.data
    user_id = created.data["id"]
    party = event(
        "change_contact", "create_party", "<Id>2</Id>", cdata("Name", "华东区"), "<ParentId>1</ParentId>"
    )
    callback(api, wecom.tenant_id, clock, *party)
    member = event(
        "change_contact",
        "create_user",
        cdata("UserID", "ZhangSan"),
        cdata("Name", "张三"),
        cdata("Department", "2"),
        "<Status>1</Status>",
    )
    callback(api, wecom.tenant_id, clock, *member)
    drain(INGEST_QUEUE.name)
    view = container.wecom_org.member(wecom.tenant_id, "zhangsan")
    assert view.member.departments == [2] and view.user_id == user_id
    assert [d.name for d in container.wecom_org.departments(wecom.tenant_id)] == ["华东区"]

    clock.advance(seconds=10)
    rename = event(
        "change_contact", "update_user", cdata("UserID", "ZhangSan"), cdata("NewUserID", "zhangsan_sh")
    )
    callback(api, wecom.tenant_id, clock, *rename)
    drain(INGEST_QUEUE.name)
    moved = container.wecom_org.member(wecom.tenant_id, "zhangsan_sh")
    assert moved.member.name == "张三" and moved.user_id == user_id
    listed = api.call("GET", "/v1/users", wecom).data["items"]
    assert next(u for u in listed if u["id"] == user_id)["wecom_userid"] == "zhangsan_sh"

    clock.advance(seconds=10)
    callback(
        api, wecom.tenant_id, clock, *event("change_contact", "delete_user", cdata("UserID", "zhangsan_sh"))
    )
    drain(INGEST_QUEUE.name)
    assert container.wecom_org.member(wecom.tenant_id, "zhangsan_sh").member.deleted


# -- tags -------------------------------------------------------------------------------------------------
def test_rule_group_tags_are_read_with_the_strategy_api_and_a_vanished_tag_fetches_nothing_more(
    api: Api, wecom: TenantKeys, clock: FrozenClock, wecom_api: FakeWeComApi
):
    wecom_api.tag_groups = [
        {"group_id": "etOther", "group_name": "别的", "tag": [{"id": "etX", "name": "X"}]}
    ]
    wecom_api.strategy_tag_groups[5] = [
        {
            "group_id": "etSG",
            "group_name": "门店标签",
            "strategy_id": 5,
            "tag": [{"id": "etS1", "name": "徐汇店"}],
        }
    ]
    tag = ("<Id><![CDATA[etS1]]></Id>", cdata("TagType", "tag"), "<StrategyId>5</StrategyId>")
    callback(api, wecom.tenant_id, clock, *event("change_external_tag", "create", *tag))
    gone = ("<Id><![CDATA[etGone]]></Id>", cdata("TagType", "tag"))
    callback(api, wecom.tenant_id, clock, *event("change_external_tag", "create", *gone))
    assert drain(INGEST_QUEUE.name)["failed"] == 0
    names = {
        g["name"]: [t["name"] for t in g["tags"]]
        for g in api.call("GET", "/v1/tag-groups", wecom).data["items"]
    }
    assert names["门店标签"] == ["徐汇店"] and "别的" not in names
    asked = [(p.rsplit("/", 1)[1], b) for p, b in wecom_api.requests if "tag_list" in p]
    assert asked == [
        ("get_strategy_tag_list", {"strategy_id": 5, "tag_id": ["etS1"]}),
        ("get_strategy_tag_list", {"strategy_id": 5, "group_id": ["etSG"]}),
        ("get_corp_tag_list", {"tag_id": ["etGone"]}),  # nothing found: no second, empty, "everything" call
    ]


# -- failure modes ----------------------------------------------------------------------------------------
def test_a_refused_secret_is_kept_visible_once_not_retried(
    api: Api, wecom: TenantKeys, clock: FrozenClock, wecom_api: FakeWeComApi
):
    wecom_api.bad_secret = True
    no_visibility_timeout()
    callback(api, wecom.tenant_id, clock, *event("change_external_chat", "create", cdata("ChatId", "wrC")))
    callback(api, wecom.tenant_id, clock, *contact("add_external_contact", "wmCfg"))
    assert drain(INGEST_QUEUE.name) == {"delivered": 2, "failed": 0}
    kinds = inbox_kinds(api, wecom, clock)
    assert "wecom:external_chat:misconfigured" in kinds and "wecom_detail:misconfigured" in kinds
    assert wecom_api.calls == ["/gettoken"] * 2  # one try per callback, no refresh loop
    assert customer_view(api, wecom, "wmCfg")["timeline"][0]["kind"] == "wecom.contact_added"  # not lost


def test_a_rate_limit_sends_the_message_back_to_the_queue_and_it_succeeds_later(
    api: Api, wecom: TenantKeys, clock: FrozenClock, wecom_api: FakeWeComApi, container
):
    wecom_api.chats["wrC"] = {"chat_id": "wrC", "name": "福利群", "owner": "ZhangSan", "member_list": []}
    wecom_api.rate_limited = {"/externalcontact/groupchat/get"}
    no_visibility_timeout()
    callback(api, wecom.tenant_id, clock, *event("change_external_chat", "create", cdata("ChatId", "wrC")))
    assert drain(INGEST_QUEUE.name, max_batches=3)["failed"] == 3
    asked = [p for p in wecom_api.calls if p.endswith("groupchat/get")]
    assert len(asked) == 1  # held back after the first refusal: the retries did not ask WeCom again
    wecom_api.rate_limited = set()
    clock.advance(seconds=61)
    drain(INGEST_QUEUE.name)
    assert container.group_chats.get(wecom.tenant_id, "wrC")["name"] == "福利群"
