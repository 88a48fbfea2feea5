"""Privacy requests (a customer's data, a customer's or a shop's erasure): what is erased and what is kept.

Erasure anonymises rather than deletes: the profile stays (its id is what orders, tickets and settlement
postings point at, and the accounts must still add up) but nothing on it or on its timeline identifies the
person any more. docs/integrations.md lists field by field what goes and what stays."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.customers import Customer, Gender, WeComFollow
from chalicelib.domain.timeline import TimelineEvent

REDACTED_NAME = "已删除的客户"  # "a deleted customer": shown where the name was
REDACTED_AT = "_redacted_at"  # internal attribute (hidden from the API): when the profile was erased
# What an order's timeline event keeps: the accounting facts, none of which names the buyer.
_ORDER_FACTS = ("platform", "shop_id", "order_id", "status", "platform_event", "total_amount")


class PrivacyRequestKind(StrEnum):
    DATA_REQUEST = "data_request"
    CUSTOMER_REDACTION = "customer_redaction"
    SHOP_REDACTION = "shop_redaction"


class PrivacyRequest(BaseModel):
    """The record kept of a privacy request and of what was done about it (for the merchant and for
    audits). It names customers by our ids only: no phone, e-mail or name."""

    model_config = ConfigDict(extra="forbid")

    id: str
    tenant_id: str
    kind: PrivacyRequestKind
    platform: str
    shop_id: str
    source_key: str  # the delivery's dedupe key
    request_ref: str | None = None  # the platform's own id of the request, when it gives one
    shop_customer_id: str | None = None  # the platform's customer id the request names
    orders: list[str] = Field(default_factory=list)  # the platform order ids it names
    received_at: datetime
    completed_at: datetime
    customer_ids: list[str] = Field(default_factory=list)  # our customers it concerned
    erased: list[str] = Field(default_factory=list)  # anonymised in full
    detached: list[str] = Field(default_factory=list)  # only what the shop brought was removed
    has_export: bool = False  # a data request's export is kept with the record (GET …/export)
    counts: dict[str, int] = Field(default_factory=dict)  # what the export or the erasure covered


def is_redacted(customer: Customer) -> bool:
    return REDACTED_AT in customer.attributes


def erase_customer(customer: Customer, *, now: datetime) -> Customer:
    """The profile with nothing left that identifies the person: name, phones, e-mail, every identity
    (their claims are released when the change is saved), gender, birthday, attributes (WeCom avatar and
    company, shop tags, anything imported), the values earlier merges set aside, and what is on its WeCom
    follows besides who and when (the channel code, the member's remarks and tags). Kept: the id, tags
    (segments, not identifiers), scope (region, store, owner), which staff followed them and when, recent
    orders (platform, order id, status, total) and dates. Erasing an erased profile changes nothing."""
    after = customer.model_copy(deep=True)
    after.name = REDACTED_NAME
    after.phone = None
    after.other_phones = []
    after.email = None
    after.identities = []
    after.gender = Gender.UNKNOWN
    after.birthday = None
    after.attributes = {REDACTED_AT: customer.attributes.get(REDACTED_AT) or now.isoformat()}
    after.history = {}
    # Who followed them and when stays; anything else on a follow (the channel code, what the member
    # noted about them in WeCom) goes, including fields added to WeComFollow later.
    after.wecom_follows = [
        WeComFollow(user_id=f.user_id, added_at=f.added_at, removed_at=f.removed_at, removed_by=f.removed_by)
        for f in customer.wecom_follows
    ]
    if after == customer:
        return customer
    after.version = customer.version + 1
    after.updated_at = now
    return after


def only_from(customer: Customer, platform: str) -> bool:
    """Whether everything that identifies the customer came from the platform: no identity besides its
    buyer id and phones. (A phone cannot tell where it came from, so it does not count either way.)"""
    buyer = f"{platform}_buyer_id"
    return all(i.type == buyer for i in customer.identities)


def detach_platform(customer: Customer, platform: str, *, now: datetime) -> Customer:
    """What a shop brought, removed from a customer other channels also know: the platform's buyer id, the
    e-mail (only shops send one) and the platform's attributes (`shopify_tags`, …)."""
    after = customer.model_copy(deep=True)
    buyer = f"{platform}_buyer_id"
    after.identities = [i for i in customer.identities if i.type != buyer]
    after.email = None
    prefixes = (f"{platform}_", f"_{platform}_")
    after.attributes = {k: v for k, v in customer.attributes.items() if not k.startswith(prefixes)}
    if after == customer:
        return customer
    after.version = customer.version + 1
    after.updated_at = now
    return after


def erase_event(event: TimelineEvent) -> TimelineEvent | None:
    """A timeline event with nothing personal in it, or None when it has nothing to erase. The event stays
    (when, what kind, which source and actor); its data goes, except an order event's accounting facts."""
    if event.data.get("redacted") is True:
        return None
    facts = (
        {k: event.data[k] for k in _ORDER_FACTS if k in event.data} if event.kind.startswith("order.") else {}
    )
    return event.model_copy(update={"data": {**facts, "redacted": True}})


def export_customer(customer: Customer) -> dict[str, Any]:
    """A profile as the person may read it: every field we hold, phones and e-mail in clear."""
    data = customer.model_dump(mode="json", exclude={"applied", "version"})
    data["attributes"] = {k: v for k, v in customer.attributes.items() if not k.startswith("_")}
    return data
