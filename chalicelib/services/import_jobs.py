"""Imports from the API: create a job (a presigned upload URL), upload the CSV to it, start the job; a
worker runs it (an import can take longer than API Gateway's 29 s) and keeps the report in S3."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import (
    Clock,
    ConflictError,
    ContentionError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    new_id,
)
from chalicelib.domain.imports import decode_export
from chalicelib.domain.imports_jobs import ImportJob, ImportKind, ImportStatus
from chalicelib.services.imports import ImportService, summary
from chalicelib.services.ingest import IngestMessage
from chalicelib.services.ports import FileStore, ImportJobRepository, Publisher


@dataclass
class JobView:
    job: ImportJob
    upload_url: str | None = None
    report_url: str | None = None


class ImportJobService:
    def __init__(
        self,
        *,
        jobs: ImportJobRepository,
        files: FileStore,
        imports: ImportService,
        publisher: Publisher,
        clock: Clock,
    ) -> None:
        self._jobs = jobs
        self._files = files
        self._imports = imports
        self._publisher = publisher
        self._clock = clock

    def create(self, *, principal: Principal, kind: ImportKind, filename: str) -> JobView:
        principal.require(Permission.CUSTOMERS_WRITE)
        now = self._clock.now()
        job = ImportJob(
            id=new_id("imp"),
            tenant_id=principal.tenant_id,
            kind=kind,
            filename=filename,
            created_by=principal.user_id,
            created_at=now,
            updated_at=now,
        )
        self._jobs.save(job, expected_version=None)
        return JobView(job=job, upload_url=self._files.upload_url(job.upload_key, "text/csv"))

    def start(self, *, principal: Principal, job_id: str) -> JobView:
        job = self._get(principal, job_id)
        if job.status is not ImportStatus.AWAITING_UPLOAD:
            raise ConflictError(f"import {job_id} is {job.status.value}, not awaiting its upload")
        if not self._files.exists(job.upload_key):
            raise InvalidInputError(
                "upload the file to the upload_url first",
                details=[{"field": "file", "message": "not uploaded"}],
            )
        expected = job.version
        job.status, job.version, job.updated_at = ImportStatus.QUEUED, job.version + 1, self._clock.now()
        job.operator = principal
        self._jobs.save(job, expected_version=expected)  # a second start loses here: one run per job
        message = IngestMessage(
            source="import",
            tenant_id=job.tenant_id,
            key=f"import-job:{job.id}",
            received_at=job.updated_at,
            payload={"job_id": job.id},
        )
        self._publisher.publish([message.model_dump(mode="json")])
        return JobView(job=job)

    def get(self, *, principal: Principal, job_id: str) -> JobView:
        job = self._get(principal, job_id)
        done = job.status is ImportStatus.DONE
        return JobView(job=job, report_url=self._files.download_url(job.report_key) if done else None)

    def run(self, tenant_id: str, job_id: str) -> None:
        """The worker's part. Runs once per queued job; re-delivery of a finished job does nothing."""
        job = self._jobs.get(tenant_id, job_id)
        if job is None or job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            return
        operator = job.operator
        if operator is None:  # queued before imports recorded who started them: never run as anyone else
            job.error = "this import was started before its starter was recorded: create it again"
            self._set(job, ImportStatus.FAILED)
            return
        self._set(job, ImportStatus.RUNNING)
        text = decode_export(self._files.read(job.upload_key))
        run = (
            self._imports.import_customers
            if job.kind is ImportKind.CUSTOMERS
            else self._imports.import_orders
        )
        try:
            report = run(principal=operator, text=text, source=job.filename)
        except ContentionError:
            raise  # records busy through every retry, nothing written: the queue runs the job again
        except DomainError as e:  # the file itself is unusable: retrying cannot help
            job.error = e.message
            self._set(job, ImportStatus.FAILED)
            return
        self._files.write(job.report_key, report.model_dump_json(indent=2).encode(), "application/json")
        job.summary = summary(report)
        self._set(job, ImportStatus.DONE)

    def _set(self, job: ImportJob, status: ImportStatus) -> None:
        expected = job.version
        job.status, job.version, job.updated_at = status, job.version + 1, self._clock.now()
        self._jobs.save(job, expected_version=expected)

    def _get(self, principal: Principal, job_id: str) -> ImportJob:
        principal.require(Permission.CUSTOMERS_WRITE)
        job = self._jobs.get(principal.tenant_id, job_id)
        if job is None:
            raise NotFoundError(f"import {job_id} not found")
        return job
