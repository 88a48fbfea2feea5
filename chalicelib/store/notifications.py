"""Notification deliveries, their idempotency keys, tenant templates and policy, and customer subscriptions
to a ticket's progress, in the single table (item classes in table.py).

Keys (their functions are in keys.py, with every other key):
- delivery            T#<t>#NOTIF#<delivery id>        / NOTIF        (version: optimistic locking)
- idempotency key     T#<t>#NOTIFKEY#<key>             / KEY          (created with the delivery, one tx)
- per-ticket log      GSI1 T#<t>#TK#<ticket>#NOTIFS    / <created ISO>#<delivery id>
- tenant templates    T#<t>#NTPL                       / <event>#<channel>; the policy: #POLICY
- subscriptions       T#<t>#TK#<ticket>                / SUB#<customer id>   (shares the ticket partition)
- send window         T#<t>#SENDLIMIT#<channel>#<blind index of the address> / WINDOW  (version, TTL)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ConflictError
from chalicelib.domain.notifications import (
    Channel,
    Delivery,
    NotificationPolicy,
    NotificationTemplate,
    Subscription,
)
from chalicelib.domain.send_limits import RateLimit, SendWindow, horizon
from chalicelib.services.ports import PiiCipher
from chalicelib.store import keys
from chalicelib.store.table import (
    DeliveryItem,
    Item,
    NotificationKeyItem,
    NotificationPolicyItem,
    NotificationTemplateItem,
    SendWindowItem,
    SubscriptionItem,
)
from chalicelib.store.transactions import write_transaction

WINDOW_TRIES = 5  # concurrent sends to one recipient: each re-reads the window and tries again


# -- repositories --------------------------------------------------------------------------------------------
class DynamoDeliveryRepository:
    @staticmethod
    def _to_item(delivery: Delivery) -> DeliveryItem:
        item = DeliveryItem(
            keys.delivery_pk(delivery.tenant_id, delivery.id),
            keys.DELIVERY_SK,
            doc=delivery.model_dump_json(),
            version=delivery.version,
            status=str(delivery.status),
        )
        if delivery.ticket_id:
            item.gsi1pk = keys.ticket_notifications_pk(delivery.tenant_id, delivery.ticket_id)
            item.gsi1sk = keys.ticket_notifications_sk(delivery.created_at, delivery.id)
        return item

    def create(self, delivery: Delivery) -> tuple[Delivery, bool]:
        """The delivery and its idempotency key in one TransactWriteItems, the key conditional on not
        existing: (the new delivery, True), or (the one created before under the same key, False)."""
        key = NotificationKeyItem(
            keys.notification_key_pk(delivery.tenant_id, delivery.idempotency_key),
            keys.KEY_SK,
            delivery_id=delivery.id,
        )

        def build(tx: TransactWrite) -> None:
            tx.save(key, condition=NotificationKeyItem.pk.does_not_exist())
            tx.save(self._to_item(delivery), condition=DeliveryItem.pk.does_not_exist())

        try:
            write_transaction(build, what="the notification")
        except TransactWriteError:
            existing = self.get_by_key(delivery.tenant_id, delivery.idempotency_key)
            if existing is None:
                raise  # not a duplicate: a throttled or failed transaction, for the caller's retry
            return existing, False
        return delivery, True

    def get(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        try:
            item = DeliveryItem.get(
                keys.delivery_pk(tenant_id, delivery_id), keys.DELIVERY_SK, consistent_read=True
            )
        except DeliveryItem.DoesNotExist:
            return None
        return Delivery.model_validate_json(item.doc or "")

    def get_by_key(self, tenant_id: str, idempotency_key: str) -> Delivery | None:
        try:
            key = NotificationKeyItem.get(
                keys.notification_key_pk(tenant_id, idempotency_key), keys.KEY_SK, consistent_read=True
            )
        except NotificationKeyItem.DoesNotExist:
            return None
        return self.get(tenant_id, key.delivery_id)

    def save(self, delivery: Delivery, *, expected_version: int) -> None:
        """Conditional on the version read: of two workers holding the same delivery, one writes."""
        try:
            self._to_item(delivery).save(condition=DeliveryItem.version == expected_version)
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                raise ConflictError(f"delivery {delivery.id} was changed meanwhile") from e
            raise

    def for_ticket(self, tenant_id: str, ticket_id: str, *, limit: int = 100) -> list[Delivery]:
        """A ticket's deliveries, oldest first (GSI1; eventually consistent)."""
        results = Item.gsi1.query(
            keys.ticket_notifications_pk(tenant_id, ticket_id), limit=limit, page_size=limit
        )
        return [Delivery.model_validate_json(i.doc or "") for i in results]


class DynamoNotificationConfig:
    """Tenant templates and policy (one partition, read in one Query) and ticket subscriptions."""

    def templates(self, tenant_id: str) -> list[NotificationTemplate]:
        return [
            NotificationTemplate.model_validate_json(i.doc or "")
            for i in Item.query(keys.templates_pk(tenant_id))
            if isinstance(i, NotificationTemplateItem)
        ]

    def put_template(self, tenant_id: str, template: NotificationTemplate) -> None:
        stored = template.model_copy(update={"tenant_id": tenant_id})
        NotificationTemplateItem(
            keys.templates_pk(tenant_id),
            keys.template_sk(template.event, template.channel),
            doc=stored.model_dump_json(),
        ).save()

    def delete_template(self, tenant_id: str, event: str, channel: Channel) -> None:
        NotificationTemplateItem(keys.templates_pk(tenant_id), keys.template_sk(event, channel)).delete()

    def policy(self, tenant_id: str) -> NotificationPolicy | None:
        try:
            item = NotificationPolicyItem.get(keys.templates_pk(tenant_id), keys.POLICY_SK)
        except NotificationPolicyItem.DoesNotExist:
            return None
        return NotificationPolicy.model_validate_json(item.doc or "")

    def put_policy(self, tenant_id: str, policy: NotificationPolicy) -> None:
        NotificationPolicyItem(
            keys.templates_pk(tenant_id), keys.POLICY_SK, doc=policy.model_dump_json()
        ).save()

    def subscription(self, tenant_id: str, ticket_id: str, customer_id: str) -> Subscription | None:
        try:
            item = SubscriptionItem.get(
                keys.subscription_pk(tenant_id, ticket_id), keys.subscription_sk(customer_id)
            )
        except SubscriptionItem.DoesNotExist:
            return None
        return Subscription.model_validate_json(item.doc or "")

    def subscriptions(self, tenant_id: str, ticket_id: str) -> list[Subscription]:
        items = SubscriptionItem.query(
            keys.subscription_pk(tenant_id, ticket_id),
            SubscriptionItem.sk.startswith(keys.SUBSCRIPTION_PREFIX),
        )
        return [Subscription.model_validate_json(i.doc or "") for i in items]

    def put_subscription(self, subscription: Subscription) -> None:
        SubscriptionItem(
            keys.subscription_pk(subscription.tenant_id, subscription.ticket_id),
            keys.subscription_sk(subscription.customer_id),
            doc=subscription.model_dump_json(),
        ).save()


class DynamoSendLimiter:
    """The `SendLimiter` port: one window item per tenant, channel and recipient address, keyed by the
    address's blind index (the phone is never in a key). Read strongly consistent, written conditional on
    the version read, so two workers calling the same number cannot both take its last place."""

    def __init__(self, *, cipher: PiiCipher) -> None:
        self._cipher = cipher

    def _pk(self, tenant_id: str, channel: Channel, address: str) -> str:
        return keys.send_window_pk(tenant_id, str(channel), self._cipher.blind_index(address))

    @staticmethod
    def _read(pk: str) -> SendWindowItem | None:
        try:
            return SendWindowItem.get(pk, keys.SEND_WINDOW_SK, consistent_read=True)
        except SendWindowItem.DoesNotExist:
            return None

    @staticmethod
    def _write(pk: str, window: SendWindow, read: SendWindowItem | None, expires: datetime | None) -> bool:
        item = SendWindowItem(
            pk,
            keys.SEND_WINDOW_SK,
            doc=window.model_dump_json(),
            version=(int(read.version) if read else 0) + 1,
            expires_at=expires,
        )
        condition = (
            SendWindowItem.pk.does_not_exist() if read is None else SendWindowItem.version == read.version
        )
        try:
            item.save(condition=condition)
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def acquire(
        self,
        tenant_id: str,
        channel: Channel,
        address: str,
        *,
        slot: str,
        at: datetime,
        limits: Sequence[RateLimit],
    ) -> RateLimit | None:
        pk, span = self._pk(tenant_id, channel, address), horizon(limits)
        for _ in range(WINDOW_TRIES):
            read = self._read(pk)
            window = SendWindow.model_validate_json(read.doc) if read and read.doc else SendWindow()
            if window.holds(slot):
                return None  # this attempt was counted before (a redelivered message)
            broken = window.refusal(at, limits)
            if broken is not None:
                return broken
            after = window.with_send(slot, at, horizon=span)
            if self._write(pk, after, read, after.expires_at(span)):
                return None
        raise ConflictError("the recipient's send window keeps changing; try again")

    def release(self, tenant_id: str, channel: Channel, address: str, *, slot: str) -> None:
        pk = self._pk(tenant_id, channel, address)
        for _ in range(WINDOW_TRIES):
            read = self._read(pk)
            window = SendWindow.model_validate_json(read.doc) if read and read.doc else SendWindow()
            if read is None or not window.holds(slot):
                return
            if self._write(pk, window.without(slot), read, read.expires_at):
                return
        raise ConflictError("the recipient's send window keeps changing; try again")
