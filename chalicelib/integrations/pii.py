"""PII protection: AES-256-GCM encryption bound to the tenant, and keyed blind indexes for lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class AesGcmPiiCipher:
    def __init__(self, *, encryption_key: bytes, index_key: bytes) -> None:
        self._aead = AESGCM(encryption_key)
        self._index_key = index_key

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, *, context: str) -> str:
        version, _, body = token.partition(":")
        if version != "v1":
            raise ValueError(f"unknown PII envelope version {version!r}")
        raw = base64.urlsafe_b64decode(body)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()

    def blind_index(self, value: str) -> str:
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()[:40]
