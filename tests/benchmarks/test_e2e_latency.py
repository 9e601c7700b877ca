"""End to end on the local stack (architecture.md §4): a frame sent by the fake Binance stream to its
message received by the fake Telegram, over at least 200 alerts. Bars: p50 < 300 ms, p99 < 1 s.

Run: .venv/bin/pytest -s tests/benchmarks/test_e2e_latency.py
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from infra.fakes.binance_ws import frame
from infra.local.scenario import AFTER_RECORDING_MS, Scenario
from infra.local.stack import LocalStack

ALERTS = 200
PACE_S = 0.1  # one alert-worthy liquidation every 100 ms: latency, not a flood
SYMBOLS = [f"BENCH{i}" for i in range(ALERTS)]
WARMUP = "WARMUP"  # the first alert pays the dispatcher's cold start (reported by the init benchmarks)
# One qualifying liquidation is a cascade and every symbol is its own dedup key, so each frame
# yields exactly one message; the hourly budget is lifted for the run.
THRESHOLDS = {
    "symbols": [WARMUP, *SYMBOLS],
    "liquidation": {"default": {"min_usd": 25000, "cascade_count": 1, "window_s": 1}},
    "dispatch": {"rate_limit_per_hour": 100000, "dedup_window_s": 0},
}
TITLE = re.compile(r"^🚨 (BENCH\d+) LIQUIDATION CASCADE$")


def test_frame_to_telegram_latency(tmp_path: Path) -> None:
    scenario = Scenario().start()
    stack = LocalStack(
        scenario.markets(),
        scenario.telegram_target(),
        log_dir=tmp_path / "logs",
        run_scheduler=False,
        thresholds=THRESHOLDS,
    )
    try:
        stack.start()
        deadline = time.monotonic() + 30
        while (status := stack.listener_status()) is None or status["connection"]["state"] != "connected":
            assert time.monotonic() < deadline, "listener did not connect"
            time.sleep(0.1)
        while len(status["watched_symbols"]) != ALERTS + 1:  # the listener has the benchmark's thresholds
            assert time.monotonic() < deadline, "listener did not load the thresholds"
            time.sleep(0.2)
            status = stack.listener_status() or status

        scenario.feed([frame(f"{WARMUP}USDT", "SELL", "100", "500", AFTER_RECORDING_MS - 10_000)])
        scenario.telegram.wait_for(1, timeout_s=30)

        sent_at: dict[str, float] = {}
        for i, symbol in enumerate(SYMBOLS):
            sent_at[symbol] = time.time()
            scenario.feed([frame(f"{symbol}USDT", "SELL", "100", "500", AFTER_RECORDING_MS + i * 1000)])
            time.sleep(PACE_S)
        scenario.telegram.wait_for(ALERTS + 1, timeout_s=60)

        received: dict[str, float] = {}
        for request in scenario.telegram.requests:
            if request.method != "sendMessage":  # the local stack also registers the commands' webhook
                continue
            match = TITLE.match(str(request.params.get("text", "")).partition("\n")[0])
            if match and request.status == 200:
                received.setdefault(match.group(1), request.received_at)
        latencies_ms = sorted((received[s] - sent_at[s]) * 1000 for s in received)
    finally:
        stack.stop()
        scenario.stop()

    assert len(latencies_ms) == ALERTS, f"{ALERTS - len(latencies_ms)} alerts did not arrive"
    p50 = statistics.median(latencies_ms)
    p99 = latencies_ms[int(0.99 * (len(latencies_ms) - 1))]
    print(
        f"\nend-to-end frame -> Telegram over {len(latencies_ms)} alerts: "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies_ms[-1]:.0f} ms"
    )
    assert p50 < 300
    assert p99 < 1000
