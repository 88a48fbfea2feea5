"""Staff profiles and the tenant's assignment weights, in one partition per tenant (`T#<t>#STAFF`): one
Query reads the whole roster with the weights (`#WEIGHTS` sorts first); 1,000 profiles are one page.

The profile is a JSON document; the counters are attributes changed only by atomic UpdateItem: `open_load`
(by the assignment transactions, against `capacity` in their conditions), `rating_sum`/`ratings_count`
(ADD, so concurrent ratings never lose one) and `last_assigned_at`. `put` SETs the profile fields and
never touches a counter. The phone is in the document only encrypted (`phone_enc`, AES-GCM bound to the
tenant and the user); reads decrypt it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.assignment import AssignmentWeights, StaffProfile
from chalicelib.domain.common import ConflictError, NotFoundError
from chalicelib.services.ports import PiiCipher, Roster, StaffRecord
from chalicelib.store import keys
from chalicelib.store.table import AssignmentWeightsItem, IdempotencyItem, Item, StaffItem
from chalicelib.store.transactions import write_transaction

COUNTERS = frozenset({"open_load", "rating", "ratings_count", "last_assigned_at"})
_Q2 = Decimal("0.01")


def _phone_context(tenant_id: str, user_id: str) -> str:
    return f"{tenant_id}:staff:{user_id}"


def _record(item: StaffItem, cipher: PiiCipher, tenant_id: str) -> StaffRecord:
    data: dict[str, Any] = json.loads(item.doc or "{}")
    phone_enc = data.pop("phone_enc", None)
    if phone_enc:
        data["phone"] = cipher.decrypt(phone_enc, context=_phone_context(tenant_id, data["user_id"]))
    count = int(item.ratings_count or 0)
    rating = None
    if count and item.rating_sum is not None:
        rating = min(max((item.rating_sum / count).quantize(_Q2), Decimal(1)), Decimal(5))
    data.update(
        open_load=max(int(item.open_load or 0), 0),
        ratings_count=count,
        rating=rating,
        last_assigned_at=item.last_assigned_at,
    )
    return StaffRecord(profile=StaffProfile.model_validate(data), version=int(item.version))


def _conflict(e: UpdateError) -> bool:
    return e.cause_response_code == "ConditionalCheckFailedException"


class DynamoStaffRepository:
    def __init__(self, *, cipher: PiiCipher) -> None:
        self._cipher = cipher

    def roster(self, tenant_id: str, *, consistent: bool = False) -> Roster:
        """Every profile and the weights in one Query (consistent when loads must be current: a drain)."""
        roster = Roster(staff=[])
        for item in Item.query(keys.staff_pk(tenant_id), consistent_read=consistent):
            if isinstance(item, StaffItem):
                record = _record(item, self._cipher, tenant_id)
                roster.staff.append(record.profile)
                roster.versions[record.profile.user_id] = record.version
            elif isinstance(item, AssignmentWeightsItem):
                roster.weights = AssignmentWeights.model_validate_json(item.doc or "{}")
        return roster

    def list(self, tenant_id: str) -> list[StaffRecord]:
        roster = self.roster(tenant_id)
        return [StaffRecord(profile=p, version=roster.versions[p.user_id]) for p in roster.staff]

    def get(self, tenant_id: str, user_id: str) -> StaffRecord | None:
        try:
            item = StaffItem.get(keys.staff_pk(tenant_id), keys.staff_sk(user_id), consistent_read=True)
        except StaffItem.DoesNotExist:
            return None
        return _record(item, self._cipher, tenant_id)

    def put(self, tenant_id: str, profile: StaffProfile, *, expected_version: int) -> StaffRecord:
        """Create (expected_version 0) or edit the profile at the version read; the counters stay."""
        item = StaffItem(keys.staff_pk(tenant_id), keys.staff_sk(profile.user_id))
        condition = (
            StaffItem.pk.does_not_exist() if expected_version == 0 else StaffItem.version == expected_version
        )
        doc = profile.model_dump(mode="json", exclude={*COUNTERS, "phone"})
        if profile.phone:
            context = _phone_context(tenant_id, profile.user_id)
            doc["phone_enc"] = self._cipher.encrypt(profile.phone, context=context)
        try:
            item.update(
                actions=[
                    StaffItem.type.set(StaffItem),
                    StaffItem.doc.set(json.dumps(doc, ensure_ascii=False, separators=(",", ":"))),
                    StaffItem.capacity.set(profile.capacity),
                    StaffItem.version.set(expected_version + 1),
                    StaffItem.open_load.set(StaffItem.open_load | 0),
                ],
                condition=condition,
            )
        except UpdateError as e:
            if _conflict(e):
                raise ConflictError(
                    f"staff profile {profile.user_id} was changed meanwhile (or already exists): reload it",
                    details=[{"field": "version", "message": f"version {expected_version} is stale"}],
                ) from e
            raise
        return _record(item, self._cipher, tenant_id)

    def record_rating(self, tenant_id: str, user_id: str, score: Decimal, *, once: str | None = None) -> None:
        """ADD to the sum and the count: exact (Decimal) and safe under concurrency. With `once` (e.g. the
        rated ticket), an idempotency marker is written in the same transaction, so a redelivered rating
        event is counted once."""
        item = StaffItem(keys.staff_pk(tenant_id), keys.staff_sk(user_id))
        actions: list[Action] = [StaffItem.rating_sum.add(score), StaffItem.ratings_count.add(1)]
        if once is None:
            try:
                item.update(actions=actions, condition=StaffItem.pk.exists())
            except UpdateError as e:
                if _conflict(e):
                    raise NotFoundError(f"no staff profile for {user_id}") from e
                raise
            return
        marker = IdempotencyItem(keys.idempotency_pk(tenant_id, f"rating:{once}"), keys.IDEMPOTENCY_SK)

        def build(tx: TransactWrite) -> None:
            tx.save(marker, condition=IdempotencyItem.pk.does_not_exist())
            tx.update(item, actions=actions, condition=StaffItem.pk.exists())

        try:
            write_transaction(build, what=f"staff profile {user_id}")
        except TransactWriteError as e:
            try:
                IdempotencyItem.get(marker.pk, marker.sk)
            except IdempotencyItem.DoesNotExist:
                raise NotFoundError(f"no staff profile for {user_id}") from e
            return  # counted before

    def weights(self, tenant_id: str) -> AssignmentWeights | None:
        try:
            item = AssignmentWeightsItem.get(keys.staff_pk(tenant_id), keys.ASSIGNMENT_WEIGHTS_SK)
        except AssignmentWeightsItem.DoesNotExist:
            return None
        return AssignmentWeights.model_validate_json(item.doc or "{}")

    def put_weights(self, tenant_id: str, weights: AssignmentWeights) -> None:
        AssignmentWeightsItem(
            keys.staff_pk(tenant_id), keys.ASSIGNMENT_WEIGHTS_SK, doc=weights.model_dump_json()
        ).save()
