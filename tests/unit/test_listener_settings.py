"""The listener's configuration from the environment (architecture.md §2.2 plus its tuning knobs)."""

from __future__ import annotations

import pytest

from cryptoalerts.config import ConfigError
from listener.settings import Settings


@pytest.fixture
def required(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("BINANCE_FUTURES_WS_URL", "HEALTH_PORT", "LISTENER_SILENCE_S", "LISTENER_OUTBOX_CAPACITY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERT_QUEUE_URL", "http://queue")
    monkeypatch.setenv("THRESHOLDS_PARAMETER", "/crypto-alerts/test/thresholds")
    return monkeypatch


def test_defaults(required: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env()
    assert settings.ws_url == "wss://fstream.binance.com/market/ws/!forceOrder@arr"
    assert settings.health_port == 8080
    assert settings.silence_s == 600
    assert settings.rotate_after_s < 24 * 3600
    assert settings.thresholds_refresh_s <= 60
    assert settings.flush_timeout_s < 30  # inside the task definition's stopTimeout


def test_knobs_compress_time(required: pytest.MonkeyPatch) -> None:
    required.setenv("LISTENER_SILENCE_S", "0.5")
    required.setenv("LISTENER_OUTBOX_CAPACITY", "7")
    required.setenv("HEALTH_PORT", "9999")
    settings = Settings.from_env()
    assert (settings.silence_s, settings.outbox_capacity, settings.health_port) == (0.5, 7, 9999)


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_bad_numbers_are_refused(required: pytest.MonkeyPatch, value: str) -> None:
    required.setenv("LISTENER_SILENCE_S", value)
    with pytest.raises(ConfigError, match="LISTENER_SILENCE_S"):
        Settings.from_env()


def test_queue_url_is_required(required: pytest.MonkeyPatch) -> None:
    required.delenv("ALERT_QUEUE_URL")
    with pytest.raises(ConfigError, match="ALERT_QUEUE_URL"):
        Settings.from_env()
