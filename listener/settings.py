"""The listener's configuration: architecture.md §2.2's variables plus its own tuning knobs.

The tuning knobs default to production values; tests and the local stack compress time with them
(e.g. a 24 h cut in seconds). They are the one place these defaults are written down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from cryptoalerts import config

# Tuning knobs: environment variable -> Settings field.
KNOBS: dict[str, str] = {
    "LISTENER_SILENCE_S": "silence_s",
    "LISTENER_ROTATE_AFTER_S": "rotate_after_s",
    "LISTENER_OVERLAP_S": "overlap_s",
    "LISTENER_BACKOFF_BASE_S": "backoff_base_s",
    "LISTENER_BACKOFF_CAP_S": "backoff_cap_s",
    "LISTENER_STABLE_S": "stable_s",
    "LISTENER_PING_INTERVAL_S": "ping_interval_s",
    "LISTENER_THRESHOLDS_REFRESH_S": "thresholds_refresh_s",
    "LISTENER_METRICS_INTERVAL_S": "metrics_interval_s",
    "LISTENER_OUTBOX_CAPACITY": "outbox_capacity",
    "LISTENER_SEND_RETRY_CAP_S": "send_retry_cap_s",
    "LISTENER_FLUSH_TIMEOUT_S": "flush_timeout_s",
    "LISTENER_HISTORY_CAPACITY": "history_capacity",
    "LISTENER_SEND_BATCH": "send_batch",
    "LISTENER_SENDS_IN_FLIGHT": "sends_in_flight",
    "LISTENER_INSTRUMENTS_REFRESH_S": "instruments_refresh_s",
    "LISTENER_BYBIT_PING_S": "bybit_ping_s",
    "LISTENER_OKX_QUIET_PING_S": "okx_quiet_ping_s",
}
# `python -m listener --record DIR` or this variable: record every raw frame (listener/record.py).
RECORD_DIR = "LISTENER_RECORD_DIR"


@dataclass(frozen=True)
class Settings:
    ws_url: str  # Binance's (BINANCE_FUTURES_WS_URL)
    queue_url: str
    thresholds_parameter: str
    bybit_ws_url: str = config.DEFAULTS[config.BYBIT_WS_URL]
    okx_ws_url: str = config.DEFAULTS[config.OKX_WS_URL]
    # Instruments: Bybit's list of linear perpetuals, OKX's contract sizes.
    bybit_rest_url: str = config.DEFAULTS[config.BYBIT_REST_URL]
    okx_rest_url: str = config.DEFAULTS[config.OKX_REST_URL]
    record_dir: str | None = None
    health_port: int = int(config.DEFAULTS[config.HEALTH_PORT])
    health_host: str = "0.0.0.0"
    # Data-silence watchdog: the all-market stream is never quiet for 10 minutes.
    silence_s: float = 600.0
    # Binance cuts a connection at 24 h; reconnect an hour early, overlapping both for a few seconds.
    rotate_after_s: float = 23 * 3600.0
    overlap_s: float = 5.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    stable_s: float = 60.0
    ping_interval_s: float = 20.0
    # Well inside the 60 s within which a thresholds edit must take effect.
    thresholds_refresh_s: float = 30.0
    metrics_interval_s: float = 60.0
    outbox_capacity: int = 1000
    send_retry_cap_s: float = 30.0
    # Below the task definition's stopTimeout (30 s), so the process exits on its own after SIGTERM.
    flush_timeout_s: float = 20.0
    history_capacity: int = 4096
    # SQS SendMessageBatch takes at most 10 messages; several calls in flight keep a storm moving.
    send_batch: int = 10
    sends_in_flight: int = 4
    # New listings are watched within the hour; contract sizes follow OKX's changes as fast.
    instruments_refresh_s: float = 3600.0
    # Bybit asks for {"op":"ping"} every 20 s; OKX cuts a connection quiet for 30 s, so ping at 25 s.
    bybit_ping_s: float = 20.0
    okx_quiet_ping_s: float = 25.0

    @classmethod
    def from_env(cls) -> Settings:
        """Read the environment; a missing required variable or a bad number raises ConfigError."""
        values: dict[str, object] = {
            "ws_url": config.get(config.BINANCE_FUTURES_WS_URL),
            "queue_url": config.get(config.ALERT_QUEUE_URL),
            "thresholds_parameter": config.get(config.THRESHOLDS_PARAMETER),
            "health_port": _number(config.HEALTH_PORT, config.get(config.HEALTH_PORT), int),
            "bybit_ws_url": config.get(config.BYBIT_WS_URL),
            "okx_ws_url": config.get(config.OKX_WS_URL),
            "bybit_rest_url": config.get(config.BYBIT_REST_URL),
            "okx_rest_url": config.get(config.OKX_REST_URL),
            "record_dir": os.environ.get(RECORD_DIR) or None,
        }
        integer_fields = {f.name for f in fields(cls) if f.type in (int, "int")}
        for name, field_name in KNOBS.items():
            raw = os.environ.get(name)
            if raw:
                values[field_name] = _number(name, raw, int if field_name in integer_fields else float)
        return cls(**values)  # type: ignore[arg-type]


def _number(name: str, raw: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(raw)
    except ValueError:
        raise config.ConfigError(f"environment variable {name}={raw!r} is not a number") from None
    if value < 0 or value != value:
        raise config.ConfigError(f"environment variable {name}={raw!r} must not be negative")
    return value
