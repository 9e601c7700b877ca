"""The listener's structured logger: one JSON line per event an operator can act on."""

from __future__ import annotations

from aws_lambda_powertools import Logger

SERVICE = "listener"

logger = Logger(service=SERVICE)
