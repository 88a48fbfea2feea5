"""Price strategies (多区域价格策略): publishing rule and modifier versions, and issuing quotes.

A quote reads one Query per distinct item and one for the modifiers, prices in memory (domain/pricing.py)
and stores the issued quote (one PutItem). `as_of` quotes as any past moment would have: versions are
immutable and never published retroactively (domain/price_book.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chalicelib.domain.access import Permission, Principal, in_scope
from chalicelib.domain.billing import RegionCoefficient
from chalicelib.domain.common import Clock, NotFoundError
from chalicelib.domain.money import NonNegativeMoney
from chalicelib.domain.price_book import (
    IssuedQuote,
    check_publishable,
    check_rule_set,
    in_force_versions,
    new_quote_id,
    next_version,
)
from chalicelib.domain.pricing import (
    CityTier,
    Modifier,
    ModifierKind,
    PriceRule,
    Quote,
    QuoteItem,
    QuoteRequest,
    Region,
    TimeWindow,
    quote,
)
from chalicelib.services.ports import Page, PriceBookStore, TicketRepository

TENANT_ZONE = ZoneInfo("Asia/Shanghai")  # price dates are China-local calendar dates
RuleId = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\s#]+$")


class PriceRuleDraft(BaseModel):
    """POST /v1/price-rules: a new rule, or (same rule_id) its next version. Versions are immutable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rule_id: str | None = RuleId
    item: str = Field(min_length=1, max_length=100)
    customer_type: str | None = Field(default=None, max_length=50)
    province: str | None = Field(default=None, max_length=50)
    city: str | None = Field(default=None, max_length=50)
    tier: CityTier | None = None
    price: NonNegativeMoney
    effective_from: date | None = None  # default: today
    effective_to: date | None = None


class ModifierDraft(BaseModel):
    """POST /v1/price-modifiers: a promotion, seasonal surcharge, rush surcharge or member discount."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    modifier_id: str | None = RuleId
    kind: ModifierKind
    name: str = Field(min_length=1, max_length=100)
    name_en: str | None = Field(default=None, max_length=100)
    percent: str | int | None = None
    amount: NonNegativeMoney | None = None
    items: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    customer_types: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    tiers: tuple[CityTier, ...] = ()
    requires_rush: bool = False
    window: TimeWindow | None = None
    exclusive: bool = False
    effective_from: date | None = None
    effective_to: date | None = None


class CoefficientDraft(BaseModel):
    """POST /v1/depreciation-coefficients: a region's coefficient on parts (e.g. 成都 0.95)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    coefficient_id: str | None = RuleId
    province: str | None = Field(default=None, max_length=50)
    city: str | None = Field(default=None, max_length=50)
    tier: CityTier | None = None
    coefficient: str
    effective_from: date | None = None
    effective_to: date | None = None


class CoefficientList(BaseModel):
    items: list[RegionCoefficient]


class QuoteCommand(BaseModel):
    """POST /v1/quotes: a cart's or a ticket's items, where and for whom; `as_of` re-quotes the past."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    items: tuple[QuoteItem, ...] = Field(min_length=1, max_length=200)
    region: Region = Field(default_factory=Region)
    customer_types: tuple[str, ...] = Field(default=(), max_length=20)
    rush: bool = False
    service_at: AwareDatetime | None = None
    timezone: str = "Asia/Shanghai"
    as_of: AwareDatetime | date | None = None  # default: now
    customer_id: str | None = Field(default=None, max_length=64)
    ticket_id: str | None = Field(default=None, max_length=64)


class PriceRuleList(BaseModel):
    items: list[PriceRule]
    next_cursor: str | None = None


class ModifierList(BaseModel):
    items: list[Modifier]


class PricingService:
    def __init__(self, *, book: PriceBookStore, tickets: TicketRepository, clock: Clock) -> None:
        self._book = book
        self._tickets = tickets
        self._clock = clock

    def _today(self) -> date:
        return self._clock.now().astimezone(TENANT_ZONE).date()

    def _start_of(self, effective_from: date | None) -> date:
        """A new version's first day: today unless given, never in the past."""
        start = effective_from or self._today()
        check_publishable(start, self._today())
        return start

    # -- publishing -------------------------------------------------------------------------------
    def publish_rule(self, *, principal: Principal, draft: PriceRuleDraft) -> PriceRule:
        principal.require(Permission.PRICING_MANAGE)
        effective_from = self._start_of(draft.effective_from)
        existing = self._book.rules_for(principal.tenant_id, [draft.item])
        rule_id = draft.rule_id or _default_rule_id(draft)
        rule = PriceRule(
            rule_id=rule_id,
            version=next_version([r for r in existing if r.rule_id == rule_id]),
            item=draft.item,
            customer_type=draft.customer_type,
            province=draft.province,
            city=draft.city,
            tier=draft.tier,
            price=draft.price,
            effective_from=effective_from,
            effective_to=draft.effective_to,
        )
        check_rule_set([*existing, rule])
        self._book.add_rule(principal.tenant_id, rule)
        return rule

    def publish_modifier(self, *, principal: Principal, draft: ModifierDraft) -> Modifier:
        principal.require(Permission.PRICING_MANAGE)
        effective_from = self._start_of(draft.effective_from)
        modifier_id = draft.modifier_id or f"{draft.kind.value}-{self._clock.now():%Y%m%d%H%M%S}"
        existing = [m for m in self._book.modifiers(principal.tenant_id) if m.modifier_id == modifier_id]
        fields = draft.model_dump(exclude={"modifier_id", "effective_from"}, exclude_none=True)
        modifier = Modifier(
            **fields,
            modifier_id=modifier_id,
            version=next_version(existing),
            effective_from=effective_from,
        )
        self._book.add_modifier(principal.tenant_id, modifier)
        return modifier

    def publish_coefficient(self, *, principal: Principal, draft: CoefficientDraft) -> RegionCoefficient:
        principal.require(Permission.PRICING_MANAGE)
        effective_from = self._start_of(draft.effective_from)
        place = draft.city or draft.province or (f"t{draft.tier}" if draft.tier else "region")
        coefficient_id = draft.coefficient_id or f"depr:{place}"
        existing = [
            c for c in self._book.coefficients(principal.tenant_id) if c.coefficient_id == coefficient_id
        ]
        fields = draft.model_dump(exclude={"coefficient_id", "effective_from"}, exclude_none=True)
        coefficient = RegionCoefficient(
            **fields,
            coefficient_id=coefficient_id,
            version=next_version(existing),
            effective_from=effective_from,
        )
        self._book.add_coefficient(principal.tenant_id, coefficient)
        return coefficient

    def list_coefficients(self, *, principal: Principal) -> list[RegionCoefficient]:
        principal.require(Permission.TICKETS_READ)
        return self._book.coefficients(principal.tenant_id)

    def coefficients_for(self, tenant_id: str) -> list[RegionCoefficient]:
        """The depreciation coefficients (windows chained): what billing applies to parts."""
        return in_force_versions(self._book.coefficients(tenant_id))

    def list_rules(self, *, principal: Principal, limit: int, cursor: str | None) -> Page[PriceRule]:
        principal.require(Permission.TICKETS_READ)
        return self._book.list_rules(principal.tenant_id, limit=limit, cursor=cursor)

    def list_modifiers(self, *, principal: Principal) -> list[Modifier]:
        principal.require(Permission.TICKETS_READ)
        return self._book.modifiers(principal.tenant_id)

    # -- quotes -----------------------------------------------------------------------------------
    def quote(self, *, principal: Principal, command: QuoteCommand) -> IssuedQuote:
        principal.require(Permission.TICKETS_READ)
        customer_id = command.customer_id
        if command.ticket_id is not None:
            ticket = self._tickets.get(principal.tenant_id, command.ticket_id)
            if ticket is None or not in_scope(principal, ticket.ownership):
                raise NotFoundError(f"no ticket {command.ticket_id}")
            customer_id = customer_id or ticket.customer_id
        now = self._clock.now()
        request = QuoteRequest(
            items=command.items,
            region=command.region,
            customer_types=command.customer_types,
            rush=command.rush,
            service_at=command.service_at,
            timezone=command.timezone,
            reference=command.ticket_id,
        )
        priced = self.price(principal.tenant_id, request, command.as_of or now)
        issued = IssuedQuote(
            id=new_quote_id(),
            tenant_id=principal.tenant_id,
            customer_id=customer_id,
            ticket_id=command.ticket_id,
            created_at=now,
            created_by=principal.user_id,
            quote=priced,
        )
        self._book.add_quote(issued)
        return issued

    def price(self, tenant_id: str, request: QuoteRequest, as_of: date | datetime) -> Quote:
        """The quote for `request` as the book stood at `as_of` (unsaved): what billing prices with."""
        rules, modifiers = self.book_for(tenant_id, {line.item for line in request.items})
        return quote(request, rules, modifiers, as_of)

    def book_for(self, tenant_id: str, items: Iterable[str]) -> tuple[list[PriceRule], list[Modifier]]:
        """The rule and modifier versions (windows chained) for these items: what billing prices with."""
        rules = in_force_versions(self._book.rules_for(tenant_id, items))
        return rules, in_force_versions(self._book.modifiers(tenant_id))

    def get_quote(self, *, principal: Principal, quote_id: str) -> IssuedQuote:
        principal.require(Permission.TICKETS_READ)
        issued = self._book.quote(principal.tenant_id, quote_id)
        if issued is None:
            raise NotFoundError(f"no quote {quote_id}")
        return issued


def _default_rule_id(draft: PriceRuleDraft) -> str:
    """A readable id from the rule's dimensions, so re-publishing the same cell makes a new version."""
    parts = [
        draft.item,
        draft.customer_type,
        draft.province,
        draft.city,
        f"t{draft.tier}" if draft.tier else None,
    ]
    return ":".join(p if p is not None else "*" for p in parts)
