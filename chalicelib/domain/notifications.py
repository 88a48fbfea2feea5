"""Notifications about work-order tickets: requests, templates per tenant and event, quiet hours, retries
with backoff, customer subscriptions and the delivery log. Pure: the service passes `now` and randomness.

Delivery statuses:
- queued: created, a message is on the notify queue (maybe delayed to the end of quiet hours);
- retrying: the last attempt failed temporarily; the next one is at `next_attempt_at`;
- sent: a provider accepted it (the provider's message id is on the attempt);
- dead: no more automatic attempts. `permanent` says why: True — the provider refused it for good (bad
  number, unknown user; visible in the log only); False — the retry budget ran out during an outage (the
  queue message also ends in the DLQ; a redrive from there makes one more attempt);
- failed: could not be sent at all (no reachable address, no template, no provider for the channel);
- suppressed: not sent on purpose (the customer unsubscribed from the ticket or from the event);
- refused: not sent because a send limit refused it (a voice call over Aliyun's per-callee limits, counted
  by us or answered by Aliyun) and no fallback channel of the request could take it. With a fallback the
  delivery moves to that channel instead, and its attempts keep the refusal.

Exactly once where the provider allows it: every send carries our reference (`RenderedMessage.ref`, the
delivery id: Aliyun SMS `OutId`, WeChat `client_msg_id`). An attempt whose request may have reached the
provider (a timeout, a 5xx, a worker that stopped mid-send) is `outcome_unknown`; the next attempt first asks
a provider that can tell (`ReceiptChecker`: SMS by its delivery receipts) whether it went out, and sends
again only if it did not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.phones import mask_phone
from chalicelib.domain.send_limits import VOICE_CALL_LIMITS, RateLimit
from chalicelib.domain.sla import Channel  # one channel vocabulary for SLA actions and notifications

__all__ = [
    "EVENTS",
    "Attempt",
    "Channel",
    "DedupingProvider",
    "Delivery",
    "DeliveryStatus",
    "NotificationPolicy",
    "NotificationRequest",
    "NotificationTemplate",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "ProviderResult",
    "QuietHours",
    "RateLimit",
    "ReceiptChecker",
    "RecipientKind",
    "RenderedMessage",
    "RetryPolicy",
    "SendLimitRefusedError",
    "SendOutcomeUnknownError",
    "Subscription",
    "TemporaryProviderError",
    "default_templates",
    "render_text",
]

EVENTS = (
    "ticket.created",
    "ticket.assigned",
    "ticket.status_changed",
    "ticket.engineer_on_the_way",
    "ticket.done",
    "sla.yellow",
    "sla.red",
    "sla.call",
    "rating.requested",
    "ticket.billed",
    "inventory.low_stock",
)


class RecipientKind(StrEnum):
    USER = "user"  # staff: WeCom userid, phone
    CUSTOMER = "customer"  # WeChat openid, phone (WeCom external contacts: see integrations/notify/wecom.py)


class NotificationRequest(BaseModel):
    """What other code asks for. One notification per `idempotency_key`, ever (per tenant)."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    event: str
    recipient_kind: RecipientKind
    recipient_id: str
    channel: Channel | None = None  # None: the subscription's, else the recipient kind's preference
    # Tried in order when the channel cannot be used or a send limit refuses it (an SLA call → WeCom).
    fallback: list[Channel] = Field(default_factory=list, max_length=4)
    data: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=512)
    ticket_id: str | None = None
    urgent: bool = False  # ignores quiet hours (SLA red / call)


# -- templates -----------------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_text(text: str, data: Mapping[str, Any]) -> str:
    """`{var}` → str(data[var]), a missing or None variable → "", `{{`/`}}` → braces. Anything else in
    braces (`{a.b}`, `{a[0]}`, `{x!r}`) stays as written: no attribute or item access from a template a
    tenant admin typed (str.format would allow `{ticket.__class__}`)."""

    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = data.get(m.group(1))
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(sub, text)


class RenderedMessage(BaseModel):
    """One message, rendered for one channel: every provider reads the part meant for it."""

    event: str
    channel: Channel
    title: str = ""
    text: str  # WeCom text / textcard description; what the SMS or call says (for the log and fakes)
    url: str | None = None
    wechat_template_id: str | None = None  # None: the provider's id for the event
    wechat_data: dict[str, str] = Field(default_factory=dict)
    sms_template_code: str | None = None  # None: the provider's code for the event
    sms_params: dict[str, str] = Field(default_factory=dict)
    tts_code: str | None = None  # None: the provider's TTS template for the event
    tts_params: dict[str, str] = Field(default_factory=dict)
    # Our reference of this send, the same on every retry (the delivery id; set when it is sent): Aliyun
    # SMS `OutId`, WeChat `client_msg_id`, so a retry can be recognised (see the module docstring).
    ref: str | None = None


class NotificationTemplate(BaseModel):
    """A tenant's (tenant_id set) or the built-in (None) text of one event on one channel.

    SMS and voice in China send only provider-approved templates: `text` documents what the approved
    template says, `sms_params` / `tts_params` fill its variables. WeChat template messages fill the
    keywords of a template the official account picked from WeChat's library (`wechat_fields`)."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str | None = None
    event: str
    channel: Channel
    title: str = ""
    text: str = Field(min_length=1, max_length=2000)
    url: str | None = None
    wechat_template_id: str | None = None
    wechat_fields: dict[str, str] = Field(default_factory=dict)
    sms_template_code: str | None = None
    sms_params: dict[str, str] = Field(default_factory=dict)
    tts_code: str | None = None
    tts_params: dict[str, str] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, Channel]:
        return (self.event, self.channel)

    def render(self, data: Mapping[str, Any]) -> RenderedMessage:
        def each(fields: dict[str, str]) -> dict[str, str]:
            return {k: render_text(v, data) for k, v in fields.items()}

        return RenderedMessage(
            event=self.event,
            channel=self.channel,
            title=render_text(self.title, data),
            text=render_text(self.text, data),
            url=(render_text(self.url, data) or None) if self.url else None,
            wechat_template_id=self.wechat_template_id,
            wechat_data=each(self.wechat_fields),
            sms_template_code=self.sms_template_code,
            sms_params=each(self.sms_params),
            tts_code=self.tts_code,
            tts_params=each(self.tts_params),
        )


def _wechat(first: str, remark: str) -> dict[str, str]:
    """The keywords of the classic 工单进度通知 template (first / keyword1..3 / remark)."""
    return {"first": first, "keyword1": "{ticket_id}", "keyword2": "{title}", "keyword3": "{status}",
            "remark": remark}  # fmt: skip


_SMS_PARAMS = {"ticket": "{ticket_id}", "title": "{title}", "status": "{status}"}


def default_templates() -> list[NotificationTemplate]:
    """Built-in texts for every event on each channel that fits it; a tenant overrides any of them."""
    t = NotificationTemplate
    wecom, wechat, sms, voice = Channel.WECOM, Channel.WECHAT, Channel.SMS, Channel.VOICE
    return [
        # ticket.created
        t(event="ticket.created", channel=wecom, title="新工单 {ticket_id}",
          text="新工单「{title}」已创建,客户:{customer_name},处理时限:{deadline}。", url="{url}"),
        t(event="ticket.created", channel=wechat, title="工单已受理",
          text="您好,您的工单「{title}」已受理,工单号 {ticket_id},我们会尽快为您处理。", url="{url}",
          wechat_fields=_wechat("您好,您的服务工单已受理。", "我们会尽快为您安排处理,请留意后续通知。")),
        t(event="ticket.created", channel=sms,
          text="您的工单{ticket_id}「{title}」已受理,我们会尽快为您处理。", sms_params=_SMS_PARAMS),
        # ticket.assigned
        t(event="ticket.assigned", channel=wecom, title="工单指派给您:{ticket_id}",
          text="工单「{title}」已指派给您,客户:{customer_name},请在 {deadline} 前处理。", url="{url}"),
        t(event="ticket.assigned", channel=wechat, title="已为您安排工程师",
          text="您的工单 {ticket_id} 已安排工程师 {engineer} 处理。", url="{url}",
          wechat_fields=_wechat("您好,已为您安排工程师 {engineer}。", "工程师将尽快与您联系。")),
        t(event="ticket.assigned", channel=sms,
          text="您的工单{ticket_id}已安排工程师{engineer}处理,工程师将尽快与您联系。",
          sms_params={**_SMS_PARAMS, "engineer": "{engineer}"}),
        # ticket.status_changed
        t(event="ticket.status_changed", channel=wecom, title="工单状态更新:{ticket_id}",
          text="工单「{title}」状态已变更为「{status}」。", url="{url}"),
        t(event="ticket.status_changed", channel=wechat, title="工单进度更新",
          text="您的工单 {ticket_id} 当前状态:{status}。", url="{url}",
          wechat_fields=_wechat("您好,您的工单进度有更新。", "如有疑问请联系客服。")),
        t(event="ticket.status_changed", channel=sms,
          text="您的工单{ticket_id}当前状态:{status}。", sms_params=_SMS_PARAMS),
        # ticket.engineer_on_the_way
        t(event="ticket.engineer_on_the_way", channel=wechat, title="工程师已出发",
          text="工程师 {engineer} 已出发,预计 {eta} 到达,请保持电话畅通。", url="{url}",
          wechat_fields={**_wechat("您好,工程师 {engineer} 已出发。", "预计 {eta} 到达,请保持电话畅通。"),
                         "keyword3": "工程师已出发"}),
        t(event="ticket.engineer_on_the_way", channel=sms,
          text="工程师{engineer}已出发,预计{eta}到达,请保持电话畅通。",
          sms_params={"engineer": "{engineer}", "eta": "{eta}"}),
        t(event="ticket.engineer_on_the_way", channel=wecom, title="出发提醒:{ticket_id}",
          text="已通知客户您已出发前往处理工单「{title}」,预计 {eta} 到达。", url="{url}"),
        # ticket.done
        t(event="ticket.done", channel=wecom, title="工单已完成:{ticket_id}",
          text="工单「{title}」已完成。", url="{url}"),
        t(event="ticket.done", channel=wechat, title="工单已完成",
          text="您的工单 {ticket_id}「{title}」已处理完成,感谢您的耐心等待。", url="{url}",
          wechat_fields={**_wechat("您好,您的工单已处理完成。", "感谢您的耐心等待,欢迎对本次服务评价。"),
                         "keyword3": "已完成"}),
        t(event="ticket.done", channel=sms,
          text="您的工单{ticket_id}已处理完成,感谢您的耐心等待。", sms_params=_SMS_PARAMS),
        # SLA milestones (staff)
        t(event="sla.yellow", channel=wecom, title="SLA 预警:{ticket_id}",
          text="工单「{title}」已用去 {percent}% 处理时限,请在 {deadline} 前处理。", url="{url}"),
        t(event="sla.yellow", channel=sms,
          text="SLA预警:工单{ticket_id}已用去{percent}%处理时限,请在{deadline}前处理。",
          sms_params={"ticket": "{ticket_id}", "percent": "{percent}", "deadline": "{deadline}"}),
        t(event="sla.red", channel=wecom, title="SLA 超时:{ticket_id}",
          text="工单「{title}」已超过处理时限({deadline}),请立即处理。", url="{url}"),
        t(event="sla.red", channel=sms,
          text="SLA超时:工单{ticket_id}已超过处理时限{deadline},请立即处理。",
          sms_params={"ticket": "{ticket_id}", "deadline": "{deadline}"}),
        t(event="sla.call", channel=voice,
          text="您好,这里是服务中心。工单{ticket_id}已严重超时,请立即处理。",
          tts_params={"ticket": "{ticket_id}"}),
        t(event="sla.call", channel=wecom, title="SLA 严重超时:{ticket_id}",
          text="工单「{title}」已严重超时,请立即处理。", url="{url}"),
        # rating.requested
        t(event="rating.requested", channel=wechat, title="服务评价邀请",
          text="您的工单 {ticket_id} 已完成,请对本次服务进行评价。", url="{url}",
          wechat_fields={**_wechat("您好,邀请您对本次服务进行评价。", "点击详情进行评价,感谢您的支持。"),
                         "keyword3": "待评价"}),
        t(event="rating.requested", channel=sms,
          text="您的工单{ticket_id}已完成,请对本次服务进行评价:{url}",
          sms_params={"ticket": "{ticket_id}", "url": "{url}"}),
        # ticket.billed (the customer's bill on completion; summary: labour + parts = payable, warranty)
        t(event="ticket.billed", channel=wechat, title="服务费用账单",
          text="您的工单 {ticket_id} 已完成,应付 {total} 元。{summary}",
          wechat_fields={**_wechat("您好,您的服务已完成,费用明细如下。", "如有疑问请联系客服。"),
                         "keyword3": "应付 {total} 元"}),
        t(event="ticket.billed", channel=sms,
          text="您的工单{ticket_id}已完成,应付{total}元,保修减免{waived}元。",
          sms_params={"ticket": "{ticket_id}", "total": "{total}", "waived": "{waived}"}),
        # inventory.low_stock (managers: a replenishment request)
        t(event="inventory.low_stock", channel=wecom, title="备件库存不足:{name}",
          text="{warehouse} 仓的 {name}({sku})仅剩 {available} 件(阈值 {threshold}),"
               "建议补货 {suggested_quantity} 件。"),
        t(event="inventory.low_stock", channel=sms,
          text="备件{sku}在{warehouse}仓仅剩{available}件,请及时补货。",
          sms_params={"sku": "{sku}", "warehouse": "{warehouse}", "available": "{available}"}),
    ]  # fmt: skip


# The channels tried in order when a request names none and no subscription says otherwise; the first one
# with a template, a provider and an address of the recipient wins.
DEFAULT_PREFERENCE: dict[RecipientKind, tuple[Channel, ...]] = {
    RecipientKind.USER: (Channel.WECOM, Channel.SMS),
    RecipientKind.CUSTOMER: (Channel.WECHAT, Channel.SMS),
}
EVENT_PREFERENCE: dict[str, tuple[Channel, ...]] = {"sla.call": (Channel.VOICE, Channel.WECOM)}


def channel_preference(request: NotificationRequest, subscription: Subscription | None) -> list[Channel]:
    if request.channel is None and subscription is not None and subscription.channels:
        return list(subscription.channels)  # the customer's choice: no other channel
    if request.channel is not None:
        chosen = [request.channel]
    else:
        chosen = list(EVENT_PREFERENCE.get(request.event) or DEFAULT_PREFERENCE[request.recipient_kind])
    return list(dict.fromkeys([*chosen, *request.fallback]))


def pick_template(
    templates: Mapping[tuple[str, Channel], NotificationTemplate], event: str, channel: Channel
) -> NotificationTemplate | None:
    return templates.get((event, channel))


def merged_templates(tenant: list[NotificationTemplate]) -> dict[tuple[str, Channel], NotificationTemplate]:
    """The built-in templates with the tenant's on top (per event and channel)."""
    merged = {tpl.key: tpl for tpl in default_templates()}
    merged.update({tpl.key: tpl for tpl in tenant})
    return merged


# -- quiet hours and retries ---------------------------------------------------------------------------------
class QuietHours(BaseModel):
    """Local [start, end) when non-urgent notifications wait; start > end crosses midnight (21:00–08:00)."""

    model_config = ConfigDict(extra="forbid")

    start: time = time(21, 0)
    end: time = time(8, 0)
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):  # not found is a KeyError: pydantic would not catch it
            raise ValueError(f"unknown time zone '{v}'") from None
        return v

    def contains(self, at: datetime) -> bool:
        local = _aware(at).astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime) -> datetime:
        """`at` itself outside quiet hours, else the end of this quiet period (UTC)."""
        at = _aware(at)
        if not self.contains(at):
            return at
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone)
        end_day = local.date()
        if local.time().replace(tzinfo=None) >= self.end:  # in the evening part: the period ends tomorrow
            end_day += timedelta(days=1)
        # fold=0 and a re-normalisation: an end that falls into a DST gap moves to the first real instant.
        end = datetime.combine(end_day, self.end, tzinfo=zone)
        return end.astimezone(UTC)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a naive datetime: pass an aware one (UTC)")
    return at


class RetryPolicy(BaseModel):
    """Exponential backoff with full jitter: attempt n (1-based, the one that just failed) waits a uniform
    random share of min(cap, base · 2^(n-1)); after `max_attempts` attempts the delivery is dead."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=6, ge=1, le=50)
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=30)
    floor: timedelta = timedelta(seconds=1)  # never 0: an immediate retry right into the same outage

    def ceiling(self, attempt: int) -> timedelta:
        exponent = min(max(attempt, 1) - 1, 30)  # bounded: 2**30 · base is far beyond any cap
        return min(self.cap, self.base * (1 << exponent))

    def delay(self, attempt: int, rnd: float) -> timedelta:
        if not 0.0 <= rnd < 1.0:
            raise ValueError("rnd must be in [0, 1)")
        jittered: timedelta = self.ceiling(attempt) * rnd
        return max(self.floor, jittered)

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts


class NotificationPolicy(BaseModel):
    """A tenant's notification settings."""

    model_config = ConfigDict(extra="forbid")

    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    quiet_for: list[RecipientKind] = Field(default_factory=lambda: [RecipientKind.CUSTOMER])
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    # True: customers hear about a ticket only after subscribing to it; False: unless they unsubscribed.
    customer_requires_subscription: bool = False
    # Per-recipient limits we enforce before sending (domain/send_limits.py); Aliyun's for voice calls.
    send_limits: dict[Channel, list[RateLimit]] = Field(
        default_factory=lambda: {Channel.VOICE: list(VOICE_CALL_LIMITS)}
    )

    @field_validator("send_limits")
    @classmethod
    def _few_limits(cls, v: dict[Channel, list[RateLimit]]) -> dict[Channel, list[RateLimit]]:
        if any(len(limits) > 5 for limits in v.values()):
            raise ValueError("at most 5 limits per channel")
        return v

    def limits_for(self, channel: Channel) -> list[RateLimit]:
        return list(self.send_limits.get(channel, []))

    def send_at(self, request: NotificationRequest, now: datetime) -> datetime:
        if request.urgent or self.quiet_hours is None or request.recipient_kind not in self.quiet_for:
            return now
        return self.quiet_hours.next_allowed(now)


class Subscription(BaseModel):
    """A customer following a ticket's progress. `channels` in preference order (empty: the default);
    `events` the ones wanted (empty: all). `active` False is an unsubscribe, kept so it wins over defaults."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    ticket_id: str
    customer_id: str
    channels: list[Channel] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    active: bool = True
    created_at: datetime
    updated_at: datetime

    def wants(self, event: str) -> bool:
        return self.active and (not self.events or event in self.events)


# -- providers (the interface; the HTTP adapters live in integrations/notify) --------------------------------
class ProviderError(Exception):
    pass


class TemporaryProviderError(ProviderError):
    """May succeed later with the same request: outage, timeout, 5xx, throttling, the operator fixing the
    account (balance, credentials, IP allow-list). Retried with backoff, then the DLQ."""


class SendOutcomeUnknownError(TemporaryProviderError):
    """The request may have reached the provider (a read timeout, a 5xx, a broken connection after it was
    sent): whether it was sent is unknown. Retried like any temporary failure, but a provider that can check
    (`ReceiptChecker`) is asked first, so a retry never sends twice."""


class PermanentProviderError(ProviderError):
    """Can never succeed as it is: invalid number or user, unsubscribed, content or template refused.
    The delivery is dead at once (kept in the log)."""


class SendLimitRefusedError(ProviderError):
    """The provider refused it for a per-recipient limit (Aliyun voice `isv.BUSINESS_LIMIT_CONTROL`):
    nothing was sent, and retrying soon only hits the limit again. The delivery takes its fallback channel,
    or is `refused`."""


@dataclass(frozen=True)
class ProviderResult:
    provider_message_id: str | None = None


class Provider(Protocol):
    def send(self, address: str, message: RenderedMessage) -> ProviderResult: ...


@runtime_checkable
class ReceiptChecker(Protocol):
    """A provider that can tell whether a send with `message.ref` went out since `since` (Aliyun SMS:
    QuerySendDetails by phone and date, matched on OutId). `receipt_delay`: how long after a send its record
    is reliably visible; a check waits at least that long after the uncertain attempt."""

    receipt_delay: timedelta

    def send(self, address: str, message: RenderedMessage) -> ProviderResult: ...

    def confirm(
        self, address: str, message: RenderedMessage, *, since: datetime
    ) -> ProviderResult | None: ...


@runtime_checkable
class DedupingProvider(Protocol):
    """A provider that drops a repeat of `message.ref` sent within `dedupe_window` of the first (WeChat's
    client_msg_id: 10 minutes), so a retry after an unknown outcome is scheduled inside the window."""

    dedupe_window: timedelta

    def send(self, address: str, message: RenderedMessage) -> ProviderResult: ...


# -- the delivery log ----------------------------------------------------------------------------------------
class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    RETRYING = "retrying"
    DEAD = "dead"
    SUPPRESSED = "suppressed"
    REFUSED = "refused"


FINAL = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SUPPRESSED, DeliveryStatus.REFUSED}
)
# A retry after an unknown outcome lands this far inside a provider's dedupe window, for the queue's delay.
DEDUPE_MARGIN = timedelta(minutes=1)


class Attempt(BaseModel):
    at: datetime
    ok: bool
    error: str | None = None
    temporary: bool | None = None
    provider_message_id: str | None = None
    channel: Channel | None = None
    outcome_unknown: bool = False  # it may have been sent: checked before anything is sent again
    confirmed: bool = False  # nothing sent: a receipt showed an earlier attempt went out
    refused: bool = False  # nothing sent: a send limit refused it


class Delivery(BaseModel):
    id: str
    tenant_id: str
    idempotency_key: str
    request: NotificationRequest
    channel: Channel | None = None
    address: str | None = None  # masked: the worker looks the real one up when it sends
    message: RenderedMessage | None = None
    status: DeliveryStatus
    reason: str | None = None  # why suppressed / failed / dead / refused; on a fallback send, the refusal
    permanent: bool = False
    attempts: list[Attempt] = Field(default_factory=list)
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None  # a worker is sending it until then
    claimed_at: datetime | None = None  # when that worker took it (cleared with its result)
    created_at: datetime
    updated_at: datetime
    version: int = 1

    @property
    def ticket_id(self) -> str | None:
        return self.request.ticket_id

    def is_final(self) -> bool:
        return self.status in FINAL or (self.status is DeliveryStatus.DEAD and self.permanent)

    def claimed(self, now: datetime, lease: timedelta) -> Delivery:
        return self.model_copy(
            update={
                "lease_until": now + lease,
                "claimed_at": now,
                "updated_at": now,
                "version": self.version + 1,
            }
        )

    def unconfirmed_since(self, now: datetime) -> datetime | None:
        """Since when a send may have gone out without our knowing: the first of the trailing attempts with
        an unknown outcome, or the claim of a worker whose lease ran out before it recorded a result (it
        stopped mid-send). None: nothing can have been sent unrecorded."""
        since: datetime | None = None
        for attempt in reversed(self.attempts):
            if not attempt.outcome_unknown:
                break
            since = attempt.at
        if self.claimed_at is not None and self.lease_until is not None and self.lease_until <= now:
            since = min(since, self.claimed_at) if since else self.claimed_at
        return since

    def fallback_channels(self) -> list[Channel]:
        """The request's fallbacks after the current channel, never one a limit already refused."""
        chain = list(dict.fromkeys([*([self.request.channel] if self.request.channel else []),
                                    *self.request.fallback]))  # fmt: skip
        rest = chain[chain.index(self.channel) + 1 :] if self.channel in chain else chain
        refused = {a.channel for a in self.attempts if a.refused}
        return [c for c in rest if c != self.channel and c not in refused]

    def after_success(self, now: datetime, result: ProviderResult) -> Delivery:
        attempt = Attempt(
            at=now, ok=True, provider_message_id=result.provider_message_id, channel=self.channel
        )
        return self._next(now, attempt, status=DeliveryStatus.SENT, next_at=None, reason=self._refusals())

    def after_confirmed(self, now: datetime, result: ProviderResult) -> Delivery:
        """An earlier attempt with an unknown outcome went out (its receipt says so): sent, nothing resent."""
        attempt = Attempt(
            at=now,
            ok=True,
            provider_message_id=result.provider_message_id,
            channel=self.channel,
            confirmed=True,
        )
        return self._next(now, attempt, status=DeliveryStatus.SENT, next_at=None, reason=self._refusals())

    def after_failure(
        self,
        now: datetime,
        error: str,
        *,
        temporary: bool,
        retry: RetryPolicy,
        rnd: float,
        unknown: bool = False,
        earliest: datetime | None = None,
        latest: datetime | None = None,
    ) -> Delivery:
        """`unknown`: it may have been sent. The next attempt is the backoff's, brought forward to `latest`
        (inside a provider's dedupe window) and put back to `earliest` (after a receipt is visible)."""
        attempt = Attempt(
            at=now,
            ok=False,
            error=error[:500],
            temporary=temporary,
            channel=self.channel,
            outcome_unknown=unknown,
        )
        number = len(self.attempts) + 1
        if not temporary:
            return self._next(
                now, attempt, status=DeliveryStatus.DEAD, next_at=None, reason=error, permanent=True
            )
        if retry.exhausted(number):
            return self._next(now, attempt, status=DeliveryStatus.DEAD, next_at=None, reason=error)
        next_at = now + retry.delay(number, rnd)
        if latest is not None and now + retry.floor <= latest < next_at:
            next_at = latest
        if earliest is not None and next_at < earliest:
            next_at = earliest
        return self._next(now, attempt, status=DeliveryStatus.RETRYING, next_at=next_at, reason=error)

    def after_refusal(
        self,
        now: datetime,
        reason: str,
        *,
        fallback: tuple[Channel, str, RenderedMessage] | None,
        send_at: datetime | None = None,
    ) -> Delivery:
        """A send limit refused it, nothing was sent. With a fallback (channel, masked address, message) the
        delivery moves there and is queued again; without one it is `refused`, with the reason."""
        attempt = Attempt(at=now, ok=False, error=reason[:500], channel=self.channel, refused=True)
        if fallback is None:
            return self._next(now, attempt, status=DeliveryStatus.REFUSED, next_at=None, reason=reason)
        channel, address, message = fallback
        moved = self.model_copy(update={"channel": channel, "address": address, "message": message})
        later = send_at if send_at is not None and send_at > now else None
        return moved._next(now, attempt, status=DeliveryStatus.QUEUED, next_at=later, reason=reason)

    def _refusals(self) -> str | None:
        """Kept on a delivery sent after a refusal, so the log says why it went another way."""
        refused = [a.error for a in self.attempts if a.refused and a.error]
        if not refused:
            return None
        return f"{'; '.join(refused)}; sent by {self.channel} instead"

    def _next(
        self,
        now: datetime,
        attempt: Attempt,
        *,
        status: DeliveryStatus,
        next_at: datetime | None,
        reason: str | None,
        permanent: bool = False,
    ) -> Delivery:
        return self.model_copy(
            update={
                "attempts": [*self.attempts, attempt],
                "status": status,
                "next_attempt_at": next_at,
                "reason": reason,
                "permanent": permanent,
                "lease_until": None,
                "claimed_at": None,
                "updated_at": now,
                "version": self.version + 1,
            }
        )


def refusal_reason(channel: Channel, limit: RateLimit | str) -> str:
    """`voice call refused: limit (5 per hour)`: how a refusal reads in the delivery log."""
    what = {Channel.VOICE: "voice call", Channel.SMS: "SMS", Channel.WECHAT: "WeChat message",
            Channel.WECOM: "WeCom message"}[channel]  # fmt: skip
    detail = f"limit ({limit.describe()})" if isinstance(limit, RateLimit) else limit
    return f"{what} refused: {detail}"


def mask_address(channel: Channel, address: str) -> str:
    """Phones masked for the log (`138****1234`); WeCom userids and openids are pseudonymous ids, kept."""
    if channel in (Channel.SMS, Channel.VOICE):
        return mask_phone(address)
    return address
