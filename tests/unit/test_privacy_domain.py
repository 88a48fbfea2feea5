"""What an erasure removes and keeps (domain/privacy.py), without any store."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chalicelib.domain.customers import Customer, Gender, Identity, WeComFollow, mask_email
from chalicelib.domain.privacy import (
    REDACTED_AT,
    REDACTED_NAME,
    detach_platform,
    erase_customer,
    erase_event,
    export_customer,
    is_redacted,
    only_from,
)
from chalicelib.domain.timeline import Actor, ActorType, TimelineEvent

T0 = datetime(2024, 5, 1, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def customer(**changes: object) -> Customer:
    base = Customer(
        id="cus_1",
        tenant_id="t1",
        name="李娜",
        phone="+8613912345678",
        other_phones=["+8613812345678"],
        email="li.na@example.com",
        gender=Gender.FEMALE,
        birthday=date(1990, 1, 2),
        region="east",
        store="hz-01",
        owner_id="u1",
        attributes={"shopify_tags": ["vip"], "_shopify_name": "李娜", "wecom_avatar": "https://x/a.png"},
        identities=[
            Identity(type="shopify_buyer_id", value="7390217502812"),
            Identity(type="wecom_external_userid", value="wmABC"),
        ],
        tags={"tag_1": "VIP"},
        wecom_follows=[WeComFollow(user_id="zhangsan", state="store-hz-01", added_at=T0)],
        history={"name": ["Li Na"]},
        recent_orders=[{"platform": "shopify", "order_id": "1", "status": "paid", "total_amount": "9.90"}],
        created_at=T0,
        updated_at=T0,
        version=3,
    )
    return base.model_copy(update=changes)


def test_erasure_removes_everything_that_identifies_the_person():
    before = customer()
    after = erase_customer(before, now=NOW)
    assert after.name == REDACTED_NAME
    assert (after.phone, after.other_phones, after.email, after.identities) == (None, [], None, [])
    assert (after.gender, after.birthday, after.history) == (Gender.UNKNOWN, None, {})
    assert after.attributes == {REDACTED_AT: NOW.isoformat()} and is_redacted(after)
    assert after.all_identities() == []  # every claim is released when the change is saved
    assert after.wecom_follows == [WeComFollow(user_id="zhangsan", added_at=T0)]  # who and when only
    # kept: the id, scope, tags, recent orders (no personal data), dates
    assert (after.id, after.region, after.store, after.owner_id) == ("cus_1", "east", "hz-01", "u1")
    assert after.tags == before.tags and after.recent_orders == before.recent_orders
    assert (after.version, after.updated_at, after.created_at) == (4, NOW, T0)
    assert before.phone == "+8613912345678"  # a new object; the original is untouched


def test_erasing_twice_changes_nothing_the_second_time():
    once = erase_customer(customer(), now=NOW)
    assert erase_customer(once, now=datetime(2025, 1, 1, tzinfo=UTC)) is once


def test_a_shop_only_customer_versus_one_other_channels_know():
    wecom_too = customer()
    assert not only_from(wecom_too, "shopify")
    shop_only = customer(identities=[Identity(type="shopify_buyer_id", value="1")])
    assert only_from(shop_only, "shopify")  # phones do not count either way
    detached = detach_platform(wecom_too, "shopify", now=NOW)
    assert detached.identities == [Identity(type="wecom_external_userid", value="wmABC")]
    assert detached.email is None and detached.phone == wecom_too.phone and detached.name == "李娜"
    assert detached.attributes == {"wecom_avatar": "https://x/a.png"}
    assert detach_platform(detached, "shopify", now=NOW) is detached


def test_timeline_events_keep_what_happened_and_an_order_keeps_its_accounting_facts():
    actor = Actor(type=ActorType.INTEGRATION, id="wecom_kf")
    chat = TimelineEvent.record(
        tenant_id="t1",
        customer_id="cus_1",
        kind="wecom_kf.message",
        at=T0,
        actor=actor,
        source="wecom_kf",
        data={"text": "我的手机号是13912345678", "msgid": "m1"},
    )
    scrubbed = erase_event(chat)
    assert scrubbed is not None and scrubbed.data == {"redacted": True}
    assert (scrubbed.id, scrubbed.kind, scrubbed.at, scrubbed.actor) == (chat.id, chat.kind, chat.at, actor)
    assert erase_event(scrubbed) is None  # nothing left to erase
    paid = chat.model_copy(
        update={
            "kind": "order.paid",
            "data": {"platform": "shopify", "order_id": "1", "total_amount": "9.90", "buyer_name": "李娜"},
        }
    )
    kept = erase_event(paid)
    assert kept is not None
    assert kept.data == {"platform": "shopify", "order_id": "1", "total_amount": "9.90", "redacted": True}


def test_the_export_shows_personal_data_in_clear_but_not_internal_fields():
    data = export_customer(customer())
    assert data["phone"] == "+8613912345678" and data["email"] == "li.na@example.com"
    assert "_shopify_name" not in data["attributes"] and "applied" not in data


def test_mask_email():
    assert mask_email("li.na@example.com") == "l***@example.com"
    assert mask_email("broken") == "***"
