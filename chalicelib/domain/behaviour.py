"""Behaviour events from H5 pages, mini-programs and official sites, and the per-customer counters that
later rules read instead of scanning timelines."""

from __future__ import annotations

import json
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.customers import Customer, IdentityIn

COUNTER_DAYS = 30  # daily buckets kept per counter: enough for 7/30-day windows
MAX_PROPERTIES_BYTES = 4096


class BehaviourType(StrEnum):
    PAGE_VIEW = "page_view"
    PRODUCT_VIEW = "product_view"
    ADD_TO_CART = "add_to_cart"
    COUPON_CLAIMED = "coupon_claimed"
    OA_SUBSCRIBE = "oa_subscribe"  # 关注公众号
    OA_UNSUBSCRIBE = "oa_unsubscribe"


class BehaviourEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=128, description="the sender's id: a resend is a no-op")
    type: BehaviourType
    occurred_at: AwareDatetime
    identities: list[IdentityIn] = Field(min_length=1, max_length=10)
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _small(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(v, ensure_ascii=False, default=str).encode()) > MAX_PROPERTIES_BYTES:
            raise ValueError(f"properties take at most {MAX_PROPERTIES_BYTES} bytes")
        return v


class BehaviourBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[BehaviourEventIn] = Field(min_length=1, max_length=500)


def counter_names(event: BehaviourEventIn) -> list[str]:
    """Which counters an event increments: the type, and the type per category when it has one."""
    names = [event.type.value]
    category = event.properties.get("category")
    if isinstance(category, str) and category:
        names.append(f"{event.type.value}:category={category[:40]}")
    return names


def count(customer: Customer, event: BehaviourEventIn) -> None:
    """Add the event to the customer's daily counters and drop buckets older than COUNTER_DAYS."""
    day = event.occurred_at.date()
    counters: dict[str, dict[str, int]] = customer.attributes.setdefault("_counters", {})
    for name in counter_names(event):
        buckets = counters.setdefault(name, {})
        buckets[day.isoformat()] = buckets.get(day.isoformat(), 0) + 1
        newest = max(date.fromisoformat(d) for d in buckets)
        for d in [d for d in buckets if date.fromisoformat(d) <= newest - timedelta(days=COUNTER_DAYS)]:
            del buckets[d]


def window_total(customer: Customer, name: str, *, days: int, today: date) -> int:
    """E.g. product views of category 奶粉 in the last 7 days."""
    buckets = customer.attributes.get("_counters", {}).get(name, {})
    start = today - timedelta(days=days - 1)
    return sum(n for d, n in buckets.items() if start <= date.fromisoformat(d) <= today)
