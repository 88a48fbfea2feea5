"""store/transactions.py without AWS: which cancellations are contention, the jittered backoff, and the retry
loop (a scripted TransactWrite stands in for pynamodb's)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.domain.common import ConflictError, ContentionError
from chalicelib.store import transactions
from chalicelib.store.transactions import Backoff, contended, write_transaction


def cancelled(*codes: str | None, error: str = "TransactionCanceledException") -> TransactWriteError:
    reasons = [CancellationReason(code=c) if c else None for c in codes]
    cause = VerboseClientError({"Error": {"Code": error}}, "TransactWriteItems", cancellation_reasons=reasons)
    return TransactWriteError("Failed to write transaction items", cause)


def test_only_a_cancellation_made_of_conflicts_is_contention():
    assert contended(cancelled(None, "TransactionConflict"))
    assert contended(cancelled("TransactionConflict", "TransactionConflict"))
    assert contended(cancelled(error="TransactionConflictException"))
    assert not contended(cancelled("ConditionalCheckFailed", None))
    assert not contended(cancelled("ConditionalCheckFailed", "TransactionConflict"))  # the condition decides
    assert not contended(cancelled("ValidationError"))
    assert not contended(cancelled(None, None))
    assert not contended(cancelled("TransactionConflict", error="ValidationException"))


def test_the_backoff_grows_to_its_cap_and_is_jittered_below_it():
    upper = Backoff(base=0.05, cap=0.4, uniform=lambda low, high: high)
    assert [upper.delay(n) for n in range(5)] == [0.05, 0.1, 0.2, 0.4, 0.4]
    lower = Backoff(uniform=lambda low, high: low)
    assert lower.delay(3) == 0.0


class ScriptedTransaction:
    """Fails its commits with the scripted errors, in order, then commits; records what each attempt built."""

    script: ClassVar[list[TransactWriteError]] = []
    built: ClassVar[list[list[str]]] = []
    committed = 0

    def __init__(self, connection: Any) -> None:
        self.items: list[str] = []

    def __enter__(self) -> ScriptedTransaction:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        ScriptedTransaction.built.append(self.items)
        if ScriptedTransaction.script:
            raise ScriptedTransaction.script.pop(0)
        ScriptedTransaction.committed += 1


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    ScriptedTransaction.script, ScriptedTransaction.built, ScriptedTransaction.committed = [], [], 0
    slept: list[float] = []
    monkeypatch.setattr(transactions, "TransactWrite", ScriptedTransaction)
    monkeypatch.setattr(transactions, "connection", lambda: None)
    monkeypatch.setattr(transactions, "BACKOFF", Backoff(sleep=slept.append, uniform=lambda low, high: high))
    return slept


def build(tx: Any) -> None:
    tx.items.append("posting")


def test_contention_is_retried_with_the_same_items_until_it_commits(scripted: list[float]):
    ScriptedTransaction.script = [cancelled("TransactionConflict"), cancelled(None, "TransactionConflict")]
    write_transaction(build, what="posting p1")
    assert ScriptedTransaction.built == [["posting"]] * 3 and ScriptedTransaction.committed == 1
    assert scripted == [0.05, 0.1]


def test_contention_past_the_last_attempt_is_a_contention_error_not_a_conflict(scripted: list[float]):
    ScriptedTransaction.script = [cancelled("TransactionConflict") for _ in range(10)]
    with pytest.raises(ContentionError) as raised:
        write_transaction(build, what="posting p1")
    assert not isinstance(raised.value, ConflictError)  # "someone else did it" handlers must not swallow it
    assert "posting p1" in raised.value.message
    assert len(ScriptedTransaction.built) == Backoff().attempts and ScriptedTransaction.committed == 0
    assert len(scripted) == Backoff().attempts - 1


def test_anything_else_is_raised_at_once(scripted: list[float]):
    failed = cancelled("ConditionalCheckFailed", "TransactionConflict")
    ScriptedTransaction.script = [failed]
    with pytest.raises(TransactWriteError) as raised:
        write_transaction(build, what="posting p1")
    assert raised.value is failed and len(ScriptedTransaction.built) == 1 and scripted == []
