from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.phones import mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "+86 138 1234 5678",
        "138-1234-5678",
        "8613812345678",
        "(+86)13812345678",
        "0086 13812345678",
        "13812345678",
        " 138 1234 5678 ",
        "+86-138-1234-5678",
        "（+86）138 1234 5678",
    ],
)
def test_formats_people_type_normalise_to_e164(raw: str):
    assert normalize_phone(raw) == "+8613812345678"


@pytest.mark.parametrize(
    "raw", ["", "12345", "23812345678", "1381234567", "abc", "+86 021 1234 5678", "+1 000"]
)
def test_invalid_numbers_are_rejected(raw: str):
    with pytest.raises(InvalidInputError):
        normalize_phone(raw)


def test_foreign_e164_is_kept():
    assert normalize_phone("+1 (415) 555-0100") == "+14155550100"


def test_masking():
    assert mask_phone("+8613812345678") == "138****5678"
    masked = mask_phone("+14155550100")
    assert masked.endswith("0100") and "555" not in masked


PREFIXES = (
    [f"13{d}" for d in range(10)]
    + ["150", "151", "152", "153", "155", "156", "157", "158", "159"]
    + [f"18{d}" for d in range(10)]
)


@given(
    st.sampled_from(PREFIXES),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.sampled_from(["{}", "+86{}", "86{}", "+86 {}", "0086{}"]),
)
def test_normalise_is_idempotent_for_cn_mobiles(prefix: str, rest: str, fmt: str):
    number = prefix + rest
    once = normalize_phone(fmt.format(number))
    assert once == "+86" + number
    assert normalize_phone(once) == once
