"""Synthesis needs no credentials or network; only a region for the service principals chalice writes.
setdefault: in a whole-suite run tests/conftest.py has already chosen the process environment."""

from __future__ import annotations

import os

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
