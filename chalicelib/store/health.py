"""Whether the table answers a data-plane read."""

from __future__ import annotations

import time
from typing import Any

from pynamodb.exceptions import PynamoDBException

from chalicelib.store.table import Item


def store_status() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        Item.count("T#_health", limit=1)
        reachable, error = True, None
    except PynamoDBException as e:
        reachable, error = False, type(e).__name__
    out: dict[str, Any] = {
        "reachable": reachable,
        "table": Item.Meta.table_name,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if error:
        out["error"] = error
    return out
