from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.customers import (
    Customer,
    CustomerDraft,
    CustomerPatch,
    Gender,
    Identity,
    apply_patch,
    diff,
    name_key,
    split_identities,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def customer(**kw) -> Customer:
    base = {
        "id": "cus_1",
        "tenant_id": "t",
        "name": "张伟",
        "phone": "+8613812345678",
        "created_at": T0,
        "updated_at": T0,
        "identities": [Identity(type="unionid", value="u1")],
    }
    return Customer(**{**base, **kw})


def test_draft_accepts_aliases_and_platform_buyer_ids():
    d = CustomerDraft.model_validate(
        {
            "name": " 李娜 ",
            "gender": "女",
            "identities": [
                {"type": "doudian_buyer_id", "value": " 123 "},
                {"type": "phone", "value": "139 0000 1111"},
            ],
        }
    )
    assert d.name == "李娜" and d.gender is Gender.FEMALE
    assert [i.value for i in d.identities] == ["123", "+8613900001111"]


def test_draft_rejects_and_names_fields():
    with pytest.raises(ValidationError) as e:
        CustomerDraft.model_validate(
            {"name": "x", "birthday": "2999-01-01", "identities": [{"type": "QQ", "value": "1"}]}
        )
    assert {".".join(map(str, err["loc"])) for err in e.value.errors()} == {"birthday", "identities.0.type"}


def test_split_identities_takes_phone_and_dedupes():
    others, phone = split_identities(
        [
            Identity(type="phone", value="+8613800000000"),
            Identity(type="openid", value="o"),
            Identity(type="openid", value="o"),
        ],
        None,
    )
    assert phone == "+8613800000000" and others == [Identity(type="openid", value="o")]
    with pytest.raises(InvalidInputError):
        split_identities([Identity(type="phone", value="+8613800000000")], "+8613900000000")


def test_apply_patch_changes_only_given_fields_and_bumps_version():
    before = customer(attributes={"a": 1, "b": 2})
    after = apply_patch(
        before, CustomerPatch.model_validate({"region": "华东", "attributes": {"a": None, "c": 3}}), now=T1
    )
    assert after.region == "华东" and after.name == "张伟"
    assert after.attributes == {"b": 2, "c": 3}
    assert after.version == 2 and after.updated_at == T1
    assert before.version == 1  # the original is untouched


def test_apply_patch_noop_keeps_version():
    before = customer()
    assert apply_patch(before, CustomerPatch.model_validate({"name": "张伟"}), now=T1).version == 1


def test_identities_patch_keeps_phone_unless_removed():
    before = customer()
    after = apply_patch(
        before, CustomerPatch.model_validate({"identities": [{"type": "openid", "value": "o2"}]}), now=T1
    )
    assert after.phone == before.phone and [i.value for i in after.identities] == ["o2"]
    removed = apply_patch(before, CustomerPatch.model_validate({"phone": None}), now=T1)
    assert removed.phone is None


def test_name_cannot_be_cleared():
    with pytest.raises(ValidationError):
        CustomerPatch.model_validate({"name": None})


def test_diff_masks_phone():
    before = customer()
    after = customer(phone="+8613900001111", name="张三")
    changes = diff(before, after)
    assert changes["phone"] == ["138****5678", "139****1111"]
    assert changes["name"] == ["张伟", "张三"]


def test_name_key_is_width_and_case_insensitive():
    assert name_key("Ｅｍｉｌｙ Chen") == name_key("emilychen")
