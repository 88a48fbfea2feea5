"""When a tenant's month-end settlement run is due: 02:00 on the 1st of the month, on the tenant's clock.

EventBridge schedule expressions are evaluated in UTC (a rule's `cron(...)` has no time zone), so one hourly
schedule (`cron(0 * * * ? *)`, workers/month_end.py) serves every tenant: each tick takes its instant (the
scheduled event's `time`) and starts the previous month's run for the tenants whose month-end has come.

- Due from 02:00 local on the 1st until that local day ends. The first tick at or after 02:00 starts the run:
  02:00 itself in whole-hour zones (Shanghai 18:00Z, New York 07:00Z in winter), 02:30 in India (UTC+5:30),
  02:45 in Kathmandu (UTC+5:45). The later ticks of the day find the run and start nothing; they are there
  for a tick that never arrived (Lambda may drop an asynchronous event it cannot deliver, and the local
  stack may have been stopped at 02:00).
- Never before the period is over: periods are calendar months in China time (domain/statements.py), so in
  zones east of UTC+10 the run waits for midnight in Shanghai (Sydney in summer, UTC+11: 03:00 local).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from zoneinfo import ZoneInfo

from chalicelib.domain.statements import period_bounds
from chalicelib.domain.tenants import RegisteredTenant

MONTH_END_LOCAL_TIME = time(2, 0)  # after the last minutes' tickets are in, before anyone's working day
SCHEDULE_STARTER = "schedule:month-end"  # `started_by` of the runs the schedule starts


def month_end_period(timezone: str, at: datetime) -> str | None:
    """The period (YYYY-MM) whose run is due at the instant `at` for a tenant in `timezone`, or None."""
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    if local.day != 1:
        return None
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    period = f"{year:04d}-{month:02d}"
    # A wall-clock 02:00 skipped by a daylight-saving change resolves to the instant after the gap.
    due = max(datetime.combine(local.date(), MONTH_END_LOCAL_TIME, zone), period_bounds(period)[1])
    return period if at >= due else None


def due_tenants(tenants: Iterable[RegisteredTenant], at: datetime) -> list[tuple[RegisteredTenant, str]]:
    """The tenants whose month-end run is due at `at`, each with its period."""
    due = ((t, month_end_period(t.timezone, at)) for t in tenants)
    return [(t, period) for t, period in due if period is not None]
