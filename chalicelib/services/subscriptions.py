"""A customer subscribing to a ticket's progress (POST /v1/tickets/{id}/subscriptions), or unsubscribing.

The ticket must be one the caller can read and the customer one that exists for them: otherwise 404 and
nothing is stored (a subscription for a customer that does not exist used to be stored, and its
notifications then had nobody to reach)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.access import Permission, Principal, can_read, in_scope
from chalicelib.domain.common import InvalidInputError, NotFoundError
from chalicelib.domain.notifications import Channel, Subscription
from chalicelib.services.notifications import NotificationService
from chalicelib.services.ports import CustomerRepository, TicketRepository


class TicketSubscriptions:
    def __init__(
        self, *, tickets: TicketRepository, customers: CustomerRepository, notifications: NotificationService
    ) -> None:
        self._tickets = tickets
        self._customers = customers
        self._notifications = notifications

    def subscribe(
        self,
        *,
        principal: Principal,
        ticket_id: str,
        customer_id: str | None,
        channels: Sequence[Channel] = (),
        events: Sequence[str] = (),
        active: bool = True,
    ) -> Subscription:
        """`customer_id` None: the ticket's own customer. Two GetItems, then the subscription's write."""
        principal.require(Permission.TICKETS_READ)
        tenant_id = principal.tenant_id
        ticket = self._tickets.get(tenant_id, ticket_id)
        if ticket is None or not in_scope(principal, ticket.ownership):
            raise NotFoundError(f"no ticket {ticket_id}")
        who = customer_id or ticket.customer_id
        if not who:
            raise InvalidInputError(
                "the ticket has no customer: name one",
                details=[{"field": "customer_id", "message": "required"}],
            )
        customer = self._customers.get(tenant_id, who)
        if customer is None or not can_read(principal, customer.ownership):
            raise NotFoundError(
                f"no customer {who}", details=[{"field": "customer_id", "message": "no such customer"}]
            )
        return self._notifications.subscribe(
            tenant_id=tenant_id,
            ticket_id=ticket_id,
            customer_id=who,
            channels=channels,
            events=events,
            active=active,
        )
