"""What a shop platform tells us besides order statuses: its customer records, its privacy requests and
the app's uninstallation (Shopify topics today). Typed, past tense, verified and validated at the edge by
the platform's adapter; the ingest worker hands each to one service call (services/shop_notices.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chalicelib.domain.customers import Identity

MAX_EMAIL = 254  # RFC 5321's path limit


class _Notice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: str
    shop_id: str  # the shop as the platform names it (Shopify: the myshopify.com domain)
    dedupe_key: str  # the delivery's own id: a redelivery has one effect
    raw_type: str  # the platform's topic
    occurred_at: datetime

    @property
    def is_privacy(self) -> bool:
        """Acted on even after the app was uninstalled: the platform sends these afterwards on purpose."""
        return False


class ShopCustomerChanged(_Notice):
    """A shop created or updated its customer record: feeds the data pool (phone, e-mail, name, tags)."""

    type: Literal["shop.customer_changed"] = "shop.customer_changed"
    created: bool  # customers/create (else customers/update)
    shop_customer_id: str
    identities: list[Identity]  # <platform>_buyer_id, phone (E.164)
    name: str | None = None
    email: str | None = None
    tags: list[str] | None = None  # None: the record did not carry tags (Shopify removed them in 2025-01)
    updated_at: datetime | None = None  # the record's own time: an older update never overwrites a newer

    @property
    def timeline_kind(self) -> str:
        return "shop.customer_created" if self.created else "shop.customer_updated"


class PrivacySubject(BaseModel):
    """Whom a privacy request is about, as the platform names them."""

    model_config = ConfigDict(extra="forbid")

    shop_customer_id: str | None = None
    identities: list[Identity] = Field(default_factory=list)  # <platform>_buyer_id, phone
    email: str | None = None


class CustomerDataRequested(_Notice):
    """The customer asked the shop for the data held about them (Shopify customers/data_request)."""

    type: Literal["privacy.data_requested"] = "privacy.data_requested"
    request_ref: str | None = None  # the platform's own request id (data_request.id)
    subject: PrivacySubject
    orders: list[str] = Field(default_factory=list)  # the orders the request names

    @property
    def is_privacy(self) -> bool:
        return True


class CustomerRedactionRequested(_Notice):
    """Erase a customer's personal data (Shopify customers/redact)."""

    type: Literal["privacy.customer_redaction_requested"] = "privacy.customer_redaction_requested"
    subject: PrivacySubject
    orders: list[str] = Field(default_factory=list)  # orders_to_redact

    @property
    def is_privacy(self) -> bool:
        return True


class ShopRedactionRequested(_Notice):
    """Erase what the shop brought (Shopify shop/redact, 48 hours after the app was uninstalled)."""

    type: Literal["privacy.shop_redaction_requested"] = "privacy.shop_redaction_requested"
    # A large shop is erased over several messages (services/privacy.py): how far the earlier ones got.
    part: int = 0
    erased_before: int = 0
    detached_before: int = 0

    @property
    def is_privacy(self) -> bool:
        return True


class ShopAppUninstalled(_Notice):
    """The merchant uninstalled the app (Shopify app/uninstalled): the integration stops processing."""

    type: Literal["shop.app_uninstalled"] = "shop.app_uninstalled"


ShopNotice = Annotated[
    ShopCustomerChanged
    | CustomerDataRequested
    | CustomerRedactionRequested
    | ShopRedactionRequested
    | ShopAppUninstalled,
    Field(discriminator="type"),
]
_NOTICE: TypeAdapter[ShopNotice] = TypeAdapter(ShopNotice)


def parse_notice(data: object) -> ShopNotice:
    """A notice back from its queue form (the `type` field says which)."""
    return _NOTICE.validate_python(data)


def normalize_email(value: object) -> str | None:
    """A usable e-mail (trimmed, the domain lower-cased), or None. Platform data is not ours to reject: an
    unusable value is dropped, not a reason to lose the delivery."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or len(text) > MAX_EMAIL or any(c.isspace() for c in text):
        return None
    return f"{local}@{domain.lower()}"
