"""Per-recipient send limits (sliding windows), enforced by us before a provider is asked.

Why: Aliyun's voice service (语音服务, dyvmsapi) limits calls to one callee, per qualification and number
purpose, to **1 a minute, 5 an hour and 20 in 24 hours**; each window slides from the first call, and a
call counts whether it connects or fails ("呼叫成功或失败都会消耗一次流控频率": SingleCallByTts,
help.aliyun.com/document_detail/393519.html, parameter CalledNumber; 语音流控频率规则,
help.aliyun.com/document_detail/2680293.html and 449961.html). Over the limit Aliyun answers
`isv.BUSINESS_LIMIT_CONTROL` (API error codes, help.aliyun.com/document_detail/178344.html). Retrying such a
call only hits the limit again, and an SLA escalation wants to know at once that its call will not happen,
so the limit is counted here (one window per tenant and callee in the table, conditional writes) and a
refusal is reported instead of retried.

Aliyun's own example: the first call at 12:01 and the fifth at 12:59, a sixth at 13:00 is refused and one at
13:01 is allowed — a send at `t` counts the sends in (t − window, t]. Pure: the store passes the window in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_WINDOW = timedelta(days=7)


class RateLimit(BaseModel):
    """At most `count` sends to one recipient within any `window`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(ge=1, le=10_000)
    window: timedelta

    @field_validator("window")
    @classmethod
    def _window(cls, v: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= v <= MAX_WINDOW:
            raise ValueError("a limit's window is between 1 second and 7 days")
        return v

    def describe(self) -> str:
        """`5 per hour`, `1 per minute`, `20 per 24 hours`: the words the refusal is recorded with."""
        seconds = int(self.window.total_seconds())
        for size, unit in ((86_400 * 7, "week"), (3600, "hour"), (60, "minute"), (1, "second")):
            if seconds % size == 0 and seconds >= size:
                n = seconds // size
                per = unit if n == 1 else f"{n} {unit}s"
                return f"{self.count} per {per}"
        return f"{self.count} per {seconds} seconds"  # unreachable: every whole-second window divides by 1


# Aliyun VMS per callee (see the module docstring); a tenant with relaxed limits (专属模式, by application in
# Aliyun's console) sets its own in the notification policy.
VOICE_CALL_LIMITS: tuple[RateLimit, ...] = (
    RateLimit(count=1, window=timedelta(minutes=1)),
    RateLimit(count=5, window=timedelta(hours=1)),
    RateLimit(count=20, window=timedelta(hours=24)),
)


class SentSlot(BaseModel):
    """One send counted against the limits. `slot` names it (delivery id and attempt number), so counting
    the same attempt twice — a redelivered queue message — takes one place."""

    slot: str
    at: datetime


class SendWindow(BaseModel):
    """The recent sends to one recipient on one channel, oldest first."""

    sends: list[SentSlot] = Field(default_factory=list)

    def holds(self, slot: str) -> bool:
        return any(s.slot == slot for s in self.sends)

    def refusal(self, at: datetime, limits: Sequence[RateLimit]) -> RateLimit | None:
        """The limit a send at `at` would break (the longest-window one when several would: it is the one
        that clears last), or None when the send fits."""
        broken = [
            limit for limit in limits if sum(1 for s in self.sends if s.at > at - limit.window) >= limit.count
        ]
        return max(broken, key=lambda limit: limit.window) if broken else None

    def with_send(self, slot: str, at: datetime, *, horizon: timedelta) -> SendWindow:
        """Counted, and sends older than `horizon` (the longest window) forgotten."""
        kept = [s for s in self.sends if s.at > at - horizon and s.slot != slot]
        return SendWindow(sends=[*kept, SentSlot(slot=slot, at=at)])

    def without(self, slot: str) -> SendWindow:
        """A send that never reached the provider gives its place back."""
        return SendWindow(sends=[s for s in self.sends if s.slot != slot])

    def expires_at(self, horizon: timedelta) -> datetime | None:
        """When the window holds nothing that counts any more (the item's TTL)."""
        return max(s.at for s in self.sends) + horizon if self.sends else None


def horizon(limits: Sequence[RateLimit]) -> timedelta:
    return max((limit.window for limit in limits), default=timedelta(0))
