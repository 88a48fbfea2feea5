"""Month-end settlement runs (functions/settlement_run.asl.json): plan → Map over chunks of parties → close.

- plan: pages through the period's settled tickets/orders (one Query per 1 MB), computes every party's
  period postings with `settle_period` (pure; tickets and orders each with their own rule set), stores them
  in chunks of whole parties (one BatchWriteItem per 25 chunks) and answers the chunk numbers;
- chunk: posts each unfinished party's postings (one TransactWriteItems each, idempotent by id), then marks
  the party finished — a retried, resumed or repeated run skips it and posts nothing new;
- close: the run's totals.
Each step answers its Step Functions task token; a failure fails the task, which Step Functions retries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import Clock, ConflictError, InvalidInputError, NotFoundError, new_id
from chalicelib.domain.ledger import ZERO, Posting, SourceType
from chalicelib.domain.month_end import SCHEDULE_STARTER
from chalicelib.domain.settlement import Facts, PartyRole, settle_period
from chalicelib.domain.settlement_runs import (
    RunStatus,
    SettlementRun,
    adjustment,
    chunks_of,
    party_of,
    period_source,
)
from chalicelib.domain.statements import entries_of, period_bounds
from chalicelib.resources import SETTLEMENT_RUN
from chalicelib.services.ports import SettlementLedger, SettlementRuns, WorkflowStarter
from chalicelib.services.settlement import AppliesTo, SettlementService


class SettlementRunService:
    def __init__(
        self,
        *,
        ledger: SettlementLedger,
        runs: SettlementRuns,
        settlement: SettlementService,
        regions: Callable[[str], Mapping[tuple[PartyRole, str], str]],
        starter: WorkflowStarter,
        clock: Clock,
    ) -> None:
        self._ledger = ledger
        self._runs = runs
        self._settlement = settlement
        self._regions = regions  # tenant → {(role, party id): region}, from staff profiles
        self._starter = starter
        self._clock = clock

    # -- the API ----------------------------------------------------------------------------------
    def start(self, *, principal: Principal, period: str) -> SettlementRun:
        """Start (or restart) the period's run. Only once the month is over (China time): its tickets are
        all in. A restart resumes: finished parties are skipped."""
        principal.require(Permission.SETTLEMENT_MANAGE)
        _, end = period_bounds(period)
        now = self._clock.now()
        if now < end:
            raise InvalidInputError(
                f"{period} is not over yet: run it from {end.astimezone(UTC).isoformat()}",
                details=[{"field": "period", "message": "the month is not over"}],
            )
        existing = self._runs.get(principal.tenant_id, period)
        run = SettlementRun(
            id=new_id("run"),
            tenant_id=principal.tenant_id,
            period=period,
            started_at=now,
            started_by=principal.user_id,
            version=(existing.version + 1) if existing else 1,
        )
        self._runs.save(run, expected_version=existing.version if existing else None)
        self._execute(run)
        return run

    def start_scheduled(self, tenant_id: str, period: str) -> SettlementRun | None:
        """The month-end schedule's start (services/month_end.py): the period's run, once. A period that has
        a run record already (started by an admin, or by an earlier or duplicate tick) gets none: None.
        The caller has checked the period is over (domain/month_end.py)."""
        existing = self._runs.get(tenant_id, period)
        if existing is not None:
            if existing.status is RunStatus.PLANNING:
                # Its execution again, under the same name and input: nothing happens unless the tick that
                # wrote the record failed before starting it (Step Functions answers an open execution of
                # that name with itself, a closed one with ExecutionAlreadyExists, which the starter ignores).
                self._execute(existing)
            return None
        run = SettlementRun(
            id=new_id("run"),
            tenant_id=tenant_id,
            period=period,
            started_at=self._clock.now(),
            started_by=SCHEDULE_STARTER,
        )
        try:
            self._runs.save(run, expected_version=None)
        except ConflictError:
            return None  # a duplicate delivery of the tick, or an admin, started it just now
        self._execute(run)
        return run

    def _execute(self, run: SettlementRun) -> None:
        payload = {"tenant_id": run.tenant_id, "period": run.period, "run_id": run.id}
        self._starter.start(SETTLEMENT_RUN.logical_id, f"settle-{run.period}-{run.id}", payload)

    def get(self, *, principal: Principal, period: str) -> SettlementRun:
        principal.require(Permission.SETTLEMENT_MANAGE)
        run = self._runs.get(principal.tenant_id, period)
        if run is None:
            raise NotFoundError(f"no settlement run for {period}")
        return run

    # -- the steps --------------------------------------------------------------------------------
    def plan(self, tenant_id: str, period: str, run_id: str) -> dict[str, object]:
        run = self._current(tenant_id, period, run_id)
        by_kind: dict[SourceType, list[Facts]] = defaultdict(list)
        for one in self._ledger.settled_facts(tenant_id, period):
            by_kind[one.source.type].append(one)
        regions = self._regions(tenant_id)
        postings: list[Posting] = []
        kinds: tuple[tuple[SourceType, AppliesTo], ...] = (
            (SourceType.TICKET, "ticket"),
            (SourceType.ORDER, "order"),
        )
        for kind, applies_to in kinds:
            facts = by_kind.get(kind, [])
            rules = self._settlement.rules(tenant_id, applies_to)
            if not facts or not rules:
                continue
            settled = settle_period(
                period,
                tenant_id,
                rules,
                facts,
                modifiers=self._settlement.period_modifiers(tenant_id, applies_to),
                regions=regions,
            )
            postings += settled.period_postings
        chunks = chunks_of(postings)
        if chunks:
            self._runs.put_chunks(tenant_id, period, run_id, chunks)
        # Parties paid by an earlier run that the period's rules no longer pay (their facts refunded, a
        # threshold no longer reached): everything they were paid for the period is taken back now.
        for party in sorted(self._runs.all_finished(tenant_id, period) - {party_of(p) for p in postings}):
            self._adjust(tenant_id, period, run_id, party, [])
        self._update(
            run,
            status=RunStatus.SETTLING,
            sources=sum(len(v) for v in by_kind.values()),
            parties=len({party_of(p) for p in postings}),
            chunks=len(chunks),
            postings_planned=len(postings),
        )
        return {"chunks": list(range(len(chunks)))}

    def settle_chunk(self, tenant_id: str, period: str, run_id: str, n: int) -> dict[str, object]:
        postings = self._runs.chunk(tenant_id, period, run_id, n)
        by_party: dict[str, list[Posting]] = defaultdict(list)
        for p in postings:
            by_party[party_of(p)].append(p)
        finished = self._runs.finished_parties(tenant_id, period, by_party)
        written = 0
        for party, own in sorted(by_party.items()):
            if party in finished:  # paid by an earlier run (or this one, retried): only what changed since
                written += self._adjust(tenant_id, period, run_id, party, own)
                continue
            for posting in own:
                entries = entries_of(posting, basis=ZERO, customer_id=None)  # no source amount: not a split
                written += self._ledger.post(tenant_id, posting, entries, customer_id=None)
            self._runs.finish_party(tenant_id, period, party, run_id, len(own))
        return {"chunk": n, "parties": len(by_party), "written": written}

    def close(self, tenant_id: str, period: str, run_id: str) -> dict[str, object]:
        run = self._current(tenant_id, period, run_id)
        if run.status is not RunStatus.CLOSED:
            self._update(run, status=RunStatus.CLOSED, closed_at=self._clock.now())
        return {"run_id": run_id, "status": "closed"}

    # -- helpers ----------------------------------------------------------------------------------
    def _adjust(self, tenant_id: str, period: str, run_id: str, party: str, planned: list[Posting]) -> int:
        """One party's adjustment after its period was paid: 1 Query, and 1 TransactWriteItems when its
        period postings come out differently now."""
        source = period_source(party, period)
        posted = self._ledger.postings_for_source(tenant_id, source.type.value, source.id)
        adjust = adjustment(
            tenant_id=tenant_id,
            party=party,
            period=period,
            planned=planned,
            posted=posted,
            at=self._clock.now(),
            run_id=run_id,
        )
        if adjust is None:
            return 0
        entries = entries_of(adjust, basis=ZERO, customer_id=None)
        return int(self._ledger.post(tenant_id, adjust, entries, customer_id=None, late=True))

    def _current(self, tenant_id: str, period: str, run_id: str) -> SettlementRun:
        run = self._runs.get(tenant_id, period)
        if run is None or run.id != run_id:
            # A newer run replaced this one; this execution's steps are moot (the newer run does the work).
            raise ConflictError(f"run {run_id} of {period} was superseded")
        return run

    def _update(self, run: SettlementRun, **changes: object) -> None:
        self._runs.save(
            run.model_copy(update={**changes, "version": run.version + 1}), expected_version=run.version
        )


def engineer_regions(records: Iterable[tuple[str, str | None]]) -> dict[tuple[PartyRole, str], str]:
    """Staff profiles' regions, for region coefficients on engineers' incentives."""
    return {(PartyRole.ENGINEER, user_id): region for user_id, region in records if region}
