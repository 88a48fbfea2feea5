"""Customer profiles, identities, tag memberships and timelines in the single table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ConflictError
from chalicelib.domain.customers import Customer, Identity, name_key
from chalicelib.domain.timeline import TimelineEvent
from chalicelib.services.ports import CustomerChange, CustomerFilter, Page, PiiCipher
from chalicelib.store import keys
from chalicelib.store.cursor import CursorCodec
from chalicelib.store.table import (
    CustomerItem,
    IdentityItem,
    Item,
    TagMemberItem,
    TimelineItem,
    connection,
)

_BATCH_GET_MAX = 100


class DynamoCustomerRepository:
    def __init__(self, *, cipher: PiiCipher, cursors: CursorCodec) -> None:
        self._cipher = cipher
        self._cursors = cursors

    # -- mapping ---------------------------------------------------------------------------------
    def _identity_key(self, tenant_id: str, identity: Identity) -> str:
        # Phones are PII: their key holds a keyed hash, never the number.
        value = self._cipher.blind_index(identity.value) if identity.type == "phone" else identity.value
        return keys.identity_pk(tenant_id, identity.type, value)

    def _to_item(self, customer: Customer) -> CustomerItem:
        tid, cid = customer.tenant_id, customer.id
        phone_enc = self._cipher.encrypt(customer.phone, context=tid) if customer.phone else None
        return CustomerItem(
            keys.customer_pk(tid, cid),
            keys.PROFILE_SK,
            doc=customer.model_dump_json(exclude={"phone"}),
            version=customer.version,
            region=customer.region,
            store=customer.store,
            owner_id=customer.owner_id,
            phone_enc=phone_enc,
            gsi1pk=keys.customers_by_created_pk(tid),
            gsi1sk=keys.customers_by_created_sk(customer.created_at, cid),
            gsi2pk=keys.customers_by_name_pk(tid),
            gsi2sk=keys.customers_by_name_sk(name_key(customer.name), cid),
        )

    def _from_item(self, item: Item) -> Customer:
        assert isinstance(item, CustomerItem) and item.doc is not None
        customer = Customer.model_validate_json(item.doc)
        if item.phone_enc:
            customer.phone = self._cipher.decrypt(item.phone_enc, context=customer.tenant_id)
        return customer

    @staticmethod
    def _timeline_item(event: TimelineEvent) -> TimelineItem:
        return TimelineItem(
            keys.customer_pk(event.tenant_id, event.customer_id),
            keys.timeline_sk(event.at, event.seq, event.id),
            doc=event.model_dump_json(),
        )

    # -- writes ----------------------------------------------------------------------------------
    def save(self, change: CustomerChange) -> None:
        """One TransactWriteItems: profile (version-checked), identity claims, tag memberships, timeline."""
        after, before = change.after, change.before
        tid, cid = after.tenant_id, after.id
        new_ids = {i.key: i for i in after.all_identities()}
        old_ids = {i.key: i for i in before.all_identities()} if before else {}
        try:
            with TransactWrite(connection=connection()) as tx:
                if before is None:
                    tx.save(self._to_item(after), condition=CustomerItem.pk.does_not_exist())
                else:
                    tx.save(self._to_item(after), condition=CustomerItem.version == before.version)
                for key in new_ids.keys() - old_ids.keys():
                    claim = IdentityItem(
                        self._identity_key(tid, new_ids[key]), keys.IDENTITY_SK, customer_id=cid
                    )
                    tx.save(claim, condition=IdentityItem.pk.does_not_exist())
                for key in old_ids.keys() - new_ids.keys():
                    released = IdentityItem(self._identity_key(tid, old_ids[key]), keys.IDENTITY_SK)
                    tx.delete(released, condition=IdentityItem.customer_id == cid)
                for tag_id in change.tags_added:
                    member = TagMemberItem(
                        keys.tag_members_pk(tid, tag_id), keys.member_sk(cid), customer_id=cid
                    )
                    tx.save(member)
                for tag_id in change.tags_removed:
                    tx.delete(TagMemberItem(keys.tag_members_pk(tid, tag_id), keys.member_sk(cid)))
                if change.event is not None:
                    tx.save(self._timeline_item(change.event))
        except TransactWriteError as e:
            raise self._explain_conflict(change, new_ids.keys() - old_ids.keys(), new_ids) from e

    def _explain_conflict(
        self,
        change: CustomerChange,
        claimed: Iterable[tuple[str, str]],
        idents: dict[tuple[str, str], Identity],
    ) -> ConflictError:
        """pynamodb reorders transaction items, so read back what failed instead of trusting positions."""
        tid, cid = change.after.tenant_id, change.after.id
        owners = self.owners_of(tid, [idents[k] for k in claimed])
        taken = [
            {
                "field": "identities",
                "type": t,
                "value": "(phone)" if t == "phone" else v,
                "customer_id": owner,
            }
            for (t, v), owner in owners.items()
            if owner != cid
        ]
        if taken:
            return ConflictError(
                f"identity already belongs to customer {taken[0]['customer_id']}",
                details=taken,
            )
        if change.before is None:
            return ConflictError(f"customer {cid} already exists")
        return ConflictError(
            "the customer was changed by someone else: reload it and retry",
            details=[{"field": "version", "message": f"version {change.before.version} is stale"}],
        )

    # -- reads -----------------------------------------------------------------------------------
    def get(self, tenant_id: str, customer_id: str) -> Customer | None:
        try:
            item = CustomerItem.get(keys.customer_pk(tenant_id, customer_id), keys.PROFILE_SK)
        except CustomerItem.DoesNotExist:
            return None
        return self._from_item(item)

    def get_with_timeline(
        self, tenant_id: str, customer_id: str, events: int
    ) -> tuple[Customer, list[TimelineEvent]] | None:
        """The 360 view in one Query: `#PROFILE` sorts first, then timeline items newest first."""
        results = list(
            Item.query(
                keys.customer_pk(tenant_id, customer_id),
                Item.sk <= keys.TIMELINE_PREFIX + "~",
                limit=events + 1,
                page_size=events + 1,
            )
        )
        if not results or not isinstance(results[0], CustomerItem):
            return None
        timeline = [
            TimelineEvent.model_validate_json(i.doc or "") for i in results[1:] if isinstance(i, TimelineItem)
        ]
        return self._from_item(results[0]), timeline

    def owners_of(self, tenant_id: str, identities: Sequence[Identity]) -> dict[tuple[str, str], str]:
        by_key = {(self._identity_key(tenant_id, i), keys.IDENTITY_SK): i for i in identities}
        owners: dict[tuple[str, str], str] = {}
        for item in self._batch_get(list(by_key)):
            if isinstance(item, IdentityItem):
                owners[by_key[(item.pk, item.sk)].key] = item.customer_id
        return owners

    def find_by_identity(self, tenant_id: str, identity: Identity) -> Customer | None:
        try:
            claim = IdentityItem.get(self._identity_key(tenant_id, identity), keys.IDENTITY_SK)
        except IdentityItem.DoesNotExist:
            return None
        return self.get(tenant_id, claim.customer_id)

    def list_recent(
        self, tenant_id: str, *, limit: int, cursor: str | None, where: CustomerFilter
    ) -> Page[Customer]:
        results = Item.gsi1.query(
            keys.customers_by_created_pk(tenant_id),
            scan_index_forward=False,
            filter_condition=_filter(where),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        items = [self._from_item(i) for i in results]
        return Page(items, self._cursors.encode(tenant_id, results.last_evaluated_key))

    def search_by_name(
        self, tenant_id: str, prefix: str, *, limit: int, cursor: str | None, where: CustomerFilter
    ) -> Page[Customer]:
        results = Item.gsi2.query(
            keys.customers_by_name_pk(tenant_id),
            Item.gsi2sk.startswith(name_key(prefix)),
            filter_condition=_filter(where),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        items = [self._from_item(i) for i in results]
        return Page(items, self._cursors.encode(tenant_id, results.last_evaluated_key))

    def list_by_tag(
        self, tenant_id: str, tag_id: str, *, limit: int, cursor: str | None, where: CustomerFilter
    ) -> Page[Customer]:
        """A page of the tag's member index, then one BatchGetItem for the profiles."""
        results = TagMemberItem.query(
            keys.tag_members_pk(tenant_id, tag_id),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        ids = [m.customer_id for m in results]
        next_cursor = self._cursors.encode(tenant_id, results.last_evaluated_key)
        found = {
            c.id: c
            for c in (
                self._from_item(i)
                for i in self._batch_get([(keys.customer_pk(tenant_id, cid), keys.PROFILE_SK) for cid in ids])
            )
        }
        customers = [found[cid] for cid in ids if cid in found and _matches(found[cid], where)]
        return Page(customers, next_cursor)

    def timeline(
        self, tenant_id: str, customer_id: str, *, limit: int, cursor: str | None
    ) -> Page[TimelineEvent]:
        results = TimelineItem.query(
            keys.customer_pk(tenant_id, customer_id),
            TimelineItem.sk.startswith(keys.TIMELINE_PREFIX),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        events = [TimelineEvent.model_validate_json(i.doc or "") for i in results]
        return Page(events, self._cursors.encode(tenant_id, results.last_evaluated_key))

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _batch_get(key_pairs: list[tuple[str, str]]) -> list[Item]:
        items: list[Item] = []
        for start in range(0, len(key_pairs), _BATCH_GET_MAX):
            chunk = key_pairs[start : start + _BATCH_GET_MAX]
            items.extend(Item.batch_get(chunk))
        return items


def _filter(where: CustomerFilter) -> Condition | None:
    condition: Condition | None = None
    for attr, value in (
        (CustomerItem.region, where.region),
        (CustomerItem.store, where.store),
        (CustomerItem.owner_id, where.owner_id),
    ):
        if value is not None:
            clause = attr == value
            condition = clause if condition is None else condition & clause
    return condition


def _matches(customer: Customer, where: CustomerFilter) -> bool:
    return all(
        expected is None or actual == expected
        for actual, expected in (
            (customer.region, where.region),
            (customer.store, where.store),
            (customer.owner_id, where.owner_id),
        )
    )
