"""Settings, read once per process from the environment.

Only endpoint configuration differs between the local stack and AWS: `SCRM_AWS_ENDPOINT` is set locally
(moto server) and unset on AWS. Nothing else in chalicelib knows where it runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VERSION = "0.1.0"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCRM_", extra="ignore")

    stage: str = "local"
    table_name: str = "scrm"
    aws_endpoint: str | None = None
    region: str = Field(default="cn-north-1", validation_alias="AWS_DEFAULT_REGION")
    # Queue URLs are injected by infra/ (CloudFormation Ref) or by the local stack.
    queue_url_events: str | None = None
    queue_url_ingest: str | None = None
    queue_url_sla: str | None = None
    queue_url_notify: str | None = None
    queue_url_settlement: str | None = None
    # Their dead-letter queues (SCRM_DLQ_URL_<LOGICAL ID>), read by `scrm dlq` and /v1/dead-letters.
    dlq_url_events: str | None = None
    dlq_url_ingest: str | None = None
    dlq_url_sla: str | None = None
    dlq_url_notify: str | None = None
    dlq_url_settlement: str | None = None
    # State machine ARNs, injected the same way (SCRM_STATE_MACHINE_<LOGICAL ID>).
    state_machine_ticket_sla: str | None = None
    state_machine_ticket_approval: str | None = None
    state_machine_ticket_timer: str | None = None
    state_machine_settlement_run: str | None = None
    bucket_imports: str = "scrm-imports"
    # Master secret (base64, 32 bytes). Derived sub-keys encrypt PII, index phones and sign cursors.
    # On AWS it comes from Secrets Manager through the stack's parameter; locally from .local/secret.key.
    secret_key: str = Field(default="", repr=False)
    default_timezone: str = "Asia/Shanghai"
    # Where customers' links point (rating requests): the API's public URL (infra/ sets it on AWS).
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 256 * 1024

    def derived_key(self, purpose: str) -> bytes:
        """HKDF-like derivation (HMAC-SHA256) of a 32-byte sub-key per purpose from the master secret."""
        if not self.secret_key:
            raise RuntimeError("SCRM_SECRET_KEY is not configured")
        master = base64.b64decode(self.secret_key)
        return hmac.new(master, b"scrm:" + purpose.encode(), hashlib.sha256).digest()


@cache
def get_settings() -> Settings:
    return Settings()
