"""What travels on the ingest queue: a verified payload, as received, with its stable event key."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class IngestMessage(BaseModel):
    source: Literal["wecom", "wecom_detail", "shop", "behaviour", "conversation"]
    tenant_id: str
    key: str  # the payload's stable idempotency key (WeCom: sha256 of the decrypted XML)
    received_at: datetime
    payload: Any  # WeCom: the decrypted XML; shop: a normalised OrderEvent; behaviour: one event
    platform: str | None = None

    def record(self) -> dict[str, Any]:
        """The raw form kept in the inbox when no handler maps it."""
        return self.model_dump(mode="json")
