"""Privacy requests, their exports (encrypted, in parts) and the customers each shop brought."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.privacy import PrivacyRequest
from chalicelib.services.ports import Page, PiiCipher
from chalicelib.store import keys
from chalicelib.store.cursor import CursorCodec
from chalicelib.store.table import (
    Item,
    MergeRecordItem,
    PrivacyExportItem,
    PrivacyRequestItem,
    PrivacySourceItem,
    ShopCustomerItem,
)
from chalicelib.store.transactions import write_transaction

# DynamoDB items stop at 400 KB; base64 ciphertext is 4/3 of the plaintext, so 256 KB of JSON per part.
_PART = 256 * 1024


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class DynamoPrivacyStore:
    def __init__(self, *, cipher: PiiCipher, cursors: CursorCodec) -> None:
        self._cipher = cipher
        self._cursors = cursors

    # -- requests ----------------------------------------------------------------------------------
    def recorded(self, tenant_id: str, source_key: str) -> str | None:
        """The request a delivery already produced, if any."""
        try:
            item = PrivacySourceItem.get(
                keys.privacy_source_pk(tenant_id, _digest(source_key)), keys.PRIVACY_SOURCE_SK
            )
        except PrivacySourceItem.DoesNotExist:
            return None
        return item.request_id

    def put_request(self, request: PrivacyRequest, export: dict[str, Any] | None) -> bool:
        """The export parts first (a retry overwrites them), then the record and its delivery marker in one
        transaction: False, and the parts removed again, when another worker recorded the delivery first."""
        tid, rid = request.tenant_id, request.id
        parts = 0
        if export is not None:
            plain = json.dumps(export, ensure_ascii=False, default=str)
            chunks = [plain[i : i + _PART] for i in range(0, len(plain), _PART)] or [""]
            context = f"{tid}:privacy:{rid}"
            with Item.batch_write() as batch:
                for n, chunk in enumerate(chunks):
                    sealed = self._cipher.encrypt(chunk, context=context)
                    batch.save(
                        PrivacyExportItem(
                            keys.privacy_export_pk(tid, rid), keys.privacy_export_sk(n), doc=sealed
                        )
                    )
            parts = len(chunks)

        def build(tx: TransactWrite) -> None:
            marker = PrivacySourceItem(
                keys.privacy_source_pk(tid, _digest(request.source_key)),
                keys.PRIVACY_SOURCE_SK,
                request_id=rid,
            )
            tx.save(marker, condition=PrivacySourceItem.pk.does_not_exist())
            tx.save(
                PrivacyRequestItem(
                    keys.privacy_requests_pk(tid), keys.privacy_request_sk(rid), doc=request.model_dump_json()
                )
            )

        try:
            write_transaction(build, what=f"privacy request {rid}")
        except TransactWriteError:
            self._drop_export(tid, rid, parts)
            return False
        return True

    def _drop_export(self, tenant_id: str, request_id: str, parts: int) -> None:
        with Item.batch_write() as batch:
            for n in range(parts):
                batch.delete(
                    PrivacyExportItem(
                        keys.privacy_export_pk(tenant_id, request_id), keys.privacy_export_sk(n)
                    )
                )

    def get_request(self, tenant_id: str, request_id: str) -> PrivacyRequest | None:
        try:
            item = PrivacyRequestItem.get(
                keys.privacy_requests_pk(tenant_id), keys.privacy_request_sk(request_id)
            )
        except PrivacyRequestItem.DoesNotExist:
            return None
        return PrivacyRequest.model_validate_json(item.doc or "")

    def list_requests(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[PrivacyRequest]:
        """Newest first (request ids sort by time)."""
        results = PrivacyRequestItem.query(
            keys.privacy_requests_pk(tenant_id),
            PrivacyRequestItem.sk.startswith("REQ#"),
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        items = [PrivacyRequest.model_validate_json(i.doc or "") for i in results]
        return Page(items, self._cursors.encode(tenant_id, results.last_evaluated_key))

    def export(self, tenant_id: str, request_id: str) -> dict[str, Any] | None:
        context = f"{tenant_id}:privacy:{request_id}"
        parts = [
            self._cipher.decrypt(i.doc or "", context=context)
            for i in PrivacyExportItem.query(keys.privacy_export_pk(tenant_id, request_id))
        ]
        if not parts:
            return None
        data: dict[str, Any] = json.loads("".join(parts))
        return data

    # -- what each shop brought ---------------------------------------------------------------------
    def remember_shop_customer(self, tenant_id: str, platform: str, shop_id: str, customer_id: str) -> None:
        ShopCustomerItem(
            keys.shop_customers_pk(tenant_id, platform, shop_id),
            keys.member_sk(customer_id),
            customer_id=customer_id,
        ).save()

    def shop_customers(
        self, tenant_id: str, platform: str, shop_id: str, *, limit: int, cursor: str | None
    ) -> Page[str]:
        results = ShopCustomerItem.query(
            keys.shop_customers_pk(tenant_id, platform, shop_id),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        ids = [i.customer_id for i in results]
        return Page(ids, self._cursors.encode(tenant_id, results.last_evaluated_key))

    def forget_shop_customers(
        self, tenant_id: str, platform: str, shop_id: str, customer_ids: Sequence[str]
    ) -> None:
        with Item.batch_write() as batch:
            for cid in customer_ids:
                batch.delete(
                    ShopCustomerItem(
                        keys.shop_customers_pk(tenant_id, platform, shop_id), keys.member_sk(cid)
                    )
                )

    # -- erasure ----------------------------------------------------------------------------------------
    def drop_merge_records(self, tenant_id: str, customer_ids: Sequence[str]) -> int:
        """The merge records kept in these customers' partitions: each holds the absorbed customer's fields
        (a name, masked phones as evidence) for an unmerge, which an erased customer no longer gets."""
        dropped = 0
        with Item.batch_write() as batch:
            for cid in customer_ids:
                pk = keys.customer_pk(tenant_id, cid)
                for item in MergeRecordItem.query(pk, MergeRecordItem.sk.startswith(keys.merge_sk(""))):
                    batch.delete(item)
                    dropped += 1
        return dropped
