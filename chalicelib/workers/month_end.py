"""The month-end settlement schedule: every hour, the previous month's run for the tenants whose 1st, 02:00
local, has come (domain/month_end.py; services/month_end.py). An admin can still start or restart a run by
hand (`POST /v1/settlements/runs`); a period with a run is left alone.

On AWS an EventBridge rule fires it (infra/ synthesizes the rule from this declaration); on the local stack
the event runner does (chalicelib/local/runner.py reads the app's schedules). EventBridge evaluates schedule
expressions in UTC and invokes Lambda asynchronously, which retries a failed invocation twice and may
deliver an event twice or drop one it cannot deliver (Lambda guide, "How Lambda handles errors and retries
with asynchronous invocation"): the tick's idempotency and the day-long due window absorb both. The event's
`time` is the instant acted for (EventBridge user guide, "Scheduled Event": `"detail-type": "Scheduled
Event"`, `"time": "2015-10-08T16:53:06Z"`)."""

from __future__ import annotations

import math
from typing import Any, Literal

from chalice.app import Blueprint, CloudWatchEvent, Cron
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chalicelib.bootstrap import container
from chalicelib.observability import logger

bp = Blueprint(__name__)

# Hourly, on the hour (UTC): 02:00 in every whole-hour zone is a tick; half- and quarter-hour zones are acted
# for at the first tick after their 02:00 (02:30 in India, 02:45 in Kathmandu).
MONTH_END_SCHEDULE = Cron(0, "*", "*", "*", "?", "*")


class ScheduledEvent(BaseModel):
    """What the handler reads of EventBridge's scheduled event."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    time: AwareDatetime  # the scheduled instant, e.g. 2026-11-30T18:00:00Z


@bp.schedule(MONTH_END_SCHEDULE, description="Month-end settlement runs at 02:00 on the 1st, tenant time")
def on_month_end_tick(event: CloudWatchEvent) -> dict[str, Any]:
    scheduled = ScheduledEvent.model_validate(event.to_dict())
    context: Any = event.context  # Lambda's: it knows how long the invocation has left
    tick = container().month_end.tick(
        scheduled.time,
        time_left=(lambda: context.get_remaining_time_in_millis() / 1000) if context else lambda: math.inf,
    )
    started = [{"tenant_id": r.tenant_id, "period": r.period, "run_id": r.id} for r in tick.started]
    summary = {"at": scheduled.time.isoformat(), "tenants": tick.tenants, "due": tick.due, "started": started}
    logger.info("month-end tick", extra={**summary, "deferred": tick.deferred})
    return {**summary, "deferred": tick.deferred}
