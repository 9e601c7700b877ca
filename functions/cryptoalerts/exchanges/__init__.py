"""One module per exchange: every exchange quirk (URLs, field names, units) lives in its module.

`fetch_all` reads open interest from all of them at once: one shared HTTP client, every request
concurrent, a timeout per request and a deadline per exchange, and isolation: an exchange that
fails (or asked us to back off) is reported in `failures` while the others' readings stand.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

import certifi
import httpx

from cryptoalerts import config
from cryptoalerts.exchanges import binance, bybit, market, okx
from cryptoalerts.exchanges.fetch import (
    ExchangeError,
    ExchangeResult,
    OiReading,
    RateLimited,
    RateLimitGate,
    RequestLog,
)

__all__ = [
    "ADAPTERS",
    "MARKETS",
    "ExchangeResult",
    "MarketSource",
    "OiReading",
    "RateLimitGate",
    "Snapshot",
    "base_urls",
    "fetch_all",
]

T = TypeVar("T")
Fetch = Callable[[httpx.AsyncClient, str, Iterable[str], RequestLog], Awaitable[ExchangeResult]]


@dataclass(frozen=True)
class Adapter:
    name: str
    url_variable: str  # the environment variable naming its REST base URL
    fetch: Fetch


ADAPTERS: tuple[Adapter, ...] = (
    Adapter(binance.NAME, config.BINANCE_FUTURES_REST_URL, binance.fetch),
    Adapter(bybit.NAME, config.BYBIT_REST_URL, bybit.fetch),
    Adapter(okx.NAME, config.OKX_REST_URL, okx.fetch),
)

Contracts = Callable[[httpx.AsyncClient, str, RequestLog], Awaitable[dict[str, market.Contract]]]
Quote = Callable[[httpx.AsyncClient, str, market.Contract, RequestLog], Awaitable[market.Quote]]
OpenInterestNow = Callable[[httpx.AsyncClient, str, market.Contract, RequestLog], Awaitable[market.OpenInterest]]
Series = Callable[[httpx.AsyncClient, str, market.Contract, str, int, int, RequestLog], Awaitable[list[T]]]


@dataclass(frozen=True)
class MarketSource:
    """One exchange's market data beyond the snapshot: what the commands (and calibration) read.

    `taker_flow` is None where the exchange publishes no taker volume of its own; Binance's bars
    carry it (`Bar.taker_buy`), Bybit publishes none at all.
    """

    name: str
    url_variable: str
    contracts: Contracts
    quote: Quote
    open_interest: OpenInterestNow
    bars: Series[market.Bar]
    open_interest_history: Series[market.OpenInterest]
    # How the two history endpoints page, for a caller reading weeks of them (calibration).
    open_interest_history_paging: market.HistoryPaging
    bars_paging: market.HistoryPaging
    taker_flow: Series[market.TakerFlow] | None = None


MARKETS: tuple[MarketSource, ...] = (
    MarketSource(
        binance.NAME,
        config.BINANCE_FUTURES_REST_URL,
        binance.contracts,
        binance.quote,
        binance.open_interest,
        binance.bars,
        binance.open_interest_history,
        binance.OI_HISTORY_PAGING,
        binance.KLINES_PAGING,
    ),
    MarketSource(
        bybit.NAME,
        config.BYBIT_REST_URL,
        bybit.contracts,
        bybit.quote,
        bybit.open_interest,
        bybit.bars,
        bybit.open_interest_history,
        bybit.OI_HISTORY_PAGING,
        bybit.KLINES_PAGING,
    ),
    MarketSource(
        okx.NAME,
        config.OKX_REST_URL,
        okx.contracts,
        okx.quote,
        okx.open_interest,
        okx.bars,
        okx.open_interest_history,
        okx.OI_HISTORY_PAGING,
        okx.CANDLES_PAGING,
        okx.taker_flow,
    ),
)

REQUEST_TIMEOUT_S = 5.0
# Binance with a large watchlist needs several rounds; the snapshot must end well inside its minute.
EXCHANGE_DEADLINE_S = 20.0


@dataclass
class Snapshot:
    """Readings per exchange, the exchanges that failed (with why), and requests issued."""

    results: dict[str, ExchangeResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)

    def readings(self) -> list[OiReading]:
        return [r for result in self.results.values() for r in result.readings.values()]


@cache
def tls_context() -> ssl.SSLContext:
    """Loading the CA bundle takes tens of milliseconds: once per container, not per invocation."""
    return ssl.create_default_context(cafile=certifi.where())


def base_urls() -> dict[str, str]:
    """Each exchange's REST base URL from the environment (architecture.md §2.2 defaults)."""
    return {a.name: config.get(a.url_variable) for a in ADAPTERS}


async def fetch_all(
    symbols: Iterable[str],
    urls: Mapping[str, str],
    gate: RateLimitGate,
    *,
    timeout_s: float | None = None,
    deadline_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Snapshot:
    timeout_s = REQUEST_TIMEOUT_S if timeout_s is None else timeout_s
    deadline = EXCHANGE_DEADLINE_S if deadline_s is None else deadline_s
    watched = tuple(dict.fromkeys(symbols))
    snapshot = Snapshot()
    log = RequestLog(snapshot.requests)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)

    async def run(adapter: Adapter, client: httpx.AsyncClient) -> None:
        wait = gate.blocked_for(adapter.name, clock())
        if wait > 0:
            snapshot.failures[adapter.name] = f"backing off for {wait:.0f} s more after a rate-limit answer"
            return
        try:
            base = urls[adapter.name].rstrip("/")
            result = await asyncio.wait_for(adapter.fetch(client, base, watched, log), deadline)
        except RateLimited as exc:
            gate.back_off(adapter.name, exc.retry_after_s, clock())
            snapshot.failures[adapter.name] = str(exc)
            return
        except ExchangeError as exc:
            snapshot.failures[adapter.name] = str(exc)
            return
        except TimeoutError:
            snapshot.failures[adapter.name] = f"no complete answer within {deadline:g} s"
            return
        except Exception as exc:  # an adapter bug must not cost the other exchanges their minute
            snapshot.failures[adapter.name] = f"unexpected {type(exc).__name__}: {exc}"
            return
        if not result.readings:
            snapshot.failures[adapter.name] = "no watched symbol in the answer"
            return
        snapshot.results[adapter.name] = result

    async with httpx.AsyncClient(timeout=timeout_s, limits=limits, verify=tls_context()) as client:
        await asyncio.gather(*(run(a, client) for a in ADAPTERS))
    return snapshot
