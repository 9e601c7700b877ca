"""Environment variables (architecture.md §2.2) and their defaults: the one place each is written down."""

from __future__ import annotations

import os

BINANCE_FUTURES_WS_URL = "BINANCE_FUTURES_WS_URL"
BINANCE_FUTURES_REST_URL = "BINANCE_FUTURES_REST_URL"
BYBIT_REST_URL = "BYBIT_REST_URL"
OKX_REST_URL = "OKX_REST_URL"
BYBIT_WS_URL = "BYBIT_WS_URL"
OKX_WS_URL = "OKX_WS_URL"
TELEGRAM_API_URL = "TELEGRAM_API_URL"
HEALTH_PORT = "HEALTH_PORT"
ALERT_QUEUE_URL = "ALERT_QUEUE_URL"
# The dispatcher sends a message that is not a valid alert straight to the dead-letter queue.
ALERT_DEAD_LETTER_QUEUE_URL = "ALERT_DEAD_LETTER_QUEUE_URL"
THRESHOLDS_PARAMETER = "THRESHOLDS_PARAMETER"
# Tables (architecture.md §2.1: every table reaches the code through an environment variable).
OI_TABLE = "OI_TABLE"
STATE_TABLE = "STATE_TABLE"
IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
HISTORY_TABLE = "HISTORY_TABLE"
# Telegram secrets: SSM parameter names on AWS, the values themselves for local runs.
TELEGRAM_TOKEN_PARAMETER = "TELEGRAM_TOKEN_PARAMETER"
TELEGRAM_CHAT_ID_PARAMETER = "TELEGRAM_CHAT_ID_PARAMETER"
TELEGRAM_BOT_TOKEN = "TELEGRAM_BOT_TOKEN"
TELEGRAM_CHAT_ID = "TELEGRAM_CHAT_ID"
# The webhook's secret token (architecture.md §2.9): the SecureString's name on AWS, the value locally.
TELEGRAM_WEBHOOK_SECRET_PARAMETER = "TELEGRAM_WEBHOOK_SECRET_PARAMETER"
TELEGRAM_WEBHOOK_SECRET = "TELEGRAM_WEBHOOK_SECRET"

DEFAULTS: dict[str, str] = {
    BINANCE_FUTURES_WS_URL: "wss://fstream.binance.com/market/ws/!forceOrder@arr",
    BINANCE_FUTURES_REST_URL: "https://fapi.binance.com",
    BYBIT_REST_URL: "https://api.bybit.com",
    OKX_REST_URL: "https://www.okx.com",
    BYBIT_WS_URL: "wss://stream.bybit.com/v5/public/linear",
    OKX_WS_URL: "wss://ws.okx.com:8443/ws/v5/public",
    TELEGRAM_API_URL: "https://api.telegram.org",
    HEALTH_PORT: "8080",
}


class ConfigError(RuntimeError):
    """A required environment variable is missing."""


def get(name: str) -> str:
    """The variable's value, else its default; a required variable without one raises ConfigError."""
    value = os.environ.get(name) or DEFAULTS.get(name)
    if not value:
        raise ConfigError(f"environment variable {name} is required but not set")
    return value


def optional(name: str) -> str | None:
    return os.environ.get(name) or DEFAULTS.get(name)
