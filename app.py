"""Wiring only: the Chalice app and its blueprints. Logic lives in chalicelib/."""

from typing import Any

from chalice.app import Chalice

from chalicelib.api import (
    conversations,
    customers,
    dead_letters,
    imports,
    integrations,
    inventory,
    merges,
    orders,
    pricing,
    privacy,
    settlement,
    staff,
    system,
    tags,
    tickets,
    tracking,
    users,
    webhooks,
)
from chalicelib.api.fallbacks import add_method_fallbacks
from chalicelib.api.http_api import rest_event
from chalicelib.workers import events, ingest, month_end, notify, sla
from chalicelib.workers import settlement as settlement_steps

app = Chalice(app_name="scrm")

for blueprint in (
    system.bp,
    customers.bp,
    tags.bp,
    users.bp,
    integrations.bp,
    tracking.bp,
    orders.bp,
    conversations.bp,
    merges.bp,
    imports.bp,
    dead_letters.bp,
    tickets.bp,
    staff.bp,
    pricing.bp,
    inventory.bp,
    settlement.bp,
    privacy.bp,
    webhooks.bp,
    events.bp,
    ingest.bp,
    sla.bp,
    notify.bp,
    settlement_steps.bp,
    month_end.bp,
):
    app.register_blueprint(blueprint)

add_method_fallbacks(app)


def webhook_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The webhook routes behind the HTTP API (infra/synth.py): the same app, given a REST-shaped event."""
    return app(rest_event(event), context)
