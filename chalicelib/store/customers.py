"""Customer profiles, identities, tag memberships and timelines in the single table."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.domain.common import ConflictError
from chalicelib.domain.customers import Customer, Identity, name_key
from chalicelib.domain.timeline import TimelineEvent
from chalicelib.services.ports import CustomerChange, CustomerFilter, Page, PiiCipher, TouchPlan
from chalicelib.store import keys
from chalicelib.store.cursor import CursorCodec
from chalicelib.store.table import (
    CustomerItem,
    IdempotencyItem,
    IdentityItem,
    Item,
    MergeCandidateItem,
    MergeRecordItem,
    TagMemberItem,
    TimelineItem,
)
from chalicelib.store.transactions import write_transaction

_BATCH_GET_MAX = 100
IDEMPOTENCY_TTL = timedelta(days=30)  # longer than any platform retries a delivery
ORPHAN_AFTER = timedelta(minutes=5)


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
        phones = ([customer.phone] if customer.phone else []) + customer.other_phones
        phone_enc = self._cipher.encrypt(json.dumps(phones), context=tid) if phones else None
        email_enc = self._cipher.encrypt(customer.email, context=tid) if customer.email else None
        item = CustomerItem(
            keys.customer_pk(tid, cid),
            keys.PROFILE_SK,
            doc=customer.model_dump_json(exclude={"phone", "other_phones", "email"}, exclude_defaults=True),
            version=customer.version,
            region=customer.region,
            store=customer.store,
            owner_id=customer.owner_id,
            phone_enc=phone_enc,
            email_enc=email_enc,
        )
        if customer.merged_into is None:  # an absorbed customer leaves the lists; its id still resolves
            item.gsi1pk = keys.customers_by_created_pk(tid)
            item.gsi1sk = keys.customers_by_created_sk(customer.created_at, cid)
            item.gsi2pk = keys.customers_by_name_pk(tid)
            item.gsi2sk = keys.customers_by_name_sk(name_key(customer.name), cid)
        return item

    def _from_item(self, item: Item) -> Customer:
        assert isinstance(item, CustomerItem) and item.doc is not None
        customer = Customer.model_validate_json(item.doc)
        if item.phone_enc:
            phones = json.loads(self._cipher.decrypt(item.phone_enc, context=customer.tenant_id))
            customer.phone, customer.other_phones = phones[0], phones[1:]
        if item.email_enc:
            customer.email = self._cipher.decrypt(item.email_enc, context=customer.tenant_id)
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

        def build(tx: TransactWrite) -> None:
            if before is None:
                tx.save(self._to_item(after), condition=CustomerItem.pk.does_not_exist())
            else:
                tx.save(self._to_item(after), condition=CustomerItem.version == before.version)
            for key in new_ids.keys() - old_ids.keys():
                claim = IdentityItem(self._identity_key(tid, new_ids[key]), keys.IDENTITY_SK, customer_id=cid)
                tx.save(claim, condition=IdentityItem.pk.does_not_exist())
            for key in old_ids.keys() - new_ids.keys():
                released = IdentityItem(self._identity_key(tid, old_ids[key]), keys.IDENTITY_SK)
                tx.delete(released, condition=IdentityItem.customer_id == cid)
            for tag_id in change.tags_added:
                member = TagMemberItem(keys.tag_members_pk(tid, tag_id), keys.member_sk(cid), customer_id=cid)
                tx.save(member)
            for tag_id in change.tags_removed:
                tx.delete(TagMemberItem(keys.tag_members_pk(tid, tag_id), keys.member_sk(cid)))
            if change.event is not None:
                tx.save(self._timeline_item(change.event))

        try:
            write_transaction(build, what=f"customer {cid}")
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
        customer = self._from_item(results[0])
        if customer.merged_from:  # absorbed customers' timelines are served from their partitions, not copied
            timeline = self.timeline(
                tenant_id, customer_id, limit=events, cursor=None, merged_from=customer.merged_from
            ).items
        return customer, timeline

    def owners_of(self, tenant_id: str, identities: Sequence[Identity]) -> dict[tuple[str, str], str]:
        return {identity.key: claim.customer_id for identity, claim in self._claims(tenant_id, identities)}

    def _claims(self, tenant_id: str, identities: Sequence[Identity]) -> list[tuple[Identity, IdentityItem]]:
        """The existing claim items of these identities (BatchGet), each with its identity."""
        by_key = {(self._identity_key(tenant_id, i), keys.IDENTITY_SK): i for i in identities}
        return [
            (by_key[(item.pk, item.sk)], item)
            for item in self._batch_get(list(by_key))
            if isinstance(item, IdentityItem)
        ]

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
        customers = [found[cid] for cid in ids if cid in found and where.matches(found[cid])]
        return Page(customers, next_cursor)

    def timeline(
        self,
        tenant_id: str,
        customer_id: str,
        *,
        limit: int,
        cursor: str | None,
        merged_from: Sequence[str] = (),
    ) -> Page[TimelineEvent]:
        """Newest first, across the customer's partition and those of customers it absorbed (their events
        stay where they were written): one Query per partition per page, merged on the sort key, which
        orders by time in every partition alike. The cursor is the last sort key served."""
        pk = keys.customer_pk(tenant_id, customer_id)
        after = (self._cursors.decode(tenant_id, cursor) or {}).get("sk", {}).get("S")
        lower = after if isinstance(after, str) else keys.TIMELINE_PREFIX
        items: list[TimelineItem] = []
        for cid in (customer_id, *merged_from):
            for item in TimelineItem.query(
                keys.customer_pk(tenant_id, cid),
                TimelineItem.sk.between(lower, keys.TIMELINE_PREFIX + "~"),
                limit=limit + 1,  # `between` includes the cursor's own item
                page_size=limit + 1,
            ):
                if item.sk != after:
                    items.append(item)
        page = sorted(items, key=lambda i: i.sk)[:limit]
        events = [TimelineEvent.model_validate_json(i.doc or "") for i in page]
        more = len(items) > limit
        last = {"pk": {"S": pk}, "sk": {"S": page[-1].sk}}  # the shape of a LastEvaluatedKey
        return Page(events, self._cursors.encode(tenant_id, last) if more else None)

    # -- identity resolution -----------------------------------------------------------------------
    def holders(self, tenant_id: str, identities: Sequence[Identity]) -> dict[tuple[str, str], Customer]:
        return self.lookup(tenant_id, identities, None)[0]

    def lookup(
        self, tenant_id: str, identities: Sequence[Identity], idempotency_key: str | None
    ) -> tuple[dict[tuple[str, str], Customer], bool]:
        """The customer holding each claimed identity, and whether the touch was already applied: one
        BatchGet of the claims and the idempotency marker, then one of the holders' profiles.

        A claim without a profile comes from a writer that stopped between its steps (a bulk import, a
        touch without a transaction): once old enough it is removed (conditionally) and the identity counts
        as free; a young one is a write in flight, so the caller retries."""
        by_key = {(self._identity_key(tenant_id, i), keys.IDENTITY_SK): i for i in identities}
        pairs = list(by_key)
        if idempotency_key:
            pairs.append((keys.idempotency_pk(tenant_id, idempotency_key), keys.IDEMPOTENCY_SK))
        found = self._batch_get(pairs)
        seen = any(isinstance(i, IdempotencyItem) for i in found)
        claims = [(by_key[(i.pk, i.sk)], i) for i in found if isinstance(i, IdentityItem)]
        return self._held(tenant_id, claims, {idempotency_key} if idempotency_key else set()), seen

    def lookup_many(
        self, tenant_id: str, wants: Sequence[tuple[Sequence[Identity], str | None]]
    ) -> list[tuple[dict[tuple[str, str], Customer], bool]]:
        """`lookup` for several touches at once: one BatchGet (per 100 keys) of all their claims and
        markers, then one of all the holders' profiles — instead of two per touch."""
        pairs: dict[tuple[str, str], Identity | None] = {}
        for identities, key in wants:
            for i in identities:
                pairs[(self._identity_key(tenant_id, i), keys.IDENTITY_SK)] = i
            if key:
                pairs[(keys.idempotency_pk(tenant_id, key), keys.IDEMPOTENCY_SK)] = None
        found = {(i.pk, i.sk): i for i in self._batch_get(list(pairs))}
        claims = [
            (identity, item)
            for pair, identity in pairs.items()
            if identity is not None and isinstance(item := found.get(pair), IdentityItem)
        ]
        held = self._held(tenant_id, claims, {key for _, key in wants if key})
        out: list[tuple[dict[tuple[str, str], Customer], bool]] = []
        for identities, key in wants:
            mine = {i.key: held[i.key] for i in identities if i.key in held}
            marker = (keys.idempotency_pk(tenant_id, key), keys.IDEMPOTENCY_SK) if key else None
            out.append((mine, marker is not None and marker in found))
        return out

    def _held(
        self, tenant_id: str, claims: list[tuple[Identity, IdentityItem]], retrying: set[str]
    ) -> dict[tuple[str, str], Customer]:
        """`retrying`: the idempotency keys of the touches looking: a profileless claim one of them wrote
        is its own earlier attempt, which died between the claim and the profile (a worker killed, a
        Lambda timeout), so it is freed at once instead of after ORPHAN_AFTER (by then the message could
        have used up its receives and gone to the dead-letter queue)."""
        ids = sorted({c.customer_id for _, c in claims})
        profiles = {
            c.id: c
            for c in (
                self._from_item(i)
                for i in self._batch_get([(keys.customer_pk(tenant_id, cid), keys.PROFILE_SK) for cid in ids])
            )
        }
        held: dict[tuple[str, str], Customer] = {}
        for identity, claim in claims:
            if claim.customer_id in profiles:
                held[identity.key] = profiles[claim.customer_id]
            elif claim.claimed_by not in retrying and (
                claim.claimed_at is None or datetime.now(UTC) - claim.claimed_at < ORPHAN_AFTER
            ):
                raise ConflictError(f"identity {identity.type} is being claimed right now; retry")
            else:
                self.unclaim(tenant_id, identity, claim.customer_id)
        return held

    # -- merges ------------------------------------------------------------------------------------
    def merge_record(self, tenant_id: str, survivor_id: str, absorbed_id: str) -> dict[str, Any] | None:
        try:
            item = MergeRecordItem.get(keys.customer_pk(tenant_id, survivor_id), keys.merge_sk(absorbed_id))
        except MergeRecordItem.DoesNotExist:
            return None
        record: dict[str, Any] = json.loads(item.doc or "{}")
        return record

    def apply_unmerge(
        self,
        survivor: tuple[Customer, Customer],
        restored: tuple[Customer, Customer],
        events: list[TimelineEvent],
    ) -> None:
        """Undo a merge in one transaction: both profiles (version-checked), the restored customer's claims
        and tag memberships pointed back at it, the timeline events, the merge record removed."""
        (s_before, s_after), (r_before, r_after) = survivor, restored
        tid = s_after.tenant_id

        def build(tx: TransactWrite) -> None:
            tx.save(self._to_item(s_after), condition=CustomerItem.version == s_before.version)
            tx.save(self._to_item(r_after), condition=CustomerItem.version == r_before.version)
            for ident in r_after.all_identities():
                claim = IdentityItem(self._identity_key(tid, ident), keys.IDENTITY_SK, customer_id=r_after.id)
                tx.save(claim, condition=IdentityItem.customer_id == s_after.id)
            for tag_id in set(s_before.tags) - set(s_after.tags):
                tx.delete(TagMemberItem(keys.tag_members_pk(tid, tag_id), keys.member_sk(s_after.id)))
            for tag_id in r_after.tags:
                tx.save(self._member(tid, tag_id, r_after.id))
            for event in events:
                tx.save(self._timeline_item(event))
            tx.delete(MergeRecordItem(keys.customer_pk(tid, s_after.id), keys.merge_sk(r_after.id)))

        try:
            write_transaction(build, what=f"customers {s_after.id} and {r_after.id}")
        except TransactWriteError as e:
            raise ConflictError("the customers changed while unmerging: reload and retry") from e

    def candidates(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[dict[str, Any]]:
        results = MergeCandidateItem.query(
            keys.merge_candidates_pk(tenant_id),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        items = [json.loads(i.doc or "{}") for i in results]
        return Page(items, self._cursors.encode(tenant_id, results.last_evaluated_key))

    # -- bulk (imports) ----------------------------------------------------------------------------
    def seen(self, tenant_id: str, idempotency_keys: Sequence[str]) -> set[str]:
        """Which idempotency markers exist (BatchGet, 100 per request)."""
        pairs = [(keys.idempotency_pk(tenant_id, k), keys.IDEMPOTENCY_SK) for k in idempotency_keys]
        prefix = len(keys.idempotency_pk(tenant_id, ""))
        return {i.pk[prefix:] for i in self._batch_get(pairs)}

    def claim_all(self, tenant_id: str, claims: Sequence[tuple[Identity, str]], at: datetime) -> bool:
        """Claim identities for (new) customers in one transaction (≤ 100): all or none. False when one of
        them is already someone's (the caller resolves those customers one by one)."""

        def build(tx: TransactWrite) -> None:
            for identity, customer_id in claims:
                item = IdentityItem(
                    self._identity_key(tenant_id, identity),
                    keys.IDENTITY_SK,
                    customer_id=customer_id,
                    claimed_at=at,
                )
                tx.save(item, condition=IdentityItem.pk.does_not_exist())

        try:
            write_transaction(build, what="identity claims")
        except TransactWriteError:
            return False
        return True

    def unclaim(self, tenant_id: str, identity: Identity, customer_id: str) -> None:
        try:
            IdentityItem(self._identity_key(tenant_id, identity), keys.IDENTITY_SK).delete(
                condition=IdentityItem.customer_id == customer_id
            )
        except DeleteError as e:
            if e.cause_response_code != "ConditionalCheckFailedException":
                raise

    def get_many(self, tenant_id: str, customer_ids: Sequence[str]) -> dict[str, Customer]:
        pairs = [(keys.customer_pk(tenant_id, cid), keys.PROFILE_SK) for cid in sorted(set(customer_ids))]
        return {c.id: c for c in (self._from_item(i) for i in self._batch_get(pairs))}

    def put_profile(self, customer: Customer, *, expected_version: int) -> bool:
        """One conditional PutItem (no transaction): False if someone changed the customer meanwhile."""
        try:
            self._to_item(customer).save(condition=CustomerItem.version == expected_version)
        except PutError as e:
            if e.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_events(self, events: Sequence[TimelineEvent]) -> None:
        """Timeline events with deterministic ids (a re-run overwrites, never duplicates): BatchWriteItem."""
        with Item.batch_write() as batch:
            for event in events:
                batch.save(self._timeline_item(event))

    def mark(self, tenant_id: str, idempotency_keys: Sequence[str], at: datetime) -> None:
        with Item.batch_write() as batch:
            for key in dict.fromkeys(idempotency_keys):  # a batch may mark a key twice (a duplicate in it)
                batch.save(
                    IdempotencyItem(
                        keys.idempotency_pk(tenant_id, key),
                        keys.IDEMPOTENCY_SK,
                        expires_at=at + IDEMPOTENCY_TTL,
                    )
                )

    def bulk_create(self, plans: Sequence[TouchPlan]) -> None:
        """Write new customers whose identities are already claimed: profiles, timeline events and tag
        memberships in BatchWriteItem requests (25 items each, no conditions needed: every key is new),
        then the idempotency markers, last, so a marker never stands for something unwritten."""
        with Item.batch_write() as batch:
            for plan in plans:
                target = plan.target_after
                batch.save(self._to_item(target))
                for event in plan.events:
                    batch.save(self._timeline_item(event))
                for tag_id in target.tags:
                    batch.save(self._member(plan.tenant_id, tag_id, target.id))
        marked = [p for p in plans if p.idempotency_key]
        if marked:
            self.mark(
                marked[0].tenant_id,
                [p.idempotency_key for p in marked if p.idempotency_key],
                marked[0].target_after.updated_at,
            )

    def apply_simple(self, plan: TouchPlan) -> bool:
        """Commit a simple plan (`TouchPlan.simple`) without a transaction, at half its write cost, in an
        order that makes every prefix safe to retry:
        1. new identity claims, each a conditional PutItem (taken by someone else → undo ours, conflict);
        2. timeline events (ids derived from the idempotency key: a retry overwrites them) and new tag
           memberships, with the profile of a new customer (its id is fresh), in BatchWriteItem;
        3. an existing profile, conditional on its version; it remembers the key (`Customer.applied`);
        4. the idempotency marker, written by the caller (`mark`), last, possibly for a whole batch.
        A crash after 1 leaves claims without a profile, removed by `lookup` once old; after 2 or 3 the
        redelivery finds the key on the profile and only writes the marker."""
        tid, target, before = plan.tenant_id, plan.target_after, plan.target_before
        taken: list[Identity] = []
        for ident in plan.claims:
            claim = IdentityItem(
                self._identity_key(tid, ident),
                keys.IDENTITY_SK,
                customer_id=target.id,
                claimed_at=datetime.now(UTC),  # wall time: `lookup` ages orphans by it
                claimed_by=plan.idempotency_key,
            )
            try:
                claim.save(condition=IdentityItem.pk.does_not_exist())
            except PutError as e:
                if e.cause_response_code != "ConditionalCheckFailedException":
                    raise
                self._undo_claims(tid, taken, target.id)
                raise ConflictError(f"identity {ident.type} was claimed meanwhile") from e
            taken.append(ident)
        with Item.batch_write() as batch:
            for event in plan.events:
                batch.save(self._timeline_item(event))
            for tag_id in set(target.tags) - set(before.tags if before else {}):
                batch.save(self._member(tid, tag_id, target.id))
            if before is None:
                batch.save(self._to_item(target))
        if before is not None and not self.put_profile(target, expected_version=before.version):
            self._undo_claims(tid, taken, target.id)
            raise ConflictError(f"customer {target.id} changed meanwhile")
        return True

    def _undo_claims(self, tenant_id: str, identities: Sequence[Identity], customer_id: str) -> None:
        for ident in identities:
            self.unclaim(tenant_id, ident, customer_id)

    def apply_touch(self, plan: TouchPlan) -> bool:
        """Commit a resolved touchpoint in one transaction. False when its idempotency marker already
        exists (a redelivery: nothing is written); ConflictError when another writer got there first."""
        tid, target, before = plan.tenant_id, plan.target_after, plan.target_before

        def build(tx: TransactWrite) -> None:
            if plan.idempotency_key:
                marker = IdempotencyItem(
                    keys.idempotency_pk(tid, plan.idempotency_key),
                    keys.IDEMPOTENCY_SK,
                    expires_at=target.updated_at + IDEMPOTENCY_TTL,
                )
                tx.save(marker, condition=IdempotencyItem.pk.does_not_exist())
            condition = (
                CustomerItem.pk.does_not_exist() if before is None else CustomerItem.version == before.version
            )
            tx.save(self._to_item(target), condition=condition)
            for gone_before, gone_after in plan.absorbed + plan.losers:
                tx.save(self._to_item(gone_after), condition=CustomerItem.version == gone_before.version)
            self._repoint_absorbed(tx, plan)
            from_absorbed = {t for absorbed, _ in plan.absorbed for t in absorbed.tags}
            new_tags = set(target.tags) - set(before.tags if before else {}) - from_absorbed
            for tag_id in new_tags:
                tx.save(self._member(tid, tag_id, target.id))
            for ident in plan.claims:
                loser = plan.contested_from.get(ident.key)
                claim = IdentityItem(self._identity_key(tid, ident), keys.IDENTITY_SK, customer_id=target.id)
                taken = (
                    IdentityItem.pk.does_not_exist() if loser is None else IdentityItem.customer_id == loser
                )
                tx.save(claim, condition=taken)
            for event in plan.events:
                tx.save(self._timeline_item(event))
            for cand in plan.candidates:
                tx.save(
                    MergeCandidateItem(
                        keys.merge_candidates_pk(tid),
                        keys.merge_candidate_sk(cand["a"], cand["b"]),
                        doc=json.dumps(cand, ensure_ascii=False, default=str),
                    )
                )
            for record in plan.merge_records:
                doc = json.dumps(record, ensure_ascii=False, default=str)
                tx.save(
                    MergeRecordItem(
                        keys.customer_pk(tid, target.id), keys.merge_sk(record["absorbed_id"]), doc=doc
                    )
                )

        try:
            write_transaction(build, what=f"customer {target.id}")
        except TransactWriteError as e:
            if plan.idempotency_key and self._seen(tid, plan.idempotency_key):
                return False
            raise ConflictError("the customers changed while resolving this touchpoint") from e
        return True

    def _repoint_absorbed(self, tx: TransactWrite, plan: TouchPlan) -> None:
        """An absorbed customer's claims and tag memberships now point at the survivor."""
        tid, target, before = plan.tenant_id, plan.target_after, plan.target_before
        for absorbed, _ in plan.absorbed:
            for ident in absorbed.all_identities():
                claim = IdentityItem(self._identity_key(tid, ident), keys.IDENTITY_SK, customer_id=target.id)
                tx.save(claim, condition=IdentityItem.customer_id == absorbed.id)
            for tag_id in absorbed.tags:
                tx.delete(TagMemberItem(keys.tag_members_pk(tid, tag_id), keys.member_sk(absorbed.id)))
                if before is not None and tag_id not in before.tags:
                    tx.save(self._member(tid, tag_id, target.id))

    @staticmethod
    def _member(tenant_id: str, tag_id: str, customer_id: str) -> TagMemberItem:
        return TagMemberItem(
            keys.tag_members_pk(tenant_id, tag_id), keys.member_sk(customer_id), customer_id=customer_id
        )

    @staticmethod
    def _seen(tenant_id: str, key: str) -> bool:
        try:
            IdempotencyItem.get(keys.idempotency_pk(tenant_id, key), keys.IDEMPOTENCY_SK)
        except IdempotencyItem.DoesNotExist:
            return False
        return True

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
