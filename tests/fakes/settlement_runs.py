"""An in-memory SettlementRuns with the store's semantics: run records are saved conditionally on version."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.domain.common import ConflictError
from chalicelib.domain.ledger import Posting
from chalicelib.domain.settlement_runs import SettlementRun


class FakeSettlementRuns:
    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], SettlementRun] = {}  # (tenant, period) → the run record
        self.chunks: dict[tuple[str, str, str, int], list[Posting]] = {}
        self.finished: dict[tuple[str, str], set[str]] = {}

    def get(self, tenant_id: str, period: str) -> SettlementRun | None:
        return self.runs.get((tenant_id, period))

    def save(self, run: SettlementRun, *, expected_version: int | None) -> None:
        stored = self.runs.get((run.tenant_id, run.period))
        if (stored.version if stored else None) != expected_version:
            raise ConflictError(f"the {run.period} run changed meanwhile")
        self.runs[(run.tenant_id, run.period)] = run

    def put_chunks(self, tenant_id: str, period: str, run_id: str, chunks: list[list[Posting]]) -> None:
        for n, chunk in enumerate(chunks):
            self.chunks[(tenant_id, period, run_id, n)] = chunk

    def chunk(self, tenant_id: str, period: str, run_id: str, n: int) -> list[Posting]:
        return self.chunks[(tenant_id, period, run_id, n)]

    def finished_parties(self, tenant_id: str, period: str, parties: Iterable[str]) -> set[str]:
        return self.finished.get((tenant_id, period), set()) & set(parties)

    def all_finished(self, tenant_id: str, period: str) -> set[str]:
        return set(self.finished.get((tenant_id, period), set()))

    def finish_party(self, tenant_id: str, period: str, party: str, run_id: str, postings: int) -> None:
        self.finished.setdefault((tenant_id, period), set()).add(party)
