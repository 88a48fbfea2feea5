"""`scrm outbox`: what the local stack would have sent (WeCom, WeChat, SMS, voice), newest first — the local
mail catcher (integrations/notify/outbox.py). Only the local stack fills it."""

from __future__ import annotations

from typing import Annotated

import typer

from chalicelib.cli._common import connect, emit
from chalicelib.integrations.notify.outbox import newest_across

outbox = typer.Typer(name="outbox", help="Notifications the local stack caught instead of sending.")
GROUPS = (outbox,)


@outbox.callback(invoke_without_command=True)
def show(
    tenant_id: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant's (default: every tenant's).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 20,
) -> None:
    """List the newest caught notifications as JSON."""
    c = connect()
    tenant_ids = [tenant_id] if tenant_id else [t.id for t in c.tenant_repo.registered_tenants()]
    entries = newest_across(c.outbox, tenant_ids, limit=limit)
    emit({"count": len(entries), "entries": [e.model_dump(mode="json") for e in entries]})
