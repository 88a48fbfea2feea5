"""After a restart of the local stack: moto's Step Functions executions (SLA timers, approval waits) are
gone while the tickets came back from the snapshot, so every open ticket's waits are started again. Local
tooling only: it scans the table, which no request path does."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.tickets import Ticket
from chalicelib.observability import logger


def rearm_open_tickets(c: Any) -> int:
    from chalicelib.store.table import TicketItem

    n = 0
    for item in TicketItem.scan(TicketItem.status == "open"):
        ticket = Ticket.model_validate_json(item.doc or "")
        try:
            c.tickets.rearm(ticket)
            n += 1
        except Exception:  # one broken ticket must not keep the stack from starting
            logger.exception(
                "local stack: could not re-arm a ticket's timers", extra={"ticket_id": ticket.id}
            )
    return n
