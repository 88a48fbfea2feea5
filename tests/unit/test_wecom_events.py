"""Decrypted WeCom XML -> typed events: the reference plaintexts, documented variants, and what is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.integrations.wecom.crypto import MalformedMessageError, WeComCrypto
from chalicelib.integrations.wecom.events import (
    CustomerAcquisitionEvent,
    DepartmentChangeEvent,
    ExternalChatEvent,
    ExternalContactEvent,
    ExternalTagEvent,
    KfMsgOrEvent,
    MemberChangeEvent,
    TextMessage,
    UnknownEvent,
    WeComEventBase,
    parse_event,
    wecom_event_adapter,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "wecom_callback_vectors.json").read_text("utf-8")
)
CORP_ID: str = VECTORS["corp_id"]

# The vectors' `kind` -> the model it must parse into.
KIND_MODELS: dict[str, type[WeComEventBase]] = {
    "add_external_contact": ExternalContactEvent,
    "edit_external_contact": ExternalContactEvent,
    "del_external_contact": ExternalContactEvent,
    "del_follow_user": ExternalContactEvent,
    "change_external_tag": ExternalTagEvent,
    "text": TextMessage,
}


def xml(*elements: str, create_time: int = 1763856000, from_user: str | None = "sys") -> str:
    head = f"<ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
    if from_user is not None:
        head += f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
    head += f"<CreateTime>{create_time}</CreateTime>"
    return "<xml>" + head + "".join(elements) + "</xml>"


def cdata(name: str, value: str) -> str:
    return f"<{name}><![CDATA[{value}]]></{name}>"


EVENT = cdata("MsgType", "event")


def contact_xml(change_type: str, *extra: str, external_user_id: str = "wmEXT00000000AAAA") -> str:
    return xml(
        EVENT,
        cdata("Event", "change_external_contact"),
        cdata("ChangeType", change_type),
        cdata("UserID", "staff0"),
        cdata("ExternalUserID", external_user_id),
        *extra,
    )


# --- the reference vectors ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["callbacks"], ids=lambda v: f"{v['kind']}-{v['nonce']}")
def test_reference_plaintexts_parse_into_the_model_for_their_kind(vector: dict[str, str]):
    event = parse_event(vector["plaintext"])
    assert type(event) is KIND_MODELS[vector["kind"]]
    assert event.raw_xml == vector["plaintext"]
    assert event.to_user_name == CORP_ID
    assert event.create_time == int(vector["timestamp"])
    if isinstance(event, ExternalContactEvent):
        assert event.change_type == vector["kind"]


@pytest.mark.parametrize("vector", VECTORS["callbacks"], ids=lambda v: f"{v['kind']}-{v['nonce']}")
def test_reference_callbacks_decrypt_and_parse_end_to_end(vector: dict[str, str]):
    plaintext = WeComCrypto(VECTORS["token"], VECTORS["encoding_aes_key"], CORP_ID).decrypt_callback(
        msg_signature=vector["msg_signature"],
        timestamp=vector["timestamp"],
        nonce=vector["nonce"],
        body=vector["body"].encode(),
    )
    assert type(parse_event(plaintext)) is KIND_MODELS[vector["kind"]]


def test_every_vector_kind_is_mapped():
    assert {v["kind"] for v in VECTORS["callbacks"]} <= set(KIND_MODELS)


def test_add_external_contact_fields():
    event = parse_event(VECTORS["callbacks"][0]["plaintext"])
    assert isinstance(event, ExternalContactEvent)
    assert (event.from_user_name, event.msg_type, event.event) == ("sys", "event", "change_external_contact")
    assert (event.user_id, event.external_user_id) == ("staff0", "wmEXT00000000AAAA")
    assert (event.state, event.welcome_code) == ("store_0", "WC000000")
    assert event.source is None and event.fail_reason is None and event.agent_id is None


def test_text_message_fields():
    vector = next(v for v in VECTORS["callbacks"] if v["kind"] == "text")
    event = parse_event(vector["plaintext"])
    assert isinstance(event, TextMessage)
    assert (event.from_user_name, event.content) == ("staff2", "我要退货")
    assert (event.msg_id, event.agent_id) == ("7000000000000000002", 1000002)


def test_tag_event_fields():
    vector = next(v for v in VECTORS["callbacks"] if v["kind"] == "change_external_tag")
    event = parse_event(vector["plaintext"])
    assert isinstance(event, ExternalTagEvent)
    assert (event.change_type, event.id, event.tag_type, event.strategy_id) == (
        "create",
        "etTAG0004",
        "tag",
        None,
    )


# --- documented variants the vectors do not show ------------------------------------------------------


def test_add_half_external_contact():
    event = parse_event(
        contact_xml("add_half_external_contact", cdata("State", "qr1"), cdata("WelcomeCode", "W"))
    )
    assert isinstance(event, ExternalContactEvent)
    assert (event.change_type, event.state, event.welcome_code) == ("add_half_external_contact", "qr1", "W")


def test_del_external_contact_by_transfer():
    event = parse_event(contact_xml("del_external_contact", cdata("Source", "DELETE_BY_TRANSFER")))
    assert isinstance(event, ExternalContactEvent)
    assert event.source == "DELETE_BY_TRANSFER"


def test_transfer_fail():
    event = parse_event(contact_xml("transfer_fail", cdata("FailReason", "customer_refused")))
    assert isinstance(event, ExternalContactEvent)
    assert event.fail_reason == "customer_refused"


def test_empty_optional_elements_mean_not_set():
    event = parse_event(contact_xml("add_external_contact", "<State></State>", cdata("WelcomeCode", "")))
    assert isinstance(event, ExternalContactEvent)
    assert event.state is None and event.welcome_code is None


def test_an_agent_id_inside_the_plaintext_is_read():
    event = parse_event(contact_xml("edit_external_contact", "<AgentID>1000005</AgentID>"))
    assert event.agent_id == 1000005


def test_tag_group_update_with_a_strategy():
    event = parse_event(
        xml(
            EVENT,
            cdata("Event", "change_external_tag"),
            cdata("Id", "etGROUP"),
            cdata("TagType", "tag_group"),
            cdata("ChangeType", "update"),
            "<StrategyId>1</StrategyId>",
        )
    )
    assert isinstance(event, ExternalTagEvent)
    assert (event.tag_type, event.strategy_id) == ("tag_group", 1)


def test_tag_shuffle_has_neither_id_nor_tag_type():
    event = parse_event(xml(EVENT, cdata("Event", "change_external_tag"), cdata("ChangeType", "shuffle")))
    assert isinstance(event, ExternalTagEvent)
    assert (event.change_type, event.id, event.tag_type) == ("shuffle", None, None)


def test_chat_update_with_members_in_the_documented_pretty_printed_form():
    plaintext = """<xml>
  <ToUserName><![CDATA[ww340869ed2875f42d]]></ToUserName>
  <FromUserName><![CDATA[sys]]></FromUserName>
  <CreateTime>1403610513</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[change_external_chat]]></Event>
  <ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId>
  <ChangeType><![CDATA[update]]></ChangeType>
  <UpdateDetail><![CDATA[add_member]]></UpdateDetail>
  <JoinScene>1</JoinScene>
  <QuitScene>0</QuitScene>
  <MemChangeCnt>2</MemChangeCnt>
  <MemChangeList>
    <Item><![CDATA[wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA]]></Item>
    <Item><![CDATA[wmOgQhDgAAuXFJGwbve4g4iXknfOBBBB]]></Item>
  </MemChangeList>
  <LastMemVer><![CDATA[9c3f97c2ada667dfb5f6d03308d963e1]]></LastMemVer>
  <CurMemVer><![CDATA[71217227bbd112ecfe3a49c482195cb4]]></CurMemVer>
</xml>"""
    event = parse_event(plaintext)
    assert isinstance(event, ExternalChatEvent)
    assert (event.chat_id, event.change_type, event.update_detail) == (
        "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
        "update",
        "add_member",
    )
    assert (event.join_scene, event.quit_scene, event.mem_change_cnt) == (1, 0, 2)
    assert event.mem_change_list == ["wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA", "wmOgQhDgAAuXFJGwbve4g4iXknfOBBBB"]
    assert (event.last_mem_ver, event.cur_mem_ver) == (
        "9c3f97c2ada667dfb5f6d03308d963e1",
        "71217227bbd112ecfe3a49c482195cb4",
    )


def test_chat_member_list_with_one_item_is_still_a_list():
    event = parse_event(
        xml(
            EVENT,
            cdata("Event", "change_external_chat"),
            cdata("ChatId", "wr1"),
            cdata("ChangeType", "update"),
            cdata("UpdateDetail", "del_member"),
            "<MemChangeList><Item><![CDATA[wmA]]></Item></MemChangeList>",
        )
    )
    assert isinstance(event, ExternalChatEvent)
    assert event.mem_change_list == ["wmA"]


@pytest.mark.parametrize("change_type", ["create", "dismiss"])
def test_chat_create_and_dismiss_carry_only_the_chat_id(change_type: str):
    event = parse_event(
        xml(
            EVENT,
            cdata("Event", "change_external_chat"),
            cdata("ChatId", "wr1"),
            cdata("ChangeType", change_type),
        )
    )
    assert isinstance(event, ExternalChatEvent)
    assert (event.chat_id, event.update_detail, event.mem_change_list) == ("wr1", None, None)


def test_kf_msg_or_event_without_from_user_name():
    event = parse_event(
        xml(
            EVENT,
            cdata("Event", "kf_msg_or_event"),
            cdata("Token", "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"),
            cdata("OpenKfId", "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"),
            from_user=None,
        )
    )
    assert isinstance(event, KfMsgOrEvent)
    assert (event.token, event.open_kf_id, event.from_user_name) == (
        "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR",
        "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw",
        "",
    )


def test_text_content_is_kept_exactly():
    content = "  退货\n请问 <b>&amp; ]]"
    plaintext = xml(
        cdata("MsgType", "text"),
        f"<Content>{escape(content)}</Content><MsgId>1</MsgId><AgentID>1000002</AgentID>",
        from_user="staff2",
    )
    event = parse_event(plaintext)
    assert isinstance(event, TextMessage)
    assert event.content == content


# --- nothing received is dropped ---------------------------------------------------------------------


def test_an_unmodelled_event_keeps_every_field():
    plaintext = xml(  # change_contact / update_tag (a member tag's members changed) is not modelled
        EVENT,
        cdata("Event", "change_contact"),
        cdata("ChangeType", "update_tag"),
        cdata("UserID", "staff0"),
        "<Department><![CDATA[1,2]]></Department>",
        "<ExtAttr><Item><Name>a</Name><Value>1</Value></Item><Item><Name>b</Name></Item></ExtAttr>",
        "<AgentID>1000002</AgentID>",
    )
    event = parse_event(plaintext)
    assert isinstance(event, UnknownEvent)
    assert (event.event, event.change_type, event.agent_id, event.parse_error) == (
        "change_contact",
        "update_tag",
        1000002,
        None,
    )
    assert event.fields["UserID"] == "staff0"
    assert event.fields["Department"] == "1,2"
    assert event.fields["ExtAttr"] == {"Item": [{"Name": "a", "Value": "1"}, {"Name": "b"}]}
    assert event.raw_xml == plaintext


def test_an_unmodelled_message_type_is_unknown():
    plaintext = xml(
        cdata("MsgType", "image"),
        cdata("PicUrl", "http://x"),
        "<MsgId>2</MsgId><AgentID>1</AgentID>",
        from_user="s",
    )
    event = parse_event(plaintext)
    assert isinstance(event, UnknownEvent)
    assert (event.msg_type, event.fields["PicUrl"]) == ("image", "http://x")


def test_a_new_change_type_is_kept_as_unknown_with_the_reason():
    event = parse_event(contact_xml("add_external_contact_v2"))
    assert isinstance(event, UnknownEvent)
    assert event.parse_error is not None and "change_type" in event.parse_error
    assert event.fields["ExternalUserID"] == "wmEXT00000000AAAA"


def test_a_duplicated_element_is_not_resolved_by_guessing():
    event = parse_event(contact_xml("add_external_contact", cdata("ExternalUserID", "wmOTHER")))
    assert isinstance(event, UnknownEvent)
    assert event.fields["ExternalUserID"] == ["wmEXT00000000AAAA", "wmOTHER"]


@pytest.mark.parametrize(
    "plaintext",
    [
        xml(EVENT, cdata("Event", "change_external_contact"), cdata("ChangeType", "add_external_contact")),
        xml(
            EVENT,
            cdata("Event", "change_external_tag"),
            cdata("ChangeType", "create"),
            cdata("TagType", "label"),
        ),
        xml(cdata("MsgType", "text"), "<Content>x</Content><MsgId>1</MsgId>"),  # no AgentID
        "<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event><Token>t</Token></xml>",
    ],
    ids=["contact without ids", "unknown tag type", "text without agent", "no envelope fields"],
)
def test_incomplete_known_events_become_unknown(plaintext: str):
    event = parse_event(plaintext)
    assert isinstance(event, UnknownEvent)
    assert event.parse_error
    assert event.raw_xml == plaintext


def test_unknown_event_without_create_time_still_parses():
    event = parse_event("<xml><MsgType>event</MsgType><Event>x</Event></xml>")
    assert isinstance(event, UnknownEvent)
    assert (event.create_time, event.to_user_name, event.event) == (0, "", "x")


# --- rejected input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [
        "",
        "{not xml",
        "<xml><ToUserName>x</xml>",
        """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>
<xml><Content>&b;</Content></xml>""",
        """<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>""",
        "<!DOCTYPE xml><xml/>",
    ],
    ids=["empty", "json", "unclosed", "entity bomb", "xxe", "dtd"],
)
def test_non_xml_and_dtds_are_malformed(plaintext: str):
    with pytest.raises(MalformedMessageError):
        parse_event(plaintext)


def test_an_xml_declaration_is_accepted():
    plaintext = '<?xml version="1.0" encoding="UTF-8"?>' + VECTORS["callbacks"][0]["plaintext"]
    assert isinstance(parse_event(plaintext), ExternalContactEvent)


# --- idempotency key ---------------------------------------------------------------------------------


def test_same_second_same_staff_different_customer_gives_different_keys():
    first = parse_event(contact_xml("add_external_contact", external_user_id="wmEXT_A"))
    second = parse_event(contact_xml("add_external_contact", external_user_id="wmEXT_B"))
    assert (first.create_time, first.from_user_name) == (second.create_time, second.from_user_name)
    assert isinstance(first, ExternalContactEvent) and isinstance(second, ExternalContactEvent)
    assert first.user_id == second.user_id
    assert first.event_key != second.event_key


def test_the_reference_add_event_differs_from_its_twin_only_by_customer():
    plaintext = VECTORS["callbacks"][0]["plaintext"]
    twin = plaintext.replace("wmEXT00000000AAAA", "wmEXT00000000BBBB")
    assert twin != plaintext
    assert parse_event(plaintext).event_key != parse_event(twin).event_key


def test_identical_plaintexts_have_the_same_key():
    plaintext = VECTORS["callbacks"][0]["plaintext"]
    assert parse_event(plaintext).event_key == parse_event(str(plaintext)).event_key
    assert len(parse_event(plaintext).event_key) == 64


def test_a_retry_re_encrypted_by_wecom_has_the_same_key():
    # WeCom retries with a new nonce, timestamp and random prefix: the ciphertext changes, the plaintext not.
    crypto = WeComCrypto(VECTORS["token"], VECTORS["encoding_aes_key"], CORP_ID)
    plaintext = VECTORS["callbacks"][0]["plaintext"]
    keys = set()
    for nonce, timestamp in [("1", "1763856000"), ("2", "1763856005")]:
        encrypted, signature = crypto.encrypt(plaintext, nonce=nonce, timestamp=timestamp)
        body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
        decrypted = crypto.decrypt_callback(
            msg_signature=signature, timestamp=timestamp, nonce=nonce, body=body
        )
        keys.add(parse_event(decrypted).event_key)
    assert len(keys) == 1


# --- serialization -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [v["plaintext"] for v in VECTORS["callbacks"]]
    + [xml(EVENT, cdata("Event", "change_contact"), "<ExtAttr><Item><Name>a</Name></Item></ExtAttr>")],
)
def test_events_survive_a_json_round_trip(plaintext: str):
    event = parse_event(plaintext)
    again = wecom_event_adapter().validate_json(wecom_event_adapter().dump_json(event))
    assert again == event
    assert type(again) is type(event)
    assert again.event_key == event.event_key


def test_events_are_immutable():
    event = parse_event(VECTORS["callbacks"][0]["plaintext"])
    with pytest.raises(ValueError):
        event.raw_xml = "<xml/>"  # type: ignore[misc]


_XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


@given(user_id=_XML_TEXT, external_user_id=_XML_TEXT, state=_XML_TEXT)
def test_contact_fields_come_back_exactly(user_id: str, external_user_id: str, state: str):
    plaintext = xml(
        EVENT,
        cdata("Event", "change_external_contact"),
        cdata("ChangeType", "add_external_contact"),
        f"<UserID>{escape(user_id)}</UserID>",
        f"<ExternalUserID>{escape(external_user_id)}</ExternalUserID>",
        f"<State>{escape(state)}</State>",
    )
    event = parse_event(plaintext)
    assert isinstance(event, ExternalContactEvent)
    assert (event.user_id, event.external_user_id, event.state) == (user_id, external_user_id, state)


# --- 会话存档 consent, 获客助手, 通讯录 (issue 14) ----------------------------------------------------


def test_msg_audit_approved_is_a_contact_event():
    """path/92005: the customer agreed to chat archiving with the member (UserID); WelcomeCode may follow."""
    event = parse_event(contact_xml("msg_audit_approved", cdata("WelcomeCode", "WC")))
    assert isinstance(event, ExternalContactEvent)
    assert (event.change_type, event.user_id, event.welcome_code) == ("msg_audit_approved", "staff0", "WC")


def test_customer_acquisition_start_chat_names_the_link_member_and_customer():
    plaintext = xml(
        EVENT,
        cdata("Event", "customer_acquisition"),
        cdata("ChangeType", "customer_start_chat"),
        cdata("LinkId", "cawcde"),
        cdata("UserID", "zhangsan"),
        cdata("ExternalUserID", "wmEXT1"),
    )
    event = parse_event(plaintext)
    assert isinstance(event, CustomerAcquisitionEvent)
    assert (event.link_id, event.user_id, event.external_user_id) == ("cawcde", "zhangsan", "wmEXT1")


def test_customer_acquisition_quota_event_names_no_customer_and_keeps_chat_key_out_of_the_model():
    plaintext = xml(
        EVENT,
        cdata("Event", "customer_acquisition"),
        cdata("ChangeType", "quota_expire_soon"),
        "<ExpireTime>1763900000</ExpireTime><ExpireQuotaNum>20</ExpireQuotaNum>",
        cdata("ChatKey", "secret-chat-key"),
    )
    event = parse_event(plaintext)
    assert isinstance(event, CustomerAcquisitionEvent)
    assert (event.external_user_id, event.expire_time, event.expire_quota_num) == (None, 1763900000, 20)
    assert "secret-chat-key" not in event.model_dump_json(exclude={"raw_xml"})


@pytest.mark.parametrize("change", ["create_user", "update_user"])
def test_member_change_reads_the_comma_separated_departments(change: str):
    plaintext = xml(
        EVENT,
        cdata("Event", "change_contact"),
        cdata("ChangeType", change),
        cdata("UserID", "ZhangSan"),
        cdata("NewUserID", "zhangsan2"),
        cdata("Name", "张三"),
        cdata("Department", "1,2,3"),
        "<MainDepartment>2</MainDepartment><Status>1</Status>",
        cdata("Position", "店长"),
    )
    event = parse_event(plaintext)
    assert isinstance(event, MemberChangeEvent)
    assert (event.user_id, event.new_user_id, event.name) == ("ZhangSan", "zhangsan2", "张三")
    assert (event.department, event.main_department, event.status) == ([1, 2, 3], 2, 1)


def test_delete_user_carries_only_the_userid():
    plaintext = xml(
        EVENT, cdata("Event", "change_contact"), cdata("ChangeType", "delete_user"), cdata("UserID", "a")
    )
    event = parse_event(plaintext)
    assert isinstance(event, MemberChangeEvent) and event.name is None and event.department is None


def test_department_change():
    plaintext = xml(
        EVENT,
        cdata("Event", "change_contact"),
        cdata("ChangeType", "create_party"),
        "<Id>2</Id>",
        cdata("Name", "华东区"),
        "<ParentId>1</ParentId><Order>100</Order>",
    )
    event = parse_event(plaintext)
    assert isinstance(event, DepartmentChangeEvent)
    assert (event.id, event.name, event.parent_id, event.order) == (2, "华东区", 1, 100)


def test_a_member_event_with_a_bad_department_list_is_kept_as_unknown():
    plaintext = xml(
        EVENT,
        cdata("Event", "change_contact"),
        cdata("ChangeType", "update_user"),
        cdata("UserID", "a"),
        cdata("Department", "1,x"),
    )
    event = parse_event(plaintext)
    assert isinstance(event, UnknownEvent) and "department" in (event.parse_error or "")
