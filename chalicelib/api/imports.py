"""/v1/imports: historic data migration from the API (upload by presigned URL, then start)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Api, Ctx, Result
from chalicelib.bootstrap import container
from chalicelib.domain.imports_jobs import ImportKind
from chalicelib.services.import_jobs import JobView

api = Api(__name__, tag="imports")
bp = api.blueprint


class ImportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: ImportKind
    filename: str = Field(min_length=1, max_length=200)


class ImportPublic(BaseModel):
    id: str
    kind: str
    filename: str
    status: str
    created_at: datetime
    updated_at: datetime
    summary: dict[str, Any] | None
    error: str | None
    upload_url: str | None = Field(default=None, description="PUT the CSV here (text/csv), within 15 minutes")
    report_url: str | None = Field(default=None, description="the full report (rejected rows with reasons)")

    @classmethod
    def of(cls, view: JobView) -> ImportPublic:
        j = view.job
        return cls(
            id=j.id,
            kind=j.kind.value,
            filename=j.filename,
            status=j.status.value,
            created_at=j.created_at,
            updated_at=j.updated_at,
            summary=j.summary,
            error=j.error,
            upload_url=view.upload_url,
            report_url=view.report_url,
        )


@api.route(
    "/v1/imports",
    "POST",
    summary="Start an import: returns a presigned upload URL",
    body=ImportCreate,
    response=ImportPublic,
    status=201,
    errors=(400, 403),
)
def create_import(ctx: Ctx) -> Result:
    body: ImportCreate = ctx.body
    return Result(
        ImportPublic.of(
            container().import_jobs.create(principal=ctx.user, kind=body.kind, filename=body.filename)
        )
    )


@api.route(
    "/v1/imports/{job_id}/start",
    "POST",
    summary="Process the uploaded file (asynchronously)",
    response=ImportPublic,
    status=202,
    errors=(400, 404, 409),
)
def start_import(ctx: Ctx, job_id: str) -> Result:
    return Result(ImportPublic.of(container().import_jobs.start(principal=ctx.user, job_id=job_id)))


@api.route(
    "/v1/imports/{job_id}",
    "GET",
    summary="An import's status, summary and report",
    response=ImportPublic,
    errors=(404,),
)
def get_import(ctx: Ctx, job_id: str) -> Result:
    return Result(ImportPublic.of(container().import_jobs.get(principal=ctx.user, job_id=job_id)))
