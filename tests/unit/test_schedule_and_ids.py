from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.domain.common import new_id
from chalicelib.local.schedule import cron_matches, due, rate_seconds


def test_rate_expressions():
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(2 hours)") == 7200
    t = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert not due("rate(5 minutes)", t, t + timedelta(minutes=4))
    assert due("rate(5 minutes)", t, t + timedelta(minutes=5))


def test_cron_expressions_use_aws_fields():
    monday_0130 = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # a Monday
    assert cron_matches("cron(30 1 * * ? *)", monday_0130)
    assert cron_matches("cron(0/15 * ? * MON-FRI *)", monday_0130)
    assert not cron_matches("cron(0/15 * ? * SAT,SUN *)", monday_0130)
    assert cron_matches("cron(30 1 23 NOV ? 2026)", monday_0130)
    assert not cron_matches("cron(31 1 * * ? *)", monday_0130)
    # fires once per matching minute
    assert due("cron(30 1 * * ? *)", None, monday_0130 + timedelta(seconds=20))
    assert not due(
        "cron(30 1 * * ? *)", monday_0130 + timedelta(seconds=5), monday_0130 + timedelta(seconds=40)
    )


def test_ids_sort_by_time():
    a = new_id("cus", now_ms=1_000)
    b = new_id("cus", now_ms=2_000)
    assert a < b and a.startswith("cus_") and len(a) == 30
