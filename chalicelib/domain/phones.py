"""Phone numbers: normalise what people type to E.164 and mask it for display."""

from __future__ import annotations

import re

from chalicelib.domain.common import InvalidInputError

_NOISE = re.compile(r"[\s\-().（）]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str) -> str:
    """`+86 138 1234 5678`, `138-1234-5678`, `8613812345678`, `(+86)13812345678`, `0086…` → `+8613812345678`.

    Without a `+` or a country prefix the number must be a CN mobile; with one, any valid E.164 number."""
    text = _NOISE.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        if len(text) == 13 and text.startswith("86") and _CN_MOBILE.match(text[2:]):
            text = "+" + text
        elif _CN_MOBILE.match(text):
            text = "+86" + text
        else:
            raise InvalidInputError(f"'{raw}' is not a CN mobile number or an E.164 number")
    import phonenumbers  # its metadata costs ~12 ms at import: loaded by the first phone, not at cold start

    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as e:
        raise InvalidInputError(f"'{raw}' is not a phone number") from e
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInputError(f"'{raw}' is not a valid phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164.startswith("+86") and not _CN_MOBILE.match(e164[3:]):
        raise InvalidInputError(f"'{raw}' is not a CN mobile number")
    return e164


def mask_phone(e164: str) -> str:
    """CN mobiles as `138****1234`; other numbers keep the country code and the last four digits."""
    if e164.startswith("+86") and len(e164) == 14:
        national = e164[3:]
        return f"{national[:3]}****{national[-4:]}"
    return f"{e164[:3]}{'*' * max(len(e164) - 7, 0)}{e164[-4:]}"
