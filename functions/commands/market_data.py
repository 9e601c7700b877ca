"""The exchanges as the commands read them: which contract carries a symbol on each, and every
exchange asked at once with short timeouts, one that fails named while the others stand.

The contract lists (Binance premiumIndex + fundingInfo, Bybit's tickers of every linear contract,
OKX's open interest of every swap: the bulk requests the OI snapshot makes too) are kept an hour per
warm container, so a command costs only the requests for its own figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from cryptoalerts.exchanges import MARKETS, MarketSource
from cryptoalerts.exchanges.fetch import ExchangeError, RequestLog
from cryptoalerts.exchanges.market import (
    INTERVAL_MS,
    Bar,
    Candles,
    Contract,
    NotListed,
    OpenInterest,
    PerExchange,
    Quote,
    each_exchange,
)

T = TypeVar("T")

# A trader waits for the answer: an exchange that has not answered by then is named, not awaited.
REQUEST_TIMEOUT_S = 2.5
EXCHANGE_DEADLINE_S = 4.0
CONTRACTS_TTL_S = 3600.0

Call = Callable[[MarketSource, str, Contract], Awaitable[T]]


class Market:
    def __init__(
        self,
        client: httpx.AsyncClient,
        urls: Mapping[str, str],
        sources: tuple[MarketSource, ...] = MARKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.sources = sources
        self.names = tuple(s.name for s in sources)
        self.log = RequestLog()  # requests issued per exchange (benchmarks, tests)
        # (exchange, reason for the reader, the full story) of the calls since the last drain
        self.failures: list[tuple[str, str, str]] = []
        self._clock = clock
        self._contracts: dict[str, tuple[float, dict[str, Contract]]] = {}

    async def contract(self, source: MarketSource, symbol: str) -> Contract:
        held = self._contracts.get(source.name)
        if held is None or self._clock() - held[0] > CONTRACTS_TTL_S:
            listed = await source.contracts(self.client, self.urls[source.name], self.log)
            if not listed:
                raise ExchangeError(f"{source.name}: the contract list is empty")
            held = self._contracts[source.name] = (self._clock(), listed)
        contract = held[1].get(symbol)
        if contract is None:
            raise NotListed(source.name, symbol)
        return contract

    async def each(self, symbol: str, call: Call[T], deadline_s: float = EXCHANGE_DEADLINE_S) -> PerExchange[T]:
        """`call` on every exchange that lists `symbol`, all at once."""

        def job(source: MarketSource) -> Callable[[], Awaitable[T]]:
            async def run() -> T:
                contract = await self.contract(source, symbol)
                return await call(source, self.urls[source.name], contract)

            return run

        result = await each_exchange({s.name: job(s) for s in self.sources}, deadline_s)
        self.failures += [(n, reason, result.errors.get(n, reason)) for n, reason in result.failures.items()]
        return result

    def drain_failures(self) -> list[tuple[str, str, str]]:
        """The exchange failures of the calls since the last drain (for the handler's log and metric)."""
        failures, self.failures = self.failures, []
        return failures


def not_listed_anywhere(result: PerExchange[Any]) -> bool:
    """Every exchange answered, and none lists the symbol: the reader mistyped it."""
    return not result.results and bool(result.failures) and all(r == "not listed" for r in result.failures.values())


async def quotes(market: Market, symbol: str) -> PerExchange[Quote]:
    return await market.each(symbol, lambda src, url, c: src.quote(market.client, url, c, market.log))


async def open_interest(market: Market, symbol: str) -> PerExchange[OpenInterest]:
    return await market.each(symbol, lambda src, url, c: src.open_interest(market.client, url, c, market.log))


async def candles(
    market: Market, symbol: str, interval: str, start_ms: int, end_ms: int, taker_from_ms: int | None
) -> PerExchange[Candles]:
    """Bars opening in [start_ms, end_ms), and from `taker_from_ms` on the taker statistics of the
    exchanges that publish them apart from their bars (None: not needed)."""

    async def call(src: MarketSource, url: str, c: Contract) -> Candles:
        bars = src.bars(market.client, url, c, interval, start_ms, end_ms, market.log)
        if src.taker_flow is None or taker_from_ms is None:
            return Candles(await bars)
        flows = src.taker_flow(market.client, url, c, interval, taker_from_ms, end_ms, market.log)
        got_bars, got_flows = await asyncio.gather(bars, flows)
        return Candles(got_bars, got_flows)

    return await market.each(symbol, call)


async def bars(market: Market, symbol: str, interval: str, start_ms: int, end_ms: int) -> PerExchange[list[Bar]]:
    return await market.each(
        symbol, lambda src, url, c: src.bars(market.client, url, c, interval, start_ms, end_ms, market.log)
    )


async def open_interest_history(
    market: Market, source: MarketSource, contract: Contract, period: str, start_ms: int, end_ms: int
) -> list[OpenInterest]:
    url = market.urls[source.name]
    return await source.open_interest_history(market.client, url, contract, period, start_ms, end_ms, market.log)


def periods(interval: str, count: int, now_ms: int) -> tuple[int, int]:
    """[start, end) of the `count` newest periods of `interval`, the current (open) one included."""
    step = INTERVAL_MS[interval]
    current = now_ms - now_ms % step
    return current - (count - 1) * step, current + step
