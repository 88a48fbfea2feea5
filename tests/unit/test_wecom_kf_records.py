"""微信客服 sync_msg records → typed messages and events (domain/wecom_kf.py), following path/94670: events
name their customer inside `event`, and the callback Token is sent only while it is valid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.wecom_kf import (
    EnterSession,
    KfEventRecord,
    KfMessage,
    KfUnparsed,
    MessageRecalled,
    MsgSendFail,
    ServicerStatusChange,
    SessionStatusChange,
    parse_record,
    usable_token,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def event_record(event: dict[str, Any], msgid: str = "ev1") -> dict[str, Any]:
    """As sync_msg returns an event: no open_kfid / external_userid at the top level."""
    return {"msgid": msgid, "send_time": 1763888400, "origin": 4, "msgtype": "event", "event": event}


def test_a_text_message_names_its_customer_at_the_top():
    record = parse_record(
        {
            "msgid": "m1",
            "open_kfid": "wkKF",
            "external_userid": "wmC1",
            "send_time": 1763888400,
            "origin": 3,
            "msgtype": "text",
            "text": {"content": "我要退货", "menu_id": "101"},
        }
    )
    assert isinstance(record, KfMessage)
    assert (record.external_userid, record.content, record.from_customer) == ("wmC1", "我要退货", True)


def test_enter_session_reads_the_customer_and_welcome_code_from_inside_event():
    record = parse_record(
        event_record(
            {
                "event_type": "enter_session",
                "open_kfid": "wkKF",
                "external_userid": "wmC2",
                "scene": "store_qr",
                "scene_param": "SH-001",
                "welcome_code": "aaaaaa",
            }
        )
    )
    assert isinstance(record, KfEventRecord) and isinstance(record.event, EnterSession)
    assert record.external_userid == "wmC2"
    assert record.event.welcome_code == "aaaaaa"
    data = record.event.timeline_data()
    assert data["scene"] == "store_qr" and data["welcome_code_offered"] is True
    assert "aaaaaa" not in str(data)  # a one-off credential does not go on the timeline


@pytest.mark.parametrize(
    ("event", "model"),
    [
        ({"event_type": "msg_send_fail", "fail_msgid": "m9", "fail_type": 4}, MsgSendFail),
        (
            {
                "event_type": "session_status_change",
                "change_type": 3,
                "old_servicer_userid": "a",
                "msg_code": "c",
            },
            SessionStatusChange,
        ),
        ({"event_type": "user_recall_msg", "recall_msgid": "m3"}, MessageRecalled),
        (
            {"event_type": "servicer_recall_msg", "recall_msgid": "m4", "servicer_userid": "a"},
            MessageRecalled,
        ),
    ],
)
def test_customer_events_reach_their_model(event: dict[str, Any], model: type):
    record = parse_record(event_record({**event, "open_kfid": "wkKF", "external_userid": "wmC3"}))
    assert isinstance(record, KfEventRecord) and isinstance(record.event, model)
    assert record.external_userid == "wmC3"
    assert "msg_code" not in record.event.timeline_data()


def test_a_servicer_status_change_names_no_customer():
    record = parse_record(
        event_record(
            {"event_type": "servicer_status_change", "open_kfid": "wkKF", "servicer_userid": "a", "status": 2}
        )
    )
    assert isinstance(record, KfEventRecord) and isinstance(record.event, ServicerStatusChange)
    assert record.external_userid is None


@pytest.mark.parametrize(
    "raw",
    [
        event_record({"event_type": "a_new_event", "open_kfid": "wkKF"}),
        event_record({"event_type": "enter_session", "open_kfid": "wkKF"}),  # no customer
        {"msgid": "m", "send_time": 1, "origin": 3, "msgtype": "text"},  # a message without its customer
    ],
)
def test_what_no_model_fits_is_kept_with_the_reason(raw: dict[str, Any]):
    record = parse_record(raw)
    assert isinstance(record, KfUnparsed) and record.raw == raw and record.reason


def test_the_token_is_sent_while_valid_and_not_after():
    assert usable_token("tok", issued_at=T0, now=T0 + timedelta(minutes=8)) == "tok"
    # a minute's margin before the documented 10 minutes: clocks differ and the pull takes time
    assert usable_token("tok", issued_at=T0, now=T0 + timedelta(minutes=9)) is None
    assert usable_token("tok", issued_at=T0, now=T0 + timedelta(minutes=11)) is None
    assert usable_token("", issued_at=T0, now=T0) is None
