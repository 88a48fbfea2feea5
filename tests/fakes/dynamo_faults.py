"""DynamoDB's transaction contention, which moto and DynamoDB Local never produce.

On AWS a TransactWriteItems that meets another transaction on one of its items is cancelled: HTTP 400,
`TransactionCanceledException`, one cancellation reason per item, `TransactionConflict` on the contended
one and `None` on the rest. `transaction_conflicts` answers chosen TransactWriteItems that way inside
botocore (a `before-call` hook on the client of the stores' pynamodb connection), so the error is parsed by
botocore and pynamodb exactly as a real one; the request never reaches moto, as a cancelled transaction
writes nothing. The stores' backoff is swapped for one that records its delays instead of sleeping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from chalicelib.store import transactions
from chalicelib.store.table import connection

EVENT = "before-call.dynamodb.TransactWriteItems"


@dataclass
class ConflictInjector:
    remaining: int
    reason: str = transactions.TRANSACTION_CONFLICT
    cancelled: list[list[dict[str, Any]]] = field(default_factory=list)  # each cancelled request's items
    sent: int = 0  # requests let through to the engine
    slept: list[float] = field(default_factory=list)  # the backoff's delays

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        items: list[dict[str, Any]] = json.loads(params["body"])["TransactItems"]
        if self.remaining <= 0:
            self.sent += 1
            return None
        self.remaining -= 1
        self.cancelled.append(items)
        reasons: list[dict[str, str]] = [{"Code": "None"} for _ in items]
        reasons[-1] = {"Code": self.reason, "Message": "Transaction is ongoing for the item"}
        codes = ", ".join(r["Code"] for r in reasons)
        message = f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
        parsed = {
            "Error": {"Code": "TransactionCanceledException", "Message": message},
            "CancellationReasons": reasons,
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}},
        }
        return AWSResponse(params.get("url", ""), 400, {}, None), parsed


@contextmanager
def transaction_conflicts(
    times: int = 1, *, reason: str = transactions.TRANSACTION_CONFLICT
) -> Iterator[ConflictInjector]:
    """Cancel the next `times` TransactWriteItems with `reason` on one item; later ones go through."""
    injector = ConflictInjector(times, reason)
    events = connection().client.meta.events
    saved = transactions.BACKOFF
    transactions.BACKOFF = transactions.Backoff(sleep=injector.slept.append)
    events.register_first(EVENT, injector)
    try:
        yield injector
    finally:
        events.unregister(EVENT, injector)
        transactions.BACKOFF = saved
