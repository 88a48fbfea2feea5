"""Composition root: builds the real adapters once per process (warm Lambdas reuse them).

Tests replace `container` attributes with fakes, or build their own Container."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.domain.common import Clock, SystemClock
from chalicelib.domain.notifications import Channel, Provider
from chalicelib.domain.settlement import PartyRole
from chalicelib.integrations.notify.outbox import Outbox
from chalicelib.resources import (
    EVENTS_QUEUE,
    INGEST_QUEUE,
    NOTIFY_QUEUE,
    SETTLEMENT_RUN,
    TICKET_APPROVAL,
    TICKET_SLA,
    TICKET_TIMER,
)
from chalicelib.services.assignment import AssignmentService, StaffDirectoryContacts, TemplateCatalog
from chalicelib.services.customers import CustomerService, TagSync
from chalicelib.services.dead_letters import DeadLetterService
from chalicelib.services.import_jobs import ImportJobService
from chalicelib.services.imports import ImportService
from chalicelib.services.integrations import IntegrationService
from chalicelib.services.inventory import InventoryService
from chalicelib.services.merges import MergeService
from chalicelib.services.month_end import MonthEndSchedule
from chalicelib.services.notifications import DirectoryAddressBook, NotificationService
from chalicelib.services.orders import OrderService
from chalicelib.services.ports import (
    AssignmentStore,
    ConfigVersions,
    CustomerRepository,
    DeadLetters,
    Inbox,
    IntegrationRepository,
    Notifier,
    OrderRepository,
    PeopleDirectory,
    PriceBookStore,
    PrivacyStore,
    ProviderRegistry,
    Publisher,
    SettlementLedger,
    ShopBuyerLookup,
    SlaConfigRepository,
    StaffRepository,
    TagRepository,
    TenantRepository,
    TicketRepository,
    WeComOrgRepository,
    WorkflowStarter,
)
from chalicelib.services.pricing import PricingService
from chalicelib.services.privacy import PrivacyService
from chalicelib.services.resolver import IdentityResolver
from chalicelib.services.settlement import SettlementService
from chalicelib.services.settlement_runs import SettlementRunService, engineer_regions
from chalicelib.services.shop_notices import ShopNoticeService
from chalicelib.services.sla import SlaService
from chalicelib.services.subscriptions import TicketSubscriptions
from chalicelib.services.tags import TagService, WeComTagSync
from chalicelib.services.tenants import TenantService, UsersDirectory
from chalicelib.services.tickets import TicketService
from chalicelib.services.wecom_kf import KfSync
from chalicelib.services.wecom_org import WeComOrgService


class Container:
    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None) -> None:
        self.settings = settings or get_settings()
        self.clock: Clock = clock or SystemClock()

    # -- adapters (imported lazily: only what a handler uses is loaded at cold start) ----------------
    @cached_property
    def cursors(self) -> Any:
        from chalicelib.store.cursor import CursorCodec

        return CursorCodec(self.settings.derived_key("cursor"))

    @cached_property
    def cipher(self) -> Any:
        from chalicelib.integrations.pii import AesGcmPiiCipher

        return AesGcmPiiCipher(
            encryption_key=self.settings.derived_key("pii"), index_key=self.settings.derived_key("pii-index")
        )

    @cached_property
    def tenant_repo(self) -> TenantRepository:
        from chalicelib.store.tenants import DynamoTenantRepository

        return DynamoTenantRepository()

    @cached_property
    def customer_repo(self) -> CustomerRepository:
        from chalicelib.store.customers import DynamoCustomerRepository

        return DynamoCustomerRepository(cipher=self.cipher, cursors=self.cursors)

    @cached_property
    def tag_repo(self) -> TagRepository:
        from chalicelib.store.tags import DynamoTagRepository

        return DynamoTagRepository(cursors=self.cursors)

    @cached_property
    def sqs(self) -> Any:
        import boto3

        return boto3.client("sqs", region_name=self.settings.region, endpoint_url=self.settings.aws_endpoint)

    @cached_property
    def publisher(self) -> Publisher:
        from chalicelib.integrations.aws.queues import SqsPublisher

        return SqsPublisher(
            client=self.sqs, queue_url=self.settings.queue_url_events, queue_name=EVENTS_QUEUE.name
        )

    @cached_property
    def ingest_publisher(self) -> Publisher:
        from chalicelib.integrations.aws.queues import SqsPublisher

        return SqsPublisher(
            client=self.sqs, queue_url=self.settings.queue_url_ingest, queue_name=INGEST_QUEUE.name
        )

    @cached_property
    def integration_repo(self) -> IntegrationRepository:
        from chalicelib.store.integrations import DynamoIntegrationRepository

        return DynamoIntegrationRepository(cipher=self.cipher)

    @cached_property
    def inbox(self) -> Inbox:
        from chalicelib.store.integrations import DynamoInbox

        return DynamoInbox(cipher=self.cipher)

    @cached_property
    def http(self) -> Any:
        """One pooled httpx client per process for outbound calls (tests inject a MockTransport one)."""
        import httpx

        return httpx.Client(timeout=5.0)

    @cached_property
    def group_chats(self) -> Any:
        from chalicelib.store.integrations import DynamoGroupChats

        return DynamoGroupChats()

    @cached_property
    def token_cache(self) -> Any:
        from chalicelib.store.integrations import DynamoTokenCache

        return DynamoTokenCache(cipher=self.cipher)

    def wecom_client(self, tenant_id: str) -> Any:
        """The tenant's WeCom API client, or None when WeCom is not configured."""
        from chalicelib.integrations.wecom.client import WeComClient

        settings = self.integrations.wecom(tenant_id)
        if settings is None:
            return None
        return WeComClient(
            tenant_id=tenant_id,
            corp_id=settings.corp_id,
            secret=settings.secret,
            cache=self.token_cache,
            http=self.http,
            clock=self.clock,
            breaker=self.wecom_breaker,
        )

    @cached_property
    def wecom_breaker(self) -> Any:
        """One per process, shared by every WeComClient made in it (one is made per call)."""
        from chalicelib.integrations.breaker import Breaker

        return Breaker(self.clock)

    @cached_property
    def doudian_tokens(self) -> Any:
        from chalicelib.integrations.shops.doudian_api import RepositoryTokenCache

        return RepositoryTokenCache(self.integration_repo)

    def doudian_client(self, tenant_id: str, shop_id: str) -> ShopBuyerLookup | None:
        """The tenant's 抖店 API client for one shop, or None when 抖店 is not configured: the shop's own
        settings, else those saved for the platform (a pinned `shop_id` there wins; otherwise the shop named
        by the push: a tool app serves several)."""
        from chalicelib.integrations.shops.doudian_api import DoudianClient

        found = self.integrations.get_raw(tenant_id, f"shop#doudian#{shop_id}") or self.integrations.get_raw(
            tenant_id, "shop#doudian"
        )
        if found is None:
            return None
        public, secrets = found
        return DoudianClient(
            tenant_id=tenant_id,
            app_key=str(public["app_key"]),
            app_secret=secrets["app_secret"],
            shop_id=str(public.get("shop_id") or shop_id),
            cache=self.doudian_tokens,
            http=self.http,
            clock=self.clock,
        )

    # -- services ----------------------------------------------------------------------------------
    @cached_property
    def config_versions(self) -> ConfigVersions:
        from chalicelib.store.config_versions import DynamoConfigVersions

        return DynamoConfigVersions()

    @cached_property
    def integrations(self) -> IntegrationService:
        return IntegrationService(
            integrations=self.integration_repo, clock=self.clock, config_versions=self.config_versions
        )

    @cached_property
    def tenants(self) -> TenantService:
        return TenantService(tenants=self.tenant_repo, tags=self.tag_repo, clock=self.clock)

    @cached_property
    def customers(self) -> CustomerService:
        return CustomerService(
            customers=self.customer_repo, tags=self.tag_repo, publisher=self.publisher, clock=self.clock
        )

    @cached_property
    def tags(self) -> TagService:
        return TagService(tags=self.tag_repo, publisher=self.publisher, clock=self.clock)

    @cached_property
    def ticket_repo(self) -> TicketRepository:
        from chalicelib.store.tickets import DynamoTicketRepository

        return DynamoTicketRepository(cursors=self.cursors)

    @cached_property
    def tickets(self) -> TicketService:
        return TicketService(
            tickets=self.ticket_repo,
            customers=self.customer_repo,
            publisher=self.publisher,
            clock=self.clock,
            config_versions=self.config_versions,
            sla=self.sla,
            link_key=self.settings.derived_key("ticket-links"),
            starter=self.workflow_starter,
            notifier=self.notifier,
            people=self.people,
            resolver=self.resolver,
        )

    @cached_property
    def ticket_subscriptions(self) -> TicketSubscriptions:
        return TicketSubscriptions(
            tickets=self.ticket_repo, customers=self.customer_repo, notifications=self.notifications
        )

    @cached_property
    def workflow_stats(self) -> Any:  # WorkflowStatsService (imported here: this block is appended)
        from chalicelib.services.workflow_stats import WorkflowStatsService
        from chalicelib.store.workflow_stats import DynamoWorkflowStatsStore

        tickets = self.tickets
        return WorkflowStatsService(
            store=DynamoWorkflowStatsStore(),
            workflows=lambda principal, workflow_id, version: tickets.workflow(
                principal=principal, workflow_id=workflow_id, version=version
            ),
            clock=self.clock,
        )

    @cached_property
    def staff_repo(self) -> StaffRepository:
        from chalicelib.store.staff import DynamoStaffRepository

        return DynamoStaffRepository(cipher=self.cipher)

    @cached_property
    def assignment_store(self) -> AssignmentStore:
        from chalicelib.store.assignments import DynamoAssignmentStore

        return DynamoAssignmentStore()

    @cached_property
    def assignment(self) -> AssignmentService:
        return AssignmentService(
            staff=self.staff_repo,
            store=self.assignment_store,
            customers=self.customer_repo,
            users=self.tenant_repo,
            template_of=TemplateCatalog(self.ticket_repo, config_versions=self.config_versions),
            clock=self.clock,
        )

    # -- notifications: one service, a provider per channel built from the tenant's settings -------------
    @cached_property
    def notifications(self) -> NotificationService:
        from chalicelib.integrations.notify.base import FactoryRegistry
        from chalicelib.integrations.notify.queue import SqsDeliveryQueue
        from chalicelib.store.notifications import (
            DynamoDeliveryRepository,
            DynamoNotificationConfig,
            DynamoSendLimiter,
        )

        return NotificationService(
            deliveries=DynamoDeliveryRepository(),
            config=DynamoNotificationConfig(),
            providers=self._local_outbox_or(
                FactoryRegistry(
                    {
                        Channel.WECOM: self._wecom_provider,
                        Channel.WECHAT: self._wechat_provider,
                        Channel.SMS: self._sms_provider,
                        Channel.VOICE: self._voice_provider,
                    }
                )
            ),
            addresses=DirectoryAddressBook(
                customers=self.customer_repo, staff=StaffDirectoryContacts(self.staff_repo)
            ),
            queue=SqsDeliveryQueue(
                client=self.sqs, queue_url=self.settings.queue_url_notify, queue_name=NOTIFY_QUEUE.name
            ),
            limiter=DynamoSendLimiter(cipher=self.cipher),
            clock=self.clock,
        )

    @cached_property
    def notifier(self) -> Notifier:
        return self.notifications

    @cached_property
    def outbox(self) -> Outbox:
        from chalicelib.store.outbox import DynamoOutbox

        return DynamoOutbox()

    def _local_outbox_or(self, real: ProviderRegistry) -> ProviderRegistry:
        """Locally, a channel the tenant has not configured lands in the outbox (a mail catcher) instead of
        failing "not configured"; on AWS an unconfigured channel stays unconfigured."""
        from chalicelib.integrations.notify.outbox import OutboxRegistry

        if self.settings.stage != "local":
            return real
        return OutboxRegistry(real, outbox=self.outbox, clock=self.clock)

    @cached_property
    def _wechat_tokens(self) -> dict[str, Any]:
        return {}  # tenant → its token provider, kept per process

    def _wecom_provider(self, tenant_id: str) -> Provider | None:
        from chalicelib.integrations.notify.wecom import WeComAppProvider

        s, client = self.integrations.wecom(tenant_id), self.wecom_client(tenant_id)
        if s is None or s.agent_id is None or client is None:
            return None
        return WeComAppProvider(client=client, agent_id=s.agent_id)

    def _wechat_provider(self, tenant_id: str) -> Provider | None:
        from chalicelib.integrations.notify.wechat import StableTokenProvider, WeChatTemplateProvider

        found = self.integrations.get_raw(tenant_id, "notify#wechat")
        if found is None:
            return None
        public, secrets = found
        tokens = self._wechat_tokens.get(tenant_id)
        if tokens is None:
            tokens = StableTokenProvider(
                app_id=str(public["app_id"]), secret=secrets["secret"], http=self.http, clock=self.clock
            )
            self._wechat_tokens[tenant_id] = tokens
        return WeChatTemplateProvider(tokens=tokens, http=self.http, template_ids=public.get("template_ids"))

    def _aliyun_client(
        self, tenant_id: str, endpoint: str, version: str
    ) -> tuple[Any, dict[str, Any]] | None:
        from chalicelib.integrations.notify.aliyun import AliyunRpcClient

        found = self.integrations.get_raw(tenant_id, "notify#aliyun")
        if found is None:
            return None
        public, secrets = found
        client = AliyunRpcClient(
            endpoint=endpoint,
            version=version,
            access_key_id=secrets["access_key_id"],
            access_key_secret=secrets["access_key_secret"],
            http=self.http,
            clock=self.clock,
        )
        return client, public

    def _sms_provider(self, tenant_id: str) -> Provider | None:
        from chalicelib.integrations.notify import sms

        found = self._aliyun_client(tenant_id, sms.ENDPOINT, sms.VERSION)
        if found is None or not found[1].get("sign_name"):
            return None
        client, public = found
        return sms.AliyunSmsProvider(
            client=client, sign_name=str(public["sign_name"]), template_codes=public.get("sms_template_codes")
        )

    def _voice_provider(self, tenant_id: str) -> Provider | None:
        from chalicelib.integrations.notify import voice

        found = self._aliyun_client(tenant_id, voice.ENDPOINT, voice.VERSION)
        if found is None:
            return None
        client, public = found
        return voice.AliyunVoiceProvider(
            client=client,
            called_show_number=public.get("called_show_number"),
            tts_codes=public.get("tts_codes"),
        )

    @cached_property
    def sla_config_repo(self) -> SlaConfigRepository:
        from chalicelib.store.sla import DynamoSlaConfigRepository

        return DynamoSlaConfigRepository()

    @cached_property
    def workflow_starter(self) -> WorkflowStarter:
        import boto3

        from chalicelib.integrations.aws.workflows import StepFunctionsStarter

        client = boto3.client(
            "stepfunctions", region_name=self.settings.region, endpoint_url=self.settings.aws_endpoint
        )
        return StepFunctionsStarter(
            client=client,
            machines={
                TICKET_SLA.logical_id: self.settings.state_machine_ticket_sla,
                TICKET_APPROVAL.logical_id: self.settings.state_machine_ticket_approval,
                TICKET_TIMER.logical_id: self.settings.state_machine_ticket_timer,
                SETTLEMENT_RUN.logical_id: self.settings.state_machine_settlement_run,
            },
        )

    @cached_property
    def people(self) -> PeopleDirectory:
        return UsersDirectory(tenants=self.tenant_repo)

    @cached_property
    def sla(self) -> SlaService:
        return SlaService(
            config=self.sla_config_repo,
            tickets=self.ticket_repo,
            starter=self.workflow_starter,
            notifier=self.notifier,
            people=self.people,
            publisher=self.publisher,
            clock=self.clock,
            config_versions=self.config_versions,
        )

    @cached_property
    def resolver(self) -> IdentityResolver:
        return IdentityResolver(customers=self.customer_repo, publisher=self.publisher, clock=self.clock)

    @cached_property
    def order_repo(self) -> OrderRepository:
        from chalicelib.store.orders import DynamoOrderRepository

        return DynamoOrderRepository(cursors=self.cursors)

    @cached_property
    def orders(self) -> OrderService:
        return OrderService(orders=self.order_repo, resolver=self.resolver)

    @cached_property
    def imports(self) -> ImportService:
        return ImportService(
            resolver=self.resolver,
            tags=self.tag_repo,
            customers=self.customer_repo,
            orders=self.order_repo,
            order_service=self.orders,
            clock=self.clock,
        )

    @cached_property
    def s3(self) -> Any:
        import boto3
        from botocore.config import Config

        # SigV4 presigned URLs (SigV2 is deprecated); path-style addressing for a local endpoint (no
        # per-bucket DNS there), AWS's default otherwise.
        addressing = {"addressing_style": "path"} if self.settings.aws_endpoint else {}
        config = Config(signature_version="s3v4", s3=addressing)
        return boto3.client(
            "s3", region_name=self.settings.region, endpoint_url=self.settings.aws_endpoint, config=config
        )

    @cached_property
    def import_jobs(self) -> ImportJobService:
        from chalicelib.integrations.aws.files import S3Files
        from chalicelib.store.integrations import DynamoImportJobs

        return ImportJobService(
            jobs=DynamoImportJobs(),
            files=S3Files(client=self.s3, bucket=self.settings.bucket_imports),
            imports=self.imports,
            publisher=self.ingest_publisher,
            clock=self.clock,
        )

    @cached_property
    def dead_letter_queues(self) -> DeadLetters:
        from chalicelib.integrations.aws.dlq import SqsDeadLetters

        settings = self.settings
        return SqsDeadLetters(
            self.sqs,
            lambda q: (
                getattr(settings, f"queue_url_{q.logical_id}", None),
                getattr(settings, f"dlq_url_{q.logical_id}", None),
            ),
        )

    @cached_property
    def dead_letters(self) -> DeadLetterService:
        return DeadLetterService(queues=self.dead_letter_queues)

    @cached_property
    def merges(self) -> MergeService:
        return MergeService(customers=self.customer_repo, clock=self.clock)

    @cached_property
    def wecom_tags(self) -> WeComTagSync:
        return WeComTagSync(tags=self.tag_repo, publisher=self.publisher, clock=self.clock)

    @cached_property
    def wecom_org_repo(self) -> WeComOrgRepository:
        from chalicelib.store.wecom_org import DynamoWeComOrg

        return DynamoWeComOrg()

    @cached_property
    def wecom_org(self) -> WeComOrgService:
        return WeComOrgService(org=self.wecom_org_repo, tenants=self.tenant_repo, clock=self.clock)

    @cached_property
    def wecom_kf(self) -> KfSync:
        return KfSync(
            api=self.wecom_client,
            cursors=self.integration_repo,
            resolver=self.resolver,
            tickets=self.tickets,
            inbox=self.inbox,
            clock=self.clock,
        )

    @cached_property
    def tag_sync(self) -> TagSync:
        return TagSync(customers=self.customer_repo, tags=self.tag_repo, clock=self.clock)

    # -- privacy requests and shop notices (issue 14) --
    @cached_property
    def privacy_store(self) -> PrivacyStore:
        from chalicelib.store.privacy import DynamoPrivacyStore

        return DynamoPrivacyStore(cipher=self.cipher, cursors=self.cursors)

    @cached_property
    def privacy(self) -> PrivacyService:
        return PrivacyService(
            customers=self.customer_repo,
            orders=self.order_repo,
            tickets=self.ticket_repo,
            store=self.privacy_store,
            publisher=self.publisher,
            clock=self.clock,
        )

    @cached_property
    def shop_notices(self) -> ShopNoticeService:
        from chalicelib.integrations.shops.intake import SHOP_FIELDS

        return ShopNoticeService(
            resolver=self.resolver,
            privacy=self.privacy,
            integrations=self.integrations,
            ingest=self.ingest_publisher,
            shop_fields=SHOP_FIELDS,
            clock=self.clock,
        )

    # -- settlement center (issue 5) --
    @cached_property
    def price_book(self) -> PriceBookStore:
        from chalicelib.store.pricing import DynamoPriceBook

        return DynamoPriceBook(cursors=self.cursors)

    @cached_property
    def pricing(self) -> PricingService:
        return PricingService(book=self.price_book, tickets=self.ticket_repo, clock=self.clock)

    @cached_property
    def inventory(self) -> InventoryService:
        from chalicelib.store.inventory import DynamoInventory

        return InventoryService(
            store=DynamoInventory(cursors=self.cursors),
            tickets=self.ticket_repo,
            notifier=self.notifier,
            people=self.people,
            clock=self.clock,
        )

    @cached_property
    def ledger(self) -> SettlementLedger:
        from chalicelib.store.ledger import DynamoLedger

        return DynamoLedger()

    @cached_property
    def settlement(self) -> SettlementService:
        return SettlementService(
            ledger=self.ledger,
            tickets=self.ticket_repo,
            customers=self.customer_repo,
            pricing=self.pricing,
            inventory=self.inventory,
            notifier=self.notifier,
            clock=self.clock,
            config_versions=self.config_versions,
            publisher=self.publisher,
            tenants=self.tenant_repo,
        )

    @cached_property
    def settlement_runs(self) -> SettlementRunService:
        from chalicelib.store.ledger import DynamoSettlementRuns

        staff = self.staff_repo

        def regions(tenant_id: str) -> dict[tuple[PartyRole, str], str]:
            return engineer_regions((r.profile.user_id, r.profile.region) for r in staff.list(tenant_id))

        return SettlementRunService(
            ledger=self.ledger,
            runs=DynamoSettlementRuns(),
            settlement=self.settlement,
            regions=regions,
            starter=self.workflow_starter,
            clock=self.clock,
        )

    @cached_property
    def month_end(self) -> MonthEndSchedule:
        return MonthEndSchedule(tenants=self.tenant_repo, runs=self.settlement_runs)


_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        _container = Container()
    return _container


def set_container(value: Container | None) -> None:
    global _container
    _container = value
