"""The AWS resources of the system, declared once.

`infra/` turns these into CloudFormation and `chalicelib/local/` creates them on moto, so the deployed
stack and the local stack cannot drift. Pure data: importing this module costs nothing at cold start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class IndexSpec:
    name: str
    hash_key: str
    range_key: str


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    hash_key: str
    range_key: str
    indexes: tuple[IndexSpec, ...]
    ttl_attribute: str


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str  # physical name locally; on AWS the event source is rewritten to the stack's queue
    visibility_timeout: int
    max_receive_count: int
    batch_size: int
    fifo: bool = False

    @property
    def dlq_name(self) -> str:
        return f"{self.name}-dlq"

    @property
    def env_var(self) -> str:
        return f"SCRM_QUEUE_URL_{self.logical_id.upper()}"

    @property
    def dlq_env_var(self) -> str:
        return f"SCRM_DLQ_URL_{self.logical_id.upper()}"


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str  # physical name locally; on AWS CloudFormation names it and infra/ injects it
    expire_days: int  # uploads and reports are working files, not an archive

    @property
    def env_var(self) -> str:
        return f"SCRM_BUCKET_{self.logical_id.upper()}"


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    definition_file: str
    substitutions: dict[str, str] = field(default_factory=dict)

    @property
    def definition_path(self) -> Path:
        return FUNCTIONS_DIR / self.definition_file


FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"

TABLE = TableSpec(
    logical_id="ScrmTable",
    hash_key="pk",
    range_key="sk",
    indexes=(
        IndexSpec("gsi1", "gsi1pk", "gsi1sk"),
        IndexSpec("gsi2", "gsi2pk", "gsi2sk"),
    ),
    ttl_attribute="expires_at",
)

EVENTS_QUEUE = QueueSpec(
    logical_id="events",
    name="scrm-events",
    visibility_timeout=60,
    max_receive_count=5,
    batch_size=10,
)

# Verified webhook payloads (WeCom callbacks, shop orders, behaviour batches): the edge only verifies and
# enqueues, so acks never wait on resolution; the worker is idempotent on each payload's own event key.
INGEST_QUEUE = QueueSpec(
    logical_id="ingest",
    name="scrm-ingest",
    visibility_timeout=120,
    max_receive_count=5,
    batch_size=10,
)

# Ticket waits on Step Functions: the SLA timer's steps (each time it wakes) and approval steps (the task
# token to answer when the approvers decide, or the notice that they are late), each with a task token.
SLA_QUEUE = QueueSpec(
    logical_id="sla",
    name="scrm-sla",
    visibility_timeout=60,
    max_receive_count=5,
    batch_size=10,
)

# Notification deliveries (WeCom, WeChat, SMS, voice): retried with backoff by re-enqueueing; a delivery
# whose retries are used up fails its message, which after max_receive_count lands in the DLQ.
NOTIFY_QUEUE = QueueSpec(
    logical_id="notify",
    name="scrm-notify",
    visibility_timeout=120,  # a batch of 10 sends, and longer than a delivery's 60 s lease
    max_receive_count=3,
    batch_size=10,
)

# Month-end settlement runs' steps (functions/settlement_run.asl.json): plan, one chunk of parties, close.
# One message at a time: a chunk posts up to CHUNK_PARTIES parties' period postings.
SETTLEMENT_QUEUE = QueueSpec(
    logical_id="settlement",
    name="scrm-settlement",
    visibility_timeout=900,
    max_receive_count=5,
    batch_size=1,
)

QUEUES: tuple[QueueSpec, ...] = (EVENTS_QUEUE, INGEST_QUEUE, SLA_QUEUE, NOTIFY_QUEUE, SETTLEMENT_QUEUE)

# CSV uploads for imports (presigned PUT) and their reports (presigned GET).
IMPORTS_BUCKET = BucketSpec(logical_id="imports", name="scrm-imports", expire_days=7)
BUCKETS: tuple[BucketSpec, ...] = (IMPORTS_BUCKET,)

# One execution per ticket (and generation): sleeps until the next SLA milestone, asks the app, repeats.
TICKET_SLA = StateMachineSpec(
    logical_id="ticket_sla", name="scrm-ticket-sla", definition_file="ticket_sla.asl.json"
)

# One execution per approval step a ticket enters: waits for the decision's task token, escalates if late.
TICKET_APPROVAL = StateMachineSpec(
    logical_id="ticket_approval", name="scrm-ticket-approval", definition_file="ticket_approval.asl.json"
)

# One execution per timer a workflow step starts (auto-close after 72 h, reminders).
TICKET_TIMER = StateMachineSpec(
    logical_id="ticket_timer", name="scrm-ticket-timer", definition_file="ticket_timer.asl.json"
)

# One execution per month-end settlement run of a tenant: plan, a Map over chunks of parties, close.
SETTLEMENT_RUN = StateMachineSpec(
    logical_id="settlement_run", name="scrm-settlement-run", definition_file="settlement_run.asl.json"
)

STATE_MACHINES: tuple[StateMachineSpec, ...] = (TICKET_SLA, TICKET_APPROVAL, TICKET_TIMER, SETTLEMENT_RUN)
