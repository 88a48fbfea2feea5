"""Structured JSON logs (Powertools), one logger per process; never log PII."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="scrm")
