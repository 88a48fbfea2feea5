"""A replenishment request shown with the stock of now, not of when the episode began."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.inventory import LowStock, Stock, suggested_quantity


def test_the_suggestion_brings_the_stock_back_to_twice_the_threshold_and_is_at_least_one():
    assert suggested_quantity(2, 2) == 2
    assert suggested_quantity(-1, 2) == 5  # more reserved than on hand
    assert suggested_quantity(9, 2) == 1


def test_current_takes_availability_threshold_and_name_of_now_and_keeps_the_episode_start():
    since = datetime(2026, 11, 1, tzinfo=UTC)
    began = LowStock(
        sku="CAP", name="电容", warehouse="SH", available=2, threshold=2, suggested_quantity=2, since=since
    )
    now = began.current(
        name="电容 35uF", threshold=3, stock=Stock(sku="CAP", warehouse="SH", on_hand=2, reserved=1)
    )
    assert (now.name, now.available, now.threshold, now.suggested_quantity, now.since) == (
        "电容 35uF",
        1,
        3,
        5,
        since,
    )
