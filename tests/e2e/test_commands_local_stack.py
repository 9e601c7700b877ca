"""Commands on the local stack (architecture.md §2.9 "Local"), as a user types them: through the
fake Telegram's webhook into CommandsFunction behind its local Function URL, with the template's
wiring, the pipeline running beside it; and into the console of `make demo` itself."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from infra.local.scenario import Scenario, Surge
from infra.local.stack import LocalStack
from infra.repo import REPO_ROOT


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Scenario, LocalStack]]:
    surge = Surge(minute=17)
    scenario = Scenario(minute_s=0.3, surge=surge)
    # The scheduler's minutes end where the clock is, so they are "recent" to a command.
    scenario.start_minute -= timedelta(minutes=surge.minute + 3)
    scenario.start()
    local = LocalStack(
        scenario.markets(), scenario.telegram_target(), clock=scenario.clock(), log_dir=tmp_path / "logs"
    )
    local.before_tick = scenario.before_tick
    local.start()
    yield scenario, local
    local.stop()
    scenario.stop()


def reply_to(scenario: Scenario, text: str, timeout_s: float = 20) -> str:
    update = scenario.telegram.updates.user_says(text, chat_id=int(scenario.telegram_target().chat_id))
    message_id = update["message"]["message_id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in scenario.telegram.messages:
            if message.reply_to == message_id:
                return message.rendered
        time.sleep(0.05)
    pytest.fail(f"no reply to {text!r} within {timeout_s} s")


def test_a_command_typed_as_a_user_would_gets_its_reply(stack: tuple[Scenario, LocalStack]) -> None:
    scenario, local = stack
    webhook = scenario.telegram.updates.webhook  # the stack set it, secret and all
    assert webhook is not None and local.commands_url is not None
    assert (webhook.url, webhook.secret) == (local.commands_url.url, local.webhook_secret)
    price = reply_to(scenario, "/price eth")
    assert price.splitlines()[0].startswith("💵 ETH perpetuals (USDT)")
    assert "Binance $3" in price and "Spread " in price


def test_oi_sees_the_surge_the_pipeline_stored(stack: tuple[Scenario, LocalStack]) -> None:
    scenario, local = stack
    deadline = time.monotonic() + 60
    while local.counters.evaluations < scenario.surge.minute + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    seen = reply_to(scenario, "/oi BTC")
    assert "met now (2 exchanges at or above)" in seen
    assert "the pipeline's minute snapshots" in seen
    assert any(line.split()[:2] == ["Binance", "+30.0"] for line in seen.splitlines())


def test_make_demo_answers_what_is_typed_into_its_console() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "--demo"],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = demo.communicate("/cvd SOL 15m\n", timeout=240)
    assert demo.returncode == 0, out[-3000:]
    assert "you → /cvd SOL 15m" in out
    assert "│ 🧮 SOL CVD · 15m bars" in out
    for first_line in (
        "💵 BTC perpetuals (USDT)",
        "📊 BTC volume · 15m bars",
        "📈 BTC open interest",
        "🧮 BTC CVD · 1h bars",
        "📐 BTC volume profile",
        "🔔 Latest alerts",
        "🩺 Pipeline status",
    ):
        assert f"│ {first_line}" in out, first_line
    assert "commands answered: 9 of 9" in out
