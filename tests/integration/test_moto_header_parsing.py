"""The local stack's header parsing (chalicelib/local/moto_patches.py) reads what the email parser reads."""

from __future__ import annotations

import email.parser
import http.client
import io

import pytest

from chalicelib.local import moto_patches

moto_patches.install()

CASES = [
    b"Host: 127.0.0.1:5000\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: 12\r\n\r\n",
    b"Authorization: AWS4-HMAC-SHA256 Credential=local/20261204/us-east-1/dynamodb/aws4_request, "
    b"SignedHeaders=host;x-amz-date, Signature=abc\r\nX-Amz-Date: 20261204T000000Z\r\n\r\n",
    b"Accept: */*\r\nAccept: text/plain\r\nEmpty:\r\nSpaced:   value with: colon  \r\n\r\n",
    b"Folded: first\r\n  second line\r\nOther: x\r\n\r\n",  # obsolete folding: the email parser's way
    b"No-Colon-Line\r\nOther: x\r\n\r\n",
    b"\r\n",
]


@pytest.mark.parametrize("raw", CASES)
def test_headers_read_as_the_email_parser_reads_them(raw: bytes) -> None:
    fast = http.client.parse_headers(io.BytesIO(raw + b"BODY"))
    slow = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(raw.decode("iso-8859-1"))
    assert fast.items() == slow.items()
    assert fast.get_all("Accept") == slow.get_all("Accept")


def test_the_body_after_the_headers_is_left_unread() -> None:
    stream = io.BytesIO(CASES[0] + b'{"k": "v"}')
    http.client.parse_headers(stream)
    assert stream.read() == b'{"k": "v"}'
