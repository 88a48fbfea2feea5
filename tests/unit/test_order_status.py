"""An order's status is derived from every event it received, in any order: partial refunds leave it
`partially_refunded` with the amount kept, a closed or refused refund request clears the request, and a
refund told twice (two message families, one refund id) counts once."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from chalicelib.domain.orders import Order, OrderEvent, OrderStatus

T0 = datetime(2026, 5, 1, 10, tzinfo=UTC)
S = OrderStatus


def ev(status: OrderStatus, minutes: int, key: str | None = None, **more: object) -> OrderEvent:
    return OrderEvent.model_validate(
        {
            "platform": "youzan",
            "shop_id": "1",
            "order_id": "E1",
            "status": status,
            "dedupe_key": key or f"{status.value}:{minutes}:{more.get('refund_id')}",
            "buyer": [],
            "occurred_at": T0 + timedelta(minutes=minutes),
            "raw_type": "t",
            **more,
        }
    )


def fold(*events: OrderEvent) -> Order:
    order = Order.start("t1", events[0])
    for e in events:
        order.apply(e, None)
    return order


PAID = ev(S.PAID, 0, total_amount="100.00")


def test_a_partial_refund_keeps_the_amount_and_the_rest_of_the_order():
    order = fold(PAID, ev(S.REFUNDED, 5, refund_id="r1", refund_amount="30.00"))
    assert order.status is S.PARTIALLY_REFUNDED and order.refunded_amount == D("30.00")
    assert order.refund_status() is S.PARTIALLY_REFUNDED


def test_refunds_reaching_the_total_make_the_order_refunded():
    order = fold(
        PAID,
        ev(S.REFUNDED, 5, refund_id="r1", refund_amount="30.00"),
        ev(S.REFUNDED, 6, refund_id="r2", refund_amount="70.00"),
    )
    assert order.status is S.REFUNDED and order.refunded_amount == D("100.00")


def test_a_refund_without_an_amount_is_the_whole_order_as_before():
    assert fold(PAID, ev(S.REFUNDED, 5)).status is S.REFUNDED


def test_the_same_refund_id_paid_back_twice_counts_once():
    order = fold(
        PAID,
        ev(S.REFUNDED, 5, key="old-family", refund_id="r1", refund_amount="30.00"),
        ev(S.REFUNDED, 6, key="new-family", refund_id="r1", refund_amount="30.00"),
    )
    assert order.refunded_amount == D("30.00") and len(order.history) == 2


@pytest.mark.parametrize("ending", [S.REFUND_CLOSED, S.REFUNDED])
def test_a_request_is_open_until_its_refund_is_closed_or_paid(ending: OrderStatus):
    shipped = ev(S.SHIPPED, 1)
    request = ev(S.REFUND_REQUESTED, 2, refund_id="r1")
    assert fold(PAID, shipped, request).status is S.REFUND_REQUESTED
    agreed = ev(S.REFUND_AGREED, 3, refund_id="r1")
    assert fold(PAID, shipped, request, agreed).status is S.REFUND_AGREED
    end = ev(ending, 4, refund_id="r1", refund_amount="10.00")
    expected = S.SHIPPED if ending is S.REFUND_CLOSED else S.PARTIALLY_REFUNDED
    for events in itertools.permutations([shipped, request, agreed, end]):  # delivery order is irrelevant
        assert fold(PAID, *events).status is expected, events


def test_closing_one_request_leaves_another_open():
    order = fold(
        PAID,
        ev(S.REFUND_REQUESTED, 2, refund_id="r1"),
        ev(S.REFUND_REQUESTED, 3, refund_id="r2"),
        ev(S.REFUND_CLOSED, 4, refund_id="r1"),
    )
    assert order.status is S.REFUND_REQUESTED and list(order.open_refund_requests()) == ["r2"]


def test_requests_without_ids_end_with_the_next_refund():
    order = fold(PAID, ev(S.REFUND_REQUESTED, 2), ev(S.REFUNDED, 3, refund_amount="5.00"))
    assert order.status is S.PARTIALLY_REFUNDED and order.open_refund_requests() == {}


def test_partial_shipping_sits_between_paid_and_shipped():
    assert fold(PAID, ev(S.PARTIALLY_SHIPPED, 1)).status is S.PARTIALLY_SHIPPED
    assert fold(PAID, ev(S.SHIPPED, 2), ev(S.PARTIALLY_SHIPPED, 1)).status is S.SHIPPED


def test_closed_or_fully_refunded_ends_the_order_whichever_came_last():
    full = ev(S.REFUNDED, 5, refund_amount="100.00")
    assert fold(PAID, full, ev(S.CLOSED, 6)).status is S.CLOSED
    assert fold(PAID, ev(S.CLOSED, 4), full).status is S.REFUNDED
    # a partial refund of a closed order: closed, but the amount is still what settlement reverses
    partly = fold(PAID, ev(S.CLOSED, 4), ev(S.REFUNDED, 5, refund_amount="1.00"))
    assert partly.status is S.CLOSED and partly.refund_status() is S.PARTIALLY_REFUNDED


def test_a_refund_before_the_amount_is_known_is_partial_until_the_total_says_otherwise():
    refund = ev(S.REFUNDED, 5, refund_id="r1", refund_amount="100.00")
    assert fold(refund).status is S.PARTIALLY_REFUNDED
    assert fold(refund, PAID).status is S.REFUNDED


def test_the_legacy_extra_refund_amount_is_still_read():
    order = fold(PAID, ev(S.REFUNDED, 5, extra={"refund_amount": "12.50"}))
    assert order.status is S.PARTIALLY_REFUNDED and order.refunded_amount == D("12.50")
