"""The assignment transactions: ticket + history + load marker + staff loads + queue entry, all or nothing.

Items (store/keys.py):
- `T#<t>#TK#<id>` / `LOAD`: who holds the ticket's unit of open_load. Every load change is conditional on
  it, so a retried assignment or release changes nothing twice.
- `T#<t>#STAFF` / `<user id>`: `open_load` + 1 on the assignee (conditional on `open_load < capacity`
  unless a manager overrides), − 1 on the previous holder (conditional on `open_load > 0`).
- `T#<t>#TKQUEUE` / `<ticket id>`: a waiting ticket, keyed by ticket id so any assignment deletes it
  blindly in its transaction; GSI2 (`T#<t>#TKQUEUE`, `<enqueued at>#<ticket id>`) lists the queue oldest
  first."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ConflictError, utc_iso
from chalicelib.domain.tickets import Ticket
from chalicelib.services.ports import AssignmentWrite, QueuedTicket, TicketSnapshot
from chalicelib.store import keys
from chalicelib.store.table import (
    Item,
    StaffItem,
    TicketItem,
    TicketLoadItem,
    TicketQueueItem,
)
from chalicelib.store.tickets import DynamoTicketRepository
from chalicelib.store.transactions import write_transaction


def _cancelled(e: TransactWriteError) -> bool:
    """A failed condition (contention is retried by write_transaction first): re-read and decide again."""
    return e.cause_response_code == "TransactionCanceledException"


def _queue_item(tenant_id: str, ticket_id: str) -> TicketQueueItem:
    return TicketQueueItem(keys.ticket_queue_pk(tenant_id), keys.ticket_queue_sk(ticket_id))


def _staff_item(tenant_id: str, user_id: str) -> StaffItem:
    return StaffItem(keys.staff_pk(tenant_id), keys.staff_sk(user_id))


class DynamoAssignmentStore:
    def snapshot(self, tenant_id: str, ticket_id: str) -> TicketSnapshot | None:
        """The ticket and its load holder: one consistent BatchGetItem."""
        pk = keys.ticket_pk(tenant_id, ticket_id)
        found = {
            i.sk: i
            for i in Item.batch_get([(pk, keys.TICKET_SK), (pk, keys.TICKET_LOAD_SK)], consistent_read=True)
        }
        ticket = found.get(keys.TICKET_SK)
        if not isinstance(ticket, TicketItem):
            return None
        load = found.get(keys.TICKET_LOAD_SK)
        return TicketSnapshot(
            ticket=Ticket.model_validate_json(ticket.doc or ""),
            holder=load.user_id if isinstance(load, TicketLoadItem) else None,
        )

    def assign(self, write: AssignmentWrite) -> None:
        """One TransactWriteItems; ConflictError when the ticket moved, the marker changed hands, the
        assignee filled up (or has no profile), or the previous holder's load is already 0."""
        ticket = write.ticket
        assert ticket.assignment is not None
        tenant_id, assignee, holder = ticket.tenant_id, ticket.assignment.assignee_id, write.holder
        assigned_at = utc_iso(ticket.assignment.at)

        def build(tx: TransactWrite) -> None:
            tx.save(
                DynamoTicketRepository._to_item(ticket),
                condition=TicketItem.version == write.expected_version,
            )
            tx.save(DynamoTicketRepository._history_item(ticket, write.entry))
            if holder != assignee:
                marker = TicketLoadItem(
                    keys.ticket_pk(tenant_id, ticket.id), keys.TICKET_LOAD_SK, user_id=assignee
                )
                tx.save(
                    marker,
                    condition=TicketLoadItem.pk.does_not_exist()
                    if holder is None
                    else TicketLoadItem.user_id == holder,
                )
                tx.update(
                    _staff_item(tenant_id, assignee),
                    actions=[
                        StaffItem.open_load.add(1),
                        StaffItem.last_assigned_at.set(assigned_at),
                    ],
                    condition=StaffItem.open_load < StaffItem.capacity
                    if write.enforce_capacity
                    else StaffItem.pk.exists(),
                )
                if holder is not None and write.release_holder:
                    tx.update(
                        _staff_item(tenant_id, holder),
                        actions=[StaffItem.open_load.add(-1)],
                        condition=StaffItem.open_load > 0,
                    )
            tx.delete(_queue_item(tenant_id, ticket.id))

        try:
            write_transaction(build, what=f"ticket {ticket.id}")
        except TransactWriteError as e:
            if not _cancelled(e):
                raise
            raise ConflictError(
                f"ticket {ticket.id} or {assignee}'s load changed meanwhile: reload and retry"
            ) from e

    def enqueue(self, ticket: Ticket, queued: QueuedTicket) -> None:
        """Queue the ticket if it is still at the version read. An upsert that keeps the first enqueue
        time: queueing twice never moves a ticket to the back."""
        queue_pk = keys.ticket_queue_pk(ticket.tenant_id)
        order = keys.ticket_queue_order_sk(queued.enqueued_at, ticket.id)

        def build(tx: TransactWrite) -> None:
            tx.condition_check(
                TicketItem,
                keys.ticket_pk(ticket.tenant_id, ticket.id),
                keys.TICKET_SK,
                TicketItem.version == ticket.version,
            )
            tx.update(
                _queue_item(ticket.tenant_id, ticket.id),
                actions=[
                    TicketQueueItem.type.set(TicketQueueItem),
                    TicketQueueItem.doc.set(TicketQueueItem.doc | queued.model_dump_json()),
                    TicketQueueItem.gsi2pk.set(TicketQueueItem.gsi2pk | queue_pk),
                    TicketQueueItem.gsi2sk.set(TicketQueueItem.gsi2sk | order),
                ],
            )

        try:
            write_transaction(build, what=f"ticket {ticket.id}")
        except TransactWriteError as e:
            if not _cancelled(e):
                raise
            raise ConflictError(f"ticket {ticket.id} changed meanwhile: reload and retry") from e

    def queue(self, tenant_id: str, limit: int) -> list[QueuedTicket]:
        """The oldest `limit` waiting tickets (GSI2: eventually consistent)."""
        return [
            QueuedTicket.model_validate_json(i.doc or "")
            for i in Item.gsi2.query(keys.ticket_queue_pk(tenant_id), limit=limit, page_size=limit)
            if isinstance(i, TicketQueueItem)
        ]

    def queued(self, tenant_id: str, ticket_id: str) -> QueuedTicket | None:
        try:
            item = TicketQueueItem.get(
                keys.ticket_queue_pk(tenant_id), keys.ticket_queue_sk(ticket_id), consistent_read=True
            )
        except TicketQueueItem.DoesNotExist:
            return None
        return QueuedTicket.model_validate_json(item.doc or "")

    def dequeue(self, tenant_id: str, ticket_id: str) -> None:
        _queue_item(tenant_id, ticket_id).delete()

    def release(self, tenant_id: str, ticket_id: str, holder: str, *, decrement: bool) -> bool:
        """The marker deleted (if `holder` still has it), the holder's load − 1, the queue entry removed:
        one transaction. False when a condition failed (the caller re-reads)."""

        def build(tx: TransactWrite) -> None:
            tx.delete(
                TicketLoadItem(keys.ticket_pk(tenant_id, ticket_id), keys.TICKET_LOAD_SK),
                condition=TicketLoadItem.user_id == holder,
            )
            if decrement:
                tx.update(
                    _staff_item(tenant_id, holder),
                    actions=[StaffItem.open_load.add(-1)],
                    condition=StaffItem.open_load > 0,
                )
            tx.delete(_queue_item(tenant_id, ticket_id))

        try:
            write_transaction(build, what=f"ticket {ticket_id}")
        except TransactWriteError as e:
            if not _cancelled(e):
                raise
            return False
        return True
