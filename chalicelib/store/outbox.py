"""The local outbox (integrations/notify/outbox.py) in the single table: one partition per tenant,
T#<t>#OUTBOX / <sent ISO>#<delivery id>, so the newest entries are one Query read backwards."""

from __future__ import annotations

from chalicelib.integrations.notify.outbox import OutboxEntry
from chalicelib.store import keys
from chalicelib.store.table import OutboxItem


class DynamoOutbox:
    def record(self, entry: OutboxEntry) -> None:
        OutboxItem(
            keys.outbox_pk(entry.tenant_id),
            keys.outbox_sk(entry.sent_at, entry.delivery_id or ""),
            doc=entry.model_dump_json(),
        ).save()

    def newest(self, tenant_id: str, *, limit: int) -> list[OutboxEntry]:
        items = OutboxItem.query(keys.outbox_pk(tenant_id), scan_index_forward=False, limit=limit)
        return [OutboxEntry.model_validate_json(i.doc or "") for i in items]
