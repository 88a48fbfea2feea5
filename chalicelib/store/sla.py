"""A tenant's SLA policies and business calendars (their own; the presets are code)."""

from __future__ import annotations

from chalicelib.domain.calendars import BusinessCalendar
from chalicelib.domain.sla import SlaPolicy
from chalicelib.store import keys
from chalicelib.store.table import SlaConfigItem

_POLICY, _CALENDAR = "POLICY#", "CAL#"


class DynamoSlaConfigRepository:
    def config(self, tenant_id: str) -> tuple[list[SlaPolicy], list[BusinessCalendar]]:
        """Both kinds in one Query."""
        policies: list[SlaPolicy] = []
        calendars: list[BusinessCalendar] = []
        for item in SlaConfigItem.query(keys.sla_config_pk(tenant_id)):
            if item.sk.startswith(_POLICY):
                policies.append(SlaPolicy.model_validate_json(item.doc or ""))
            elif item.sk.startswith(_CALENDAR):
                calendars.append(BusinessCalendar.model_validate_json(item.doc or ""))
        return policies, calendars

    def put_policy(self, tenant_id: str, policy: SlaPolicy) -> None:
        SlaConfigItem(keys.sla_config_pk(tenant_id), _POLICY + policy.id, doc=policy.model_dump_json()).save()

    def put_calendar(self, tenant_id: str, calendar: BusinessCalendar) -> None:
        SlaConfigItem(
            keys.sla_config_pk(tenant_id), _CALENDAR + calendar.id, doc=calendar.model_dump_json()
        ).save()
