"""Per-step workflow counters: one item per tenant × workflow × version × day × step.

    pk = T#<tenant>#WFSTAT#<workflow id>#<version>     sk = <YYYY-MM-DD>#<step id>

Attributes `entries`, `exits`, `dropped` and the duration histogram buckets `h00`…`h39` are only ever
changed by UpdateItem ADD, so concurrent workers never lose a count (no read-modify-write). Reading a
period is one Query on the partition (`sk BETWEEN "<first>#" AND "<last>#\\uffff"`, paginated), summed in
memory: 30 days × 10 steps is 300 small items, one or two pages.

Idempotency: ticket step events arrive at least once, so each event is counted in one TransactWriteItems
with an idempotency marker `T#<t>#IDEM#wfstat:<ticket>:<ticket version>` (condition: absent; TTL
`expires_at`, 30 days). A redelivery fails the marker's condition and changes nothing. Cost: a transaction
writes each item at twice the price, so one step event (marker + 2–3 steps) is about 6–8 WCU instead of
2–3 for plain ADDs — accepted for counts that must be exact; the markers expire after 30 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.workflow_stats import BUCKETS, NodeCounters
from chalicelib.store import keys
from chalicelib.store.table import IdempotencyItem, Item, WorkflowStatItem
from chalicelib.store.transactions import write_transaction

MARKER_TTL = timedelta(days=30)
_TYPE = "workflow_stat"


def bucket_attr(i: int) -> str:
    return f"h{i:02d}"


def _actions(c: NodeCounters) -> list[Action]:
    actions: list[Action] = [Path("type").set(_TYPE)]
    for attr, n in (
        (WorkflowStatItem.entries, c.entries),
        (WorkflowStatItem.exits, c.exits),
        (WorkflowStatItem.dropped, c.dropped),
    ):
        if n:
            actions.append(attr.add(n))
    actions += [Path(bucket_attr(i)).add(n) for i, n in enumerate(c.durations.counts) if n]
    return actions


def _number(raw: Mapping[str, Any], name: str) -> int:
    value = raw.get(name)
    return int(value["N"]) if value else 0


def _counters(raw: Mapping[str, Any]) -> NodeCounters:
    c = NodeCounters(
        entries=_number(raw, "entries"), exits=_number(raw, "exits"), dropped=_number(raw, "dropped")
    )
    c.durations.counts = [_number(raw, bucket_attr(i)) for i in range(BUCKETS)]
    return c


class DynamoWorkflowStatsStore:
    def add(
        self,
        tenant_id: str,
        workflow_id: str,
        version: int,
        day: date,
        deltas: Mapping[str, NodeCounters],
        *,
        once: str,
        at: datetime,
    ) -> bool:
        if not deltas:
            return False
        pk = keys.workflow_stats_pk(tenant_id, workflow_id, version)
        marker = IdempotencyItem(
            keys.idempotency_pk(tenant_id, once), keys.IDEMPOTENCY_SK, expires_at=at + MARKER_TTL
        )

        def build(tx: TransactWrite) -> None:
            tx.save(marker, condition=IdempotencyItem.pk.does_not_exist())
            for step_id, counters in deltas.items():
                item = WorkflowStatItem(pk, keys.workflow_stats_sk(day.isoformat(), step_id))
                tx.update(item, actions=_actions(counters))

        try:
            write_transaction(build, what="workflow statistics")
        except TransactWriteError:
            try:
                IdempotencyItem.get(marker.pk, marker.sk, consistent_read=True)
            except IdempotencyItem.DoesNotExist:
                raise  # not a redelivery (e.g. a concurrent transaction): the queue retries the event
            return False  # counted before
        return True

    def read(
        self, tenant_id: str, workflow_id: str, version: int, first: date, last: date
    ) -> dict[str, NodeCounters]:
        pk = keys.workflow_stats_pk(tenant_id, workflow_id, version)
        condition = Item.sk.between(
            keys.workflow_stats_sk(first.isoformat(), ""), keys.workflow_stats_sk(last.isoformat(), "\uffff")
        )
        # The model's table connection (it knows the key schema) returns the raw items: the bucket attributes
        # are read by name, not declared on the model.
        table = WorkflowStatItem._get_connection()
        totals: dict[str, NodeCounters] = {}
        start: dict[str, Any] | None = None
        while True:
            page = table.query(
                pk, range_key_condition=condition, exclusive_start_key=start, consistent_read=True
            )
            for raw in page.get("Items", []):
                step_id = raw["sk"]["S"].split("#", 1)[1]
                totals.setdefault(step_id, NodeCounters()).merge(_counters(raw))
            start = page.get("LastEvaluatedKey")
            if not start:
                return totals
