"""What every ingest handler does with a payload it cannot map (yet): keep it raw and visible."""

from __future__ import annotations

from datetime import datetime

from chalicelib.bootstrap import container
from chalicelib.observability import logger
from chalicelib.services.ingest import IngestMessage


def keep_raw(message: IngestMessage, at: datetime, kind: str) -> None:
    """Nothing received is dropped: what no handler maps yet is kept raw and visible (GET /v1/inbox)."""
    container().inbox.put(
        message.tenant_id, key=message.key, received_at=at, record={"kind": kind, **message.record()}
    )
    logger.info("kept raw", extra={"kind": kind})
