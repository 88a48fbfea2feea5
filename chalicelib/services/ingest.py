"""What travels on the ingest queue: a verified payload, as received, with its stable event key."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.domain.access import Principal


class Rejection(StrEnum):
    """Why the edge kept an authentic payload instead of passing it on (the inbox kind is
    `<source>:<rejection>`)."""

    MALFORMED = "malformed"  # not as the platform documents it; `reason` names the field
    UNKNOWN_SHOP = "unknown_shop"  # for a shop the tenant has not configured
    DISABLED = "integration_disabled"  # for a shop whose settings are disabled (app uninstalled)


class IngestMessage(BaseModel):
    source: Literal[
        "wecom",
        "wecom_detail",
        "doudian_detail",
        "shop",
        "shop_notice",
        "behaviour",
        "conversation",
        "import",
    ]
    tenant_id: str
    key: str  # the payload's stable idempotency key (WeCom: sha256 of the decrypted XML)
    received_at: datetime
    payload: Any  # WeCom: the decrypted XML; shop: a normalised OrderEvent; behaviour: one event
    platform: str | None = None
    # Who sent it through the API (an integration key's caller): the worker applies its effects as them, so
    # a permission is checked on the effect, not only on the route. None: a signed webhook or the system.
    sent_by: Principal | None = None
    # Set by the edge for a payload to keep, not apply (GET /v1/inbox shows it with the reason).
    rejected: Rejection | None = None
    reason: str | None = None

    def record(self) -> dict[str, Any]:
        """The raw form kept in the inbox when no handler maps it."""
        return self.model_dump(mode="json")


def chunked(
    source: str,
    tenant_id: str,
    items: list[BaseModel],
    *,
    per_message: int,
    received_at: datetime,
    sent_by: Principal | None = None,
) -> list[dict[str, Any]]:
    """Batches from the API as ingest messages of `per_message` items each (fewer SQS requests); the worker
    applies each item under its own key, so a retried message redoes only what had not been applied."""
    messages = []
    for start in range(0, len(items), per_message):
        payload = [i.model_dump(mode="json", by_alias=True) for i in items[start : start + per_message]]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        message = IngestMessage(
            source=source,
            tenant_id=tenant_id,
            key=f"{source}:{digest}",
            received_at=received_at,
            payload=payload,
            sent_by=sent_by,
        )
        messages.append(message.model_dump(mode="json"))
    return messages
