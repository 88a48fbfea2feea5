"""Per-step workflow statistics: counted from ticket step events (events worker), read by the designer.

The drop-off alert threshold is a tenant's choice; until it is a tenant setting, the caller may pass it
(`?threshold=` on the API), else `DEFAULT_THRESHOLD` (15 %). Days are UTC days of when the worker counted
the event (seconds after the step, unless the queue was backed up)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.domain.access import Permission, Principal, Role, Scope, ScopeKind
from chalicelib.domain.common import Clock, NotFoundError
from chalicelib.domain.workflow_stats import (
    DEFAULT_THRESHOLD,
    MIN_ENTRIES,
    NodeStats,
    StatsAlert,
    alerts,
    node_stats,
    step_deltas,
)
from chalicelib.domain.workflows import WorkflowDefinition
from chalicelib.services.ports import WorkflowStatsStore

# (principal, workflow id, version or None for the latest) → the definition (preset or published)
WorkflowLookup = Callable[[Principal, str, int | None], WorkflowDefinition]
MAX_DAYS = 366


class WorkflowStatsView(BaseModel):
    workflow_id: str
    version: int
    from_: date = Field(serialization_alias="from")
    to: date
    threshold: Decimal
    min_entries: int
    nodes: list[NodeStats]  # in the definition's order
    alerts: list[StatsAlert]


def _system(tenant_id: str) -> Principal:
    return Principal(tenant_id=tenant_id, user_id="system", role=Role.ADMIN, scope=Scope(kind=ScopeKind.ALL))


class WorkflowStatsService:
    def __init__(self, *, store: WorkflowStatsStore, workflows: WorkflowLookup, clock: Clock) -> None:
        self._store = store
        self._workflows = workflows
        self._clock = clock

    def record(self, tenant_id: str, data: Mapping[str, Any]) -> bool:
        """Count one ticket step event (entries, exits with their durations, drop-offs), once per ticket
        version. False when there was nothing to count or it was counted before."""
        workflow_id, version = data.get("workflow_id"), data.get("workflow_version")
        if not workflow_id or version is None or "ticket_id" not in data or "version" not in data:
            return False
        try:
            defn = self._workflows(_system(tenant_id), str(workflow_id), int(version))
        except NotFoundError:
            return False  # a version that no longer exists: nothing to attribute the counts to
        entered = [str(s) for s in data.get("entered") or []]
        exited = {str(k): float(v) for k, v in (data.get("exited") or {}).items()}
        deltas = step_deltas(defn, entered, exited)
        now = self._clock.now()
        return self._store.add(
            tenant_id,
            defn.id,
            defn.version,
            now.date(),
            deltas,
            once=f"wfstat:{data['ticket_id']}:{data['version']}",
            at=now,
        )

    def stats(
        self,
        *,
        principal: Principal,
        workflow_id: str,
        version: int | None = None,
        days: int = 30,
        threshold: Decimal | None = None,
        min_entries: int = MIN_ENTRIES,
    ) -> WorkflowStatsView:
        """Per-step statistics of a workflow version (default the latest) over the last `days` days
        (today included), with the steps whose drop-off is above the threshold."""
        principal.require(Permission.TICKETS_READ)
        defn = self._workflows(principal, workflow_id, version)
        days = min(max(days, 1), MAX_DAYS)
        last = self._clock.now().date()
        first = last - timedelta(days=days - 1)
        counters = self._store.read(principal.tenant_id, defn.id, defn.version, first, last)
        nodes = node_stats(defn, counters)
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        return WorkflowStatsView(
            workflow_id=defn.id,
            version=defn.version,
            from_=first,
            to=last,
            threshold=limit,
            min_entries=min_entries,
            nodes=nodes,
            alerts=alerts(nodes, limit, min_entries),
        )
