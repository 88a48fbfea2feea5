"""Which template a customer's message opens a ticket from: the tenant's intake rules (one keyword table
with the urgency keywords), then the words' hints, then the default template."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.domain.common import InvalidInputError
from chalicelib.domain.ticket_templates import FieldSpec, FieldType, TicketTemplate, preset_templates
from chalicelib.domain.tickets import IntakeRule, TicketSettings, check_intake, intake_template


def own(template_id: str, type_: str = "ac_service", active: bool = True) -> TicketTemplate:
    return TicketTemplate(
        id=template_id,
        type=type_,
        name="空调服务",
        fields=[FieldSpec(key="issue", label="问题", type=FieldType.TEXT, required=True)],
        workflow_id="wf_repair",
        active=active,
    )


TEMPLATES = [*preset_templates(), own("ac_service"), own("ac_clean", "cleaning"), own("old", active=False)]


def pick(text: str, **settings: object) -> str | None:
    found = intake_template(text, TicketSettings.model_validate(settings), TEMPLATES)
    return found.id if found else None


def test_without_rules_the_words_hint_and_an_urgency_keyword_alone_means_the_preset_repair():
    assert pick("空调需要安装") == "installation"
    assert pick("家里冒烟了") == "repair"  # 冒烟: an urgency keyword only
    assert pick("你好") is None


def test_a_keyword_rule_wins_over_the_hints_first_rule_first_ignoring_width_and_case():
    rules = [
        {"keyword": "ＡＣ清洗", "template_id": "ac_clean"},
        {"keyword": "空调", "template_id": "ac_service"},
    ]
    assert pick("ac清洗 和 空调维修", intake_rules=rules) == "ac_clean"
    assert pick("空调维修", intake_rules=rules) == "ac_service"


def test_a_category_rule_replaces_the_template_the_words_hint_at():
    rules = [{"category": "repair", "template_id": "ac_service"}]
    assert pick("空调坏了要维修", intake_rules=rules) == "ac_service"
    assert pick("空调需要安装", intake_rules=rules) == "installation"  # another category: unchanged


def test_the_default_template_takes_an_urgency_keyword_alone():
    assert pick("家里冒烟了", default_template_id="ac_service") == "ac_service"
    assert pick("你好", default_template_id="ac_service") is None  # not a request at all


def test_a_rule_naming_an_inactive_template_is_skipped():
    assert pick("空调维修", intake_rules=[{"keyword": "空调", "template_id": "old"}]) == "repair"


def test_a_rule_has_a_keyword_or_a_category_not_both_nor_neither():
    for bad in ({"template_id": "x"}, {"keyword": "a", "category": "repair", "template_id": "x"}):
        with pytest.raises(ValidationError):
            IntakeRule.model_validate(bad)


def test_the_templates_named_must_be_the_tenants_active_ones_and_each_is_named():
    settings = TicketSettings(
        intake_rules=[
            IntakeRule(keyword="空调", template_id="ac_service"),
            IntakeRule(keyword="旧", template_id="old"),
        ],
        default_template_id="nope",
    )
    with pytest.raises(InvalidInputError) as e:
        check_intake(settings, TEMPLATES)
    assert [d["field"] for d in e.value.details] == ["intake_rules[1].template_id", "default_template_id"]
    check_intake(TicketSettings(intake_rules=settings.intake_rules[:1]), TEMPLATES)  # fine
