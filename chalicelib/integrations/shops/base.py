"""What every shop webhook adapter shares: the interface, the two errors, and small pure helpers.

An adapter turns one signed HTTP delivery from a shop platform into `OrderEvent`s. It never touches AWS or
the network: the caller (the webhook route) reads the tenant's credentials, calls `verify` on the raw
bytes, then `parse`, stores what comes back and answers with `ack()`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, PlainSerializer, ValidationError

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.customers import Identity, normalize_identity_value, validate_identity_type
from chalicelib.domain.money import parse_money
from chalicelib.domain.orders import OrderEvent, OrderStatus
from chalicelib.domain.shop_notices import ShopNotice

# China has had no daylight saving since 1991: a fixed offset is exact and needs no tz database.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class SignatureError(Exception):
    """The delivery is not authentic (missing/wrong signature, stale timestamp, wrong app or shop):
    answer 401 and keep nothing."""


class PayloadError(Exception):
    """The delivery is authentic but its content is not what the platform documents; the message names
    the offending field (`order.items[0].unit_price: ...`)."""


class Rejected(BaseModel):
    """One message of an authentic delivery that cannot be used (a batch element 抖店 sent malformed, a
    Youzan message whose content is not as documented). Kept in the inbox with the reason and acknowledged
    with the rest: refusing the delivery would make the platform resend it, valid messages included, and
    count towards its circuit breaker."""

    reason: str  # names the field: `[3].data.pay_amount: an amount in fen must be an integer, got 'x'`
    raw: Any  # the message as received
    key: str  # stable per message (its id, else a digest), so a redelivery is recognisable


def digest(raw: Any) -> str:
    """A stable short id for a message that has none of its own."""
    text = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ShopAdapter(Protocol):
    platform: str
    # What PUT /v1/integrations/shop/{platform} accepts; secret fields are SecretStr.
    credentials_model: type[BaseModel]

    def verify(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, now: datetime
    ) -> None:
        """Raise SignatureError unless `body` (the raw bytes, before any parsing) is authentic.
        `headers` keys are lower-case."""
        ...

    def parse(
        self, *, headers: Mapping[str, str], body: bytes, credentials: BaseModel, received_at: datetime
    ) -> Sequence[OrderEvent | Rejected | ShopNotice]:
        """The order events in a verified delivery, and the messages in it that cannot be used (Rejected,
        kept with their reason). [] for valid messages that are not order events (test pushes, types we do
        not map): the caller keeps the raw body for those. Also shop notices (customer records, privacy
        requests, an uninstalled app: domain/shop_notices.py) from platforms that send them.
        PayloadError if the delivery as a whole is not what the platform documents (not JSON, not the
        documented envelope)."""
        ...

    def ack(self) -> tuple[int, str, str]:
        """(HTTP status, content type, body) the platform expects on success."""
        ...


# -- credentials -------------------------------------------------------------------------------------------
C = TypeVar("C", bound=BaseModel)


def expect_credentials(credentials: BaseModel, model: type[C]) -> C:
    """The protocol takes any BaseModel; an adapter handed another platform's credentials is a wiring bug."""
    if not isinstance(credentials, model):
        raise TypeError(f"expected {model.__name__}, got {type(credentials).__name__}")
    return credentials


# -- signatures --------------------------------------------------------------------------------------------
def require_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise SignatureError(f"missing header {name}")
    return value


def same(expected: str, given: str) -> bool:
    """Constant-time comparison (never `==` on secrets or signatures: it leaks the matching prefix)."""
    return hmac.compare_digest(expected.encode(), given.encode())


# -- JSON and pydantic -----------------------------------------------------------------------------------
def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def load_json(raw: bytes | str, *, where: str = "body") -> Any:
    """JSON with non-integer numbers as Decimal (a float would lose the fen) and NaN/Infinity refused."""
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PayloadError(f"{where} is not valid JSON: {e}") from None


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, *, where: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise PayloadError(describe(e, where=where)) from None


def describe(error: ValidationError, *, where: str = "") -> str:
    """`order.items[0].quantity: Input should be a valid integer; …` — every failing field, by path."""
    parts = []
    for err in error.errors(include_url=False):
        path = where
        for loc in err["loc"]:
            path += f"[{loc}]" if isinstance(loc, int) else (f".{loc}" if path else str(loc))
        parts.append(f"{path or 'body'}: {err['msg']}")
    return "; ".join(parts)


# -- amounts -----------------------------------------------------------------------------------------------
# Platforms are not our API: what they send goes through the one money parser (domain/money.py) with the
# options their formats need, stated here once. Youzan (有赞 "payment": "0.01", yuan strings) and Shopify
# (REST Admin API money fields, decimal strings in the shop currency, e.g. "199.00") send strings; the
# generic format documents a bare JSON number as accepted, read exactly (docs/integrations.md); Shopify
# currencies such as KWD have 3 decimal places. So: numbers read exactly (`load_json` makes them Decimal,
# never float) and rounding half-up to the fen, as docs/integrations.md says. Exponents, spaces, floats,
# NaN and amounts beyond the bound are refused like everywhere else.
def platform_amount(value: object) -> Decimal:
    return parse_money(value, numbers=True, rounding=True)


def fen(value: object, *, field: str) -> Decimal:
    """An integer amount in fen (抖店 sends these: "pay_amount": 8990 is 89.90 yuan) → yuan, exact."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{field}: an amount in fen must be an integer, got {value!r}")
    try:
        return parse_money(Decimal(value).scaleb(-2))
    except ValueError as e:
        raise PayloadError(f"{field}: {e}") from None


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _money_text(value: Decimal) -> str:
    return f"{value:.2f}"


# A platform amount (see above), serialised as "12.50".
PlatformAmount = Annotated[
    Decimal, BeforeValidator(platform_amount), PlainSerializer(_money_text, return_type=str)
]
# A platform amount that may be absent, null or "" (platform payloads use all three for "not set").
OptionalAmount = Annotated[PlatformAmount | None, BeforeValidator(_blank_is_none)]


# -- time --------------------------------------------------------------------------------------------------
def from_epoch(value: object, *, field: str) -> datetime | None:
    """Unix seconds (int or digit string) → aware UTC datetime; 0/empty → None (platforms use 0 for unset)."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(f"{field}: expected unix seconds, got {value!r}")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        raise PayloadError(f"{field}: {value!r} is not a unix timestamp") from None


def from_china_local(value: object, *, field: str) -> datetime | None:
    """`2024-05-01 12:30:00` in Beijing time (Youzan) → aware datetime. Youzan sends `{}` or "" for unset
    dates (see its sample pushes), so anything that is not a non-empty string means "not set"."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(f"{field}: {value!r} is not a date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


def from_iso(value: object, *, field: str) -> datetime | None:
    """ISO-8601 with an offset (Shopify); a naive value is refused rather than guessed."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{field}: expected an ISO-8601 date-time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"{field}: {value!r} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{field}: {value!r} has no UTC offset")
    return parsed


# -- identities --------------------------------------------------------------------------------------------
def identities(candidates: Iterable[tuple[str, object]]) -> tuple[list[Identity], list[str]]:
    """Normalised, de-duplicated buyer identities from (type, raw value) pairs, and the types whose value
    was unusable (e.g. a phone that is not a valid number).

    Platform data is not ours to reject: one bad phone must not lose the order (the platform would retry the
    delivery forever), so an unusable value is dropped and reported instead of raising."""
    found: list[Identity] = []
    ignored: list[str] = []
    seen: set[tuple[str, str]] = set()
    for type_, raw in candidates:
        if raw is None or isinstance(raw, bool):
            continue
        text = str(raw).strip()
        if not text or text == "0":  # Youzan/Doudian use 0 for "no id"
            continue
        try:
            ident = Identity(type=validate_identity_type(type_), value=normalize_identity_value(type_, text))
        except InvalidInputError:
            ignored.append(type_)
            continue
        if ident.key not in seen:
            seen.add(ident.key)
            found.append(ident)
    return found, ignored


def fallback_dedupe_key(platform: str, shop_id: str, order_id: str, status: OrderStatus) -> str:
    """For messages without a platform message id: one event per (shop, order, status), which is what
    makes a redelivery — or two platform events meaning the same status — a no-op."""
    return f"{platform}:{shop_id}:{order_id}:{status.value}"


def refund_dedupe_key(
    platform: str,
    shop_id: str,
    order_id: str,
    status: OrderStatus,
    *,
    refund_id: str | None,
    amount: Decimal | None,
    at: datetime | None,
) -> str:
    """For refund messages without a platform message id: what identifies the refund (its id, amount and
    time), not the order status, so a second partial refund of the same order is not taken for a
    redelivery of the first. A redelivery carries the same three and is still a no-op."""
    parts = [
        refund_id or "-",
        f"{amount:.2f}" if amount is not None else "-",
        at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if at else "-",
    ]
    return f"{fallback_dedupe_key(platform, shop_id, order_id, status)}:{':'.join(parts)}"
