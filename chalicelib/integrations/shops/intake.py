"""A delivery against a tenant's shop settings: which settings signed it, and what of it to take in.

A tenant may sell through several shops of one platform, each with its own settings (its own app, or the
same tool app authorised by several shops), plus the settings saved before shops had their own, which
serve every shop of their app unless pinned to one. So the delivery is verified against each; the shops
it may speak for are those of every setting that verifies it (the same app), and an order event for any
other shop is neither taken in nor refused: it is kept (the caller puts it in the inbox) and acknowledged.
A refusal would make the platform resend the whole delivery and count towards its circuit breaker (Youzan
holds back every push of the app once more than 80% fail within 10 s; see docs/integrations.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from chalicelib.domain.orders import OrderEvent
from chalicelib.domain.shop_notices import ShopNotice
from chalicelib.integrations.shops.base import Rejected, ShopAdapter, SignatureError

# The credentials field naming the shop, per platform with shops of their own (absent: no shop filtering).
SHOP_FIELDS: dict[str, str] = {"youzan": "kdt_id", "doudian": "shop_id", "shopify": "shop_domain"}


@dataclass(frozen=True)
class ShopSettings:
    credentials: BaseModel
    shop_id: str | None  # None: any shop of the app (settings saved without a shop)
    disabled: bool = False  # the platform said the app was uninstalled (services/integrations.py)


@dataclass
class Intake:
    events: list[OrderEvent] = field(default_factory=list)  # to take in
    rejected: list[Rejected] = field(default_factory=list)  # malformed messages, with the reason
    foreign: list[OrderEvent] = field(default_factory=list)  # for shops this tenant has not configured
    notices: list[ShopNotice] = field(default_factory=list)  # customer records, privacy requests, …
    # For a shop whose settings are all disabled: kept, not processed (privacy requests excepted).
    paused: list[OrderEvent | ShopNotice] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.events or self.rejected or self.foreign or self.notices or self.paused)


def shop_of(platform: str, credentials: BaseModel) -> str | None:
    name = SHOP_FIELDS.get(platform)
    value = getattr(credentials, name, None) if name else None
    return str(value) if value else None


def receive(
    adapter: ShopAdapter,
    settings: Sequence[ShopSettings],
    *,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> Intake:
    """SignatureError unless one of `settings` verifies the raw body; PayloadError if the delivery as a
    whole is malformed (the adapter's own rule)."""
    signers: list[ShopSettings] = []
    errors: list[str] = []
    for s in settings:
        try:
            adapter.verify(headers=headers, body=body, credentials=s.credentials, now=now)
        except SignatureError as e:
            errors.append(str(e))
            continue
        signers.append(s)
    if not signers:
        raise SignatureError("; ".join(dict.fromkeys(errors)) or "no settings to verify against")
    shops = {s.shop_id for s in signers}
    live = {s.shop_id for s in signers if not s.disabled}
    parsed = adapter.parse(headers=headers, body=body, credentials=signers[0].credentials, received_at=now)
    intake = Intake()
    for item in parsed:
        if isinstance(item, Rejected):
            intake.rejected.append(item)
        elif not (None in shops or item.shop_id in shops):
            if isinstance(item, OrderEvent):
                intake.foreign.append(item)
            else:
                intake.paused.append(item)  # not expected: a shop's notices are signed for that shop
        elif not (None in live or item.shop_id in live) and (
            isinstance(item, OrderEvent) or not item.is_privacy
        ):
            intake.paused.append(item)
        elif isinstance(item, OrderEvent):
            intake.events.append(item)
        else:
            intake.notices.append(item)
    return intake
