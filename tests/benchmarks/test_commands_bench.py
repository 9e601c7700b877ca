"""CommandsFunction benchmarks (architecture.md §4 "Commands"): webhook request to reply sent, warm,
with the fake exchanges adding 50 ms to every request: p50 under 1 s and p99 under 2 s for every
command; cold start to reply under 3 s; the requests each command makes of each exchange.

The path is the deployed one, on loopback: Telegram's update POSTed (secret header and all) to the
function's URL (infra/local/function_url.py), a Lambda-like process with the template's
environment (infra/local/lambda_runtime.py), DynamoDB and SQS in moto server, the exchanges in a
process of their own, the reply sent to the fake Telegram before the URL answers.

Run: `make bench`, or `.venv/bin/pytest -q -s tests/benchmarks/test_commands_bench.py` (one benchmark at a time).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from infra.fakes.exchanges_rest import FakeExchangesProcess
from infra.fakes.telegram import FakeTelegram
from infra.fakes.telegram_updates import SECRET_HEADER
from infra.local.aws_resources import Stack
from infra.local.function_url import FunctionUrl
from infra.local.lambda_runtime import FunctionProcess
from infra.local.moto_server import MotoServer

LATENCY_S = 0.050
RUNS = 40
COMMANDS = (
    "/price BTC",
    "/volume BTC",
    "/volume BTC 1h",
    "/oi BTC",
    "/cvd BTC",
    "/profile BTC",
    "/alerts",
    "/status",
    "/help",
    "/start",
)
P50_BAR_S, P99_BAR_S, COLD_BAR_S = 1.0, 2.0, 3.0
TOKEN = "7000000001:bench-token"
CHAT = 4242
SECRET = "bench-secret"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@pytest.fixture(scope="module")
def exchanges() -> Iterator[FakeExchangesProcess]:
    with FakeExchangesProcess(latency_s=LATENCY_S) as server:
        yield server


class Bot:
    """The function behind its URL, and a chat that writes to it."""

    def __init__(self, stack: Stack, moto: MotoServer, exchanges: FakeExchangesProcess, telegram: FakeTelegram) -> None:
        self.telegram = telegram
        self.overrides = {
            **exchanges.env(),
            "TELEGRAM_API_URL": telegram.api_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": str(CHAT),
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "POWERTOOLS_LOG_LEVEL": "WARNING",  # a log line per command is not what is measured
        }
        self.stack, self.moto = stack, moto
        self.client = httpx.Client(timeout=30)

    def function(self) -> FunctionProcess:
        return FunctionProcess(self.stack, "CommandsFunction", self.moto.env(), self.overrides)

    def ask(self, url: str, text: str) -> float:
        """Seconds from the update POSTed to the URL to its answer, the reply already sent."""
        update = self.telegram.updates.user_says(text, chat_id=CHAT)
        before = len(self.telegram.messages)
        started = time.perf_counter()
        answer = self.client.post(url, content=json.dumps(update), headers={SECRET_HEADER: SECRET})
        elapsed = time.perf_counter() - started
        assert answer.status_code == 200
        replies = self.telegram.messages[before:]
        assert len(replies) == 1 and replies[0].reply_to == update["message"]["message_id"], text
        assert "unavailable" not in replies[0].rendered, replies[0].rendered
        return elapsed


@pytest.fixture
def bot(stack: Stack, aws_env: MotoServer, exchanges: FakeExchangesProcess) -> Iterator[Bot]:
    with FakeTelegram(token=TOKEN) as telegram:
        yield Bot(stack, aws_env, exchanges, telegram)


@pytest.mark.benchmark
def test_warm_webhook_to_reply_per_command(bot: Bot, exchanges: FakeExchangesProcess) -> None:
    function = bot.function().start()
    url = FunctionUrl(function.invoke).start()
    try:
        bot.ask(url.url, "/price BTC")  # the first request builds clients and reads the contract lists
        results: dict[str, tuple[float, float, dict[str, int]]] = {}
        for text in COMMANDS:
            exchanges.reset_counts()
            bot.ask(url.url, text)
            requests = exchanges.requests()
            times = [bot.ask(url.url, text) for _ in range(RUNS)]
            results[text] = (percentile(times, 0.5), percentile(times, 0.99), requests)
    finally:
        url.stop()
        function.stop()
    lines = [
        f"  {text:<15} p50 {p50 * 1000:4.0f} ms  p99 {p99 * 1000:4.0f} ms  requests {requests or '-'}"
        for text, (p50, p99, requests) in results.items()
    ]
    print(
        f"\ncommands, warm, {RUNS} runs each, exchanges adding {LATENCY_S * 1000:.0f} ms a request:\n"
        + "\n".join(lines)
    )
    for text, (p50, p99, _) in results.items():
        assert p50 < P50_BAR_S, text
        assert p99 < P99_BAR_S, text


@pytest.mark.benchmark
def test_cold_start_to_reply(bot: Bot) -> None:
    runs: list[tuple[float, float]] = []
    for _ in range(5):
        started = time.perf_counter()
        function = bot.function().start()  # a fresh execution environment: interpreter, imports
        url = FunctionUrl(function.invoke).start()
        try:
            bot.ask(url.url, "/price BTC")  # clients, contract lists, then the command itself
            runs.append((time.perf_counter() - started, function.init_s))
        finally:
            url.stop()
            function.stop()
    total = statistics.median(t for t, _ in runs)
    init = statistics.median(i for _, i in runs)
    print(
        f"\ncommands, cold start to reply (/price BTC, new process each time, {len(runs)} runs): "
        f"median {total * 1000:.0f} ms, worst {max(t for t, _ in runs) * 1000:.0f} ms; "
        f"of which import (init) median {init * 1000:.0f} ms"
    )
    assert max(t for t, _ in runs) < COLD_BAR_S
