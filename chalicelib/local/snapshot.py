"""Local data survives restarts: the table is dumped on clean shutdown and restored on start."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def save(dynamodb: Any, table_name: str, path: Path) -> int:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name):  # operator path, not a request
        items.extend(page["Items"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"table": table_name, "items": items}, ensure_ascii=False))
    os.replace(tmp, path)  # atomic: a crash mid-write keeps the previous snapshot
    return len(items)


def restore(dynamodb: Any, table_name: str, path: Path) -> int:
    if not path.exists():
        return 0
    items = json.loads(path.read_text())["items"]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {table_name: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(items)
