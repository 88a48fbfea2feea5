"""The ledger (postings, their entries per account-month, month totals), commission rules, bills and
period-run markers in the single table.

Posting is one TransactWriteItems: the posting under its id (put only if absent: the idempotency check),
one entry per leg in its account's month, and an ADD to each account's month totals — so totals can never
count a posting twice, and a retried post writes nothing."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.billing import Bill
from chalicelib.domain.common import ConflictError
from chalicelib.domain.ledger import ZERO, Posting, Source
from chalicelib.domain.settlement import AnyPeriodModifier, AnyRule, Facts, RuleOrModifier
from chalicelib.domain.settlement_runs import SettlementRun
from chalicelib.domain.statements import Entry
from chalicelib.domain.unsettled import UnsettledSource
from chalicelib.store import keys
from chalicelib.store.table import (
    AccountMonthItem,
    BillItem,
    EntryItem,
    Item,
    LateAccountItem,
    PostingItem,
    RunItem,
    SettledFactsItem,
    SettlementRuleItem,
    UnsettledItem,
)
from chalicelib.store.transactions import write_transaction

_RULE: TypeAdapter[AnyRule | AnyPeriodModifier] = TypeAdapter(RuleOrModifier)
_POSTINGS: TypeAdapter[list[Posting]] = TypeAdapter(list[Posting])


class DynamoLedger:
    # -- postings ---------------------------------------------------------------------------------
    def post(
        self,
        tenant_id: str,
        posting: Posting,
        entries: list[Entry],
        *,
        customer_id: str | None,
        facts: Facts | None = None,
        late: bool = False,
    ) -> bool:
        """Write the posting once; False when it was posted before (same content), ConflictError when its
        id was used for different content. `facts`: what a source was settled on, kept for month-end.
        `late`: the source was settled in an earlier period (a refund, an adjustment): its accounts are
        listed under the periods it moves them in, for their reconciliation."""
        item = PostingItem(
            keys.posting_pk(tenant_id, posting.id),
            keys.POSTING_SK,
            doc=posting.model_dump_json(exclude_defaults=True),
            gsi1pk=keys.source_postings_pk(tenant_id, posting.source.type.value, posting.source.id),
            gsi1sk=f"{posting.at.isoformat(timespec='milliseconds')}#{posting.id}",
        )
        if customer_id:
            item.gsi2pk = keys.customer_settlements_pk(tenant_id, customer_id)
            item.gsi2sk = item.gsi1sk
        totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        for e in entries:
            totals[(e.account, e.period)][0] += e.debit
            totals[(e.account, e.period)][1] += e.credit

        def build(tx: TransactWrite) -> None:
            tx.save(item, condition=PostingItem.pk.does_not_exist())
            for e in entries:
                tx.save(
                    EntryItem(
                        keys.account_month_pk(tenant_id, e.account, e.period),
                        keys.entry_sk(e.at, e.posting_id, e.leg),
                        doc=e.model_dump_json(exclude_defaults=True),
                    )
                )
            if facts is not None:
                tx.save(
                    SettledFactsItem(
                        keys.settled_facts_pk(tenant_id, facts.period),
                        f"{facts.source.type.value}#{facts.source.id}",
                        doc=facts.model_dump_json(exclude_defaults=True, exclude={"rating"}),
                        rating=facts.rating,
                    )
                )
            for (account, period), (debits, credits) in totals.items():
                if late:
                    tx.save(LateAccountItem(keys.late_accounts_pk(tenant_id, period), account))
                tx.update(
                    AccountMonthItem(keys.account_pk(tenant_id, account), keys.account_month_sk(period)),
                    actions=[
                        AccountMonthItem.type.set(AccountMonthItem),
                        AccountMonthItem.debits.add(debits),
                        AccountMonthItem.credits.add(credits),
                    ],
                )

        try:
            write_transaction(build, what=f"posting {posting.id}")
        except TransactWriteError as e:
            existing = self.posting(tenant_id, posting.id)
            if existing is None:
                raise
            if existing != posting:
                raise ConflictError(f"posting id {posting.id!r} was used for different content") from e
            return False
        return True

    def posting(self, tenant_id: str, posting_id: str) -> Posting | None:
        try:
            item = PostingItem.get(
                keys.posting_pk(tenant_id, posting_id), keys.POSTING_SK, consistent_read=True
            )
        except PostingItem.DoesNotExist:
            return None
        return Posting.model_validate_json(item.doc or "")

    def postings_for_source(self, tenant_id: str, source_type: str, source_id: str) -> list[Posting]:
        return [
            Posting.model_validate_json(i.doc or "")
            for i in Item.gsi1.query(keys.source_postings_pk(tenant_id, source_type, source_id))
        ]

    def customer_postings(self, tenant_id: str, customer_id: str, *, limit: int) -> list[Posting]:
        return [
            Posting.model_validate_json(i.doc or "")
            for i in Item.gsi2.query(
                keys.customer_settlements_pk(tenant_id, customer_id),
                scan_index_forward=False,
                limit=limit,
                page_size=limit,
            )
        ]

    # -- statements -------------------------------------------------------------------------------
    def entries(self, tenant_id: str, account: str, period: str) -> list[Entry]:
        """Every entry of the account in the period (paged Query, 1 MB per request)."""
        return [
            Entry.model_validate_json(i.doc or "")
            for i in EntryItem.query(keys.account_month_pk(tenant_id, account, period))
        ]

    def balance_before(self, tenant_id: str, account: str, period: str) -> Decimal:
        """Debits − credits of every month before `period` (one Query of the month totals)."""
        total = ZERO
        for i in AccountMonthItem.query(
            keys.account_pk(tenant_id, account), AccountMonthItem.sk < keys.account_month_sk(period)
        ):
            total += (i.debits or ZERO) - (i.credits or ZERO)
        return total

    def month_totals(
        self, tenant_id: str, accounts: Iterable[str], period: str
    ) -> dict[str, tuple[Decimal, Decimal]]:
        """(Σ debits, Σ credits) per account in the period: one BatchGetItem per 100 accounts."""
        keys_ = [(keys.account_pk(tenant_id, a), keys.account_month_sk(period)) for a in accounts]
        out: dict[str, tuple[Decimal, Decimal]] = {}
        prefix = len(keys.account_pk(tenant_id, ""))
        for i in AccountMonthItem.batch_get(keys_):
            out[i.pk[prefix:]] = (i.debits or ZERO, i.credits or ZERO)
        return out

    def late_accounts(self, tenant_id: str, period: str) -> set[str]:
        return {i.sk for i in LateAccountItem.query(keys.late_accounts_pk(tenant_id, period))}

    def settled_facts(self, tenant_id: str, period: str) -> Iterator[Facts]:
        """Every source settled in the period, with its latest rating (paged Query, 1 MB per request)."""
        for i in SettledFactsItem.query(keys.settled_facts_pk(tenant_id, period)):
            if i.reversed_at:
                continue
            facts = Facts.model_validate_json(i.doc or "")
            update: dict[str, Any] = {}
            if i.rating is not None:
                update["rating"] = int(i.rating)
            if i.refunded:
                update["amount"] = max(ZERO, facts.amount - Decimal(i.refunded))
            yield facts.model_copy(update=update) if update else facts

    def rate(self, tenant_id: str, period: str, source: Source, score: int) -> None:
        """A rating after settlement: counted by the month-end run (only if the source was settled)."""
        self._update_facts(tenant_id, period, source, SettledFactsItem.rating.set(score))

    def mark_reversed(self, tenant_id: str, period: str, source: Source, at: str) -> None:
        """A refunded source leaves its period's totals (if it was settled in that period)."""
        self._update_facts(tenant_id, period, source, SettledFactsItem.reversed_at.set(at))

    def mark_refunded(self, tenant_id: str, period: str, source: Source, refunded: Decimal) -> None:
        """A partly refunded source counts for what is left of it (`refunded`: the total so far, so a
        redelivery sets the same value)."""
        self._update_facts(tenant_id, period, source, SettledFactsItem.refunded.set(f"{refunded:.2f}"))

    @staticmethod
    def _update_facts(tenant_id: str, period: str, source: Source, action: Any) -> None:
        """One attribute of a settled source's facts; nothing when the source was not settled then."""
        try:
            SettledFactsItem(
                keys.settled_facts_pk(tenant_id, period), f"{source.type.value}#{source.id}"
            ).update(actions=[action], condition=SettledFactsItem.pk.exists())
        except UpdateError as e:
            if e.cause_response_code != "ConditionalCheckFailedException":
                raise

    # -- sources no rule settled yet ------------------------------------------------------------
    def keep_unsettled(self, tenant_id: str, unsettled: UnsettledSource) -> None:
        """Kept (or its reason updated) without touching what was noted on it meanwhile (refunds, rating)."""
        source = unsettled.facts.source
        doc = unsettled.model_dump_json(exclude={"refunded", "reversed", "rating"}, exclude_defaults=True)
        UnsettledItem(keys.unsettled_pk(tenant_id), f"{source.type.value}#{source.id}").update(
            actions=[UnsettledItem.type.set(UnsettledItem), UnsettledItem.doc.set(doc)]
        )

    def unsettled(self, tenant_id: str) -> list[UnsettledSource]:
        """Every source waiting for a rule (a paged Query of what is waiting)."""
        return [
            _unsettled(i) for i in UnsettledItem.query(keys.unsettled_pk(tenant_id), consistent_read=True)
        ]

    def unsettled_page(
        self, tenant_id: str, *, after: str | None, limit: int
    ) -> tuple[list[UnsettledSource], str | None]:
        """Up to `limit` waiting sources after the cursor; the next cursor, or None at the end."""
        condition = UnsettledItem.sk > after if after else None
        items = list(
            UnsettledItem.query(
                keys.unsettled_pk(tenant_id),
                condition,
                consistent_read=True,
                limit=limit,
                page_size=limit,
            )
        )
        return [_unsettled(i) for i in items], (items[-1].sk if len(items) == limit else None)

    def note_unsettled(
        self,
        tenant_id: str,
        source: Source,
        *,
        refunded: Decimal | None = None,
        reversed_at: str | None = None,
        rating: int | None = None,
    ) -> bool:
        """A refund or rating of a source that is waiting for a rule; False when none is waiting."""
        actions: list[Any] = []
        if refunded is not None:
            actions.append(UnsettledItem.refunded.set(f"{refunded:.2f}"))
        if reversed_at is not None:
            actions.append(UnsettledItem.reversed_at.set(reversed_at))
        if rating is not None:
            actions.append(UnsettledItem.rating.set(rating))
        try:
            UnsettledItem(keys.unsettled_pk(tenant_id), f"{source.type.value}#{source.id}").update(
                actions=actions, condition=UnsettledItem.pk.exists()
            )
        except UpdateError as e:
            if e.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def drop_unsettled(self, tenant_id: str, source: Source) -> None:
        UnsettledItem(keys.unsettled_pk(tenant_id), f"{source.type.value}#{source.id}").delete()

    # -- commission rules ---------------------------------------------------------------------------
    def add_rule(self, tenant_id: str, applies_to: str, rule: AnyRule | AnyPeriodModifier) -> None:
        item = SettlementRuleItem(
            keys.settlement_rules_pk(tenant_id),
            f"{rule.id}#V#{rule.version:06d}",
            doc=json.dumps({"applies_to": applies_to, "rule": rule.model_dump(mode="json")}),
        )
        try:
            item.save(condition=SettlementRuleItem.pk.does_not_exist())
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                raise ConflictError(
                    f"version {rule.version} of rule {rule.id} exists: reload and retry"
                ) from e
            raise

    def rules(self, tenant_id: str) -> list[tuple[str, AnyRule | AnyPeriodModifier]]:
        """Every version of every rule and period modifier with what it applies to (ticket / order): one
        Query."""
        out: list[tuple[str, AnyRule | AnyPeriodModifier]] = []
        for i in SettlementRuleItem.query(keys.settlement_rules_pk(tenant_id), consistent_read=True):
            data = json.loads(i.doc or "{}")
            out.append((str(data["applies_to"]), _RULE.validate_python(data["rule"])))
        return out

    # -- bills ------------------------------------------------------------------------------------
    def add_bill(self, tenant_id: str, bill: Bill, created_at: str) -> bool:
        """The ticket's bill, once (a redelivered completion keeps the first)."""
        item = BillItem(
            keys.bill_pk(tenant_id, bill.ticket_id),
            keys.BILL_SK,
            doc=bill.model_dump_json(),
            gsi1pk=keys.customer_bills_pk(tenant_id, bill.customer_id),
            gsi1sk=f"{created_at}#{bill.ticket_id}",
        )
        try:
            item.save(condition=BillItem.pk.does_not_exist())
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def bill(self, tenant_id: str, ticket_id: str) -> Bill | None:
        try:
            item = BillItem.get(keys.bill_pk(tenant_id, ticket_id), keys.BILL_SK)
        except BillItem.DoesNotExist:
            return None
        return Bill.model_validate_json(item.doc or "")

    def customer_bills(self, tenant_id: str, customer_id: str, *, limit: int) -> list[Bill]:
        return [
            Bill.model_validate_json(i.doc or "")
            for i in Item.gsi1.query(
                keys.customer_bills_pk(tenant_id, customer_id),
                scan_index_forward=False,
                limit=limit,
                page_size=limit,
            )
        ]


def _unsettled(item: UnsettledItem) -> UnsettledSource:
    u = UnsettledSource.model_validate_json(item.doc or "")
    return u.model_copy(
        update={
            "refunded": Decimal(item.refunded) if item.refunded else None,
            "reversed": bool(item.reversed_at),
            "rating": int(item.rating) if item.rating is not None else None,
        }
    )


class DynamoSettlementRuns:
    """A period's run record (`RUN`), its chunks (`CHUNK#<run>#<n>`) and finished parties (`PARTY#…`)."""

    def get(self, tenant_id: str, period: str) -> SettlementRun | None:
        try:
            item = RunItem.get(keys.settlement_run_pk(tenant_id, period), "RUN", consistent_read=True)
        except RunItem.DoesNotExist:
            return None
        return SettlementRun.model_validate_json(item.doc or "")

    def save(self, run: SettlementRun, *, expected_version: int | None) -> None:
        """Conditional on the version read (None: the period has no run record yet)."""
        item = RunItem(
            keys.settlement_run_pk(run.tenant_id, run.period),
            "RUN",
            doc=run.model_dump_json(),
            version=run.version,
        )
        condition = (
            RunItem.pk.does_not_exist() if expected_version is None else RunItem.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                raise ConflictError(f"the {run.period} run changed meanwhile") from e
            raise

    def put_chunks(self, tenant_id: str, period: str, run_id: str, chunks: list[list[Posting]]) -> None:
        pk = keys.settlement_run_pk(tenant_id, period)
        with RunItem.batch_write() as batch:
            for n, chunk in enumerate(chunks):
                doc = "[" + ",".join(p.model_dump_json(exclude_defaults=True) for p in chunk) + "]"
                batch.save(RunItem(pk, f"CHUNK#{run_id}#{n:05d}", doc=doc))

    def chunk(self, tenant_id: str, period: str, run_id: str, n: int) -> list[Posting]:
        item = RunItem.get(
            keys.settlement_run_pk(tenant_id, period), f"CHUNK#{run_id}#{n:05d}", consistent_read=True
        )
        return _POSTINGS.validate_json(item.doc or "[]")

    def finished_parties(self, tenant_id: str, period: str, parties: Iterable[str]) -> set[str]:
        """Which of these parties a run (this or an earlier one) finished: one BatchGetItem per 100."""
        pk = keys.settlement_run_pk(tenant_id, period)
        return {
            i.sk.removeprefix("PARTY#") for i in RunItem.batch_get([(pk, f"PARTY#{p}") for p in set(parties)])
        }

    def all_finished(self, tenant_id: str, period: str) -> set[str]:
        """Every party a run of the period finished (a Query of the run's partition, PARTY# items)."""
        pk = keys.settlement_run_pk(tenant_id, period)
        return {i.sk.removeprefix("PARTY#") for i in RunItem.query(pk, RunItem.sk.startswith("PARTY#"))}

    def finish_party(self, tenant_id: str, period: str, party: str, run_id: str, postings: int) -> None:
        RunItem(
            keys.settlement_run_pk(tenant_id, period),
            f"PARTY#{party}",
            doc=json.dumps({"run_id": run_id, "postings": postings}),
        ).save()
