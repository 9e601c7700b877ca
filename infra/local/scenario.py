"""The offline scenario behind `make demo` and the end-to-end tests.

Local fakes speak the exchanges' real wire formats: the Binance liquidation WebSocket replays the
real recording in data/ and then a scripted BTC cascade; the REST fake serves a calm
market whose BTC open interest surges on 2 of the 3 exchanges at a scripted minute. Scheduler
minutes are compressed (one every `minute_s` seconds) so both alert kinds appear within a minute.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from cryptoalerts.timeutil import utc_now
from infra.fakes.binance_ws import FakeBinanceWS, cascade_frames, recording_frames
from infra.fakes.exchanges_rest import CALM_MARKET, FakeExchanges
from infra.fakes.telegram import FakeTelegram
from infra.local.stack import Clock, Markets, Telegram
from infra.repo import BINANCE_LIQUIDATIONS

T = TypeVar("T")

# The recording ends at 09:55:07 UTC; scripted liquidations come after it, in event time.
AFTER_RECORDING_MS = 1_761_127_000_000
FAKE_TOKEN = "000000:local-fake-token"
FAKE_CHAT = "1"


@dataclass(frozen=True)
class Surge:
    """BTC open interest rises by `factor` from `minute` on, on `exchanges` only."""

    minute: int = 17  # scheduler minutes after the start: past one 15-minute window of history
    factor: Decimal = Decimal("1.30")
    exchanges: tuple[str, ...] = ("binance", "bybit")
    symbol: str = "BTC"


class LoopThread:
    """An asyncio loop in a background thread, for the async WebSocket fake in a sync program."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-ws-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class Scenario:
    def __init__(
        self,
        minute_s: float = 1.5,
        surge: Surge | None = None,
        print_messages: bool = False,
        start_minute: datetime | None = None,
    ) -> None:
        """`start_minute`: the scheduler's first minute (default now). One in the past lets the
        compressed minutes catch up with the clock, so what they stored is "recent" to a command."""
        self.minute_s = minute_s
        self.surge = surge or Surge()
        self.start_minute = start_minute or utc_now().replace(second=0, microsecond=0)
        self.exchanges = FakeExchanges()
        self.telegram = FakeTelegram(print_messages=print_messages)
        self._loop = LoopThread()
        self.ws = FakeBinanceWS()

    def start(self) -> Scenario:
        self.exchanges.start()
        self.exchanges.seed_calm_market()
        self.telegram.start()
        self._loop.run(self.ws.start())
        return self

    def stop(self) -> None:
        self._loop.run(self.ws.stop())
        self._loop.stop()
        self.exchanges.stop()
        self.telegram.stop()

    # ------------------------------------------------------------------ what the stack talks to
    def markets(self) -> Markets:
        return Markets(
            binance_ws=self.ws.url,
            binance_rest=self.exchanges.url,
            bybit_rest=self.exchanges.url,
            okx_rest=self.exchanges.url,
        )

    def telegram_target(self) -> Telegram:
        return Telegram(api_url=self.telegram.api_url, token=FAKE_TOKEN, chat_id=FAKE_CHAT)

    def clock(self) -> Clock:
        return Clock(minute_s=self.minute_s, start=self.start_minute)

    # ------------------------------------------------------------------ the script
    def before_tick(self, minute: datetime) -> None:
        """Serve the market as it stands at `minute` (the scheduler calls this before each snapshot)."""
        index = (minute - self.start_minute) // timedelta(minutes=1)
        oi, mark = CALM_MARKET[self.surge.symbol]
        for exchange in ("binance", "bybit", "okx"):
            surging = index >= self.surge.minute and exchange in self.surge.exchanges
            self.exchanges.set_oi(exchange, self.surge.symbol, oi * self.surge.factor if surging else oi, mark)

    def feed(self, frames: Sequence[str | bytes]) -> None:
        self._loop.loop.call_soon_threadsafe(self.ws.feed, list(frames))

    def feed_recording(self) -> None:
        self.feed(recording_frames(BINANCE_LIQUIDATIONS))

    def feed_cascade(self, start_ms: int = AFTER_RECORDING_MS, symbol: str = "BTC", count: int = 7) -> None:
        """`count` long liquidations of $180k on `symbol`USDT, one a second: one cascade alert."""
        self.feed(cascade_frames(f"{symbol}USDT", "SELL", count, 180_000.0, start_ms, price=100_000.0))

    def drained(self, timeout: float = 30) -> None:
        self._loop.run(self.ws.drained(timeout), timeout=timeout + 1)


def message_kinds(texts: Sequence[str]) -> dict[str, int]:
    """How many messages of each kind, read from their first line (architecture.md §2.5)."""
    kinds = {"LIQUIDATION CASCADE": 0, "OI EXPLOSION": 0}
    for text in texts:
        first = text.splitlines()[0] if text else ""
        for kind in kinds:
            if first.endswith(kind):
                kinds[kind] += 1
    return kinds
