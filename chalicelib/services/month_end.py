"""The month-end schedule's tick: the previous month's settlement run for each tenant whose month-end came.

One tick is one Query of the tenant registry (the one partition not under a tenant) and, per tenant whose
month-end is due (domain/month_end.py), one GetItem of its run record — plus, the first time, the run's
PutItem and StartExecution. Ticks are idempotent: a tenant's run is started once per period however often
the tick is delivered (EventBridge → Lambda is an asynchronous invocation, which may be retried or repeated).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.month_end import due_tenants
from chalicelib.domain.settlement_runs import SettlementRun
from chalicelib.services.ports import TenantRepository
from chalicelib.services.settlement_runs import SettlementRunService

# Seconds a tick keeps for itself when its time runs out: one tenant's start (a GetItem, a PutItem, a
# StartExecution) takes tens of milliseconds, so this leaves room to finish it and answer.
TIME_RESERVE_SECONDS = 5.0


@dataclass
class MonthEndTick:
    at: datetime
    tenants: int  # in the registry
    due: int  # of them, whose month-end has come at `at`
    started: list[SettlementRun] = field(default_factory=list)  # runs this tick started
    deferred: int = 0  # due, not reached before the time ran out: the next tick of the day starts them


class MonthEndSchedule:
    def __init__(self, *, tenants: TenantRepository, runs: SettlementRunService) -> None:
        self._tenants = tenants
        self._runs = runs

    def tick(self, at: datetime, *, time_left: Callable[[], float] = lambda: math.inf) -> MonthEndTick:
        """Start the due tenants' runs for the instant `at` (the scheduled event's time, not the clock: a
        retried or late delivery acts for the hour it was meant for). `time_left`: seconds the invocation
        has left; tenants not reached in time stay due for the rest of their 1st: the next tick has them."""
        registered = self._tenants.registered_tenants()
        due = due_tenants(registered, at)
        tick = MonthEndTick(at=at, tenants=len(registered), due=len(due))
        for n, (tenant, period) in enumerate(due):
            if time_left() < TIME_RESERVE_SECONDS:
                tick.deferred = len(due) - n
                break
            run = self._runs.start_scheduled(tenant.id, period)
            if run is not None:
                tick.started.append(run)
        return tick
