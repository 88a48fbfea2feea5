"""Test settings are fixed before chalicelib is imported (settings are read once per process)."""

from __future__ import annotations

import base64
import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SCRM_TABLE_NAME": "scrm-test",
        # Not "local": tests see unconfigured channels as they are on AWS (the local outbox has its own).
        "SCRM_STAGE": "test",
        "SCRM_SECRET_KEY": base64.b64encode(b"k" * 32).decode(),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("SCRM_AWS_ENDPOINT", None)
os.environ.pop("SCRM_QUEUE_URL_EVENTS", None)

from chalicelib.local import moto_patches

moto_patches.install()
