"""Every TransactWriteItems of the stores goes through `write_transaction`, which retries contention.

On AWS a transaction that meets another transaction on one of its items is cancelled with the reason
`TransactionConflict` (moto and DynamoDB Local never produce it). A cancelled transaction wrote nothing, so
sending the same one again cannot double an effect: its conditions are evaluated afresh, and where the other
writer invalidated one (a version read, a marker taken) the retry fails as `ConditionalCheckFailed`, which
the caller maps as before. So only cancellations whose every reason is `TransactionConflict` are retried,
with jittered exponential backoff; what is still contended after the last attempt is a ContentionError
(409 over HTTP, a redelivery on a queue). Throttling is botocore's to retry; a failed condition, a
validation error or anything else is re-raised at once for the caller's own handling."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ContentionError
from chalicelib.observability import logger
from chalicelib.store.table import connection

TRANSACTION_CONFLICT = "TransactionConflict"  # a cancellation reason's code (DynamoDB API reference)


@dataclass(frozen=True)
class Backoff:
    """Full jitter: before retry n (0-based) wait uniform(0, min(cap, base · 2ⁿ)) seconds, so writers that
    collided do not collide again in step. 4 attempts wait at most 0.05 + 0.1 + 0.2 s: well inside an API
    request, and a contention that outlasts it is better answered (409) than waited out."""

    attempts: int = 4
    base: float = 0.05
    cap: float = 0.4
    sleep: Callable[[float], None] = time.sleep
    uniform: Callable[[float, float], float] = random.uniform

    def delay(self, retry: int) -> float:
        return self.uniform(0.0, min(self.cap, self.base * 2**retry))


BACKOFF = Backoff()  # read at each call, so tests can swap it for one that records instead of sleeping


def contended(e: TransactWriteError) -> bool:
    """Cancelled only because other transactions held its items (nothing else among the reasons)."""
    if e.cause_response_code == "TransactionConflictException":
        return True
    if e.cause_response_code != "TransactionCanceledException":
        return False
    codes = {r.code for r in e.cancellation_reasons if r is not None}
    return codes == {TRANSACTION_CONFLICT}


def write_transaction(build: Callable[[TransactWrite], None], *, what: str) -> None:
    """Run `build` on a fresh TransactWrite and commit it, again on contention. `build` only adds items, so
    each attempt sends the same request. `what` names the records for the ContentionError's message."""
    backoff = BACKOFF
    for attempt in range(1, backoff.attempts + 1):
        try:
            with TransactWrite(connection=connection()) as tx:
                build(tx)
            return
        except TransactWriteError as e:
            if not contended(e):
                raise
            if attempt == backoff.attempts:
                logger.warning("transaction still contended", extra={"what": what, "attempts": attempt})
                raise ContentionError(
                    f"{what} kept being written by others meanwhile: nothing was changed, retry",
                    details=[{"reason": TRANSACTION_CONFLICT, "attempts": attempt}],
                ) from e
            backoff.sleep(backoff.delay(attempt - 1))
