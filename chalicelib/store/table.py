"""The single table as pynamodb models: one base with the key and index attributes, one subclass per
entity (a `type` discriminator, never part of a key). Entities are stored as a pydantic JSON document plus
the few attributes that conditions, filters and indexes need."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.attributes import (
    Attribute,
    DiscriminatorAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.config import get_settings
from chalicelib.resources import TABLE

_settings = get_settings()


class _Meta:
    table_name = _settings.table_name
    host = _settings.aws_endpoint
    region = _settings.region
    max_retry_attempts = 3


class Gsi1(GlobalSecondaryIndex["Item"]):
    class Meta(_Meta):
        index_name = TABLE.indexes[0].name
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Gsi2(GlobalSecondaryIndex["Item"]):
    class Meta(_Meta):
        index_name = TABLE.indexes[1].name
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class Item(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    type = DiscriminatorAttribute()
    doc = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    gsi1 = Gsi1()
    gsi2 = Gsi2()


class TenantItem(Item, discriminator="tenant"):
    pass


class TenantRegistryItem(Item, discriminator="tenant_registry"):
    """A tenant's row in the registry (`TENANTS` / <tenant id>): a `RegisteredTenant` doc."""


class UserItem(Item, discriminator="user"):
    version = NumberAttribute(null=True)  # = the doc's version; edits are conditional on it
    active_keys = NumberAttribute(null=True)  # unrevoked keys, changed by ADD and capped by a condition


class WeComUserItem(Item, discriminator="wecom_user"):
    """A WeCom member's UserID → our user id (`user_id`): WeCom events name staff by the former."""

    user_id = UnicodeAttribute()


class ApiKeyItem(Item, discriminator="api_key"):
    """Two rows per key, the same doc in each: `T#t#KEY#<hash>` (authentication) and one in the tenant
    partition under its holder (listing, revocation by id); revocation sets both in one transaction."""

    revoked_at = UnicodeAttribute(null=True)


class CustomerItem(Item, discriminator="customer"):
    version = NumberAttribute()
    # Plain attributes for scope filters; the phone is only here encrypted and as a keyed hash.
    region = UnicodeAttribute(null=True)
    store = UnicodeAttribute(null=True)
    owner_id = UnicodeAttribute(null=True)
    phone_enc = UnicodeAttribute(null=True)
    email_enc = UnicodeAttribute(null=True)  # likewise encrypted (no index: not a lookup key)


class IdentityItem(Item, discriminator="identity"):
    customer_id = UnicodeAttribute()
    # Set by bulk imports, which claim before writing the profile: a claim whose profile never appeared
    # (the import crashed in between) is an orphan once it is older than ORPHAN_AFTER.
    claimed_at = UTCDateTimeAttribute(null=True)
    # The touch (idempotency key) whose commit wrote the claim before its profile: when that same touch is
    # retried and finds the claim still without a profile, the writer was itself, and it died.
    claimed_by = UnicodeAttribute(null=True)


class TimelineItem(Item, discriminator="timeline"):
    pass


class IdempotencyItem(Item, discriminator="idempotency"):
    expires_at = TTLAttribute(null=True)


class MergeRecordItem(Item, discriminator="merge"):
    pass


class MergeCandidateItem(Item, discriminator="merge_candidate"):
    pass


class OrderRecordItem(Item, discriminator="order"):
    version = NumberAttribute()


class IntegrationItem(Item, discriminator="integration"):
    secrets_enc = UnicodeAttribute(null=True)  # the secret fields, AES-GCM encrypted as one JSON object


class TokenItem(Item, discriminator="token"):
    secret_enc = UnicodeAttribute()
    expires_at = TTLAttribute()


class ImportJobItem(Item, discriminator="import_job"):
    version = NumberAttribute()


class GroupChatItem(Item, discriminator="group_chat"):
    pass


class InboxItem(Item, discriminator="inbox"):
    pass


class OutboxItem(Item, discriminator="outbox"):
    """A message the local stack caught instead of sending (doc: OutboxEntry)."""


class WeComMemberItem(Item, discriminator="wecom_member"):
    """A mirrored WeCom member (doc: domain/wecom_org.py WeComMember); writes conditional on `version`."""

    version = NumberAttribute()


class WeComDepartmentItem(Item, discriminator="wecom_department"):
    version = NumberAttribute()


class PrivacyRequestItem(Item, discriminator="privacy_request"):
    """A `PrivacyRequest` doc (no personal data: customers by our ids)."""


class PrivacyExportItem(Item, discriminator="privacy_export"):
    """One part of a data request's export; `doc` is AES-GCM ciphertext (it is all personal data)."""


class PrivacySourceItem(Item, discriminator="privacy_source"):
    request_id = UnicodeAttribute()


class ShopCustomerItem(Item, discriminator="shop_customer"):
    customer_id = UnicodeAttribute()


class TagGroupItem(Item, discriminator="tag_group"):
    version = NumberAttribute()


class TagMemberItem(Item, discriminator="tag_member"):
    customer_id = UnicodeAttribute()


_connection: Connection | None = None


def connection() -> Connection:
    """One low-level connection per process, for transactions and batch reads."""
    global _connection
    if _connection is None:
        _connection = Connection(region=_settings.region, host=_settings.aws_endpoint, max_retry_attempts=3)
    return _connection


def raw_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class TicketItem(Item, discriminator="ticket"):
    version = NumberAttribute()
    region = UnicodeAttribute(null=True)
    store = UnicodeAttribute(null=True)
    assignee_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)


class TicketHistoryItem(Item, discriminator="ticket_history"):
    pass


class TicketTemplateItem(Item, discriminator="ticket_template"):
    version = NumberAttribute()


class WorkflowItem(Item, discriminator="workflow"):
    pass


class SlaConfigItem(Item, discriminator="sla_config"):
    """A tenant's SLA policy or business calendar (presets are code; these are the tenant's own)."""


# -- staff profiles and ticket assignment (appended: these imports belong at the top when convenient) ------


class DecimalAttribute(Attribute[Decimal]):
    """An exact DynamoDB number as Decimal (pynamodb's NumberAttribute goes through float)."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return str(value)

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class StaffItem(Item, discriminator="staff"):
    """doc = the profile without its counters; the counters are attributes that UpdateItem changes
    atomically (`open_load` against `capacity` in a condition, ratings by ADD) and `put` never touches."""

    version = NumberAttribute()
    capacity = NumberAttribute()
    open_load = NumberAttribute(null=True)
    rating_sum = DecimalAttribute(null=True)
    ratings_count = NumberAttribute(null=True)
    last_assigned_at = UnicodeAttribute(null=True)  # ISO 8601 UTC


class AssignmentWeightsItem(Item, discriminator="assignment_weights"):
    version = NumberAttribute(null=True)


class TicketLoadItem(Item, discriminator="ticket_load"):
    user_id = UnicodeAttribute()


class TicketQueueItem(Item, discriminator="ticket_queue"):
    pass  # doc = the WaitingTicket; gsi2 orders the queue


# -- notifications (store/notifications.py) --
class DeliveryItem(Item, discriminator="delivery"):
    version = NumberAttribute()
    status = UnicodeAttribute(null=True)


class NotificationKeyItem(Item, discriminator="notification_key"):
    delivery_id = UnicodeAttribute()


class SendWindowItem(Item, discriminator="send_window"):
    """doc = a `SendWindow` (times and slots only, no address); writes conditional on `version`; the item
    expires once nothing in it counts any more."""

    version = NumberAttribute()
    expires_at = TTLAttribute(null=True)


class NotificationTemplateItem(Item, discriminator="notification_template"):
    pass


class NotificationPolicyItem(Item, discriminator="notification_policy"):
    pass


class SubscriptionItem(Item, discriminator="subscription"):
    pass


# -- workflow statistics (store/workflow_stats.py) --
class WorkflowStatItem(Item, discriminator="workflow_stat"):
    """Counters of one step on one day, changed only by UpdateItem ADD. The duration histogram's buckets are
    the numbered attributes `h00`…`h39` (see domain/workflow_stats.py), added by name and read raw."""

    entries = NumberAttribute(null=True)
    exits = NumberAttribute(null=True)
    dropped = NumberAttribute(null=True)


class WaitTokenItem(Item, discriminator="wait_token"):
    token = UnicodeAttribute()


class TicketSettingsItem(Item, discriminator="ticket_settings"):
    pass


# -- settlement center: price book, parts inventory, bills, ledger (store/pricing.py, inventory.py, ledger.py)
class PriceRuleItem(Item, discriminator="price_rule"):
    pass  # immutable: written once under (item, rule id, version)


class PriceModifierItem(Item, discriminator="price_modifier"):
    pass


class IssuedQuoteItem(Item, discriminator="quote"):
    pass


class PartItem(Item, discriminator="part"):
    version = NumberAttribute()


class StockItem(Item, discriminator="stock"):
    """Counts changed only by conditional UpdateItem (ADD), each bumping `version`."""

    warehouse = UnicodeAttribute()
    on_hand = NumberAttribute()
    reserved = NumberAttribute()
    version = NumberAttribute()


class ReservationItem(Item, discriminator="reservation"):
    status = UnicodeAttribute()


class LowStockItem(Item, discriminator="low_stock"):
    pass


class PostingItem(Item, discriminator="posting"):
    pass  # immutable; written once (conditional put) with its entries and account-month totals


class EntryItem(Item, discriminator="entry"):
    pass


class AccountMonthItem(Item, discriminator="account_month"):
    """Σ debits and Σ credits of an account in a month, changed only by ADD in a posting's transaction."""

    debits = DecimalAttribute(null=True)
    credits = DecimalAttribute(null=True)


class SettlementRuleItem(Item, discriminator="settlement_rule"):
    pass


class BillItem(Item, discriminator="bill"):
    pass


class RunItem(Item, discriminator="settlement_run"):
    version = NumberAttribute(null=True)


class LateAccountItem(Item, discriminator="late_account"):
    pass  # sk = the account


class SettledFactsItem(Item, discriminator="settled_facts"):
    """What a source was settled on, in its period's partition: the month-end run's input (one Query)."""

    rating = NumberAttribute(null=True)  # set when the customer rates after settlement
    reversed_at = UnicodeAttribute(null=True)  # refunded/charged back: no longer counts towards the period
    refunded = UnicodeAttribute(null=True)  # partly refunded: the amount so far; counts amount − refunded


class UnsettledItem(Item, discriminator="unsettled"):
    """A source no split rule could settle yet (sk = `<source type>#<id>`; doc: domain/unsettled.py): retried
    when a rule is published. A refund meanwhile is noted on it and taken back once it is settled."""

    refunded = UnicodeAttribute(null=True)  # the total refunded so far
    reversed_at = UnicodeAttribute(null=True)  # refunded in full: nothing left to settle
    rating = NumberAttribute(null=True)


class ConfigVersionsItem(Item, discriminator="config_versions"):
    """A tenant's configuration counters (services/cache.py): one number per kind, changed only by ADD."""

    settlement_rules = NumberAttribute(null=True)
    ticket_templates = NumberAttribute(null=True)
    ticket_settings = NumberAttribute(null=True)
    sla = NumberAttribute(null=True)
    integrations = NumberAttribute(null=True)
