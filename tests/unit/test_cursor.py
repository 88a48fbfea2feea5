from __future__ import annotations

import pytest

from chalicelib.domain.common import InvalidInputError
from chalicelib.store.cursor import CursorCodec

KEY = {"pk": {"S": "T#ten_a#C#cus_1"}, "sk": {"S": "#PROFILE"}}


def test_roundtrip_and_tamper_and_cross_tenant():
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode("ten_a", KEY)
    assert cursor and codec.decode("ten_a", cursor) == KEY
    with pytest.raises(InvalidInputError):
        codec.decode("ten_b", cursor)
    with pytest.raises(InvalidInputError):
        codec.decode("ten_a", cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1])
    with pytest.raises(InvalidInputError):
        CursorCodec(b"x" * 32).decode("ten_a", cursor)
    # a signed cursor naming another tenant's partition is refused too
    forged = codec.encode("ten_a", {"pk": {"S": "T#ten_b#C#cus_1"}, "sk": {"S": "#PROFILE"}})
    with pytest.raises(InvalidInputError):
        codec.decode("ten_a", forged)
    assert codec.encode("ten_a", None) is None and codec.decode("ten_a", None) is None
