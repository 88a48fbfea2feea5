"""Every key pattern of the single table. Every partition key starts with `T#<tenant id>`, but one: the tenant
registry (`TENANTS`), which lists the tenants for work across all of them (docs/data-model.md says why).

docs/data-model.md lists these patterns with their access patterns; keep the two in step.
"""

from __future__ import annotations

from datetime import datetime

PROFILE_SK = "#PROFILE"  # sorts before EV#…, so one Query reads the profile and the newest events
TENANT_SK = "TENANT"
API_KEY_SK = "KEY"
IDENTITY_SK = "ID"
TIMELINE_PREFIX = "EV#"
USER_PREFIX = "USER#"
TAG_GROUP_PREFIX = "TAGGROUP#"
MEMBER_PREFIX = "C#"
_MAX_MS = 10**13 - 1
_MAX_SEQ = 10**9 - 1


def tenant_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}"


# The tenant registry: one row per tenant (sk = the tenant id), written in the tenant's creation transaction.
# Read only by the schedules and operators, never by a request, and it holds no tenant data (id, time zone).
TENANT_REGISTRY_PK = "TENANTS"


def tenant_registry_sk(tenant_id: str) -> str:
    return tenant_id


def user_sk(user_id: str) -> str:
    return f"{USER_PREFIX}{user_id}"


def wecom_user_sk(wecom_userid: str) -> str:
    """In the tenant partition: a WeCom member's UserID → our user id (one per UserID, so it is unique)."""
    return f"WECOMUSER#{wecom_userid}"


def api_key_pk(tenant_id: str, key_hash: str) -> str:
    return f"T#{tenant_id}#KEY#{key_hash}"


# A key's listing row, in the tenant partition: a user's keys (or the integration keys) are one Query.
API_KEYS_PREFIX = "APIKEY#"


def api_keys_prefix(holder: str) -> str:
    """`holder`: a user id, or `integration` for the integration keys."""
    return f"{API_KEYS_PREFIX}{holder}#"


def api_key_listing_sk(holder: str, key_id: str) -> str:
    return f"{api_keys_prefix(holder)}{key_id}"


def customer_pk(tenant_id: str, customer_id: str) -> str:
    return f"T#{tenant_id}#C#{customer_id}"


def timeline_sk(at: datetime, seq: int, event_id: str) -> str:
    """Inverted milliseconds, then inverted sequence (the customer version the event produced): ascending
    sort keys read newest first, and events of one millisecond keep their order."""
    return f"{TIMELINE_PREFIX}{_MAX_MS - int(at.timestamp() * 1000):013d}.{_MAX_SEQ - seq:09d}#{event_id}"


def identity_pk(tenant_id: str, id_type: str, value_key: str) -> str:
    """`value_key` is the identity value, or a keyed hash of it for PII (phones)."""
    return f"T#{tenant_id}#ID#{id_type}#{value_key}"


def tag_group_sk(group_id: str) -> str:
    return f"{TAG_GROUP_PREFIX}{group_id}"


def tag_members_pk(tenant_id: str, tag_id: str) -> str:
    return f"T#{tenant_id}#TAG#{tag_id}"


def member_sk(customer_id: str) -> str:
    return f"{MEMBER_PREFIX}{customer_id}"


# GSI1: a tenant's customers, newest first.
def customers_by_created_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#CUSTOMERS"


def customers_by_created_sk(created_at: datetime, customer_id: str) -> str:
    return f"{created_at.isoformat(timespec='milliseconds')}#{customer_id}"


# GSI2: a tenant's customers by normalised name, for prefix search.
def customers_by_name_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#NAME"


def customers_by_name_sk(name_key: str, customer_id: str) -> str:
    return f"{name_key}#{customer_id}"


def belongs_to_tenant(key: str, tenant_id: str) -> bool:
    return key == tenant_pk(tenant_id) or key.startswith(tenant_pk(tenant_id) + "#")


def idempotency_pk(tenant_id: str, key: str) -> str:
    """A processed event: its marker is written in the same transaction as the event's effect."""
    return f"T#{tenant_id}#IDEM#{key}"


IDEMPOTENCY_SK = "IDEM"


def merge_sk(absorbed_id: str) -> str:
    """In the survivor's partition: the record of a merge, with its evidence and the absorbed snapshot."""
    return f"MERGE#{absorbed_id}"


def integration_sk(kind: str) -> str:
    """Per-tenant integration settings (`wecom`, `shop#youzan`, …) in the tenant partition."""
    return f"INTEG#{kind}"


def inbox_pk(tenant_id: str, month: str) -> str:
    """Received payloads no handler understood yet, kept raw and visible (`month` = YYYY-MM)."""
    return f"T#{tenant_id}#INBOX#{month}"


def inbox_sk(received_at: datetime, key: str) -> str:
    return f"{received_at.isoformat(timespec='milliseconds')}#{key}"


def order_pk(tenant_id: str, platform: str, order_id: str) -> str:
    return f"T#{tenant_id}#O#{platform}#{order_id}"


ORDER_SK = "ORDER"


# GSI1: a customer's orders, newest first.
def customer_orders_pk(tenant_id: str, customer_id: str) -> str:
    return f"T#{tenant_id}#C#{customer_id}#ORDERS"


def customer_orders_sk(at: datetime, platform: str, order_id: str) -> str:
    return f"{at.isoformat(timespec='milliseconds')}#{platform}#{order_id}"


def wecom_token_pk(tenant_id: str) -> str:
    """The tenant's WeCom access token, shared by every function until it expires (TTL)."""
    return f"T#{tenant_id}#WECOM"


WECOM_TOKEN_SK = "TOKEN"


def merge_candidates_pk(tenant_id: str) -> str:
    """Pairs of customers a person should review (different stable ids sharing other identities)."""
    return f"T#{tenant_id}#MERGECAND"


def merge_candidate_sk(a: str, b: str) -> str:
    low, high = sorted((a, b))
    return f"{low}#{high}"


def group_chat_pk(tenant_id: str, chat_id: str) -> str:
    return f"T#{tenant_id}#CHAT#{chat_id}"


GROUP_CHAT_SK = "CHAT"


def wecom_org_pk(tenant_id: str) -> str:
    """The tenant's mirrored WeCom org (store/wecom_org.py): members and departments, one Query each."""
    return f"T#{tenant_id}#WECOMORG"


WECOM_MEMBER_PREFIX = "M#"
WECOM_DEPARTMENT_PREFIX = "D#"


def wecom_member_sk(userid: str) -> str:
    """Lower-cased: WeCom's UserIDs are unique regardless of case (domain/wecom_org.py `member_key`)."""
    return f"{WECOM_MEMBER_PREFIX}{userid.strip().lower()}"


def wecom_department_sk(department_id: int) -> str:
    return f"{WECOM_DEPARTMENT_PREFIX}{department_id}"


def import_job_pk(tenant_id: str, job_id: str) -> str:
    return f"T#{tenant_id}#IMPORT#{job_id}"


IMPORT_JOB_SK = "JOB"


# -- tickets (工单), their templates and workflows ----------------------------------------------------------
TICKET_SK = "#TICKET"  # sorts before H#…, so one Query reads the ticket and its newest history
HISTORY_PREFIX = "H#"


def ticket_pk(tenant_id: str, ticket_id: str) -> str:
    return f"T#{tenant_id}#TK#{ticket_id}"


def history_sk(seq: int) -> str:
    """Inverted version: ascending sort keys read the newest step first."""
    return f"{HISTORY_PREFIX}{_MAX_SEQ - seq:09d}"


def customer_tickets_pk(tenant_id: str, customer_id: str) -> str:
    """GSI1: a customer's tickets, newest first (the 360 view)."""
    return f"T#{tenant_id}#C#{customer_id}#TICKETS"


def customer_tickets_sk(created_at: datetime, ticket_id: str) -> str:
    return f"{_MAX_MS - int(created_at.timestamp() * 1000):013d}#{ticket_id}"


def ticket_templates_pk(tenant_id: str) -> str:
    """A tenant's own templates (edits of presets and new types): one Query lists them."""
    return f"T#{tenant_id}#TEMPLATES"


def workflow_pk(tenant_id: str, workflow_id: str) -> str:
    return f"T#{tenant_id}#WF#{workflow_id}"


def workflow_sk(version: int) -> str:
    return f"V#{version:06d}"  # ascending: a descending Query with limit 1 reads the latest version


def workflows_pk(tenant_id: str) -> str:
    """GSI1: the tenant's workflows, latest version of each (the designer's list)."""
    return f"T#{tenant_id}#WORKFLOWS"


def sla_config_pk(tenant_id: str) -> str:
    """A tenant's SLA policies (`POLICY#<id>`) and calendars (`CAL#<id>`): one Query reads them all."""
    return f"T#{tenant_id}#SLA"


# -- staff profiles and ticket assignment --------------------------------------------------------------
ASSIGNMENT_WEIGHTS_SK = "#WEIGHTS"  # in the staff partition, before every user id: the roster Query reads it


def staff_pk(tenant_id: str) -> str:
    """A tenant's staff profiles (sk = user id): one Query reads the roster and the assignment weights."""
    return f"T#{tenant_id}#STAFF"


def staff_sk(user_id: str) -> str:
    return user_id


# In the ticket's partition: who holds the ticket's unit of open_load (written with the assignment, deleted
# on release), so a repeated release or assignment is a no-op. Sorts after #TICKET and the H#… history.
TICKET_LOAD_SK = "LOAD"


def ticket_queue_pk(tenant_id: str) -> str:
    """Tickets nobody could take yet (sk = ticket id, so a transaction can delete one by its id)."""
    return f"T#{tenant_id}#TKQUEUE"


def ticket_queue_sk(ticket_id: str) -> str:
    return ticket_id


def ticket_queue_order_sk(enqueued_at: datetime, ticket_id: str) -> str:
    """GSI2 of a queue item (gsi2pk = ticket_queue_pk): ascending = oldest first."""
    return f"{enqueued_at.isoformat(timespec='milliseconds')}#{ticket_id}"


def open_tickets_pk(tenant_id: str) -> str:
    """GSI2 (sparse: open tickets only): the tenant's open tickets by resolution deadline."""
    return f"T#{tenant_id}#TKOPEN"


# -- workflow statistics (store/workflow_stats.py) -----------------------------------------------------
def workflow_stats_pk(tenant_id: str, workflow_id: str, version: int) -> str:
    """Per-step counters of one workflow version: one item per day × step, one Query reads a period."""
    return f"T#{tenant_id}#WFSTAT#{workflow_id}#{version}"


def workflow_stats_sk(day: str, step_id: str) -> str:
    """Day first (`YYYY-MM-DD`), so `sk BETWEEN "<first>#" AND "<last>#~"` selects a period of every step."""
    return f"{day}#{step_id}"


def wait_token_sk(node: str) -> str:
    """In the ticket's partition: the Step Functions task token of an approval step waiting for a decision."""
    return f"WAIT#{node}"


def ticket_settings_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#TKSETTINGS"


# -- settlement center: price book and quotes (store/pricing.py) ----------------------------------------
def price_rules_pk(tenant_id: str, item: str) -> str:
    """The versions of every price rule for one item (sku or labour code): one Query per quoted item."""
    return f"T#{tenant_id}#PRICE#{item}"


def price_rule_sk(rule_id: str, version: int) -> str:
    return f"R#{rule_id}#V#{version:06d}"


def price_book_pk(tenant_id: str) -> str:
    """GSI1 of price rules (the editor's list, `<item>#<rule>#<version>`) and the partition of modifiers."""
    return f"T#{tenant_id}#PRICEBOOK"


def modifier_sk(modifier_id: str, version: int) -> str:
    return f"M#{modifier_id}#V#{version:06d}"


def quote_pk(tenant_id: str, quote_id: str) -> str:
    return f"T#{tenant_id}#QUOTE#{quote_id}"


QUOTE_SK = "QUOTE"


def customer_quotes_pk(tenant_id: str, customer_id: str) -> str:
    """GSI1: a customer's quotes, newest first."""
    return f"T#{tenant_id}#C#{customer_id}#QUOTES"


# -- parts inventory (store/inventory.py) ---------------------------------------------------------------
def part_pk(tenant_id: str, sku: str) -> str:
    """A part's catalogue entry (`PART`) and its stock per warehouse (`STOCK#<wh>`): one Query reads both."""
    return f"T#{tenant_id}#PART#{sku}"


PART_SK = "PART"


def stock_sk(warehouse: str) -> str:
    return f"STOCK#{warehouse}"


def parts_pk(tenant_id: str) -> str:
    """GSI1: the tenant's parts catalogue by sku."""
    return f"T#{tenant_id}#PARTS"


def reservation_sk(sku: str, warehouse: str) -> str:
    """In the ticket's partition: the parts a ticket holds."""
    return f"RES#{sku}#{warehouse}"


def low_stock_pk(tenant_id: str) -> str:
    """Parts at or below their threshold (sk = `<sku>#<wh>`): the replenishment list, one Query."""
    return f"T#{tenant_id}#LOWSTOCK"


# -- ledger and settlement (store/ledger.py) -------------------------------------------------------------
def posting_pk(tenant_id: str, posting_id: str) -> str:
    """A ledger posting under its id: the conditional put is the idempotency check."""
    return f"T#{tenant_id}#POSTING#{posting_id}"


POSTING_SK = "POSTING"


def source_postings_pk(tenant_id: str, source_type: str, source_id: str) -> str:
    """GSI1 of postings: everything posted for one ticket/order (what a refund reverses)."""
    return f"T#{tenant_id}#SRC#{source_type}#{source_id}"


def customer_settlements_pk(tenant_id: str, customer_id: str) -> str:
    """GSI2 of postings: a customer's settlement history (the 360 view), newest first by sk."""
    return f"T#{tenant_id}#C#{customer_id}#SETTLE"


def account_month_pk(tenant_id: str, account: str, period: str) -> str:
    """An account's entries in one month: a party's statement is one Query (paged)."""
    return f"T#{tenant_id}#ACCT#{account}#{period}"


def entry_sk(at: datetime, posting_id: str, leg: int) -> str:
    return f"{at.isoformat(timespec='milliseconds')}#{posting_id}#{leg:02d}"


def account_pk(tenant_id: str, account: str) -> str:
    """An account's month totals (`M#<yyyy-mm>`): the opening balance of a period is one small Query."""
    return f"T#{tenant_id}#ACCT#{account}"


def account_month_sk(period: str) -> str:
    return f"M#{period}"


def settlement_rules_pk(tenant_id: str) -> str:
    """Every version of every commission rule (`<rule id>#V#<version>`): one Query."""
    return f"T#{tenant_id}#RULESET"


def bill_pk(tenant_id: str, ticket_id: str) -> str:
    return f"T#{tenant_id}#BILL#{ticket_id}"


BILL_SK = "BILL"


def customer_bills_pk(tenant_id: str, customer_id: str) -> str:
    """GSI1 of bills: a customer's bills for the 360 view."""
    return f"T#{tenant_id}#C#{customer_id}#BILLS"


def settlement_run_pk(tenant_id: str, period: str) -> str:
    """A period run (`RUN`) and each party it finished (`PARTY#<role>:<id>`): a re-run skips those."""
    return f"T#{tenant_id}#RUN#{period}"


def late_accounts_pk(tenant_id: str, period: str) -> str:
    """Accounts moved in the period by postings for sources settled earlier (refunds, adjustments; sk = the
    account): the period's reconciliation includes parties its own settled sources do not name."""
    return f"T#{tenant_id}#LATE#{period}"


def settled_facts_pk(tenant_id: str, period: str) -> str:
    """The period's settled tickets/orders (sk = `<source type>#<id>`): the month-end run pages through it."""
    return f"T#{tenant_id}#SETTLED#{period}"


def unsettled_pk(tenant_id: str) -> str:
    """Sources no split rule settled yet (sk = `<source type>#<id>`): a published rule's retry and a
    reconciliation Query it; bounded by what is waiting, not by the tenant's size."""
    return f"T#{tenant_id}#UNSETTLED"


# The tenant's configuration counters (services/cache.py), in the tenant's own partition.
CONFIG_VERSIONS_SK = "CONFIG#VERSIONS"


# -- notifications: deliveries, their idempotency keys, templates, policy, subscriptions -----------------
DELIVERY_SK = "NOTIF"
KEY_SK = "KEY"
POLICY_SK = "#POLICY"
SUBSCRIPTION_PREFIX = "SUB#"


def delivery_pk(tenant_id: str, delivery_id: str) -> str:
    return f"T#{tenant_id}#NOTIF#{delivery_id}"


def notification_key_pk(tenant_id: str, idempotency_key: str) -> str:
    return f"T#{tenant_id}#NOTIFKEY#{idempotency_key}"


def ticket_notifications_pk(tenant_id: str, ticket_id: str) -> str:
    """GSI1: a ticket's deliveries in creation order."""
    return f"T#{tenant_id}#TK#{ticket_id}#NOTIFS"


def ticket_notifications_sk(created_at: datetime, delivery_id: str) -> str:
    return f"{created_at.isoformat(timespec='milliseconds')}#{delivery_id}"


def outbox_pk(tenant_id: str) -> str:
    """The local stack's outbox (integrations/notify/outbox.py): what it would have sent, newest last."""
    return f"T#{tenant_id}#OUTBOX"


def outbox_sk(sent_at: datetime, delivery_id: str) -> str:
    return f"{sent_at.isoformat(timespec='milliseconds')}#{delivery_id}"


def templates_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#NTPL"


def template_sk(event: str, channel: str) -> str:
    return f"{event}#{channel}"


def subscription_pk(tenant_id: str, ticket_id: str) -> str:
    return ticket_pk(tenant_id, ticket_id)  # a ticket's subscribers live in its partition


def subscription_sk(customer_id: str) -> str:
    return f"{SUBSCRIPTION_PREFIX}{customer_id}"


SEND_WINDOW_SK = "WINDOW"


def send_window_pk(tenant_id: str, channel: str, address_index: str) -> str:
    """The recent sends to one recipient address on one channel (domain/send_limits.py): one item, read and
    written conditionally per send. `address_index` is the address's blind index, never the phone itself."""
    return f"T#{tenant_id}#SENDLIMIT#{channel}#{address_index}"


# -- privacy requests (Shopify's mandatory compliance topics) ------------------------------------------------
def privacy_requests_pk(tenant_id: str) -> str:
    """The tenant's privacy requests, newest last by id (ids sort by time): the admin's list is one Query."""
    return f"T#{tenant_id}#PRIVACY"


def privacy_request_sk(request_id: str) -> str:
    return f"REQ#{request_id}"


def privacy_export_pk(tenant_id: str, request_id: str) -> str:
    """A data request's export, encrypted, in parts of under 400 KB (one Query reads it whole)."""
    return f"T#{tenant_id}#PRIVACY#{request_id}"


def privacy_export_sk(part: int) -> str:
    return f"EXPORT#{part:04d}"


def privacy_source_pk(tenant_id: str, source_digest: str) -> str:
    """The delivery a request came from (sha256 of its dedupe key) → the request: one request per delivery."""
    return f"T#{tenant_id}#PRIVACYSRC#{source_digest}"


PRIVACY_SOURCE_SK = "SRC"


def shop_customers_pk(tenant_id: str, platform: str, shop_id: str) -> str:
    """The customers a shop brought (sk = member_sk(customer id)): what that shop's redaction erases."""
    return f"T#{tenant_id}#SHOPCUST#{platform}#{shop_id}"
