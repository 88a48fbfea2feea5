"""Opaque pagination cursors: DynamoDB's LastEvaluatedKey, signed, and bound to the caller's tenant so a
cursor can be neither forged nor replayed against another tenant's partition."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.domain.common import InvalidInputError
from chalicelib.store.keys import belongs_to_tenant


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, tenant_id: str, last_key: dict[str, Any] | None) -> str | None:
        if not last_key:
            return None
        body = json.dumps({"t": tenant_id, "k": last_key}, separators=(",", ":"), sort_keys=True).encode()
        sig = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(sig + body).decode().rstrip("=")

    def decode(self, tenant_id: str, cursor: str | None) -> dict[str, Any] | None:
        if not cursor:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            sig, body = raw[:16], raw[16:]
            valid = hmac.compare_digest(sig, hmac.new(self._key, body, hashlib.sha256).digest()[:16])
            data = json.loads(body) if valid else None
        except (ValueError, UnicodeDecodeError):
            data = None
        if not data or data.get("t") != tenant_id:
            raise InvalidInputError(
                "cursor is not valid", details=[{"field": "cursor", "message": "invalid"}]
            )
        last_key: dict[str, Any] = data["k"]
        pk = last_key.get("pk", {}).get("S", "")
        if not belongs_to_tenant(pk, tenant_id):
            raise InvalidInputError(
                "cursor is not valid", details=[{"field": "cursor", "message": "invalid"}]
            )
        return last_key
