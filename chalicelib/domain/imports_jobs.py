"""An import run from the API: the file is uploaded to S3 by presigned URL, then processed by a worker."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.access import Principal


class ImportKind(StrEnum):
    CUSTOMERS = "customers"
    ORDERS = "orders"


class ImportStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(BaseModel):
    id: str
    tenant_id: str
    kind: ImportKind
    filename: str
    status: ImportStatus = ImportStatus.AWAITING_UPLOAD
    created_by: str
    created_at: datetime
    updated_at: datetime
    summary: dict[str, Any] | None = None
    error: str | None = None
    version: int = 1
    # Who started it: the worker runs the import as them, so each row is checked against their role and
    # data scope (an `own` agent's file cannot change a colleague's customers).
    operator: Principal | None = None

    @property
    def upload_key(self) -> str:
        return f"{self.tenant_id}/imports/{self.id}.csv"

    @property
    def report_key(self) -> str:
        return f"{self.tenant_id}/reports/{self.id}.json"
