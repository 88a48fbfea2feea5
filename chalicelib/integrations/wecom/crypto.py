"""WeCom (企业微信) callback crypto: URL verification, callback decryption, reply encryption.

The protocol (WXBizMsgCrypt): ``msg_signature`` = SHA1 of the sorted concatenation of token, timestamp,
nonce and ciphertext; the ciphertext is base64 of AES-256-CBC with key = base64(EncodingAESKey + "=") and
IV = key[:16]; the plaintext is 16 random bytes + 4-byte big-endian length + message + receive id
(the CorpID for an internal app, the SuiteID for a third-party suite), PKCS#7-padded to 32-byte blocks
(WeCom's quirk: pads run 1..32, not 1..16).

Why not wechatpy: 1.8.18 (the last 1.x release, 2021) has this crypto under ``wechatpy.enterprise`` but
parses every external-contact event (the heart of an SCRM) as unknown, and 2.0 only exists as an alpha.
The protocol is small, so it is implemented here on ``cryptography`` and checked against Tencent's
reference vectors (tests/vectors); events are parsed by our own pydantic models (events.py).

Untrusted XML is parsed with ``defusedxml`` with DTDs forbidden, so entity bombs and external entities
never reach the parser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from datetime import datetime, timedelta
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DefusedET
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK_BITS = 256  # WeCom pads to 32 bytes although AES blocks are 16
_RANDOM_LEN = 16
_LEN_FIELD = 4
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")  # int() alone would take " 1", "+1", "1_0" and Unicode digits


class WeComCryptoError(Exception):
    """Base of every rejection of a callback; the HTTP layer answers 4xx and stores nothing."""


class SignatureError(WeComCryptoError):
    """msg_signature does not match token + timestamp + nonce + ciphertext."""


class ReceiveIdError(WeComCryptoError):
    """The message was encrypted for another CorpID / SuiteID (same key, wrong receiver)."""


class MalformedMessageError(WeComCryptoError):
    """Body not XML, DTD/entities present, no Encrypt, bad base64, bad padding or bad inner layout."""


class ReplayError(WeComCryptoError):
    """Timestamp is not a plain integer or is outside the accepted window."""


def parse_untrusted_xml(data: bytes | str) -> Element:
    """Parse XML from the network; anything that is not plain well-formed XML is MalformedMessageError."""
    try:
        root: Element = DefusedET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
        raise MalformedMessageError(f"not acceptable XML: {type(exc).__name__}") from exc
    return root


def check_timestamp(timestamp: str, *, now: datetime, window: timedelta = timedelta(minutes=5)) -> None:
    """Reject a callback whose (signed) timestamp is more than ``window`` away from ``now``.

    The clock is a parameter: production passes the system time, tests the vectors' own time.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise ReplayError("timestamp is not an integer")
    if abs(now.timestamp() - int(timestamp)) > window.total_seconds():
        raise ReplayError("timestamp outside the replay window")


class WeComCrypto:
    """One tenant's callback settings: Token, EncodingAESKey and the expected receive id."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not token:
            raise ValueError("token must not be empty")
        if not receive_id:
            raise ValueError("receive_id must not be empty")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes (43 base64 characters)")
        self._token = token
        self._key = key
        self._receive_id = receive_id.encode("utf-8")

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        joined = "".join(sorted([self._token, timestamp, nonce, encrypted]))
        return hashlib.sha1(joined.encode("utf-8")).hexdigest()

    def verify_url(self, *, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The GET sent when the callback URL is saved: return the echostr plaintext to answer with."""
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self._decrypt(echostr)

    def decrypt_callback(self, *, msg_signature: str, timestamp: str, nonce: str, body: bytes) -> str:
        """A POSTed callback: return the decrypted event XML (still untrusted in shape, see events.py)."""
        node = parse_untrusted_xml(body).find("Encrypt")
        encrypted = node.text if node is not None else None
        if not encrypted:
            raise MalformedMessageError("no Encrypt element")
        # Signature first: an unauthenticated ciphertext never reaches AES, so there is no padding oracle.
        self._check_signature(msg_signature, timestamp, nonce, encrypted)
        return self._decrypt(encrypted)

    def encrypt(
        self, plaintext: str, *, nonce: str, timestamp: str, random16: bytes | None = None
    ) -> tuple[str, str]:
        """Encrypt a message as WeCom does; returns (base64 ciphertext, msg_signature)."""
        rnd = os.urandom(_RANDOM_LEN) if random16 is None else random16
        if len(rnd) != _RANDOM_LEN:
            raise ValueError("random16 must be 16 bytes")
        msg = plaintext.encode("utf-8")
        content = rnd + len(msg).to_bytes(_LEN_FIELD, "big") + msg + self._receive_id
        padder = padding.PKCS7(_BLOCK_BITS).padder()
        padded = padder.update(content) + padder.finalize()
        encryptor = self._cipher().encryptor()
        encrypted = base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")
        return encrypted, self.signature(timestamp, nonce, encrypted)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def _check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = self.signature(timestamp, nonce, encrypted)
        # Compare bytes: compare_digest raises TypeError on non-ASCII str, which a caller controls.
        if not hmac.compare_digest(expected.encode("utf-8"), msg_signature.encode("utf-8")):
            raise SignatureError("msg_signature does not match")

    def _decrypt(self, encrypted: str) -> str:
        try:
            raw = base64.b64decode(encrypted, validate=True)
            decryptor = self._cipher().decryptor()
            padded = decryptor.update(raw) + decryptor.finalize()
            unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
            content = unpadder.update(padded) + unpadder.finalize()
        except (binascii.Error, ValueError) as exc:  # bad base64, length not a block multiple, bad pad
            raise MalformedMessageError(f"cannot decrypt: {exc}") from exc
        header = _RANDOM_LEN + _LEN_FIELD
        if len(content) < header:
            raise MalformedMessageError("decrypted content too short")
        msg_len = int.from_bytes(content[_RANDOM_LEN:header], "big")
        if header + msg_len > len(content):
            raise MalformedMessageError("message length exceeds content")
        msg = content[header : header + msg_len]
        if not hmac.compare_digest(content[header + msg_len :], self._receive_id):
            raise ReceiveIdError("message was encrypted for another receive id")
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedMessageError("message is not UTF-8") from exc
