"""The kinds of tenant configuration that processes cache, each versioned by a per-tenant counter
(services/cache.py): a change of one kind reloads only that kind's caches."""

from __future__ import annotations

from enum import StrEnum


class ConfigKind(StrEnum):
    SETTLEMENT_RULES = "settlement_rules"
    TICKET_TEMPLATES = "ticket_templates"
    TICKET_SETTINGS = "ticket_settings"
    SLA = "sla"
    INTEGRATIONS = "integrations"
