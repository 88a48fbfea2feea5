"""Per-tenant integration settings. Secret fields are encrypted at rest (AES-GCM, bound to tenant + kind)
and only decrypted for the adapter that needs them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.domain.common import ConflictError
from chalicelib.domain.imports_jobs import ImportJob
from chalicelib.services.ports import PiiCipher
from chalicelib.store import keys
from chalicelib.store.table import GroupChatItem, ImportJobItem, InboxItem, IntegrationItem, TokenItem


class DynamoIntegrationRepository:
    def __init__(self, *, cipher: PiiCipher) -> None:
        self._cipher = cipher

    def put(self, tenant_id: str, kind: str, public: dict[str, Any], secrets: dict[str, str]) -> None:
        context = f"{tenant_id}:{kind}"
        IntegrationItem(
            keys.tenant_pk(tenant_id),
            keys.integration_sk(kind),
            doc=json.dumps(public, ensure_ascii=False, default=str),
            secrets_enc=self._cipher.encrypt(json.dumps(secrets), context=context),
        ).save()

    def get(self, tenant_id: str, kind: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        try:
            item = IntegrationItem.get(keys.tenant_pk(tenant_id), keys.integration_sk(kind))
        except IntegrationItem.DoesNotExist:
            return None
        secrets = json.loads(self._cipher.decrypt(item.secrets_enc or "", context=f"{tenant_id}:{kind}"))
        return json.loads(item.doc or "{}"), secrets

    def with_prefix(self, tenant_id: str, prefix: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """A Query on the tenant partition for the kinds starting with `prefix` (a tenant's shops), not a
        GetItem per kind: the kinds are not known in advance."""
        start = keys.integration_sk("")
        found = []
        for item in IntegrationItem.query(
            keys.tenant_pk(tenant_id), IntegrationItem.sk.startswith(keys.integration_sk(prefix))
        ):
            kind = item.sk[len(start) :]
            secrets = json.loads(self._cipher.decrypt(item.secrets_enc or "", context=f"{tenant_id}:{kind}"))
            found.append((kind, json.loads(item.doc or "{}"), secrets))
        return found


class DynamoTokenCache:
    """WeCom access tokens, encrypted, with their expiry (DynamoDB TTL removes them later); kept in the
    process too, so a warm function reads the table once per token, not once per API call."""

    def __init__(self, *, cipher: PiiCipher) -> None:
        self._cipher = cipher
        self._memory: dict[str, tuple[str, datetime]] = {}

    def get_token(self, tenant_id: str, now: datetime) -> str | None:
        held = self._memory.get(tenant_id)
        if held and held[1] > now:
            return held[0]
        try:
            item = TokenItem.get(keys.wecom_token_pk(tenant_id), keys.WECOM_TOKEN_SK)
        except TokenItem.DoesNotExist:
            return None
        if item.expires_at <= now:
            return None
        token = self._cipher.decrypt(item.secret_enc, context=f"{tenant_id}:wecom-token")
        self._memory[tenant_id] = (token, item.expires_at)
        return token

    def put_token(self, tenant_id: str, token: str, expires_at: datetime) -> None:
        secret = self._cipher.encrypt(token, context=f"{tenant_id}:wecom-token")
        TokenItem(
            keys.wecom_token_pk(tenant_id), keys.WECOM_TOKEN_SK, secret_enc=secret, expires_at=expires_at
        ).save()
        self._memory[tenant_id] = (token, expires_at)


class DynamoInbox:
    """Raw payloads that were received and verified but that no handler maps yet: nothing is dropped.

    The payload is kept encrypted (AES-GCM, bound to the tenant and the inbox), as personal data is everywhere
    else: no handler maps it, so nothing says which of its fields are personal (a Shopify `orders/updated`
    carries the buyer's phone, e-mail and address; a WeCom text, what a person wrote), so all of it is treated
    as personal. What lists it (kind, source, platform, key, time) stays readable."""

    def __init__(self, *, cipher: PiiCipher) -> None:
        self._cipher = cipher

    def put(self, tenant_id: str, *, key: str, received_at: datetime, record: dict[str, Any]) -> None:
        kept = {k: v for k, v in record.items() if k != "payload"}
        if "payload" in record:
            plain = json.dumps(record["payload"], ensure_ascii=False, default=str)
            kept["payload_enc"] = self._cipher.encrypt(plain, context=f"{tenant_id}:inbox")
        InboxItem(
            keys.inbox_pk(tenant_id, received_at.strftime("%Y-%m")),
            keys.inbox_sk(received_at, key),
            doc=json.dumps(kept, ensure_ascii=False, default=str),
        ).save()

    def list(self, tenant_id: str, month: str, limit: int) -> list[dict[str, Any]]:
        """Newest first, payloads decrypted (GET /v1/inbox is for admins, who see personal data)."""
        items = InboxItem.query(keys.inbox_pk(tenant_id, month), scan_index_forward=False, limit=limit)
        records = [json.loads(i.doc or "{}") for i in items]
        for record in records:
            sealed = record.pop("payload_enc", None)
            if sealed is not None:  # items kept before encryption carry `payload` as it came
                record["payload"] = json.loads(self._cipher.decrypt(sealed, context=f"{tenant_id}:inbox"))
        return records


class DynamoGroupChats:
    """WeCom customer group chats (客户群) as WeCom last described them."""

    def put(self, tenant_id: str, chat_id: str, chat: dict[str, Any]) -> None:
        GroupChatItem(
            keys.group_chat_pk(tenant_id, chat_id),
            keys.GROUP_CHAT_SK,
            doc=json.dumps(chat, ensure_ascii=False, default=str),
        ).save()

    def get(self, tenant_id: str, chat_id: str) -> dict[str, Any] | None:
        try:
            item = GroupChatItem.get(keys.group_chat_pk(tenant_id, chat_id), keys.GROUP_CHAT_SK)
        except GroupChatItem.DoesNotExist:
            return None
        chat: dict[str, Any] = json.loads(item.doc or "{}")
        return chat


class DynamoImportJobs:
    def get(self, tenant_id: str, job_id: str) -> ImportJob | None:
        try:
            item = ImportJobItem.get(keys.import_job_pk(tenant_id, job_id), keys.IMPORT_JOB_SK)
        except ImportJobItem.DoesNotExist:
            return None
        return ImportJob.model_validate_json(item.doc or "")

    def save(self, job: ImportJob, *, expected_version: int | None) -> None:
        item = ImportJobItem(
            keys.import_job_pk(job.tenant_id, job.id),
            keys.IMPORT_JOB_SK,
            doc=job.model_dump_json(),
            version=job.version,
        )
        condition = (
            ImportJobItem.pk.does_not_exist()
            if expected_version is None
            else (ImportJobItem.version == expected_version)
        )
        try:
            item.save(condition=condition)
        except PutError as e:
            raise ConflictError(f"import {job.id} changed meanwhile") from e
