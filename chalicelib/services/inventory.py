"""Parts inventory (备件库): catalogue, stock per warehouse, ticket reservations, transfers, low stock.

Each stock change reads the part's partition (one Query: the part and its stock rows), checks the domain
rule and writes conditionally on the version read; a concurrent change makes it read again (a few times).
Of two reservations of the last unit exactly one succeeds; the other finds nothing available (409)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.access import Permission, Principal, can_act_on_ticket, in_scope
from chalicelib.domain.billing import Part
from chalicelib.domain.common import Clock, ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from chalicelib.domain.inventory import (
    AlreadyDone,
    LowStock,
    PartLine,
    Reservation,
    ReservationStatus,
    StaleStock,
    Stock,
    StockChange,
    TransferCommand,
    check_take,
    is_low,
    pick_warehouse,
    suggested_quantity,
)
from chalicelib.domain.notifications import NotificationRequest, RecipientKind
from chalicelib.services.ports import InventoryStore, Notifier, Page, PeopleDirectory, TicketRepository

ATTEMPTS = 8  # optimistic retries under contention before giving up with 409
T = TypeVar("T")


class PartDraft(Part):
    """PUT /v1/parts/{sku}: the catalogue entry; `version` is the version read (0 for a new part)."""

    version: int = Field(default=0, ge=0)


class PartView(BaseModel):
    model_config = ConfigDict(frozen=True)

    part: Part
    version: int
    stock: list[Stock]
    available: int


class PartList(BaseModel):
    items: list[Part]
    next_cursor: str | None = None


class ReserveCommand(BaseModel):
    """POST /v1/tickets/{id}/parts: hold parts for a ticket (consumed on completion, released on cancel)."""

    model_config = ConfigDict(extra="forbid")

    parts: list[PartLine] = Field(min_length=1, max_length=50)


class ReservationList(BaseModel):
    items: list[Reservation]


class LowStockList(BaseModel):
    items: list[LowStock]


class InventoryService:
    def __init__(
        self,
        *,
        store: InventoryStore,
        tickets: TicketRepository,
        notifier: Notifier,
        people: PeopleDirectory,
        clock: Clock,
    ) -> None:
        self._store = store
        self._tickets = tickets
        self._notifier = notifier
        self._people = people
        self._clock = clock

    # -- catalogue -------------------------------------------------------------------------------
    def put_part(self, *, principal: Principal, sku: str, draft: PartDraft) -> PartView:
        principal.require(Permission.INVENTORY_MANAGE)
        if draft.sku != sku:
            raise InvalidInputError(
                "the body's sku differs from the path's",
                details=[{"field": "sku", "message": "must match the path"}],
            )
        part = Part.model_validate(draft.model_dump(exclude={"version"}))
        version = self._store.put_part(principal.tenant_id, part, expected_version=draft.version)
        _, _, stocks = self._store.part(principal.tenant_id, sku)
        return _view(part, version, stocks)

    def get_part(self, *, principal: Principal, sku: str) -> PartView:
        principal.require(Permission.TICKETS_READ)
        part, version, stocks = self._store.part(principal.tenant_id, sku)
        if part is None:
            raise NotFoundError(f"no part {sku}")
        return _view(part, version, stocks)

    def catalogue_part(self, tenant_id: str, sku: str) -> Part | None:
        part, _, _ = self._store.part(tenant_id, sku)
        return part

    def list_parts(self, *, principal: Principal, limit: int, cursor: str | None) -> Page[Part]:
        principal.require(Permission.TICKETS_READ)
        return self._store.list_parts(principal.tenant_id, limit=limit, cursor=cursor)

    def low_stock(self, *, principal: Principal) -> list[LowStock]:
        """The open replenishment requests with each part's stock read now (one Query per part), not the
        values frozen when the episode began; a part since deleted keeps its request as stored."""
        principal.require(Permission.TICKETS_READ)
        requests = self._store.low_stock(principal.tenant_id)
        parts = {sku: self._store.part(principal.tenant_id, sku) for sku in {r.sku for r in requests}}
        current: list[LowStock] = []
        for request in requests:
            part, _, stocks = parts[request.sku]
            stock = _row(stocks, request.sku, request.warehouse)
            if part is None:
                current.append(request)
            else:
                current.append(
                    request.current(name=part.name, threshold=part.low_stock_threshold, stock=stock)
                )
        return current

    # -- stock movements --------------------------------------------------------------------------
    def change_stock(self, *, principal: Principal, sku: str, change: StockChange) -> PartView:
        """Goods received (+) or written off (−); a write-off cannot take units tickets hold."""
        principal.require(Permission.INVENTORY_MANAGE)

        def attempt() -> None:
            part, stock = self._one(principal.tenant_id, sku, change.warehouse)
            if change.delta < 0:
                check_take(stock, -change.delta)
            self._store.move(principal.tenant_id, [(stock, change.delta, 0)])
            self._after(principal.tenant_id, part, stock, stock.available + change.delta)

        _retry(attempt)
        return self.get_part(principal=principal, sku=sku)

    def transfer(self, *, principal: Principal, sku: str, command: TransferCommand) -> PartView:
        """Move units between warehouses in one transaction (never more than is available at the source)."""
        principal.require(Permission.INVENTORY_MANAGE)
        if command.from_warehouse == command.to_warehouse:
            raise InvalidInputError(
                "a transfer needs two different warehouses",
                details=[{"field": "to_warehouse", "message": "same as from_warehouse"}],
            )

        def attempt() -> None:
            part, stocks = self._part(principal.tenant_id, sku)
            source = _row(stocks, sku, command.from_warehouse)
            target = _row(stocks, sku, command.to_warehouse)
            check_take(source, command.quantity)
            self._store.move(
                principal.tenant_id, [(source, -command.quantity, 0), (target, command.quantity, 0)]
            )
            self._after(principal.tenant_id, part, source, source.available - command.quantity)
            self._after(principal.tenant_id, part, target, target.available + command.quantity)

        _retry(attempt)
        return self.get_part(principal=principal, sku=sku)

    # -- reservations -----------------------------------------------------------------------------
    def reserve(self, *, principal: Principal, ticket_id: str, command: ReserveCommand) -> list[Reservation]:
        principal.require(Permission.TICKETS_WRITE)
        ticket = self._tickets.get(principal.tenant_id, ticket_id)
        if ticket is None or not in_scope(principal, ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        if not can_act_on_ticket(principal, ticket.ownership):
            raise ForbiddenError(
                f"ticket {ticket_id} is not assigned to you: you hold parts for your tickets"
            )
        return self.reserve_for_ticket(principal.tenant_id, ticket_id, command.parts)

    def reserve_for_ticket(
        self, tenant_id: str, ticket_id: str, lines: Iterable[PartLine]
    ) -> list[Reservation]:
        """Hold each line's units (idempotent per ticket, part and warehouse: a retry holds nothing more)."""
        held: list[Reservation] = []
        for line in lines:

            def attempt(line: PartLine = line) -> Reservation:
                part, stocks = self._part(tenant_id, line.sku)
                stock = pick_warehouse(stocks, line.quantity, line.warehouse)
                check_take(stock, line.quantity)
                reservation = Reservation(
                    ticket_id=ticket_id,
                    sku=line.sku,
                    warehouse=stock.warehouse,
                    quantity=line.quantity,
                    at=self._clock.now(),
                )
                try:
                    self._store.reserve(tenant_id, stock, reservation)
                except AlreadyDone:
                    return reservation
                self._after(tenant_id, part, stock, stock.available - line.quantity)
                return reservation

            held.append(_retry(attempt))
        return held

    def reservations(self, *, principal: Principal, ticket_id: str) -> list[Reservation]:
        principal.require(Permission.TICKETS_READ)
        ticket = self._tickets.get(principal.tenant_id, ticket_id)
        if ticket is None or not in_scope(principal, ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        return self._store.reservations(principal.tenant_id, ticket_id)

    def reservations_of(self, tenant_id: str, ticket_id: str) -> list[Reservation]:
        return self._store.reservations(tenant_id, ticket_id)

    def consume_for_ticket(self, tenant_id: str, ticket_id: str) -> list[Reservation]:
        """On completion: the held parts leave the warehouse (what the bill charges for)."""
        return self._settle(tenant_id, ticket_id, ReservationStatus.CONSUMED)

    def release_for_ticket(self, tenant_id: str, ticket_id: str) -> list[Reservation]:
        """On cancellation: the held parts are available again."""
        return self._settle(tenant_id, ticket_id, ReservationStatus.RELEASED)

    def _settle(self, tenant_id: str, ticket_id: str, status: ReservationStatus) -> list[Reservation]:
        done: list[Reservation] = []
        for reservation in self._store.reservations(tenant_id, ticket_id):
            if reservation.status is not ReservationStatus.RESERVED:
                if reservation.status is status:
                    done.append(reservation)  # settled by an earlier delivery
                continue

            def attempt(reservation: Reservation = reservation) -> None:
                part, stock = self._one(tenant_id, reservation.sku, reservation.warehouse)
                try:
                    self._store.settle_reservation(tenant_id, stock, reservation, status)
                except AlreadyDone:
                    return
                if status is ReservationStatus.RELEASED:
                    self._after(tenant_id, part, stock, stock.available + reservation.quantity)

            _retry(attempt)
            done.append(reservation.model_copy(update={"status": status}))
        return done

    # -- helpers ----------------------------------------------------------------------------------
    def _part(self, tenant_id: str, sku: str) -> tuple[Part, list[Stock]]:
        part, _, stocks = self._store.part(tenant_id, sku)
        if part is None:
            raise NotFoundError(
                f"no part {sku}", details=[{"field": "sku", "message": f"unknown part {sku}"}]
            )
        return part, stocks

    def _one(self, tenant_id: str, sku: str, warehouse: str) -> tuple[Part, Stock]:
        part, stocks = self._part(tenant_id, sku)
        return part, _row(stocks, sku, warehouse)

    def _after(self, tenant_id: str, part: Part, stock: Stock, available: int) -> None:
        """Low stock → a replenishment request and one notification per episode; restocked → cleared."""
        if is_low(available, part.low_stock_threshold):
            request = LowStock(
                sku=part.sku,
                name=part.name,
                warehouse=stock.warehouse,
                available=available,
                threshold=part.low_stock_threshold,
                suggested_quantity=suggested_quantity(available, part.low_stock_threshold),
                since=self._clock.now(),
            )
            if self._store.mark_low(tenant_id, request):
                self._tell_low(tenant_id, request)
        elif is_low(stock.available, part.low_stock_threshold):
            self._store.clear_low(tenant_id, part.sku, stock.warehouse)

    def _tell_low(self, tenant_id: str, request: LowStock) -> None:
        data = request.model_dump(mode="json")
        self._notifier.notify(
            [
                NotificationRequest(
                    tenant_id=tenant_id,
                    event="inventory.low_stock",
                    recipient_kind=RecipientKind.USER,
                    recipient_id=user_id,
                    data=data,
                    idempotency_key=f"lowstock:{request.sku}:{request.warehouse}:{request.since.isoformat()}",
                )
                for user_id in self._people.managers_for(tenant_id, region=None, store=None)
            ]
        )


def _row(stocks: list[Stock], sku: str, warehouse: str) -> Stock:
    for stock in stocks:
        if stock.warehouse == warehouse:
            return stock
    return Stock(sku=sku, warehouse=warehouse)


def _view(part: Part, version: int, stocks: list[Stock]) -> PartView:
    ordered = sorted(stocks, key=lambda s: s.warehouse)
    return PartView(part=part, version=version, stock=ordered, available=sum(s.available for s in ordered))


def _retry(attempt: Callable[[], T]) -> T:
    for _ in range(ATTEMPTS):
        try:
            return attempt()
        except StaleStock:
            continue
    raise ConflictError("the stock is changing too fast: try again")
