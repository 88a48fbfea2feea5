"""WeCom callback crypto against Tencent's reference vectors, plus the edges the vectors do not reach."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.integrations.wecom.crypto import (
    MalformedMessageError,
    ReceiveIdError,
    ReplayError,
    SignatureError,
    WeComCrypto,
    WeComCryptoError,
    check_timestamp,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "wecom_callback_vectors.json").read_text("utf-8")
)
TOKEN: str = VECTORS["token"]
AES_KEY: str = VECTORS["encoding_aes_key"]
CORP_ID: str = VECTORS["corp_id"]
KEY = base64.b64decode(AES_KEY + "=")
TS, NONCE = "1763856000", "261981251"

# The reference's `why` texts -> the exception each must raise.
BAD_WHY = {
    "signature does not match": SignatureError,
    "receive id mismatch": ReceiveIdError,
    "body is not XML": MalformedMessageError,
}


def crypto(token: str = TOKEN, aes_key: str = AES_KEY, receive_id: str = CORP_ID) -> WeComCrypto:
    return WeComCrypto(token, aes_key, receive_id)


def envelope(encrypted: str) -> bytes:
    to_user = f"<ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
    return f"<xml>{to_user}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()


def aes_raw(data: bytes, *, decrypt: bool = False) -> bytes:
    """AES-256-CBC without any padding: lets a test build (or read) exactly the bytes it needs."""
    cipher = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16]))
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def post_raw(padded: bytes) -> str:
    """Encrypt already-padded bytes, sign them properly and post them: only the payload is wrong."""
    c = crypto()
    encrypted = base64.b64encode(aes_raw(padded)).decode()
    return c.decrypt_callback(
        msg_signature=c.signature(TS, NONCE, encrypted), timestamp=TS, nonce=NONCE, body=envelope(encrypted)
    )


def layout(msg: bytes, receive_id: bytes = CORP_ID.encode(), *, msg_len: int | None = None) -> bytes:
    length = len(msg) if msg_len is None else msg_len
    return b"R" * 16 + length.to_bytes(4, "big") + msg + receive_id


def pad32(content: bytes) -> bytes:
    n = 32 - len(content) % 32
    return content + bytes([n]) * n


# --- the reference vectors ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["url_verification"], ids=lambda v: v["nonce"])
def test_url_verification_returns_the_expected_reply_exactly(vector: dict[str, str]):
    reply = crypto().verify_url(
        msg_signature=vector["msg_signature"],
        timestamp=vector["timestamp"],
        nonce=vector["nonce"],
        echostr=vector["echostr"],
    )
    assert reply == vector["expected_reply"]


@pytest.mark.parametrize("vector", VECTORS["callbacks"], ids=lambda v: f"{v['kind']}-{v['nonce']}")
def test_callbacks_decrypt_to_the_reference_plaintext(vector: dict[str, str]):
    plaintext = crypto().decrypt_callback(
        msg_signature=vector["msg_signature"],
        timestamp=vector["timestamp"],
        nonce=vector["nonce"],
        body=vector["body"].encode(),
    )
    assert plaintext == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS["bad"], ids=lambda v: v["why"])
def test_bad_vectors_are_rejected_with_the_right_error(vector: dict[str, str]):
    expected = [exc for why, exc in BAD_WHY.items() if why in vector["why"]]
    assert len(expected) == 1, f"no expectation for {vector['why']!r}"
    with pytest.raises(expected[0]):
        crypto().decrypt_callback(
            msg_signature=vector["msg_signature"],
            timestamp=vector["timestamp"],
            nonce=vector["nonce"],
            body=vector["body"].encode(),
        )


def test_every_bad_vector_has_an_expectation():
    assert len(VECTORS["bad"]) == len(BAD_WHY)


@pytest.mark.parametrize("vector", VECTORS["callbacks"], ids=lambda v: f"{v['kind']}-{v['nonce']}")
def test_encrypt_reproduces_the_reference_ciphertext_given_its_random_bytes(vector: dict[str, str]):
    encrypted = envelope_encrypt(vector["body"])
    random16 = aes_raw(base64.b64decode(encrypted), decrypt=True)[:16]
    ours = crypto().encrypt(
        vector["plaintext"], nonce=vector["nonce"], timestamp=vector["timestamp"], random16=random16
    )
    assert ours == (encrypted, vector["msg_signature"])


def envelope_encrypt(body: str) -> str:
    start = body.index("<Encrypt><![CDATA[") + len("<Encrypt><![CDATA[")
    return body[start : body.index("]]></Encrypt>")]


def test_signature_is_over_the_sorted_parts():
    v = VECTORS["url_verification"][0]
    assert crypto().signature(v["timestamp"], v["nonce"], v["echostr"]) == v["msg_signature"]


# --- construction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aes_key",
    [
        AES_KEY[:-1],
        AES_KEY + "A",
        AES_KEY + "=",
        "",
        "!" * 43,
        base64.b64encode(b"k" * 16).decode().rstrip("="),
    ],
)
def test_an_encoding_aes_key_that_is_not_32_bytes_is_refused(aes_key: str):
    with pytest.raises(ValueError):
        WeComCrypto(TOKEN, aes_key, CORP_ID)


@pytest.mark.parametrize(("token", "receive_id"), [("", CORP_ID), (TOKEN, "")])
def test_empty_token_or_receive_id_is_refused(token: str, receive_id: str):
    with pytest.raises(ValueError):
        WeComCrypto(token, AES_KEY, receive_id)


# --- signature ---------------------------------------------------------------------------------------


def test_signature_is_checked_before_decrypting():
    # Garbage that would fail to decrypt: a wrong signature must be reported first (no padding oracle).
    with pytest.raises(SignatureError):
        crypto().decrypt_callback(
            msg_signature="0" * 40, timestamp=TS, nonce=NONCE, body=envelope("%%%not base64")
        )


@pytest.mark.parametrize("signature", ["", "签名" * 20, "5EF03419F002626746CDCF47F9162F7E863910D3"])
def test_odd_signatures_are_signature_errors_not_crashes(signature: str):
    v = VECTORS["callbacks"][0]
    with pytest.raises(SignatureError):
        crypto().decrypt_callback(
            msg_signature=signature, timestamp=v["timestamp"], nonce=v["nonce"], body=v["body"].encode()
        )


@pytest.mark.parametrize("field", ["timestamp", "nonce"])
def test_a_changed_query_parameter_breaks_the_signature(field: str):
    v = dict(VECTORS["callbacks"][0])
    v[field] = v[field] + "1"
    with pytest.raises(SignatureError):
        crypto().decrypt_callback(
            msg_signature=v["msg_signature"],
            timestamp=v["timestamp"],
            nonce=v["nonce"],
            body=v["body"].encode(),
        )


def test_wrong_token_is_rejected():
    v = VECTORS["callbacks"][0]
    with pytest.raises(SignatureError):
        crypto(token=TOKEN + "x").decrypt_callback(
            msg_signature=v["msg_signature"],
            timestamp=v["timestamp"],
            nonce=v["nonce"],
            body=v["body"].encode(),
        )


def test_url_verification_with_a_wrong_signature_is_rejected():
    v = VECTORS["url_verification"][0]
    with pytest.raises(SignatureError):
        crypto().verify_url(
            msg_signature="f" * 40, timestamp=v["timestamp"], nonce=v["nonce"], echostr=v["echostr"]
        )


def test_tampered_ciphertext_is_rejected():
    v = VECTORS["callbacks"][0]
    encrypted = envelope_encrypt(v["body"])
    raw = bytearray(base64.b64decode(encrypted))
    raw[5] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SignatureError):
        crypto().decrypt_callback(
            msg_signature=v["msg_signature"], timestamp=TS, nonce=NONCE, body=envelope(tampered)
        )


def test_tampered_ciphertext_signed_with_the_token_still_fails_to_decrypt():
    # Someone holding the Token but not the key: AES-CBC is not authenticated, so this leans on the layout
    # checks. Flipping a bit in the block before last garbles the last block, i.e. receive id and padding.
    c = crypto()
    encrypted, _ = c.encrypt("<xml/>", nonce=NONCE, timestamp=TS)
    raw = bytearray(base64.b64decode(encrypted))
    raw[-17] ^= 0x80
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises((MalformedMessageError, ReceiveIdError)):
        c.decrypt_callback(
            msg_signature=c.signature(TS, NONCE, tampered), timestamp=TS, nonce=NONCE, body=envelope(tampered)
        )


def test_wrong_aes_key_is_rejected():
    v = VECTORS["callbacks"][0]
    other_key = base64.b64encode(b"\x01" * 32).decode().rstrip("=")
    with pytest.raises((MalformedMessageError, ReceiveIdError)):
        crypto(aes_key=other_key).decrypt_callback(
            msg_signature=v["msg_signature"],
            timestamp=v["timestamp"],
            nonce=v["nonce"],
            body=v["body"].encode(),
        )


def test_another_receive_id_is_rejected_even_with_a_valid_signature():
    v = VECTORS["callbacks"][0]
    with pytest.raises(ReceiveIdError):
        crypto(receive_id="wwffffffffffffffff").decrypt_callback(
            msg_signature=v["msg_signature"],
            timestamp=v["timestamp"],
            nonce=v["nonce"],
            body=v["body"].encode(),
        )


# --- envelope ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not xml",
        b"<xml><ToUserName>x</ToUserName></xml>",  # no Encrypt
        b"<xml><Encrypt></Encrypt></xml>",  # empty Encrypt
        b"<xml><Other><Encrypt>abc</Encrypt></Other></xml>",  # Encrypt must be a child of the root
        b"<xml><Encrypt>abc</Encrypt>",  # not well formed
    ],
)
def test_envelopes_without_a_usable_encrypt_are_malformed(body: bytes):
    with pytest.raises(MalformedMessageError):
        crypto().decrypt_callback(msg_signature="0" * 40, timestamp=TS, nonce=NONCE, body=body)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Encrypt>&lol3;</Encrypt></xml>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Encrypt>&xxe;</Encrypt></xml>"""
BARE_DTD = b"""<?xml version="1.0"?><!DOCTYPE xml><xml><Encrypt>abc</Encrypt></xml>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, BARE_DTD], ids=["bomb", "xxe", "dtd"])
def test_xml_bombs_entities_and_dtds_are_refused(body: bytes):
    with pytest.raises(MalformedMessageError):
        crypto().decrypt_callback(msg_signature="0" * 40, timestamp=TS, nonce=NONCE, body=body)


def test_encrypt_is_read_exactly_as_sent():
    # The signature covers the Encrypt text byte for byte: surrounding whitespace is not ours to strip.
    v = VECTORS["callbacks"][0]
    body = v["body"].replace("<![CDATA[a82+", "<![CDATA[ a82+").encode()
    with pytest.raises(SignatureError):
        crypto().decrypt_callback(
            msg_signature=v["msg_signature"], timestamp=v["timestamp"], nonce=v["nonce"], body=body
        )


# --- payload and padding -----------------------------------------------------------------------------


@pytest.mark.parametrize("encrypted", ["not base64!", "YWJj", "YWJjZA==" * 3 + "x", "QUJD" * 5])
def test_bad_base64_or_block_length_is_malformed(encrypted: str):
    c = crypto()
    with pytest.raises(MalformedMessageError):
        c.decrypt_callback(
            msg_signature=c.signature(TS, NONCE, encrypted),
            timestamp=TS,
            nonce=NONCE,
            body=envelope(encrypted),
        )


@pytest.mark.parametrize("msg_len", range(20, 60))
def test_padding_runs_from_1_to_32_bytes(msg_len: int):
    # 16 + 4 + msg + 18-byte corp id: msg lengths 20..59 cover every pad length 1..32 at least once.
    c = crypto()
    msg = "x" * msg_len
    encrypted, signature = c.encrypt(msg, nonce=NONCE, timestamp=TS)
    padded = aes_raw(base64.b64decode(encrypted), decrypt=True)
    assert len(padded) % 32 == 0
    assert padded[-1] == 32 - (16 + 4 + msg_len + len(CORP_ID)) % 32
    assert (
        c.decrypt_callback(msg_signature=signature, timestamp=TS, nonce=NONCE, body=envelope(encrypted))
        == msg
    )


def test_a_full_block_of_padding_is_used_when_the_content_fills_its_blocks():
    content = layout(b"y" * 26)  # 16 + 4 + 26 + 18 = 64
    assert len(content) % 32 == 0
    assert post_raw(content + bytes([32]) * 32) == "y" * 26


@pytest.mark.parametrize(
    "padded",
    [
        pytest.param(layout(b"m" * 26), id="no padding (last byte is content)"),
        pytest.param(layout(b"m" * 25) + b"\x00", id="pad byte 0"),
        pytest.param(layout(b"m" * 26)[:-1] + b"\x21", id="pad byte 33"),
        pytest.param(layout(b"m" * 20) + b"\x06\x06\x06\x06\x05\x06", id="inconsistent pad bytes"),
        pytest.param(pad32(layout(b"m" * 10))[:16], id="one AES block only"),
        pytest.param(pad32(layout(b"m" * 10)) + b"\x10" * 16, id="length not a multiple of 32"),
    ],
)
def test_bad_padding_is_malformed(padded: bytes):
    with pytest.raises(MalformedMessageError):
        post_raw(padded)


def test_sixteen_byte_pkcs7_is_not_enough_where_wecom_pads_more():
    # 16 + 4 + 1 + 18 = 39 -> WeCom pads 25 bytes; a 16-byte-block implementation would pad 9 and be refused.
    with pytest.raises(MalformedMessageError):
        post_raw(layout(b"z") + b"\x09" * 9)
    assert post_raw(layout(b"z") + b"\x19" * 25) == "z"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"R" * 19, id="shorter than random + length"),
        pytest.param(layout(b"abc", msg_len=10_000), id="length beyond the content"),
        pytest.param(layout(b"\xff\xfe<xml/>"), id="message not UTF-8"),
    ],
)
def test_bad_inner_layout_is_malformed(content: bytes):
    with pytest.raises(MalformedMessageError):
        post_raw(pad32(content))


@pytest.mark.parametrize(
    "receive_id", [b"", CORP_ID.encode()[:-1], CORP_ID.encode() + b"x", CORP_ID.upper().encode()]
)
def test_receive_id_must_match_exactly(receive_id: bytes):
    with pytest.raises(ReceiveIdError):
        post_raw(pad32(layout(b"<xml/>", receive_id)))


def test_random16_must_be_16_bytes():
    with pytest.raises(ValueError):
        crypto().encrypt("x", nonce=NONCE, timestamp=TS, random16=b"short")


def test_encryption_uses_fresh_random_bytes():
    c = crypto()
    assert c.encrypt("same", nonce=NONCE, timestamp=TS) != c.encrypt("same", nonce=NONCE, timestamp=TS)


# --- round trips -------------------------------------------------------------------------------------


@given(
    text=st.text(),
    random16=st.binary(min_size=16, max_size=16),
    nonce=st.text(min_size=1, max_size=20),
    timestamp=st.from_regex(r"\A[0-9]{10}\Z"),
)
def test_encrypt_then_decrypt_returns_any_text_exactly(
    text: str, random16: bytes, nonce: str, timestamp: str
):
    c = crypto()
    encrypted, signature = c.encrypt(text, nonce=nonce, timestamp=timestamp, random16=random16)
    assert (
        c.decrypt_callback(
            msg_signature=signature, timestamp=timestamp, nonce=nonce, body=envelope(encrypted)
        )
        == text
    )
    assert c.verify_url(msg_signature=signature, timestamp=timestamp, nonce=nonce, echostr=encrypted) == text


@given(text=st.text(min_size=1))
def test_a_reply_encrypted_for_one_tenant_is_refused_by_another(text: str):
    ours, theirs = crypto(), crypto(receive_id="wwffffffffffffffff")
    encrypted, signature = theirs.encrypt(text, nonce=NONCE, timestamp=TS)
    with pytest.raises(ReceiveIdError):
        ours.decrypt_callback(msg_signature=signature, timestamp=TS, nonce=NONCE, body=envelope(encrypted))


def test_all_errors_share_one_base():
    for exc in (SignatureError, ReceiveIdError, MalformedMessageError, ReplayError):
        assert issubclass(exc, WeComCryptoError)


# --- replay window -----------------------------------------------------------------------------------

NOW = datetime.fromtimestamp(int(TS), UTC)


@pytest.mark.parametrize("offset", [0, 1, -1, 299, -299, 300, -300])
def test_timestamps_within_five_minutes_pass(offset: int):
    check_timestamp(TS, now=NOW + timedelta(seconds=offset))


@pytest.mark.parametrize("offset", [301, -301, 3600, -86400 * 365])
def test_timestamps_outside_five_minutes_are_replays(offset: int):
    with pytest.raises(ReplayError):
        check_timestamp(TS, now=NOW + timedelta(seconds=offset))


def test_the_window_can_be_changed():
    check_timestamp(TS, now=NOW + timedelta(minutes=9), window=timedelta(minutes=10))
    with pytest.raises(ReplayError):
        check_timestamp(TS, now=NOW + timedelta(seconds=61), window=timedelta(minutes=1))


@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        "abc",
        " 1763856000",
        "1763856000 ",
        "+1763856000",
        "-1",
        "1_763_856_000",
        "1763856000.5",
        "١٧٦٣٨٥٦٠٠٠",
        "9" * 40,
    ],
)
def test_non_integer_timestamps_are_replays(timestamp: str):
    with pytest.raises(ReplayError):
        check_timestamp(timestamp, now=NOW)


def test_the_clock_must_be_timezone_aware():
    with pytest.raises(ValueError):
        check_timestamp(TS, now=datetime(2025, 11, 23))  # naive on purpose


def test_vector_timestamps_pass_against_their_own_time():
    for v in VECTORS["url_verification"] + VECTORS["callbacks"]:
        check_timestamp(v["timestamp"], now=datetime.fromtimestamp(int(v["timestamp"]), UTC))
