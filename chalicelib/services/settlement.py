"""Settlement center (智能结算中心): commission rules as versioned data, ticket bills, real-time settlement of
completed tickets and paid orders, reversals on refunds, and party statements.

Real time: a completed ticket is billed (domain/billing.py) and its bill total split among the parties by the
ticket split rule in effect (domain/settlement.py `settle_source`); a paid order's total by the order split
rule. Each posting is one TransactWriteItems (store/ledger.py) under an id derived from the rule version and
the source, so a redelivered event posts nothing. A refund posts the mirror of every posting of the order
(`ledger.reverse`): old entries are never edited. Month-end runs are in services/settlement_runs.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.access import Permission, Principal, ScopeKind, in_scope
from chalicelib.domain.billing import Bill, BillRequest, PartUsed, WarrantyBasis, bill
from chalicelib.domain.common import Clock, DocumentedAs, ForbiddenError, InvalidInputError, NotFoundError
from chalicelib.domain.configuration import ConfigKind
from chalicelib.domain.inventory import ReservationStatus
from chalicelib.domain.ledger import ZERO, Posting, Source, SourceType, partial_reversal, reverse
from chalicelib.domain.money import Money, PositiveMoney, to_fen
from chalicelib.domain.notifications import NotificationRequest, RecipientKind
from chalicelib.domain.orders import Order
from chalicelib.domain.pricing import ModifierKind, QuoteItem, Region
from chalicelib.domain.settlement import (
    COLLECTIONS,
    PERIOD_PATTERN,
    AnyPeriodModifier,
    AnyRule,
    Facts,
    PartyRole,
    RegionCoefficient,
    RuleOrModifier,
    SatisfactionMultiplier,
    SplitRule,
    parse_rule,
    settle_source,
)
from chalicelib.domain.statements import (
    PERIOD_ZONE,
    Party,
    PartyStatement,
    build_statement,
    entries_of,
    period_of,
)
from chalicelib.domain.ticket_templates import Priority
from chalicelib.domain.tickets import Ticket
from chalicelib.domain.unsettled import UnsettledPublic, UnsettledSource, unsettled_reason
from chalicelib.observability import logger
from chalicelib.services.cache import PROCESS_VERSIONS, ConfigCache
from chalicelib.services.events import envelope
from chalicelib.services.inventory import InventoryService
from chalicelib.services.ports import (
    ConfigVersions,
    CustomerRepository,
    Notifier,
    Publisher,
    SettlementLedger,
    TenantRepository,
    TicketRepository,
)
from chalicelib.services.pricing import PricingService

ONE = Decimal(1)  # a share of 1/1: everything
RULE_PUBLISHED = "settlement.rule_published"  # the events worker settles what waited for a rule
PLATFORM_ID = "hq"  # the tenant itself, as the platform party
DEFAULT_STORE = "default"
UNASSIGNED = "unassigned"
LABOUR_WARRANTY_MONTHS = 12  # whole-machine labour warranty unless the ticket says otherwise
# ticket_rush: the share of a ticket's rush surcharge (加急费分成), split apart from the rest of the bill.
AppliesTo = Literal["ticket", "ticket_rush", "order"]


_MODIFIERS = (SatisfactionMultiplier, RegionCoefficient)


class RuleDraft(BaseModel):
    """POST /v1/settlement-rules: a commission rule (split, base + incentive, tiered, threshold bonus) or
    its next version. `applies_to` picks the sources whose amounts it splits (tickets or orders); period
    rules (tiered, threshold, base + incentive) apply at month-end to the parties' ticket/order totals."""

    model_config = ConfigDict(extra="forbid")

    applies_to: AppliesTo = "ticket"
    rule: Annotated[dict[str, object], DocumentedAs(RuleOrModifier)]  # parse_rule names each field


class RuleVersion(BaseModel):
    applies_to: str
    rule: Annotated[dict[str, object], DocumentedAs(RuleOrModifier)]


class RuleList(BaseModel):
    items: list[RuleVersion]


class ChargebackCommand(BaseModel):
    """POST /v1/settlements/reversals: reverse what a ticket or order posted (refund, chargeback)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source_type: Literal["ticket", "order"]
    source_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=200)
    refunded_total: PositiveMoney | None = Field(
        default=None,
        description="a partial refund: the total refunded so far, this one included (so a retried request "
        "posts nothing more); absent: everything",
    )


class PostingList(BaseModel):
    items: list[Posting]


class PostingShare(BaseModel):
    """A posting in the customer 360 view: its whole amount for finance, a partner's own share for them."""

    id: str
    at: datetime
    source: Source
    amount: Money
    memo: str
    reverses: str | None


class BillView(BaseModel):
    model_config = ConfigDict(frozen=True)

    bill: Bill
    summary: str
    summary_en: str


class StatementQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party: str = Field(min_length=3, max_length=80, description="<role>:<id>, e.g. engineer:usr_…")
    period: str = Field(pattern=PERIOD_PATTERN, description="YYYY-MM (China time)")
    format: Literal["json", "csv"] = "json"


class PartyBalance(BaseModel):
    party: str
    account: str
    debits: Money
    credits: Money
    balance: Money  # as the party reads it


class Reconciliation(BaseModel):
    """A period's balances: what the parties were credited equals what was settled (collected) — exactly."""

    period: str
    settled: Money  # Σ of the amounts split (debited to collections) in the period, net of reversals
    incentives: Money  # Σ of what period rules paid (the platform's commission expense)
    parties: list[PartyBalance]
    parties_total: Money
    balanced: bool
    # Paid orders / completed tickets of the period that no rule settled yet, with why: settled when a rule
    # covering their date is published (`balanced` covers what was settled).
    unsettled: list[UnsettledPublic] = Field(default_factory=list)


class SettlementService:
    def __init__(
        self,
        *,
        ledger: SettlementLedger,
        tickets: TicketRepository,
        customers: CustomerRepository,
        pricing: PricingService,
        inventory: InventoryService,
        notifier: Notifier,
        clock: Clock,
        config_versions: ConfigVersions = PROCESS_VERSIONS,
        publisher: Publisher | None = None,
        tenants: TenantRepository | None = None,
    ) -> None:
        self._publisher = publisher
        self._tenants = tenants  # statements give times in the tenant's zone
        self._ledger = ledger
        self._tickets = tickets
        self._customers = customers
        self._pricing = pricing
        self._inventory = inventory
        self._notifier = notifier
        self._clock = clock
        self._rules_cache: ConfigCache[str, list[tuple[str, AnyRule | AnyPeriodModifier]]] = ConfigCache(
            ConfigKind.SETTLEMENT_RULES, config_versions
        )

    # -- rules ------------------------------------------------------------------------------------
    def publish_rule(self, *, principal: Principal, draft: RuleDraft) -> dict[str, object]:
        principal.require(Permission.SETTLEMENT_MANAGE)
        existing = [r for _, r in self._ledger.rules(principal.tenant_id)]
        rule_id = str(draft.rule.get("id") or "")
        version = max((r.version for r in existing if r.id == rule_id), default=0) + 1
        body = {"effective_from": self._clock.now().isoformat(), **draft.rule, "version": version}
        rule = parse_rule(body)
        if rule.effective_from < self._clock.now().replace(microsecond=0) and version > 1:
            raise InvalidInputError(
                "a new version cannot take effect in the past: settled amounts must stay reproducible",
                details=[{"field": "rule.effective_from", "message": "must be now or later"}],
            )
        self._ledger.add_rule(principal.tenant_id, draft.applies_to, rule)
        self._rules_cache.changed(principal.tenant_id, principal.tenant_id)
        if self._publisher is not None:  # sources waiting for a rule are settled by the events worker
            self._publisher.publish(
                [
                    envelope(
                        RULE_PUBLISHED,
                        principal.tenant_id,
                        f"rule:{rule.id}:{rule.version}",
                        {"applies_to": draft.applies_to, "after": None},
                    )
                ]
            )
        return {"applies_to": draft.applies_to, "rule": rule.model_dump(mode="json")}

    def list_rules(self, *, principal: Principal) -> list[dict[str, object]]:
        principal.require(Permission.SETTLEMENT_RULES_READ)  # every party's rates: not a partner's business
        return [
            {"applies_to": applies_to, "rule": rule.model_dump(mode="json")}
            for applies_to, rule in self._ledger.rules(principal.tenant_id)
        ]

    def rules(self, tenant_id: str, applies_to: AppliesTo) -> list[AnyRule]:
        """The tenant's rules for tickets or orders (cached while the tenant's rules counter stands: settling
        reads them per event)."""
        return [
            r
            for kind, r in self._all_rules(tenant_id)
            if kind == applies_to and not isinstance(r, _MODIFIERS)
        ]

    def period_modifiers(self, tenant_id: str, applies_to: AppliesTo) -> list[AnyPeriodModifier]:
        """Satisfaction multipliers and region coefficients on the period rules of tickets or orders."""
        return [
            r for kind, r in self._all_rules(tenant_id) if kind == applies_to and isinstance(r, _MODIFIERS)
        ]

    def _all_rules(self, tenant_id: str) -> list[tuple[str, AnyRule | AnyPeriodModifier]]:
        return self._rules_cache.get(tenant_id, tenant_id, lambda: self._ledger.rules(tenant_id))

    # -- tickets ----------------------------------------------------------------------------------
    def ticket_closed(self, tenant_id: str, ticket_id: str) -> Bill | None:
        """A ticket reached an end step. Cancelled: its parts go back. Completed: parts consumed, the bill
        made (once) and sent to the customer, the bill total settled. Every step is idempotent."""
        ticket = self._tickets.get(tenant_id, ticket_id)
        if ticket is None or ticket.closed_at is None:
            return None
        if any("cancel" in node for node in ticket.state.active):
            self._inventory.release_for_ticket(tenant_id, ticket_id)
            return None
        used = self._inventory.consume_for_ticket(tenant_id, ticket_id)
        if ticket.customer_id is None:
            return None  # nobody to bill (an internal ticket)
        billed = self._ledger.bill(tenant_id, ticket_id)
        if billed is None:
            parts = [(r.sku, r.quantity) for r in used if r.status is ReservationStatus.CONSUMED]
            try:
                billed = self._make_bill(tenant_id, ticket, parts or _recorded_parts(ticket))
            except InvalidInputError as e:  # e.g. no price for the labour item: visible, not retried forever
                logger.warning("ticket not billed", extra={"ticket_id": ticket_id, "reason": e.message})
                return None
            self._ledger.add_bill(tenant_id, billed, self._clock.now().isoformat(timespec="milliseconds"))
        self._tell_customer(tenant_id, ticket, billed)
        try:
            self.settle_ticket(tenant_id, ticket, billed)
        except (
            InvalidInputError
        ) as e:  # e.g. a rule naming a party the ticket has none for: visible, not retried
            logger.warning("ticket not settled", extra={"ticket_id": ticket_id, "reason": e.message})
        return billed

    def bill_preview(self, *, principal: Principal, ticket_id: str) -> BillView:
        """What an open ticket would be billed if completed now: its labour, the parts it holds (or the
        engineer recorded), warranty judged today. Nothing is stored; the real bill is made on completion."""
        principal.require(Permission.TICKETS_READ)
        ticket = self._tickets.get(principal.tenant_id, ticket_id)
        if ticket is None or not in_scope(principal, ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        if ticket.customer_id is None:
            raise InvalidInputError(
                "the ticket has no customer to bill", details=[{"field": "customer_id", "message": "missing"}]
            )
        held = self._inventory.reservations_of(principal.tenant_id, ticket_id)
        parts = [(r.sku, r.quantity) for r in held if r.status is not ReservationStatus.RELEASED]
        as_if = ticket.model_copy(update={"closed_at": ticket.closed_at or self._clock.now()})
        preview = self._make_bill(principal.tenant_id, as_if, parts or _recorded_parts(ticket))
        return BillView(bill=preview, summary=preview.summary("zh"), summary_en=preview.summary("en"))

    def _make_bill(self, tenant_id: str, ticket: Ticket, parts: Sequence[tuple[str, int]]) -> Bill:
        f = ticket.fields
        labour = _labour_items(f.get("labour_items"), ticket.type)
        customer = self._customers.get(tenant_id, ticket.customer_id or "")
        # Customer types (VIP, 会员, 三甲医院 …) are the customer's tags: member discounts and type prices.
        types = tuple(
            sorted({*(customer.tags.values() if customer else ()), *(f.get("customer_types") or ())})
        )
        skus = sorted({sku for sku, _ in parts})
        catalogue = [
            p for p in (self._inventory.catalogue_part(tenant_id, sku) for sku in skus) if p is not None
        ]
        request = BillRequest(
            ticket_id=ticket.id,
            customer_id=ticket.customer_id or "",
            region=Region(province=f.get("province"), city=f.get("city"), tier=f.get("city_tier")),
            customer_types=types,
            rush=_rush_reason(ticket) is not None,
            rush_reason=_rush_reason(ticket),
            completed_at=ticket.closed_at,
            labour=labour,
            parts=tuple(PartUsed(sku=sku, quantity=q) for sku, q in _merge(parts)),
            warranty=_warranty(f),
            warranty_claim=_warranty_claim(f),
        )
        book = self._pricing.book_for(tenant_id, [line.item for line in labour] + skus)
        coefficients = self._pricing.coefficients_for(tenant_id) if skus else []
        return bill(request, rules=book[0], modifiers=book[1], parts=catalogue, coefficients=coefficients)

    def _tell_customer(self, tenant_id: str, ticket: Ticket, billed: Bill) -> None:
        self._notifier.notify(
            [
                NotificationRequest(
                    tenant_id=tenant_id,
                    event="ticket.billed",
                    recipient_kind=RecipientKind.CUSTOMER,
                    recipient_id=billed.customer_id,
                    data={
                        "ticket_id": ticket.id,
                        "title": ticket.title,
                        "total": f"{billed.total:.2f}",
                        "waived": f"{billed.waived:.2f}",
                        "summary": billed.summary("zh"),
                    },
                    idempotency_key=f"bill:{ticket.id}",
                    ticket_id=ticket.id,
                )
            ]
        )

    def settle_ticket(self, tenant_id: str, ticket: Ticket, billed: Bill) -> list[Posting]:
        parties = {
            PartyRole.STORE: ticket.store or DEFAULT_STORE,
            PartyRole.PLATFORM: PLATFORM_ID,
        }
        # Closed without an assignee (a store did the job itself): the engineer's share is kept on the
        # `engineer:unassigned` account for finance to see, never dropped.
        parties[PartyRole.ENGINEER] = ticket.assignment.assignee_id if ticket.assignment else UNASSIGNED
        if isinstance(ticket.fields.get("partner"), str):
            parties[PartyRole.PARTNER] = ticket.fields["partner"]
        completed = ticket.closed_at or self._clock.now()
        rush = _rush_amount(billed)
        split_rush = rush > ZERO and any(
            isinstance(r, SplitRule) for r in self.rules(tenant_id, "ticket_rush")
        )
        facts = Facts(
            source=Source(type=SourceType.TICKET, id=ticket.id),
            period=period_of(completed),
            amount=billed.total - rush if split_rush else billed.total,
            count=1,
            parties=parties,
            completed_at=completed,
            rating=ticket.rating.score if ticket.rating else None,
        )
        postings = self.settle_facts(tenant_id, facts, "ticket", ticket.customer_id)
        if split_rush:
            # The rush fee has its own shares (e.g. engineer 70 / platform 30); as a source of its own it
            # counts in the parties' period amounts but not as another ticket (count 0).
            rush_facts = facts.model_copy(
                update={
                    "source": Source(type=SourceType.TICKET, id=f"{ticket.id}#rush"),
                    "amount": rush,
                    "count": 0,
                }
            )
            postings += self.settle_facts(tenant_id, rush_facts, "ticket_rush", ticket.customer_id)
        return postings

    def rated(self, tenant_id: str, ticket: Ticket, score: int) -> None:
        if ticket.closed_at is not None:
            source = Source(type=SourceType.TICKET, id=ticket.id)
            self._ledger.rate(tenant_id, period_of(ticket.closed_at), source, score)
            self._ledger.note_unsettled(tenant_id, source, rating=score)  # counted once it is settled

    # -- orders -----------------------------------------------------------------------------------
    def order_changed(self, tenant_id: str, order: Order) -> list[Posting]:
        """Paid → the order split posts. Refunded in full → every posting of the order is reversed (once).
        Partly refunded (the order carries the amount refunded so far) → each posting gives back that share
        of itself, less what earlier refunds took, and the order counts for the rest at month end."""
        status, total, refunded = order.status.value, order.total_amount, order.refunded_amount
        source_id = _order_source(order)
        if status == "refunded" and (not refunded or not total or refunded >= total):
            return self.reverse_source(tenant_id, SourceType.ORDER, source_id, f"order {status}")
        if not total or not (
            status in ("paid", "shipped", "completed")
            or (status in ("refunded", "partially_refunded") and refunded)
        ):
            return []
        paid = order.paid_at or order.updated_at
        facts = Facts(
            source=Source(type=SourceType.ORDER, id=source_id),
            period=period_of(paid),
            amount=total,
            count=1,
            parties={PartyRole.STORE: order.shop_id, PartyRole.PLATFORM: PLATFORM_ID},
            completed_at=paid,
        )
        out = self.settle_facts(tenant_id, facts, "order", order.customer_id)
        if refunded:
            reason = f"refunded {refunded:.2f} of {total:.2f}"
            out += self.reverse_source(
                tenant_id, SourceType.ORDER, source_id, reason, refunded=refunded, of=total
            )
        return out

    def reverse_source(
        self,
        tenant_id: str,
        source_type: SourceType,
        source_id: str,
        reason: str,
        *,
        refunded: Decimal | None = None,
        of: Decimal | None = None,
    ) -> list[Posting]:
        """Take back what the source's postings gave, dated now, in the current period: all that is left of
        each, or `refunded` of `of` (cumulative) for a partial refund. Fully reversed postings are skipped."""
        posted = self._ledger.postings_for_source(tenant_id, source_type.value, source_id)
        if not posted:  # waiting for a rule: the refund is noted, taken back once the source is settled
            partial = refunded is not None and of is not None and refunded < of
            self._ledger.note_unsettled(
                tenant_id,
                Source(type=source_type, id=source_id),
                refunded=refunded if partial else None,
                reversed_at=None if partial else self._clock.now().isoformat(),
            )
            return []
        earlier: dict[str, list[Posting]] = defaultdict(list)
        for p in posted:
            if p.reverses:
                earlier[p.reverses].append(p)
        share = (refunded, of) if refunded is not None and of is not None and refunded < of else None
        out: list[Posting] = []
        for posting in posted:
            before = earlier.get(posting.id, [])
            if posting.reverses or any(r.id == f"rev:{posting.id}" for r in before):
                continue
            at = max(self._clock.now(), posting.at)
            mirror: Posting | None
            if share is not None:  # this refund's share, less what earlier refunds took
                mirror = partial_reversal(
                    posting, refunded=share[0], of=share[1], earlier=before, at=at, reason=reason
                )
            elif before:  # everything, after partial refunds: what is left
                mirror = partial_reversal(posting, refunded=ONE, of=ONE, earlier=before, at=at, reason=reason)
            else:
                mirror = reverse(posting, at, reason)
            basis = self._basis(posting)
            if mirror is not None:
                taken = -self._basis(mirror) if basis else ZERO
                entries = entries_of(mirror, basis=taken, customer_id=None)
                if self._ledger.post(tenant_id, mirror, entries, customer_id=None, late=True):
                    out.append(mirror)
            if posting.rule is not None and basis:  # a split: the source's month-end facts follow
                period = period_of(posting.at)
                if share is not None:  # this source's part of the refund (a ticket's rush fee is another)
                    part = to_fen(basis * share[0] / share[1])
                    self._ledger.mark_refunded(tenant_id, period, posting.source, part)
                else:
                    self._ledger.mark_reversed(
                        tenant_id, period, posting.source, self._clock.now().isoformat()
                    )
        return out

    def chargeback(self, *, principal: Principal, command: ChargebackCommand) -> list[Posting]:
        """A refund or chargeback finance records by hand: every posting of the ticket (its rush share
        too) or order is reversed, dated now; the original entries stay as they were."""
        principal.require(Permission.SETTLEMENT_MANAGE)
        kind = SourceType(command.source_type)
        ids = (
            [command.source_id, f"{command.source_id}#rush"]
            if kind is SourceType.TICKET
            else [command.source_id]
        )
        reason = f"{command.reason} (by {principal.user_id})"
        tid = principal.tenant_id
        posted = {i: self._ledger.postings_for_source(tid, kind.value, i) for i in ids}
        if not any(posted.values()):
            raise NotFoundError(f"nothing was settled for {kind.value} {command.source_id}")
        # A part of what was billed (a ticket's bill includes its rush fee, settled as a source of its own):
        # every posting gives back that share of itself.
        billed = sum((self._basis(p) for own in posted.values() for p in own if not p.reverses), ZERO)
        part = command.refunded_total
        if part is not None and part < billed:
            return [
                p
                for source_id in ids
                for p in self.reverse_source(tid, kind, source_id, reason, refunded=part, of=billed)
            ]
        return [p for source_id in ids for p in self.reverse_source(tid, kind, source_id, reason)]

    @staticmethod
    def _basis(posting: Posting) -> Decimal:
        """What a posting moved through collections: a split's basis is the amount it split (a debit); a
        reversal's is minus what it gave back; other postings have none."""
        return sum((leg.net for leg in posting.legs if leg.account.endswith(":collections")), ZERO)

    def settle_facts(
        self, tenant_id: str, facts: Facts, applies_to: AppliesTo, customer_id: str | None
    ) -> list[Posting]:
        """Real-time settlement of one completed ticket / paid order (also for settled history imports):
        its split posting, once, and its facts kept for the month-end run. No split rule in force at its
        date (or one it cannot satisfy): kept as unsettled, with the reason, until a rule is published."""
        return self._settle(tenant_id, facts, applies_to, customer_id)[0]

    def _settle(
        self, tenant_id: str, facts: Facts, applies_to: AppliesTo, customer_id: str | None
    ) -> tuple[list[Posting], bool]:
        """(what was posted now, whether the source is settled: now or before)."""
        rules = self.rules(tenant_id, applies_to)
        try:
            postings = settle_source(rules, facts, tenant_id=tenant_id)
            reason = None if postings else unsettled_reason(rules, facts, applies_to)
        except InvalidInputError as e:  # a rule naming a party the source lacks, two rules in force …
            postings, reason = [], e.message
        if reason is not None:
            logger.warning("source kept unsettled", extra={"source": facts.source.id, "reason": reason})
            self._ledger.keep_unsettled(
                tenant_id,
                UnsettledSource(applies_to=applies_to, facts=facts, customer_id=customer_id, reason=reason),
            )
            return [], False
        out: list[Posting] = []
        for posting in postings:
            entries = entries_of(posting, basis=facts.amount, customer_id=customer_id)
            if self._ledger.post(tenant_id, posting, entries, customer_id=customer_id, facts=facts):
                out.append(posting)
        return out, True

    def rule_published(self, tenant_id: str, applies_to: str, *, after: str | None = None) -> int:
        """The events worker's step after a rule was published: one page of the waiting sources; the next
        page is a continuation event of its own. Returns how many were settled."""
        settled, cursor = self.settle_unsettled(tenant_id, applies_to, after=after)
        if cursor is not None and self._publisher is not None:
            self._publisher.publish(
                [
                    envelope(
                        RULE_PUBLISHED,
                        tenant_id,
                        f"unsettled:{applies_to}:{cursor}",
                        {"applies_to": applies_to, "after": cursor},
                    )
                ]
            )
        return settled

    def settle_unsettled(
        self, tenant_id: str, applies_to: str | None, *, after: str | None = None, limit: int = 200
    ) -> tuple[int, str | None]:
        """After a rule was published (events worker): the waiting sources it now covers are settled, a
        refund noted meanwhile taken back, and each settled one leaves the list. Returns (how many were
        settled, where the next page starts: the caller publishes a continuation, so no invocation's work
        grows with the backlog)."""
        page, cursor = self._ledger.unsettled_page(tenant_id, after=after, limit=limit)
        settled = 0
        for u in page:
            if applies_to is not None and u.applies_to != applies_to:
                continue
            source = u.facts.source
            if u.reversed:  # refunded in full before any rule: nothing to settle
                self._ledger.drop_unsettled(tenant_id, source)
                continue
            facts = u.facts if u.rating is None else u.facts.model_copy(update={"rating": u.rating})
            _, done = self._settle(tenant_id, facts, u.applies_to, u.customer_id)  # type: ignore[arg-type]
            if not done:
                continue
            if u.refunded is not None:
                reason = f"refunded {u.refunded:.2f} of {facts.amount:.2f} before it was settled"
                self.reverse_source(
                    tenant_id, source.type, source.id, reason, refunded=u.refunded, of=facts.amount
                )
            self._ledger.drop_unsettled(tenant_id, source)
            settled += 1
        return settled, cursor

    # -- statements -------------------------------------------------------------------------------
    def statement(self, *, principal: Principal, party: str, period: str) -> PartyStatement:
        """A party's statement. Finance and admins see anyone's; a store manager their store's; anyone else
        (an engineer, a partner's user) only their own (party id = their user id)."""
        who = Party.parse(party)
        _check_may_see(principal, who)
        entries = self._ledger.entries(principal.tenant_id, who.account, period)
        opening = self._ledger.balance_before(principal.tenant_id, who.account, period)
        tenant = self._tenants.get_tenant(principal.tenant_id) if self._tenants is not None else None
        zone = ZoneInfo(tenant.timezone) if tenant is not None else PERIOD_ZONE
        return build_statement(who, period, opening, entries, zone=zone)

    def reconcile(self, *, principal: Principal, period: str) -> Reconciliation:
        """Every party the period's settled sources name: Σ their balances for the period must equal what
        was split (collections) plus what incentives cost the platform — exactly, to the fen."""
        principal.require(Permission.SETTLEMENT_MANAGE)
        tenant_id = principal.tenant_id
        parties: set[Party] = {Party(role=PartyRole.PLATFORM, id=PLATFORM_ID)}
        for facts in self._ledger.settled_facts(tenant_id, period):
            parties.update(Party(role=role, id=pid) for role, pid in facts.parties.items())
        # Parties moved by refunds and adjustments of sources settled in earlier periods.
        parties.update(p for p in map(Party.of_account, self._ledger.late_accounts(tenant_id, period)) if p)
        who = sorted(parties, key=str)
        expense = f"party:platform:{PLATFORM_ID}:commission_expense"
        accounts = [COLLECTIONS, expense, *(p.account for p in who)]
        totals = self._ledger.month_totals(tenant_id, accounts, period)
        zero = (ZERO, ZERO)
        settled = totals.get(COLLECTIONS, zero)[0] - totals.get(COLLECTIONS, zero)[1]
        incentives = totals.get(expense, zero)[0] - totals.get(expense, zero)[1]
        rows: list[PartyBalance] = []
        total = ZERO
        for p in who:
            d, c = totals.get(p.account, zero)
            if not d and not c:
                continue
            total += c - d
            rows.append(
                PartyBalance(
                    party=str(p),
                    account=p.account,
                    debits=f"{d:.2f}",
                    credits=f"{c:.2f}",
                    balance=f"{c - d:.2f}",
                )
            )
        return Reconciliation(
            period=period,
            settled=f"{settled:.2f}",
            incentives=f"{incentives:.2f}",
            parties=rows,
            parties_total=f"{total:.2f}",
            balanced=total == settled + incentives,
            unsettled=[
                UnsettledPublic.of(u)
                for u in self._ledger.unsettled(tenant_id)
                if u.facts.period == period and not u.reversed
            ],
        )

    # -- the 360 view -------------------------------------------------------------------------------
    def bills_of(self, tenant_id: str, customer_id: str, *, limit: int = 10) -> list[Bill]:
        return self._ledger.customer_bills(tenant_id, customer_id, limit=limit)

    def history_of(self, *, principal: Principal, customer_id: str, limit: int = 20) -> list[PostingShare]:
        """The customer's postings as the caller may see them: finance (settlement:manage) whole; a partner
        (an engineer, a store) only those paying them, for their own share; nothing else."""
        if not principal.has(Permission.SETTLEMENT_READ):
            return []
        shares = []
        for p in self._ledger.customer_postings(principal.tenant_id, customer_id, limit=limit):
            if principal.has(Permission.SETTLEMENT_MANAGE):
                amount: Decimal | None = p.total
            else:
                legs = [leg for leg in p.legs if _may_see(principal, Party.of_account(leg.account))]
                amount = -sum((leg.net for leg in legs), ZERO) if legs else None  # as the party reads it
            if amount is not None:
                shares.append(
                    PostingShare(
                        id=p.id, at=p.at, source=p.source, amount=amount, memo=p.memo, reverses=p.reverses
                    )
                )
        return shares

    def bill_view(self, *, principal: Principal, ticket_id: str) -> BillView:
        principal.require(Permission.TICKETS_READ)
        ticket = self._tickets.get(principal.tenant_id, ticket_id)
        if ticket is None or not in_scope(principal, ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        billed = self._ledger.bill(principal.tenant_id, ticket_id)
        if billed is None:
            raise NotFoundError(f"ticket {ticket_id} has no bill yet (it is made on completion)")
        return BillView(bill=billed, summary=billed.summary("zh"), summary_en=billed.summary("en"))


def _check_may_see(principal: Principal, party: Party) -> None:
    principal.require(Permission.SETTLEMENT_READ)
    if not principal.has(Permission.SETTLEMENT_MANAGE) and not _may_see(principal, party):
        raise ForbiddenError("a partner sees only their own statement")


def _may_see(principal: Principal, party: Party | None) -> bool:
    """A partner's own money: their store's (a store-scoped manager) or their own (an engineer)."""
    if party is None:
        return False
    if principal.scope.kind is ScopeKind.STORE and party.role is PartyRole.STORE:
        return party.id == principal.scope.value
    return party.id == principal.user_id and party.role is not PartyRole.PLATFORM


def _order_source(order: Order) -> str:
    return f"{order.platform}:{order.order_id}"


def _labour_items(value: object, ticket_type: str) -> tuple[QuoteItem, ...]:
    """The ticket's `labour_items` field ("CODE", ["CODE", …] or [{"item", "quantity"}]), else its type."""
    if value in (None, "", []):
        return (QuoteItem(item=ticket_type),)
    items = value if isinstance(value, list) else [value]
    return tuple(QuoteItem(item=i) if isinstance(i, str) else QuoteItem.model_validate(i) for i in items)


def _rush_amount(billed: Bill) -> Decimal:
    """The rush surcharges the customer pays (lines under warranty pay nothing), each capped at its line."""
    total = ZERO
    for line in billed.lines:
        if line.total <= ZERO:
            continue
        rush = sum((a.amount for a in line.adjustments if a.kind is ModifierKind.RUSH), ZERO)
        total += min(rush, line.total)
    return total


def _recorded_parts(ticket: Ticket) -> list[tuple[str, int]]:
    """Parts the engineer recorded on the ticket (`parts_used`) when none were reserved; the recorded unit
    price is a note: the bill prices parts by the catalogue and the region price rules."""
    lines = ticket.fields.get("parts_used") or []
    return [
        (str(p["sku"]), int(p.get("quantity") or 1)) for p in lines if isinstance(p, dict) and p.get("sku")
    ]


def _merge(parts: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    merged: dict[str, int] = {}
    for sku, q in parts:
        merged[sku] = merged.get(sku, 0) + q
    return sorted(merged.items())


def _rush_reason(ticket: Ticket) -> str | None:
    """Why the job counts as rush (the bill says it); a fee follows only from a rush modifier."""
    if ticket.priority is Priority.URGENT:
        return "priority urgent"
    return "the ticket's rush field" if ticket.fields.get("rush") else None


def _warranty_claim(fields: dict[str, object]) -> Literal["保内", "保外"] | None:
    """The repair template's 保修状态 (`warranty`: 保内 / 保外 / 待确认) as entered; the bill checks it."""
    value = fields.get("warranty")
    return "保内" if value == "保内" else "保外" if value == "保外" else None


def _warranty(fields: dict[str, object]) -> WarrantyBasis | None:
    """From the customer's purchase (or installation) record as the ticket carries it."""
    for kind, key in (("installation", "install_date"), ("purchase", "purchase_date")):
        start = fields.get(key)
        if start:
            months = fields.get("labour_warranty_months", LABOUR_WARRANTY_MONTHS)
            return WarrantyBasis.model_validate({"kind": kind, "start": start, "labour_months": months})
    return None
