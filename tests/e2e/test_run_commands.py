"""`make run` without the markets: the stack says what it cannot reach and keeps going.

`make demo` as a person runs it is in test_fresh_copy.py, run from a copy with nothing beside it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from infra.local.moto_server import free_port
from infra.local.stack import LocalStack, Markets, Telegram


def test_without_the_markets_the_stack_says_what_it_cannot_reach_and_keeps_going(tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there: connections are refused
    markets = Markets(
        binance_ws=f"ws://{nowhere}/market/ws/!forceOrder@arr",
        binance_rest=f"http://{nowhere}",
        bybit_rest=f"http://{nowhere}",
        okx_rest=f"http://{nowhere}",
        bybit_ws=f"ws://{nowhere}/v5/public/linear",
        okx_ws=f"ws://{nowhere}/ws/v5/public",
    )
    telegram = Telegram(api_url=f"http://{nowhere}", token="1:unused", chat_id="1")
    stack = LocalStack(markets, telegram, log_dir=tmp_path / "logs", run_scheduler=False)
    try:
        stack.start()
        minute = datetime.now(tz=UTC).replace(second=0, microsecond=0)
        for _ in range(2):  # a scheduled minute, and the next: no crash, every exchange reported
            result = stack.tick(minute)
            assert result is not None and result["alerts"] == []
        deadline = time.monotonic() + 20
        line = stack.status_line()
        while "cannot reach Binance stream" not in line and time.monotonic() < deadline:
            time.sleep(0.5)
            line = stack.status_line()
        assert "cannot reach Binance stream" in line
        assert "binance failed 2" in line and "bybit failed 2" in line and "okx failed 2" in line
        assert stack.listener is not None and stack.listener.poll() is None  # still retrying, not dead
    finally:
        stack.stop()
