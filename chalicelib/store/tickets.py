"""Tickets with their history, ticket templates and workflow versions in the single table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ConflictError
from chalicelib.domain.ticket_templates import TicketTemplate
from chalicelib.domain.tickets import HistoryEntry, Ticket, TicketSettings, TicketStatus
from chalicelib.domain.timeline import TimelineEvent
from chalicelib.domain.workflows import WorkflowDefinition
from chalicelib.services.ports import Page
from chalicelib.store import keys
from chalicelib.store.cursor import CursorCodec
from chalicelib.store.table import (
    Item,
    TicketHistoryItem,
    TicketItem,
    TicketSettingsItem,
    TicketTemplateItem,
    TimelineItem,
    WaitTokenItem,
    WorkflowItem,
)
from chalicelib.store.transactions import write_transaction

OPEN_FILTER_PAGE = 400  # tickets read per request when filtering the open index (≈ DynamoDB's 1 MB)


class DynamoTicketRepository:
    def __init__(self, *, cursors: CursorCodec) -> None:
        self._cursors = cursors

    # -- mapping ---------------------------------------------------------------------------------
    @staticmethod
    def _to_item(ticket: Ticket) -> TicketItem:
        item = TicketItem(
            keys.ticket_pk(ticket.tenant_id, ticket.id),
            keys.TICKET_SK,
            doc=ticket.model_dump_json(exclude_defaults=True),
            version=ticket.version,
            region=ticket.region,
            store=ticket.store,
            assignee_id=ticket.assignment.assignee_id if ticket.assignment else None,
            status=str(ticket.status),
        )
        if ticket.customer_id:
            item.gsi1pk = keys.customer_tickets_pk(ticket.tenant_id, ticket.customer_id)
            item.gsi1sk = keys.customer_tickets_sk(ticket.created_at, ticket.id)
        if ticket.status is TicketStatus.OPEN:  # sparse: a closed ticket leaves the index
            due = ticket.sla.deadlines.get("resolution") if ticket.sla else None
            item.gsi2pk = keys.open_tickets_pk(ticket.tenant_id)
            item.gsi2sk = f"{due.isoformat() if due else '9999'}#{ticket.id}"
        return item

    @staticmethod
    def _history_item(ticket: Ticket, entry: HistoryEntry) -> TicketHistoryItem:
        return TicketHistoryItem(
            keys.ticket_pk(ticket.tenant_id, ticket.id),
            keys.history_sk(entry.seq),
            doc=entry.model_dump_json(),
        )

    @staticmethod
    def _timeline_item(event: TimelineEvent) -> TimelineItem:
        return TimelineItem(
            keys.customer_pk(event.tenant_id, event.customer_id),
            keys.timeline_sk(event.at, event.seq, event.id),
            doc=event.model_dump_json(),
        )

    # -- tickets -----------------------------------------------------------------------------------
    def create(self, ticket: Ticket, entry: HistoryEntry, event: TimelineEvent | None) -> None:
        """One TransactWriteItems: the ticket (new), its first history entry, the customer's timeline.
        ConflictError when the ticket id exists (tickets opened from a record have a derived id)."""

        def build(tx: TransactWrite) -> None:
            tx.save(self._to_item(ticket), condition=TicketItem.pk.does_not_exist())
            tx.save(self._history_item(ticket, entry))
            if event is not None:
                tx.save(self._timeline_item(event))

        try:
            write_transaction(build, what=f"ticket {ticket.id}")
        except TransactWriteError as e:
            raise ConflictError(f"ticket {ticket.id} already exists") from e

    def save(
        self, ticket: Ticket, *, expected_version: int, entry: HistoryEntry, event: TimelineEvent | None
    ) -> None:
        """One TransactWriteItems, conditional on the version read: of two concurrent transitions exactly
        one wins; the other gets ConflictError."""

        def build(tx: TransactWrite) -> None:
            tx.save(self._to_item(ticket), condition=TicketItem.version == expected_version)
            tx.save(self._history_item(ticket, entry))
            if event is not None:
                tx.save(self._timeline_item(event))

        try:
            write_transaction(build, what=f"ticket {ticket.id}")
        except TransactWriteError as e:
            raise ConflictError(
                f"ticket {ticket.id} was changed by someone else: reload it and retry",
                details=[{"field": "version", "message": f"version {expected_version} is stale"}],
            ) from e

    def get(self, tenant_id: str, ticket_id: str) -> Ticket | None:
        try:
            item = TicketItem.get(keys.ticket_pk(tenant_id, ticket_id), keys.TICKET_SK)
        except TicketItem.DoesNotExist:
            return None
        return Ticket.model_validate_json(item.doc or "")

    def get_with_history(
        self, tenant_id: str, ticket_id: str, entries: int
    ) -> tuple[Ticket, list[HistoryEntry]] | None:
        """The ticket and its newest history in one Query (`#TICKET` sorts before `H#…`)."""
        results = list(
            Item.query(keys.ticket_pk(tenant_id, ticket_id), limit=entries + 1, page_size=entries + 1)
        )
        if not results or not isinstance(results[0], TicketItem):
            return None
        history = [
            HistoryEntry.model_validate_json(i.doc or "")
            for i in results[1:]
            if isinstance(i, TicketHistoryItem)
        ]
        return Ticket.model_validate_json(results[0].doc or ""), history

    def for_customer(
        self, tenant_id: str, customer_id: str, *, limit: int, cursor: str | None
    ) -> Page[Ticket]:
        results = Item.gsi1.query(
            keys.customer_tickets_pk(tenant_id, customer_id),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        tickets = [Ticket.model_validate_json(i.doc or "") for i in results]
        return Page(tickets, self._cursors.encode(tenant_id, results.last_evaluated_key))

    def open_page(
        self, tenant_id: str, *, assignee: str | None, unassigned: bool, limit: int, cursor: str | None
    ) -> Page[Ticket]:
        """A page of the tenant's open tickets, nearest resolution deadline first (GSI2). An assignee (or
        `unassigned`) is a filter on the index: DynamoDB reads past the others' tickets (up to 1 MB, about
        400 tickets, per request) until the page is full or the open tickets end."""
        condition = (
            TicketItem.assignee_id.does_not_exist()
            if unassigned
            else (TicketItem.assignee_id == assignee if assignee else None)
        )
        results = Item.gsi2.query(
            keys.open_tickets_pk(tenant_id),
            filter_condition=condition,
            limit=limit,
            page_size=limit if condition is None else OPEN_FILTER_PAGE,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        tickets = [Ticket.model_validate_json(i.doc or "") for i in results]
        return Page(tickets, self._cursors.encode(tenant_id, results.last_evaluated_key))

    def open_tickets(self, tenant_id: str) -> Iterator[Ticket]:
        """Every open ticket of the tenant, nearest resolution deadline first (GSI2, paged)."""
        for item in Item.gsi2.query(keys.open_tickets_pk(tenant_id)):
            yield Ticket.model_validate_json(item.doc or "")

    # -- settings ----------------------------------------------------------------------------------
    def settings(self, tenant_id: str) -> TicketSettings | None:
        try:
            item = TicketSettingsItem.get(keys.ticket_settings_pk(tenant_id), "SETTINGS")
        except TicketSettingsItem.DoesNotExist:
            return None
        return TicketSettings.model_validate_json(item.doc or "{}")

    def put_settings(self, tenant_id: str, settings: TicketSettings) -> None:
        TicketSettingsItem(
            keys.ticket_settings_pk(tenant_id), "SETTINGS", doc=settings.model_dump_json()
        ).save()

    # -- Step Functions waits (approval steps) ----------------------------------------------------
    def put_wait_token(self, tenant_id: str, ticket_id: str, node: str, token: str) -> None:
        WaitTokenItem(keys.ticket_pk(tenant_id, ticket_id), keys.wait_token_sk(node), token=token).save()

    def pop_wait_token(self, tenant_id: str, ticket_id: str, node: str) -> str | None:
        """The token, removed (ReturnValues ALL_OLD): whoever pops it answers the execution, once."""
        old = WaitTokenItem._get_connection().delete_item(
            keys.ticket_pk(tenant_id, ticket_id), range_key=keys.wait_token_sk(node), return_values=ALL_OLD
        )
        attrs = (old or {}).get("Attributes", {})
        token = attrs.get("token", {}).get("S")
        return str(token) if token else None

    # -- templates ---------------------------------------------------------------------------------
    def templates(self, tenant_id: str) -> list[TicketTemplate]:
        return [
            TicketTemplate.model_validate_json(i.doc or "")
            for i in TicketTemplateItem.query(keys.ticket_templates_pk(tenant_id))
        ]

    def put_template(self, tenant_id: str, template: TicketTemplate, *, expected_version: int | None) -> None:
        """Conditional on the version the editor read (None: the template must be new to this tenant)."""
        item = TicketTemplateItem(
            keys.ticket_templates_pk(tenant_id),
            template.id,
            doc=template.model_dump_json(),
            version=template.version,
        )
        condition = (
            TicketTemplateItem.pk.does_not_exist()
            if expected_version is None
            else TicketTemplateItem.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                raise ConflictError(f"template {template.id} was changed meanwhile: reload it") from e
            raise

    # -- workflows ---------------------------------------------------------------------------------
    def workflow(
        self, tenant_id: str, workflow_id: str, version: int | None = None
    ) -> WorkflowDefinition | None:
        """A given version (GetItem), or the latest (a descending Query of one)."""
        pk = keys.workflow_pk(tenant_id, workflow_id)
        if version is not None:
            try:
                item: Item = WorkflowItem.get(pk, keys.workflow_sk(version))
            except WorkflowItem.DoesNotExist:
                return None
        else:
            found = list(WorkflowItem.query(pk, scan_index_forward=False, limit=1, page_size=1))
            if not found:
                return None
            item = found[0]
        return WorkflowDefinition.model_validate_json(item.doc or "")

    def add_workflow_version(self, tenant_id: str, definition: WorkflowDefinition) -> None:
        """A new version, never an overwrite: two publishers of the same next version → one ConflictError."""
        item = WorkflowItem(
            keys.workflow_pk(tenant_id, definition.id),
            keys.workflow_sk(definition.version),
            doc=definition.model_dump_json(),
            gsi1pk=keys.workflows_pk(tenant_id),
            gsi1sk=f"{definition.id}#{keys.workflow_sk(definition.version)}",
        )
        try:
            item.save(condition=WorkflowItem.pk.does_not_exist())
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                raise ConflictError(
                    f"version {definition.version} of workflow {definition.id} was published meanwhile"
                ) from e
            raise

    def workflows(self, tenant_id: str) -> Sequence[WorkflowDefinition]:
        """Every stored version of every workflow (GSI1); the caller keeps the latest of each."""
        return [
            WorkflowDefinition.model_validate_json(i.doc or "")
            for i in Item.gsi1.query(keys.workflows_pk(tenant_id))
        ]
