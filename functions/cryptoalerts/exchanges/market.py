"""Market data beyond open interest (tickers, bars, taker flow, open-interest history), as plain
values every exchange module produces for the reactive commands and the calibration.

No exchange quirk lives here: each exchange's module maps its endpoints, field names and units onto
these types. Whatever the contract's unit (`1000PEPEUSDT` quotes per 1,000 PEPE, OKX counts
contracts), prices here are USD per coin of the base asset and sizes are in coins.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cryptoalerts.exchanges.fetch import ExchangeError

T = TypeVar("T")

# Bar and history periods the commands use, by the name a trader types.
INTERVAL_MS: dict[str, int] = {
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


@dataclass(frozen=True)
class Contract:
    """A symbol's USDT-margined perpetual on one exchange.

    `multiplier` is coins per unit the exchange quotes in (1,000 for `1000PEPEUSDT`, else 1): its
    prices are divided by it and its quantities multiplied, so every figure is per coin.
    """

    exchange: str
    symbol: str
    name: str
    multiplier: int = 1
    funding_interval_h: float | None = None  # where the exchange's instrument list says it


@dataclass(frozen=True)
class Quote:
    """The ticker view of one contract: prices, the last 24 h, funding and open interest."""

    exchange: str
    symbol: str
    last: float
    mark: float
    change_24h_pct: float | None
    volume_24h_usd: float | None
    volume_24h_coins: float | None
    funding_rate: float | None  # per funding interval, as a fraction (0.0001 = 0.01 %)
    funding_interval_h: float | None
    next_funding_ms: int | None
    oi_coins: float | None
    oi_usd: float | None
    time_ms: int  # when the exchange produced the figures


@dataclass(frozen=True)
class Bar:
    """One candle. `taker_buy` is the coins bought by takers, None where the exchange's candles
    do not carry it. A bar is closed once `open_ms + interval_ms` has passed."""

    open_ms: int
    interval_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float  # coins
    quote_volume: float  # USD
    taker_buy: float | None = None

    @property
    def close_ms(self) -> int:
        return self.open_ms + self.interval_ms

    def closed(self, now_ms: int) -> bool:
        return self.close_ms <= now_ms


@dataclass(frozen=True)
class TakerFlow:
    """Coins bought and sold by takers (market orders) in one period."""

    open_ms: int
    buy: float
    sell: float


@dataclass(frozen=True)
class Candles:
    """An exchange's bars, with its taker statistics where it publishes them apart from the bars
    (OKX); Binance's bars carry taker buys themselves, Bybit publishes none."""

    bars: list[Bar]
    taker: list[TakerFlow] | None = None


@dataclass(frozen=True)
class OpenInterest:
    """Open interest of one contract at one time, in coins (positions) and USD."""

    exchange: str
    symbol: str
    time_ms: int
    coins: float
    usd: float | None

    @property
    def mark(self) -> float | None:
        return self.usd / self.coins if self.usd is not None and self.coins > 0 else None


@dataclass(frozen=True)
class RateLimit:
    """An exchange's limit on a group of its endpoints: `requests` within any `per_s` seconds,
    counted per address, or per address and instrument where `per_instrument`. Endpoints naming
    the same limit share it."""

    name: str
    requests: int
    per_s: float
    per_instrument: bool = False


@dataclass(frozen=True)
class HistoryPaging:
    """How an exchange serves a history endpoint: periods per page, its rate limit, how far back."""

    per_page: int
    limit: RateLimit
    in_flight: int  # requests at once
    kept_ms: int | None = None  # only this far back from now
    kept_periods: int | None = None  # only the newest this many periods

    def oldest_ms(self, now_ms: int, period_ms: int) -> int | None:
        """The oldest period start still served (None: back to the contract's listing)."""
        oldest = [now_ms - self.kept_ms] if self.kept_ms is not None else []
        if self.kept_periods is not None:
            oldest.append(align(now_ms, period_ms) - (self.kept_periods - 1) * period_ms)
        return max(oldest) if oldest else None


class NotListed(ExchangeError):
    """The exchange lists no USDT perpetual for the symbol."""

    def __init__(self, exchange: str, symbol: str) -> None:
        super().__init__(f"{exchange} lists no USDT perpetual for {symbol}", reason="not listed")


def windows(start_ms: int, end_ms: int, step_ms: int, per_page: int) -> list[tuple[int, int]]:
    """[start, end) cut into pages of at most `per_page` periods of `step_ms`, newest first, so an
    exchange that pages by time can be asked for all of them at once rather than one after another."""
    if end_ms <= start_ms:
        return []
    span = step_ms * per_page
    pages = []
    page_end = end_ms
    while page_end > start_ms:
        page_start = max(start_ms, page_end - span)
        pages.append((page_start, page_end))
        page_end = page_start
    return pages


def periods(start_ms: int, end_ms: int, step_ms: int) -> int:
    """How many periods of `step_ms` open in [start_ms, end_ms): a page's `limit`. Binance weighs
    a klines request by its limit, so asking for what is needed costs less than asking for the most."""
    return max(1, -(-(end_ms - start_ms) // step_ms))


def align(time_ms: int, interval_ms: int) -> int:
    """The start of the period holding `time_ms` (UTC-aligned, as every exchange aligns bars)."""
    return time_ms - time_ms % interval_ms


async def bounded(jobs: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run the jobs concurrently, at most `limit` at a time (an exchange's rate limit), in order.
    Each job is started only once through the gate, so a job cancelled while waiting leaves no
    coroutine behind that was never awaited."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def paged(
    page: Callable[[int, int], Awaitable[list[T]]],
    span: tuple[int, int],
    step_ms: int,
    per_page: int,
    in_flight: int,
    time_of: Callable[[T], int],
) -> list[T]:
    """Every page of the span [start, end) asked at once (at most `in_flight` at a time); the rows
    whose time lies in the span, each time once (pages may overlap at their edges), oldest first."""
    start_ms, end_ms = span
    found = await bounded(
        (functools.partial(page, a, b) for a, b in windows(start_ms, end_ms, step_ms, per_page)), in_flight
    )
    by_time = {time_of(row): row for rows in found for row in rows if start_ms <= time_of(row) < end_ms}
    return [by_time[t] for t in sorted(by_time)]


@dataclass
class PerExchange(Generic[T]):
    """What each exchange answered, and why each other one did not (a reason a trader can read)."""

    results: dict[str, T] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # the full story, for the operator's log


async def each_exchange(
    calls: Mapping[str, Callable[[], Awaitable[T]]],
    deadline_s: float,
) -> PerExchange[T]:
    """Ask every exchange at once; one that fails or misses the deadline is named, the rest stand."""
    outcome: PerExchange[T] = PerExchange()

    async def run(name: str, call: Callable[[], Awaitable[T]]) -> None:
        try:
            outcome.results[name] = await asyncio.wait_for(call(), deadline_s)
        except ExchangeError as exc:
            outcome.failures[name], outcome.errors[name] = exc.reason, str(exc)
        except TimeoutError:
            outcome.failures[name] = f"no answer within {deadline_s:g} s"
            outcome.errors[name] = f"deadline of {deadline_s:g} s passed"
        except Exception as exc:  # a parsing bug for one exchange must not cost the others
            outcome.failures[name], outcome.errors[name] = "bad answer", f"unexpected {type(exc).__name__}: {exc}"

    await asyncio.gather(*(run(name, call) for name, call in calls.items()))
    return outcome
