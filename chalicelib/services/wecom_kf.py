"""微信客服: pull what a `kf_msg_or_event` callback announced (kf/sync_msg) and hand each record to its
handler (records typed in domain/wecom_kf.py).

- Messages land on their customer's timeline; a customer's text may open a ticket.
- Events reach handlers too: the customer is read from **inside** `event` (events carry no top-level
  `external_userid`), and enter_session, msg_send_fail, session_status_change, the recalls and the reject
  switch each land on that customer's timeline. A servicer's status change names no customer and is kept
  in the inbox; a record no model fits is kept in the inbox with the reason. Nothing is dropped.
- Where the last pull stopped is saved per kf account (after the page's records: at least once, and each
  record is its own touch keyed `kf:<msgid>`, so a re-pull has one effect). A pull starts there.
- The callback's Token is sent only while it is valid (10 minutes): a queue retry after that resumes from
  the saved cursor without it (allowed, only more strictly rate-limited; a rate limit comes back through
  the queue).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.domain.common import Clock
from chalicelib.domain.customers import Identity
from chalicelib.domain.tickets import TicketSource
from chalicelib.domain.timeline import Actor, ActorType
from chalicelib.domain.wecom_kf import (
    KfEventRecord,
    KfMessage,
    KfRecord,
    ServicerStatusChange,
    parse_record,
    usable_token,
)
from chalicelib.services.ports import Inbox, IntegrationRepository, KfApi
from chalicelib.services.resolver import IdentityResolver, Touch
from chalicelib.services.tickets import TicketService

MAX_PAGES = 20  # 1000 records a page; more waits for the next callback (or the next retry)
ACTOR = Actor.model_construct(type=ActorType.INTEGRATION, id="wecom_kf")


@dataclass
class KfPulled:
    """What one pull did, for the log."""

    pages: int = 0
    messages: int = 0
    events: int = 0
    kept: int = 0  # in the inbox: no customer, or no model fits
    token_sent: bool = False


class KfNotConfiguredError(Exception):
    """The tenant has no WeCom API settings: nothing can be pulled."""


class KfSync:
    def __init__(
        self,
        *,
        api: Callable[[str], KfApi | None],
        cursors: IntegrationRepository,
        resolver: IdentityResolver,
        tickets: TicketService,
        inbox: Inbox,
        clock: Clock,
    ) -> None:
        self._api = api
        self._cursors = cursors
        self._resolver = resolver
        self._tickets = tickets
        self._inbox = inbox
        self._clock = clock

    def pull(self, *, tenant_id: str, open_kfid: str, token: str, announced_at: datetime) -> KfPulled:
        """`announced_at`: the callback's CreateTime, when its Token was issued."""
        api = self._api(tenant_id)
        if api is None:
            raise KfNotConfiguredError(tenant_id)
        kind = f"kf_cursor#{open_kfid}"
        saved = self._cursors.get(tenant_id, kind)
        cursor: str | None = saved[0].get("cursor") if saved else None
        pulled = KfPulled()
        for _ in range(MAX_PAGES):
            valid = usable_token(token, issued_at=announced_at, now=self._clock.now())
            pulled.token_sent = pulled.token_sent or valid is not None
            page = api.kf_sync_msg(open_kfid=open_kfid, cursor=cursor, token=valid)
            pulled.pages += 1
            for raw in page.get("msg_list", []):
                self._handle(tenant_id, parse_record(raw), pulled)
            cursor = page.get("next_cursor") or cursor
            self._cursors.put(tenant_id, kind, {"cursor": cursor}, {})  # after the records: at least once
            if not page.get("has_more"):
                break
        return pulled

    # -- handlers --------------------------------------------------------------------------------
    def _handle(self, tenant_id: str, record: KfRecord, pulled: KfPulled) -> None:
        if isinstance(record, KfMessage):
            self._on_message(tenant_id, record)
            pulled.messages += 1
        elif isinstance(record, KfEventRecord) and not isinstance(record.event, ServicerStatusChange):
            self._on_customer_event(tenant_id, record)
            pulled.events += 1
        elif isinstance(record, KfEventRecord):
            self._keep(tenant_id, record.msgid, record.send_time, record.model_dump(mode="json"), "servicer")
            pulled.kept += 1
        else:
            self._keep(tenant_id, record.msgid, int(record.raw.get("send_time") or 0), record.raw, "unparsed")
            pulled.kept += 1

    def _on_message(self, tenant_id: str, msg: KfMessage) -> None:
        origin = {3: "customer", 4: "system", 5: "servicer"}.get(msg.origin, "unknown")
        touch = Touch(
            tenant_id=tenant_id,
            identities=[Identity(type="wecom_external_userid", value=msg.external_userid)],
            kind="wecom_kf.message",
            source="wecom_kf",
            at=_at(msg.send_time),
            actor=ACTOR,
            data={
                "msgid": msg.msgid,
                "open_kfid": msg.open_kfid,
                "origin": origin,
                "msgtype": msg.msgtype,
                "text": msg.content,
                "servicer": msg.servicer_userid,
            },
            idempotency_key=f"kf:{msg.msgid}",
        )
        resolved = self._resolver.touch(touch)
        if msg.from_customer and msg.content and resolved.customer_id:
            self._tickets.from_customer_message(
                tenant_id=tenant_id,
                customer_id=resolved.customer_id,
                text=msg.content,
                at=touch.at,
                source=TicketSource.WECOM,
                ref=f"kf:{msg.msgid}",
            )

    def _on_customer_event(self, tenant_id: str, record: KfEventRecord) -> None:
        event = record.event
        external = record.external_userid
        if not external:  # the models require it; kept for the type checker
            return
        self._resolver.touch(
            Touch(
                tenant_id=tenant_id,
                identities=[Identity(type="wecom_external_userid", value=external)],
                kind=event.timeline_kind,
                source="wecom_kf",
                at=_at(record.send_time),
                actor=ACTOR,
                data={"msgid": record.msgid, **event.timeline_data()},
                idempotency_key=f"kf:{record.msgid}",
            )
        )

    def _keep(self, tenant_id: str, msgid: str, send_time: int, payload: object, why: str) -> None:
        key = msgid or hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        self._inbox.put(
            tenant_id,
            key=f"kf:{key}",
            received_at=_at(send_time) if send_time else self._clock.now(),
            record={"kind": f"wecom_kf:{why}", "source": "wecom_kf", "key": f"kf:{key}", "payload": payload},
        )


def _at(send_time: int) -> datetime:
    return datetime.fromtimestamp(send_time, tz=UTC)
