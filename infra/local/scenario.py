"""The offline scenario behind `make demo` and the end-to-end tests.

Local fakes speak the exchanges' real wire formats: the Binance, Bybit and OKX liquidation
WebSockets (the Binance one replays the real recording in data/), then a scripted BTC cascade split
across Binance and Bybit so that neither alone reaches the count and only the two together fire it;
the REST fake serves the instrument lists and a calm market whose BTC open interest surges on 2 of
the 3 exchanges at a scripted minute. Scheduler minutes are compressed (one every `minute_s`
seconds) so both alert kinds appear within a minute.
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
from infra.fakes import binance_ws, bybit_ws
from infra.fakes.binance_ws import FakeBinanceWS, recording_frames
from infra.fakes.bybit_ws import FakeBybitWS
from infra.fakes.exchanges_rest import CALM_MARKET, FakeExchanges
from infra.fakes.okx_ws import FakeOkxWS
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
        self.bybit_ws = FakeBybitWS(symbols=self.exchanges.bybit_linear)
        self.okx_ws = FakeOkxWS()

    def start(self) -> Scenario:
        self.exchanges.start()
        self.exchanges.seed_calm_market()
        self.telegram.start()
        for server in (self.ws, self.bybit_ws, self.okx_ws):
            self._loop.run(server.start())
        return self

    def stop(self) -> None:
        for server in (self.ws, self.bybit_ws, self.okx_ws):
            self._loop.run(server.stop())
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
            bybit_ws=self.bybit_ws.url,
            okx_ws=self.okx_ws.url,
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

    def feed(self, frames: Sequence[Any], server: Any = None) -> None:
        self._loop.loop.call_soon_threadsafe((server or self.ws).feed, list(frames))

    def feed_recording(self) -> None:
        self.feed(recording_frames(BINANCE_LIQUIDATIONS))

    def feed_cascade(self, start_ms: int = AFTER_RECORDING_MS, symbol: str = "BTC") -> None:
        """Long liquidations of $180k on `symbol`, one a second, alternating Binance (4) and Bybit (3):
        neither exchange alone reaches the count of 5; together they fire one alert, at the 5th."""
        contract, usd, price = f"{symbol}USDT", 180_000.0, 100_000.0
        binance = binance_ws.cascade_frames(contract, "SELL", 4, usd, start_ms, 2000, price=price)
        bybit = bybit_ws.cascade_frames(contract, "Buy", 3, usd, start_ms + 1000, 2000, price=price)
        self.feed(binance)
        self.feed(bybit, self.bybit_ws)

    def listeners_subscribed(self) -> bool:
        """The listener holds Bybit's BTC topic (so the scripted Bybit frames are not held back)."""
        return "allLiquidation.BTCUSDT" in self.bybit_ws.subscribed()

    def drained(self, timeout: float = 30) -> None:
        for server in (self.ws, self.bybit_ws, self.okx_ws):
            self._loop.run(server.drained(timeout), timeout=timeout + 1)


def message_kinds(texts: Sequence[str]) -> dict[str, int]:
    """How many messages of each kind, read from their first line (architecture.md §2.5)."""
    kinds = {"LIQUIDATION CASCADE": 0, "OI EXPLOSION": 0}
    for text in texts:
        first = text.splitlines()[0] if text else ""
        for kind in kinds:
            if first.endswith(kind):
                kinds[kind] += 1
    return kinds
