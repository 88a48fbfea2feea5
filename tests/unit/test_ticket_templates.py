from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.ticket_templates import (
    BUILTIN_TYPES,
    DEFAULT_URGENCY_KEYWORDS,
    PRIORITY_RANK,
    FieldSpec,
    FieldType,
    Priority,
    TicketTemplate,
    UrgencyRule,
    detect_urgency,
    effective_priority,
    guess_template,
    preset_templates,
    render_title,
    validate_fields,
)


def preset(type_: str) -> TicketTemplate:
    return next(t for t in preset_templates() if t.type == type_)


def template(*fields: FieldSpec, **kwargs) -> TicketTemplate:
    return TicketTemplate.model_validate(
        {"id": "t", "type": "custom", "name": "测试", "workflow_id": "wf_test", "fields": fields, **kwargs}
    )


def spec(tpl: TicketTemplate, key: str) -> FieldSpec:
    found = tpl.field(key)
    assert found is not None, key
    return found


def problems(tpl: TicketTemplate, values: dict[str, Any], *, partial: bool = False) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as e:
        validate_fields(tpl, values, partial=partial)
    return {d["field"]: d["message"] for d in e.value.details}


# --- presets ---------------------------------------------------------------------------------------------


def test_presets_cover_every_builtin_type_and_revalidate():
    templates = preset_templates()
    assert [t.type for t in templates] == list(BUILTIN_TYPES)
    assert len({t.id for t in templates}) == len(templates)
    for t in templates:
        keys = [f.key for f in t.fields]
        assert len(keys) == len(set(keys)), t.id
        assert any(f.required for f in t.fields), t.id
        assert t.sla_policy_id in {"standard", "vip"}
        # A stored template (JSON) loads back to the same template.
        assert TicketTemplate.model_validate(json.loads(t.model_dump_json())) == t
        assert all(f.label and not f.label.isascii() for f in t.fields), t.id


def test_presets_have_the_specified_settings():
    repair = preset("repair")
    assert repair.workflow_id == "wf_repair"
    assert [(s.skill, s.min_level) for s in repair.required_skills] == [("appliance_repair", 2)]
    assert spec(repair, "fault_description").required
    assert spec(repair, "fault_photos").item_limit == 9
    assert spec(repair, "labour_fee").min == 0
    assert spec(preset("installation"), "install_address").required
    returns = preset("return_exchange")
    assert returns.routing == {"departments": ["warehouse", "finance"]}
    assert spec(returns, "order_id").required
    assert set(spec(returns, "platform").options) == {
        "youzan",
        "doudian",
        "shopify",
        "generic",
        "taobao",
        "jd",
    }
    assert spec(returns, "request_type").options == ["退货", "换货", "仅退款"]
    complaint = preset("complaint")
    assert complaint.default_priority is Priority.HIGH
    assert spec(complaint, "compensation").type is FieldType.MONEY
    assert spec(preset("maintenance_booking"), "preferred_date").required
    assert spec(preset("maintenance_booking"), "time_slot").options == ["上午", "下午", "晚上"]
    course = preset("course_booking")
    assert course.workflow_id == "wf_booking"
    assert (spec(course, "student_age").min, spec(course, "student_age").max) == (Decimal(3), Decimal(80))


def test_presets_are_fresh_objects():
    a, b = preset_templates(), preset_templates()
    a[0].fields.clear()
    assert b[0].fields


def test_repair_ticket_validates_and_applies_defaults():
    values = {
        "product": " 空调 ",
        "purchase_date": "2025年6月1日",
        "fault_description": "不制冷，有异响",
        "fault_photos": [{"url": "https://img.example.com/a.jpg", "caption": "外机"}, "t_1/tickets/b.jpg"],
        "contact_phone": "138-1234-5678",
        "parts_used": [{"sku": "CMP-01", "name": "压缩机", "quantity": 1, "unit_price": "680"}],
        "labour_fee": "150",
    }
    result = validate_fields(preset("repair"), values)
    assert result == {
        "product": "空调",
        "purchase_date": "2025-06-01",
        "fault_description": "不制冷，有异响",
        "fault_photos": [
            {"url": "https://img.example.com/a.jpg", "caption": "外机"},
            {"key": "t_1/tickets/b.jpg"},
        ],
        "contact_phone": "+8613812345678",
        "warranty": "待确认",  # the field's default
        "parts_used": [{"sku": "CMP-01", "name": "压缩机", "quantity": 1, "unit_price": "680.00"}],
        "labour_fee": "150.00",
    }
    assert json.loads(json.dumps(result)) == result


def test_every_preset_accepts_a_realistic_ticket():
    tickets: dict[str, dict[str, Any]] = {
        "installation": {
            "product": "热水器",
            "install_address": "上海市徐汇区某路1号",
            "needs_electrical_check": "是",
        },
        "return_exchange": {
            "order_id": 20251111001,
            "platform": "doudian",
            "request_type": "退货",
            "reason": "质量问题",
            "refund_amount": "199.9",
            "items": [{"sku": "S1", "name": "电饭煲", "quantity": "1"}],
        },
        "complaint": {"channel": "12315", "subject": "态度差", "details": "店员不理人", "compensation": "50"},
        "maintenance_booking": {"preferred_date": date(2026, 1, 5), "time_slot": "上午", "mileage": "35000"},
        "course_booking": {"course_name": "少儿编程", "student_name": "小明", "student_age": 8},
    }
    for type_, values in tickets.items():
        result = validate_fields(preset(type_), values)
        assert json.loads(json.dumps(result)) == result, type_
    assert validate_fields(preset("installation"), tickets["installation"])["needs_electrical_check"] is True
    returns = validate_fields(preset("return_exchange"), tickets["return_exchange"])
    assert (returns["order_id"], returns["refund_amount"]) == ("20251111001", "199.90")
    assert returns["items"] == [{"sku": "S1", "name": "电饭煲", "quantity": 1, "unit_price": None}]
    booking = validate_fields(preset("maintenance_booking"), tickets["maintenance_booking"])
    assert (booking["preferred_date"], booking["mileage"]) == ("2026-01-05", 35000)
    assert validate_fields(preset("course_booking"), tickets["course_booking"])["trial"] is False


# --- values by type --------------------------------------------------------------------------------------

FLOAT_REFUSED = 'must be a decimal string such as "12.50", not float'
MONEY = FieldSpec(key="fee", label="费用", type=FieldType.MONEY, min=Decimal(0), max=Decimal(1000))


@pytest.mark.parametrize(
    ("raw", "stored"), [("12.5", "12.50"), ("12", "12.00"), ("0", "0.00"), ("7.10", "7.10")]
)
def test_money_is_the_api_money_format(raw, stored):
    assert validate_fields(template(MONEY), {"fee": raw}) == {"fee": stored}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("12.345", "more than 2 decimal places"),  # refused, not rounded: the sender meant something else
        (12, "not a JSON number"),
        (" 7.1 ", "no spaces"),
        ("1e2", "no exponent"),
        ("１２", "ASCII digits only"),
    ],
)
def test_money_is_never_rounded_or_guessed(raw, message):
    assert message in problems(template(MONEY), {"fee": raw})["fields.fee"]


@given(st.decimals(min_value=0, max_value=1000, places=2))
def test_money_is_always_a_two_place_string(amount: Decimal):
    stored = validate_fields(template(MONEY), {"fee": format(amount, "f")})["fee"]
    assert Decimal(stored) == amount
    assert len(stored.split(".")[1]) == 2


def test_money_refuses_floats_and_out_of_range_amounts():
    assert problems(template(MONEY), {"fee": 12.5})["fields.fee"] == FLOAT_REFUSED
    assert problems(template(MONEY), {"fee": "-1"}) == {"fields.fee": "must be at least 0.00"}
    assert problems(template(MONEY), {"fee": "1000.01"}) == {"fields.fee": "must be at most 1000.00"}
    assert "is not an amount" in problems(template(MONEY), {"fee": "¥12"})["fields.fee"]
    assert (
        problems(template(MONEY), {"fee": True})["fields.fee"]
        == 'must be a decimal string such as "12.50", not bool'
    )


def test_numbers_are_exact_json_values():
    tpl = template(FieldSpec(key="n", label="数", type=FieldType.NUMBER, min=Decimal("-5"), max=Decimal(100)))
    assert validate_fields(tpl, {"n": "12.50"}) == {"n": "12.5"}
    assert validate_fields(tpl, {"n": 3.25}) == {"n": "3.25"}  # a float is fine for a measurement
    assert validate_fields(tpl, {"n": "40"}) == {"n": 40}
    assert validate_fields(tpl, {"n": Decimal("-5.0")}) == {"n": -5}
    assert problems(tpl, {"n": "101"}) == {"fields.n": "must be at most 100"}
    assert problems(tpl, {"n": "abc"}) == {"fields.n": "'abc' is not a number"}
    assert problems(tpl, {"n": "NaN"}) == {"fields.n": "'NaN' is not a number in range"}
    assert problems(tpl, {"n": "0.0000001"}) == {"fields.n": "must have at most 6 decimal places"}
    assert problems(tpl, {"n": False}) == {"fields.n": "must be a number"}
    age = preset("course_booking")
    assert problems(age, {"course_name": "钢琴", "student_name": "小红", "student_age": "8.5"}) == {
        "fields.student_age": "must be a whole number"
    }
    assert problems(age, {"course_name": "钢琴", "student_name": "小红", "student_age": 2}) == {
        "fields.student_age": "must be at least 3"
    }


def test_text_enum_date_bool_and_phone():
    tpl = template(
        FieldSpec(key="note", label="备注", type=FieldType.TEXT, max_length=5),
        FieldSpec(key="slot", label="时间段", type=FieldType.ENUM, options=["上午", "下午"]),
        FieldSpec(key="day", label="日期", type=FieldType.DATE),
        FieldSpec(key="ok", label="确认", type=FieldType.BOOL),
        FieldSpec(key="tel", label="电话", type=FieldType.PHONE),
    )
    assert validate_fields(
        tpl, {"note": "短", "slot": " 下午", "day": "2026/3/4", "ok": "否", "tel": "13812345678"}
    ) == {
        "note": "短",
        "slot": "下午",
        "day": "2026-03-04",
        "ok": False,
        "tel": "+8613812345678",
    }
    assert problems(
        tpl, {"note": "太长了太长了", "slot": "晚上", "day": "2026-02-30", "ok": "maybe", "tel": "123"}
    ) == {
        "fields.note": "must be at most 5 characters",
        "fields.slot": "must be one of: 上午, 下午",
        "fields.day": "'2026-02-30' is not a calendar date",
        "fields.ok": "must be true or false",
        "fields.tel": "'123' is not a CN mobile number or an E.164 number",
    }
    assert problems(tpl, {"day": datetime(2026, 1, 1, 12)}) == {
        "fields.day": "must be a date (YYYY-MM-DD), not a date and time"
    }
    assert problems(tpl, {"note": ["a"]}) == {"fields.note": "must be text"}


def test_photos_shape():
    tpl = template(FieldSpec(key="pics", label="照片", type=FieldType.PHOTO, max_items=3))
    assert validate_fields(tpl, {"pics": [{"key": "t_1/tickets/a.jpg", "caption": " 正面 "}]}) == {
        "pics": [{"key": "t_1/tickets/a.jpg", "caption": "正面"}]
    }
    assert problems(
        tpl,
        {
            "pics": [
                {"url": "http://x.com/a.jpg"},
                {"url": "https://x.com/a.jpg", "key": "t/a.jpg"},
                {"key": "../etc/passwd", "size": 3},
                42,
            ]
        },
    ) == {"fields.pics": "at most 3 photos"}
    assert problems(
        tpl,
        {
            "pics": [
                {"url": "http://x.com/a.jpg"},
                {"url": "https://x.com/a.jpg", "key": "t/a.jpg"},
                {"key": "../etc/passwd", "size": 3},
            ]
        },
    ) == {
        "fields.pics.0.url": "must be an https:// URL",
        "fields.pics.1": "a photo has exactly one of url (https) or key (an upload)",
        "fields.pics.2.size": "unknown attribute",
        "fields.pics.2.key": "must be an upload key such as 't_1/tickets/abc.jpg'",
    }
    assert problems(
        tpl, {"pics": [42, {"url": "https://user:pw@x.com/a"}, {"url": "https://x.com/a b"}]}
    ) == {
        "fields.pics.0": "must be an object with url, key, caption",
        "fields.pics.1.url": "must not contain credentials",
        "fields.pics.2.url": "must be an https:// URL of at most 2048 characters, without spaces",
    }
    assert problems(tpl, {"pics": "https://x.com/a.jpg"}) == {"fields.pics": "must be a list of photos"}


def test_parts_lines():
    tpl = preset("repair")
    base = {"fault_description": "坏了"}
    lines = [
        {"sku": "A1", "name": "滤网", "quantity": "2", "unit_price": "12.35"},
        {"sku": "B2", "name": "遥控器", "quantity": "３", "unit_price": None},
    ]
    assert validate_fields(tpl, {**base, "parts_used": lines})["parts_used"] == [
        {"sku": "A1", "name": "滤网", "quantity": 2, "unit_price": "12.35"},
        {"sku": "B2", "name": "遥控器", "quantity": 3, "unit_price": None},
    ]
    bad = [
        {"sku": "", "name": "滤网", "quantity": 0},
        {"sku": "B2", "quantity": 1.5, "unit_price": "-3", "colour": "白"},
        {"sku": "C3", "name": "管", "quantity": True, "unit_price": 9.9},
    ]
    found = problems(tpl, {**base, "parts_used": bad})
    assert found == {
        "fields.parts_used.0.sku": "required",
        "fields.parts_used.0.quantity": "must be between 1 and 9999",
        "fields.parts_used.1.colour": "unknown attribute",
        "fields.parts_used.1.name": "required",
        "fields.parts_used.1.quantity": "must be a whole number",
        "fields.parts_used.1.unit_price": "must not be negative",
        "fields.parts_used.2.quantity": "must be a whole number",
        "fields.parts_used.2.unit_price": FLOAT_REFUSED,
    }


# --- whole-ticket validation -----------------------------------------------------------------------------


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidInputError) as e:
        validate_fields(
            preset("return_exchange"),
            {
                "platform": "amazon",
                "request_type": "退货",
                "refund_amount": 1.5,
                "colour": "红",
                "reason": " ",
            },
        )
    assert e.value.details == [
        {"field": "fields.order_id", "message": "required"},
        {
            "field": "fields.platform",
            "message": "must be one of: youzan, doudian, shopify, generic, taobao, jd",
        },
        {"field": "fields.reason", "message": "required"},
        {
            "field": "fields.refund_amount",
            "message": FLOAT_REFUSED,
        },
        {"field": "fields.colour", "message": "unknown field"},
    ]
    assert e.value.message == (
        "invalid ticket fields: "
        "fields.order_id, fields.platform, fields.reason, fields.refund_amount, fields.colour"
    )


def test_unknown_fields_are_rejected_even_alone():
    assert problems(preset("complaint"), {"details": "x", "secret": 1}) == {"fields.secret": "unknown field"}


def test_partial_updates_check_only_given_keys_and_clear_blanks():
    tpl = preset("repair")
    assert validate_fields(tpl, {"labour_fee": "80"}, partial=True) == {"labour_fee": "80.00"}
    assert validate_fields(tpl, {"model": "", "fault_photos": []}, partial=True) == {
        "model": None,
        "fault_photos": None,
    }
    assert validate_fields(tpl, {}, partial=True) == {}  # no defaults in an update
    assert problems(tpl, {"fault_description": None, "nope": 1}, partial=True) == {
        "fields.fault_description": "required: it cannot be cleared",
        "fields.nope": "unknown field",
    }


def test_full_validation_omits_blank_optional_fields():
    result = validate_fields(preset("complaint"), {"details": "x", "subject": "  ", "store": None})
    assert result == {"details": "x"}


def test_values_must_be_an_object():
    with pytest.raises(InvalidInputError) as e:
        validate_fields(preset("complaint"), ["details"])  # type: ignore[arg-type]
    assert e.value.details == [{"field": "fields", "message": "must be an object"}]


# --- template definitions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"key": "Bad-Key", "label": "x", "type": "text"}, "is not a slug"),
        ({"key": "k", "label": "x", "type": "enum"}, "an enum field needs non-empty options"),
        ({"key": "k", "label": "x", "type": "enum", "options": ["a", "a"]}, "enum options must be unique"),
        ({"key": "k", "label": "x", "type": "text", "options": ["a"]}, "options are for enum fields only"),
        (
            {"key": "k", "label": "x", "type": "text", "min": 1},
            "min / max are for number and money fields only",
        ),
        ({"key": "k", "label": "x", "type": "money", "min": 5, "max": 1}, "min is greater than max"),
        ({"key": "k", "label": "x", "type": "date", "max_length": 5}, "max_length is for text fields only"),
        ({"key": "k", "label": "x", "type": "text", "max_items": 5}, "max_items is for photo and parts"),
        (
            {"key": "k", "label": "x", "type": "enum", "options": ["a"], "default": "b"},
            "default: must be one of",
        ),
        ({"key": "k", "label": "x", "type": "money", "default": 1.5}, "default: must be a decimal string"),
        ({"key": "k", "label": "x", "type": "money", "default": "9.999"}, "default: has more than 2 decimal"),
        ({"key": "k", "label": "x", "type": "text", "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_field_specs_are_checked(definition, message):
    with pytest.raises(ValidationError, match=message):
        FieldSpec.model_validate(definition)


def test_field_spec_default_is_stored_normalised():
    fee = FieldSpec(key="fee", label="费用", type=FieldType.MONEY, default="9.9")
    assert fee.default == "9.90"
    assert validate_fields(template(fee), {}) == {"fee": "9.90"}


def test_templates_are_checked():
    text = FieldSpec(key="a", label="A", type=FieldType.TEXT)
    with pytest.raises(ValidationError, match="duplicate field keys: a"):
        template(text, text)
    with pytest.raises(ValidationError, match=r"'\{b\}' is not a field key"):
        template(text, title_template="{a} {b}")
    with pytest.raises(ValidationError, match="takes no format spec or conversion"):
        template(text, title_template="{a!r}")
    with pytest.raises(ValidationError, match="title_template"):
        template(text, title_template="{a")
    with pytest.raises(ValidationError, match=r"routing\.departments"):
        template(text, routing={"departments": "warehouse"})
    with pytest.raises(ValidationError, match="min_level"):
        template(text, required_skills=[{"skill": "x", "min_level": 6}])
    with pytest.raises(ValidationError, match="a skill is required at most once"):
        template(text, required_skills=[{"skill": "x"}, {"skill": "x", "min_level": 2}])
    with pytest.raises(ValidationError, match="is not a slug"):
        TicketTemplate(id="t", type="Repair", name="x", workflow_id="wf")
    assert template(text, type="pet_grooming").type == "pet_grooming"  # tenant-defined types are fine


# --- titles ----------------------------------------------------------------------------------------------


def test_render_title():
    repair = preset("repair")
    assert render_title(repair, {"product": "空调"}) == "空调维修"
    assert render_title(repair, {}) == "维修"
    assert (
        render_title(preset("return_exchange"), {"request_type": "换货", "order_id": "E100"}) == "换货 E100"
    )
    assert render_title(preset("course_booking"), {"course_name": "围棋\n入门"}) == "围棋 入门"
    assert render_title(preset("complaint"), {"subject": ["not", "scalar"]}) == "投诉："
    untitled = template(FieldSpec(key="a", label="A", type=FieldType.TEXT))
    assert render_title(untitled, {"a": "x"}) == "测试"
    assert (
        render_title(template(FieldSpec(key="a", label="A", type=FieldType.TEXT), title_template="{a}"), {})
        == "测试"
    )
    assert len(render_title(repair, {"product": "长" * 500})) == 120


def test_render_title_never_formats_attributes_or_indexes():
    # A template stored before validation existed (or built with model_construct) must still render safely.
    tpl = TicketTemplate.model_construct(
        name="名",
        title_template="{a.__class__}{b[0]}{0}{}{c:>{d}}{e!r}",
        fields=[],
        id="x",
        type="x",
        workflow_id="wf",
    )
    assert render_title(tpl, {"a": "A", "b": "B", "c": "C", "d": "9", "e": "E"}) == "CE"


# --- urgency ---------------------------------------------------------------------------------------------


def test_detect_urgency_matches_keywords_in_order_once():
    assert detect_urgency("厨房漏水了，插座还冒烟，漏水很严重", DEFAULT_URGENCY_KEYWORDS) == ["漏水", "冒烟"]
    assert detect_urgency("空调不制冷", DEFAULT_URGENCY_KEYWORDS) == []
    assert detect_urgency("", DEFAULT_URGENCY_KEYWORDS) == []


def test_detect_urgency_ignores_width_and_case():
    keywords = ["SOS", "１２０", "Gas Leak", " "]
    assert detect_urgency("ｓｏｓ 快打120！gas leak", keywords) == ["SOS", "１２０", "Gas Leak"]
    assert detect_urgency("ＧＡＳ　ＬＥＡＫ", keywords) == ["Gas Leak"]  # full-width letters and space


def test_urgency_rule_defaults_and_cleaning():
    rule = UrgencyRule()
    assert rule.keywords == list(DEFAULT_URGENCY_KEYWORDS)
    assert (rule.priority, rule.skip_triage) == (Priority.URGENT, True)
    assert UrgencyRule(keywords=[" 漏水 ", "", "漏水", "烟雾"]).keywords == ["漏水", "烟雾"]
    assert UrgencyRule(keywords=["烟雾"]).match("有烟雾") == ["烟雾"]


def test_effective_priority():
    repair, complaint = preset("repair"), preset("complaint")
    assert effective_priority(repair, None, []) is Priority.NORMAL
    assert effective_priority(complaint, None, []) is Priority.HIGH
    assert effective_priority(complaint, Priority.LOW, []) is Priority.LOW  # an explicit choice stands
    assert effective_priority(repair, None, ["漏水"]) is Priority.URGENT
    assert effective_priority(repair, Priority.LOW, ["漏水"]) is Priority.URGENT
    assert effective_priority(repair, Priority.URGENT, ["漏水"], escalate_to=Priority.HIGH) is Priority.URGENT
    assert effective_priority(repair, Priority.LOW, ["漏水"], escalate_to=Priority.HIGH) is Priority.HIGH
    assert sorted(Priority, key=PRIORITY_RANK.__getitem__) == [
        Priority.LOW,
        Priority.NORMAL,
        Priority.HIGH,
        Priority.URGENT,
    ]


# --- guessing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好，我家空调坏了，不制冷", "repair"),
        ("洗衣机漏水", "repair"),
        ("新买的热水器什么时候来安装？", "installation"),
        ("我要退货，尺码不对", "return_exchange"),
        ("申请仅退款", "return_exchange"),
        ("我要投诉你们的店员", "complaint"),
        ("空调坏了三次了我要投诉", "complaint"),
        ("想预约下周六保养", "maintenance_booking"),
        ("想预约维修", "repair"),
        ("少儿编程课程预约", "course_booking"),
        ("可以试听吗", "course_booking"),
        ("ＲＥＦＵＮＤ please", "return_exchange"),
        ("你好", None),
        ("", None),
    ],
)
def test_guess_template(text, expected):
    guessed = guess_template(text, preset_templates())
    assert (guessed.type if guessed else None) == expected


def test_guess_template_skips_inactive_and_uses_tenant_keywords():
    templates = preset_templates()
    grooming = TicketTemplate(
        id="grooming",
        type="pet_grooming",
        name="宠物美容",
        workflow_id="wf_booking",
        keywords=["洗澡", "美容"],
    )
    assert guess_template("给狗狗预约洗澡美容", [*templates, grooming]) is grooming
    for t in templates:
        t.active = t.type != "repair"
    assert guess_template("空调坏了", templates) is None
    first, second = preset("repair"), preset("repair").model_copy(update={"id": "repair_ac"})
    assert guess_template("空调坏了", [first, second]) is first
