"""End to end on the local stack (architecture.md §5): fake exchanges in, fake Telegram out, moto between.

Everything travels through the template's wiring: the listener with ListenerTaskDefinition's
environment, the functions with theirs, SQS with the template's redrive, the dispatcher fed by the
event-source poller.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.local.scenario import AFTER_RECORDING_MS, Scenario, Surge, message_kinds
from infra.local.stack import LocalStack


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def scenario() -> Iterator[Scenario]:
    scenario = Scenario(minute_s=0.5, surge=Surge(minute=17)).start()
    yield scenario
    scenario.stop()


def start_stack(scenario: Scenario, tmp_path: Path, run_scheduler: bool) -> LocalStack:
    stack = LocalStack(
        scenario.markets(),
        scenario.telegram_target(),
        clock=scenario.clock(),
        log_dir=tmp_path / "logs",
        run_scheduler=run_scheduler,
    )
    stack.before_tick = scenario.before_tick
    return stack.start()


def texts(scenario: Scenario) -> list[str]:
    return [m.rendered for m in scenario.telegram.messages]


def test_scripted_cascade_and_surge_produce_exactly_the_expected_messages(scenario: Scenario, tmp_path: Path) -> None:
    stack = start_stack(scenario, tmp_path, run_scheduler=True)
    try:
        scenario.feed_recording()  # the real recording: no cascade at the default floors
        scenario.feed_cascade()
        wait_until(lambda: all(message_kinds(texts(scenario)).values()), 60, "both alert kinds")
        # Keep running: the surge lasts (one episode, one alert) and nothing else may arrive.
        time.sleep(10 * scenario.minute_s)
        messages = texts(scenario)
        assert message_kinds(messages) == {"LIQUIDATION CASCADE": 1, "OI EXPLOSION": 1}
        assert len(messages) == 2
        cascade = next(m for m in messages if "LIQUIDATION CASCADE" in m).splitlines()
        assert cascade[:5] == [
            "🚨 BTC LIQUIDATION CASCADE",
            "⚡ 5 liquidations in 30 seconds",
            "💰 Total: $900K liquidated",
            "📉 5 longs, 0 shorts",
            "⚠️ Potential price impact expected",
        ]
        # Only Binance and Bybit together reach the count (4 + 3 scripted, the 5th to arrive fires it).
        (per_exchange,) = [line for line in cascade if line.startswith("🏦 ")]
        counts = re.fullmatch(r"🏦 Binance (\d) · Bybit (\d) · OKX 0", per_exchange)
        assert counts is not None, "\n".join(cascade)
        assert all(0 < int(n) < 5 for n in counts.groups())
        assert "ℹ️ Lower bound: Binance reports at most one liquidation per symbol per second" in cascade
        surge = next(m for m in messages if "OI EXPLOSION" in m).splitlines()
        assert surge[0] == "🚨 BTC OI EXPLOSION"
        assert surge[3] == "🏦 2/3 exchanges confirming"
        assert re.fullmatch(r"Open interest \d\d:\d\d–\d\d:\d\d UTC", surge[-1]), surge  # the data's time
        history = stack.history()
        assert sorted(i["status"] for i in history) == ["delivered", "delivered"]
        assert stack.queue_depths() == (0, 0)
        status = stack.listener_status()
        assert status is not None and status["frames"] >= 1426 + 7
    finally:
        stack.stop()


def test_listener_restart_loses_no_alert_and_duplicates_none(scenario: Scenario, tmp_path: Path) -> None:
    stack = start_stack(scenario, tmp_path, run_scheduler=False)
    try:
        scenario.feed_cascade(start_ms=AFTER_RECORDING_MS, symbol="BTC")
        wait_until(lambda: len(texts(scenario)) == 1, 30, "the BTC cascade")

        assert stack.stop_listener() == 0  # SIGTERM: outbox flushed, clean exit
        # While the listener is down, the exchange keeps producing: a second cascade...
        scenario.feed_cascade(start_ms=AFTER_RECORDING_MS + 60_000, symbol="ETH")
        # ...and, as a reconnect overlap would, the first cascade's frames once more.
        scenario.feed_cascade(start_ms=AFTER_RECORDING_MS, symbol="BTC")
        stack.start_listener()

        wait_until(lambda: len(texts(scenario)) >= 2, 30, "the ETH cascade after the restart")
        time.sleep(3)  # the re-detected BTC cascade must not produce a second message
        first_lines = sorted(t.splitlines()[0] for t in texts(scenario))
        assert first_lines == ["🚨 BTC LIQUIDATION CASCADE", "🚨 ETH LIQUIDATION CASCADE"]
        wait_until(lambda: stack.queue_depths() == (0, 0), 10, "the queue to drain")
    finally:
        stack.stop()
