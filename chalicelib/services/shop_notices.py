"""What shops tell us besides order statuses (domain/shop_notices.py), one call per notice: customer records
feed the data pool through the identity resolver, privacy requests go to PrivacyService, an uninstalled
app disables its shop's settings."""

from __future__ import annotations

from datetime import UTC

from chalicelib.domain.common import Clock
from chalicelib.domain.customers import Customer, is_placeholder_name
from chalicelib.domain.shop_notices import (
    CustomerDataRequested,
    CustomerRedactionRequested,
    ShopAppUninstalled,
    ShopCustomerChanged,
    ShopNotice,
    ShopRedactionRequested,
)
from chalicelib.domain.timeline import Actor, ActorType
from chalicelib.services.ingest import IngestMessage
from chalicelib.services.integrations import IntegrationService
from chalicelib.services.ports import Publisher
from chalicelib.services.privacy import PrivacyService
from chalicelib.services.resolver import IdentityResolver, Touch

# Platforms that may ask us to erase what one of their shops brought (Shopify's shop/redact): the customers
# each of their shops brings are indexed for that (one small write per order or customer record).
REDACTABLE_PLATFORMS = frozenset({"shopify"})


class ShopNoticeService:
    def __init__(
        self,
        *,
        resolver: IdentityResolver,
        privacy: PrivacyService,
        integrations: IntegrationService,
        ingest: Publisher,
        shop_fields: dict[str, str],
        clock: Clock,
    ) -> None:
        self._resolver = resolver
        self._privacy = privacy
        self._integrations = integrations
        self._ingest = ingest
        self._shop_fields = shop_fields  # platform → the settings field naming the shop
        self._clock = clock

    def apply(self, message: IngestMessage, notice: ShopNotice) -> None:
        tenant_id = message.tenant_id
        if isinstance(notice, ShopCustomerChanged):
            self._customer_changed(tenant_id, notice)
        elif isinstance(notice, CustomerDataRequested):
            self._privacy.data_requested(tenant_id, notice)
        elif isinstance(notice, CustomerRedactionRequested):
            self._privacy.customer_redaction(tenant_id, notice)
        elif isinstance(notice, ShopRedactionRequested):
            progress = self._privacy.shop_redaction(tenant_id, notice)
            if progress.more:  # a large shop: the rest in a message of its own (each stays short)
                self._continue(message, notice, len(progress.erased), len(progress.detached))
        elif isinstance(notice, ShopAppUninstalled):
            field = self._shop_fields.get(notice.platform)
            self._integrations.disable_shop(
                tenant_id, notice.platform, notice.shop_id, shop_field=field, reason=notice.raw_type
            )

    def order_linked(self, tenant_id: str, platform: str, shop_id: str, customer_id: str | None) -> None:
        """An order of this shop was linked to the customer: the shop's redaction must reach them."""
        if customer_id and platform in REDACTABLE_PLATFORMS:
            self._privacy.remember_shop_customer(tenant_id, platform, shop_id, customer_id)

    def _customer_changed(self, tenant_id: str, notice: ShopCustomerChanged) -> None:
        if not notice.identities:
            return  # nothing to find or create them by (the record always carries its id: not expected)

        # Internal attributes (hidden from the API, removed with the shop's data): the newest record
        # applied, and the name the shop last gave (a rename there follows; a name set here stays).
        updated_key, name_key = f"_{notice.platform}_updated_at", f"_{notice.platform}_name"

        stamp = notice.updated_at.astimezone(UTC).isoformat() if notice.updated_at else None

        def update(customer: Customer) -> None:
            seen = customer.attributes.get(updated_key)
            if stamp and isinstance(seen, str) and seen > stamp:  # both UTC ISO-8601: they sort as times
                return  # an older record arriving late: the identities are taken, the fields not
            if notice.name and (
                is_placeholder_name(customer.name) or customer.name == customer.attributes.get(name_key)
            ):
                customer.name = notice.name
            if notice.name:
                customer.attributes[name_key] = notice.name
            if notice.email:
                customer.email = notice.email
            if notice.tags is not None:
                customer.attributes[f"{notice.platform}_tags"] = notice.tags
            if stamp:
                customer.attributes[updated_key] = stamp

        touch = Touch(
            tenant_id=tenant_id,
            identities=notice.identities,
            kind=notice.timeline_kind,
            source=f"shop:{notice.platform}",
            at=notice.occurred_at,
            actor=Actor(type=ActorType.INTEGRATION, id=f"shop:{notice.platform}"),
            # No personal data on the timeline: the fields are on the profile.
            data={"platform": notice.platform, "shop_id": notice.shop_id, "platform_event": notice.raw_type},
            idempotency_key=f"shop:{notice.dedupe_key}",
            name_hint=notice.name,
            update=update,
        )
        resolved = self._resolver.touch(touch)
        if notice.platform in REDACTABLE_PLATFORMS and resolved.customer_id:
            self._privacy.remember_shop_customer(
                tenant_id, notice.platform, notice.shop_id, resolved.customer_id
            )

    def _continue(
        self, message: IngestMessage, notice: ShopRedactionRequested, erased: int, detached: int
    ) -> None:
        part = notice.part + 1
        rest = notice.model_copy(
            update={
                "part": part,
                "erased_before": notice.erased_before + erased,
                "detached_before": notice.detached_before + detached,
            }
        )
        follow = message.model_copy(
            update={"key": f"{message.key}#part{part}", "payload": rest.model_dump(mode="json")}
        )
        self._ingest.publish([follow.model_dump(mode="json")])
