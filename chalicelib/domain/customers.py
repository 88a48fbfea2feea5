"""The customer profile, its identities and timeline: pure data and rules."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.access import Ownership
from chalicelib.domain.common import InvalidInputError, new_id
from chalicelib.domain.phones import mask_phone, normalize_phone

# legacy_id: a customer id from a system migrated by import (kept so re-imports and support can find them).
FIXED_IDENTITY_TYPES = frozenset(
    {"wecom_external_userid", "unionid", "openid", "phone", "legacy_id", "doudian_open_id"}
)
_PLATFORM_BUYER = re.compile(r"^[a-z][a-z0-9]{1,23}_buyer_id$")
MAX_IDENTITY_VALUE = 128


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


_GENDER_ALIASES = {
    "male": Gender.MALE,
    "m": Gender.MALE,
    "男": Gender.MALE,
    "1": Gender.MALE,
    "female": Gender.FEMALE,
    "f": Gender.FEMALE,
    "女": Gender.FEMALE,
    "2": Gender.FEMALE,
    "unknown": Gender.UNKNOWN,
    "": Gender.UNKNOWN,
    "0": Gender.UNKNOWN,
    "未知": Gender.UNKNOWN,
}


def parse_gender(value: str) -> Gender:
    """Gender as WeCom (0/1/2), exports (男/女/M/F) and our API (male/female/unknown) write it."""
    try:
        return _GENDER_ALIASES[value.strip().lower()]
    except KeyError:
        raise InvalidInputError(f"'{value}' is not a gender (male, female, unknown, 男, 女)") from None


def validate_identity_type(value: str) -> str:
    if value in FIXED_IDENTITY_TYPES or _PLATFORM_BUYER.match(value):
        return value
    raise InvalidInputError(
        f"'{value}' is not an identity type "
        "(wecom_external_userid, unionid, openid, phone, <platform>_buyer_id)"
    )


def normalize_identity_value(type_: str, value: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInputError("an identity value must not be empty")
    if len(text) > MAX_IDENTITY_VALUE:
        raise InvalidInputError(f"an identity value has at most {MAX_IDENTITY_VALUE} characters")
    return normalize_phone(text) if type_ == "phone" else text


class Identity(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    value: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.value)


def name_key(name: str) -> str:
    """What name search compares: NFKC, case-folded, spaces removed (全角/半角 and case insensitive)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).casefold()


class WeComFollowTag(BaseModel):
    """A tag the staff member put on the customer in WeCom (`externalcontact/get` follow_user[].tags)."""

    name: str
    group: str | None = None
    tag_id: str | None = None  # 企业标签 and 规则组标签 only; personal tags have none
    type: int | None = None  # 1 企业设置, 2 用户自定义, 3 规则组标签


class WeComFollow(BaseModel):
    """A staff member who added the customer in WeCom (企业微信 外部联系人), and how (the channel `state`)."""

    user_id: str
    state: str | None = None
    added_at: datetime | None = None
    removed_at: datetime | None = None  # the relationship ended (del_external_contact / del_follow_user)
    removed_by: str | None = None  # "customer" or "staff"
    # What the member keeps about the customer in WeCom, as `externalcontact/get` last reported it.
    remark: str | None = None
    description: str | None = None
    tags: list[WeComFollowTag] = Field(default_factory=list)
    # The customer agreed to chat archiving (会话存档) with this member (msg_audit_approved), when.
    archive_approved_at: datetime | None = None


APPLIED_KEPT = 8  # redeliveries come minutes after a crash; a few keys cover the touches in between


def applied_hash(idempotency_key: str) -> str:
    # 12 hex characters: a collision within one customer's last 8 touches is out of reach
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]


class Customer(BaseModel):
    """A customer profile. `phone` is the E.164 number in memory only: the store keeps it encrypted."""

    id: str
    tenant_id: str
    name: str
    phone: str | None = None
    # From a shop's customer record (Shopify). Personal like the phone, so stored encrypted too; not an
    # identity (no lookup by it) and not merged: an absorbed customer's e-mail stays on its tombstone.
    email: str | None = None
    gender: Gender = Gender.UNKNOWN
    birthday: date | None = None
    region: str | None = None
    store: str | None = None
    owner_id: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    identities: list[Identity] = Field(default_factory=list)  # excludes phones (kept encrypted)
    other_phones: list[str] = Field(default_factory=list)  # further phones, e.g. from a merge (encrypted too)
    tags: dict[str, str] = Field(default_factory=dict)  # tag id → tag name (denormalised for the 360 view)
    source: str = "api"
    wecom_follows: list[WeComFollow] = Field(default_factory=list)  # staff who have the customer in WeCom
    history: dict[str, list[Any]] = Field(default_factory=dict)  # values a merge did not keep, never lost
    merged_into: str | None = None  # set on a customer absorbed by a merge: a redirect to the survivor
    merged_from: list[str] = Field(default_factory=list)  # absorbed customers whose timelines/orders we show
    recent_orders: list[Any] = Field(default_factory=list)  # OrderSummary dicts, newest first (360 view)
    # Short hashes of the last touches applied to this profile: the touch path writes the profile before
    # the idempotency marker, so a redelivery after a crash between the two must find its key here.
    applied: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    version: int = 1

    @property
    def ownership(self) -> Ownership:
        return Ownership(region=self.region, store=self.store, owner_id=self.owner_id)

    @property
    def phone_masked(self) -> str | None:
        return mask_phone(self.phone) if self.phone else None

    @property
    def email_masked(self) -> str | None:
        return mask_email(self.email) if self.email else None

    def remember(self, idempotency_key: str) -> None:
        self.applied = [*self.applied, applied_hash(idempotency_key)][-APPLIED_KEPT:]

    def has_applied(self, idempotency_key: str) -> bool:
        return applied_hash(idempotency_key) in self.applied

    def all_identities(self) -> list[Identity]:
        """Every identity that must be unique in the tenant, the phones included."""
        phones = ([self.phone] if self.phone else []) + self.other_phones
        return [*self.identities, *(Identity(type="phone", value=p) for p in phones)]

    def has_identity(self, key: tuple[str, str]) -> bool:
        return any(i.key == key for i in self.all_identities())

    def add_identity(self, identity: Identity) -> None:
        if self.has_identity(identity.key):
            return
        if identity.type != "phone":
            self.identities.append(identity)
        elif self.phone is None:
            self.phone = identity.value
        else:
            self.other_phones.append(identity.value)

    def remove_identity(self, key: tuple[str, str]) -> None:
        type_, value = key
        if type_ != "phone":
            self.identities = [i for i in self.identities if i.key != key]
        elif self.phone == value:
            self.phone = self.other_phones.pop(0) if self.other_phones else None
        else:
            self.other_phones = [p for p in self.other_phones if p != value]


def mask_email(email: str) -> str:
    """`w***@example.com`: the first character of the local part and the domain."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def new_customer_id() -> str:
    return new_id("cus")


def split_identities(identities: list[Identity], phone: str | None) -> tuple[list[Identity], str | None]:
    """Take a phone given as an identity into the `phone` field; one phone per customer; no duplicates."""
    others: list[Identity] = []
    seen: set[tuple[str, str]] = set()
    for ident in identities:
        if ident.key in seen:
            continue
        seen.add(ident.key)
        if ident.type == "phone":
            if phone and phone != ident.value:
                raise InvalidInputError("a customer has one phone: the phone identity differs from `phone`")
            phone = ident.value
        else:
            others.append(ident)
    return others, phone


_TRACKED = ("name", "phone", "gender", "birthday", "region", "store", "owner_id", "attributes")


def diff(before: Customer, after: Customer) -> dict[str, list[Any]]:
    """Changed fields as {field: [old, new]}, PII masked, for the timeline and audit."""
    changes: dict[str, list[Any]] = {}
    for field in _TRACKED:
        old, new = getattr(before, field), getattr(after, field)
        if old != new:
            if field == "phone":
                old, new = before.phone_masked, after.phone_masked
            changes[field] = [_plain(old), _plain(new)]
    if {i.key for i in before.identities} != {i.key for i in after.identities}:
        changes["identities"] = [
            sorted(f"{t}:{v}" for t, v in (i.key for i in before.identities)),
            sorted(f"{t}:{v}" for t, v in (i.key for i in after.identities)),
        ]
    return changes


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return value


# -- commands (validated input) ----------------------------------------------------------------------
def _as_value_error(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except InvalidInputError as e:
        raise ValueError(e.message) from None


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1, max_length=MAX_IDENTITY_VALUE)

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        return str(_as_value_error(validate_identity_type, v))

    @model_validator(mode="after")
    def _value(self) -> IdentityIn:
        self.value = _as_value_error(normalize_identity_value, self.type, self.value)
        return self

    def to_identity(self) -> Identity:
        return Identity(type=self.type, value=self.value)


def _phone(v: str | None) -> str | None:
    return None if v is None or not v.strip() else str(_as_value_error(normalize_phone, v))


def _gender(v: Any) -> Any:
    return _as_value_error(parse_gender, v) if isinstance(v, str) else v


def _birthday(v: date | None) -> date | None:
    if v is not None and not (date(1900, 1, 1) <= v <= date.today()):
        raise ValueError("birthday must be between 1900-01-01 and today")
    return v


Name = Annotated[str, Field(min_length=1, max_length=64)]
ShortText = Annotated[str, Field(min_length=1, max_length=64)]


class CustomerDraft(BaseModel):
    """What a caller gives to create a customer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    phone: str | None = None
    gender: Gender = Gender.UNKNOWN
    birthday: date | None = None
    region: ShortText | None = None
    store: ShortText | None = None
    owner_id: ShortText | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=100)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("phone")
    @classmethod
    def check_phone(cls, v: str | None) -> str | None:
        return _phone(v)

    @field_validator("gender", mode="before")
    @classmethod
    def check_gender(cls, v: Any) -> Any:
        return _gender(v)

    @field_validator("birthday")
    @classmethod
    def check_birthday(cls, v: date | None) -> date | None:
        return _birthday(v)


class CustomerPatch(BaseModel):
    """A partial update: only the fields present change. `identities` replaces the set (phone aside);
    `attributes` merges, and a key set to null is removed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    phone: str | None = None
    gender: Gender | None = None
    birthday: date | None = None
    region: ShortText | None = None
    store: ShortText | None = None
    owner_id: ShortText | None = None
    attributes: dict[str, Any] | None = Field(default=None, max_length=100)
    identities: list[IdentityIn] | None = Field(default=None, max_length=20)
    version: int | None = Field(default=None, ge=1, description="Alternative to the If-Match header")

    @field_validator("phone")
    @classmethod
    def check_phone(cls, v: str | None) -> str | None:
        return _phone(v)

    @field_validator("gender", mode="before")
    @classmethod
    def check_gender(cls, v: Any) -> Any:
        return _gender(v)

    @field_validator("birthday")
    @classmethod
    def check_birthday(cls, v: date | None) -> date | None:
        return _birthday(v)

    @model_validator(mode="after")
    def _name_not_cleared(self) -> CustomerPatch:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be removed")
        return self


def apply_patch(customer: Customer, patch: CustomerPatch, *, now: datetime) -> Customer:
    """The customer after the patch (a new object); identity uniqueness is the store's to enforce."""
    updated = customer.model_copy(deep=True)
    fields = patch.model_fields_set - {"version", "identities", "attributes"}
    for field in fields:
        setattr(updated, field, getattr(patch, field))
    if updated.gender is None:
        updated.gender = Gender.UNKNOWN
    if patch.attributes is not None:
        merged = {**updated.attributes, **patch.attributes}
        updated.attributes = {k: v for k, v in merged.items() if v is not None}
    if patch.identities is not None:
        # A phone in `identities` sets the phone unless `phone` is given too (then they must agree);
        # leaving the phone out of `identities` keeps it: only `phone: null` removes it.
        explicit = updated.phone if "phone" in patch.model_fields_set else None
        others, phone = split_identities([i.to_identity() for i in patch.identities], explicit)
        updated.identities = others
        if phone is not None:
            updated.phone = phone
    if updated != customer:
        updated.updated_at = now
        updated.version = customer.version + 1
    return updated


_MERGED_SCALARS = ("name", "gender", "birthday", "region", "store", "owner_id")
PLACEHOLDER_PREFIXES = ("客户 ", "企业微信客户 ")


def is_placeholder_name(name: str) -> bool:
    """A name we made up until a source tells us the real one (see the resolver's placeholder)."""
    return name.startswith(PLACEHOLDER_PREFIXES)


def merge_into(survivor: Customer, absorbed: Customer, *, now: datetime) -> Customer:
    """The survivor after absorbing another customer. Nothing is lost: identities, tags and follows are
    united; a scalar the survivor lacks is taken; a conflicting value is kept in `history`."""
    merged = survivor.model_copy(deep=True)
    for ident in absorbed.all_identities():
        merged.add_identity(ident)
    merged.tags.update({k: v for k, v in absorbed.tags.items() if k not in merged.tags})
    known = {(f.user_id, f.added_at) for f in merged.wecom_follows}
    merged.wecom_follows += [f for f in absorbed.wecom_follows if (f.user_id, f.added_at) not in known]
    for name in _MERGED_SCALARS:
        mine, theirs = getattr(merged, name), getattr(absorbed, name)
        if theirs in (None, Gender.UNKNOWN) or theirs == mine:
            continue
        if name == "name" and is_placeholder_name(theirs):
            continue
        if mine in (None, Gender.UNKNOWN) or (name == "name" and is_placeholder_name(mine)):
            setattr(merged, name, theirs)
        else:
            merged.history.setdefault(name, []).append(_plain(theirs))
    for key, value in absorbed.attributes.items():
        if key not in merged.attributes:
            merged.attributes[key] = value
        elif merged.attributes[key] != value:
            merged.history.setdefault(f"attributes.{key}", []).append(value)
    for key, values in absorbed.history.items():
        merged.history.setdefault(key, []).extend(values)
    merged.merged_from = [*merged.merged_from, absorbed.id, *absorbed.merged_from]
    merged.version = survivor.version + 1
    merged.updated_at = now
    return merged


def tombstone(absorbed: Customer, survivor_id: str, *, now: datetime) -> Customer:
    """What is left of an absorbed customer: its last state (for unmerge) and a redirect."""
    gone = absorbed.model_copy(deep=True)
    gone.merged_into = survivor_id
    gone.version = absorbed.version + 1
    gone.updated_at = now
    return gone


def evidence_text(identities: list[Identity]) -> list[str]:
    """Identities as `type:value` for merge records and timelines, phones masked (PII)."""
    return sorted(f"{i.type}:{mask_phone(i.value) if i.type == 'phone' else i.value}" for i in identities)


def merge_record(
    survivor: Customer,
    absorbed: Customer,
    merged: Customer,
    *,
    evidence: list[Identity],
    reason: str,
    at: datetime,
) -> dict[str, Any]:
    """What a merge changed, so that unmerge can undo exactly that: the tags and fields the survivor took
    from the absorbed customer (the identities are the absorbed customer's own: claims are unique)."""
    filled = {
        name: {"before": _plain(getattr(survivor, name)), "after": _plain(getattr(merged, name))}
        for name in _MERGED_SCALARS
        if getattr(merged, name) != getattr(survivor, name)
    }
    return {
        "absorbed_id": absorbed.id,
        "at": at.isoformat(),
        "reason": reason,
        "evidence": evidence_text(evidence),
        "tags_added": sorted(set(absorbed.tags) - set(survivor.tags)),
        "filled": filled,
        "attributes_added": sorted(set(absorbed.attributes) - set(survivor.attributes)),
        "absorbed_merged_from": [absorbed.id, *absorbed.merged_from],
    }


def split_from(survivor: Customer, restored: Customer, record: dict[str, Any], *, now: datetime) -> Customer:
    """The survivor after an unmerge gives back what the merge brought (changes made since are kept)."""
    after = survivor.model_copy(deep=True)
    for ident in restored.all_identities():
        after.remove_identity(ident.key)
    for tag_id in record.get("tags_added", []):
        after.tags.pop(tag_id, None)
    restored_fields = {
        name: change["before"]
        for name, change in record.get("filled", {}).items()
        if _plain(getattr(after, name)) == change["after"]  # untouched since the merge: give it back
    }
    after = after.model_validate({**after.model_dump(), **restored_fields})
    for key in record.get("attributes_added", []):
        after.attributes.pop(key, None)
    gone = set(record.get("absorbed_merged_from", [restored.id]))
    after.merged_from = [m for m in after.merged_from if m not in gone]
    after.version = survivor.version + 1
    after.updated_at = now
    return after
