"""GET /local/outbox on the local API: what the local stack caught (integrations/notify/outbox.py),
newest first, as a page (refreshing itself, like a mail catcher) or as JSON (`/local/outbox.json`, or an
Accept of application/json). Served by the local HTTP server only (local/http.py), so it never exists on AWS.

Query: `tenant` (default: every registered tenant), `limit` (1-500, default 50)."""

from __future__ import annotations

import html
import json
from urllib.parse import parse_qs, urlsplit

from chalicelib.api.errors import error_body
from chalicelib.integrations.notify.outbox import OutboxEntry, newest_across

PATHS = ("/local/outbox", "/local/outbox.json")
MAX_LIMIT = 500


def handles(path: str) -> bool:
    return urlsplit(path).path.rstrip("/") in PATHS


def respond(path: str, accept: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) for a GET of `path`."""
    from chalicelib.bootstrap import container

    url = urlsplit(path)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    as_json = url.path.endswith(".json") or "application/json" in accept
    raw_limit = query.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        body = error_body("invalid_request", f"limit: an integer from 1 to {MAX_LIMIT}")
        return 400, {"Content-Type": "application/json; charset=utf-8"}, body.encode()
    c = container()
    tenant = query.get("tenant")
    tenant_ids = [tenant] if tenant else [t.id for t in c.tenant_repo.registered_tenants()]
    entries = newest_across(c.outbox, tenant_ids, limit=int(raw_limit))
    if as_json:
        doc = {"count": len(entries), "entries": [e.model_dump(mode="json") for e in entries]}
        return (
            200,
            {"Content-Type": "application/json; charset=utf-8"},
            json.dumps(doc, ensure_ascii=False).encode(),
        )
    return 200, {"Content-Type": "text/html; charset=utf-8"}, page(entries).encode()


def page(entries: list[OutboxEntry]) -> str:
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                e.sent_at.isoformat(timespec="seconds"),
                e.tenant_id,
                e.channel,
                e.recipient,
                e.event,
                e.title,
                e.text,
                e.delivery_id or "",
            )
        )
        + "</tr>"
        for e in entries
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("time", "tenant", "channel", "recipient", "event", "title", "text", "delivery")
    )
    empty = "" if entries else "<p>Nothing caught yet: notifications the local stack sends show up here.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="5"><title>SCRM local outbox</title>'
        "<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style></head>"
        f"<body><h1>Local outbox</h1><p>{len(entries)} newest, newest first (JSON: "
        f'<a href="/local/outbox.json">/local/outbox.json</a>).</p>{empty}'
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></body></html>"
    )
