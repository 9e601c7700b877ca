"""Binance USD-M futures: open interest of the USDT perpetuals, and the market data the commands read.

- `GET /fapi/v1/premiumIndex` without `symbol` lists every contract with its `markPrice` (one
  request for the whole watchlist); it also tells which contract carries a symbol (`1000PEPEUSDT`).
- `GET /fapi/v1/openInterest?symbol=` has no bulk form: one request per symbol, `openInterest` in
  the contract's base asset (for `1000PEPEUSDT`, units of 1000 PEPE).
- Limit: 2,400 request weight per minute per IP; openInterest weighs 1, premiumIndex up to 10.
  A snapshot of N symbols costs about N + 10, and at most MAX_IN_FLIGHT requests run at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any

import httpx

from cryptoalerts.exchanges import market
from cryptoalerts.exchanges.fetch import (
    ExchangeError,
    ExchangeResult,
    RateLimited,
    RequestLog,
    as_float,
    decimal_field,
    epoch_ms,
    get_json,
    in_coins,
    number_fields,
    watched_entries,
)
from cryptoalerts.symbols import multiplier, normalise

NAME = "binance"
PREMIUM_INDEX = "/fapi/v1/premiumIndex"
OPEN_INTEREST = "/fapi/v1/openInterest"
QUOTE = "USDT"
# Far below the weight limit and kind to the connection pool; 100 symbols take 5 rounds.
MAX_IN_FLIGHT = 20


@dataclass(frozen=True)
class Contract:
    symbol: str
    contract: str
    mark_price: Decimal  # per contract unit


def parse_premium_index(payload: Any, watched: Iterable[str]) -> dict[str, Contract]:
    """The USDT perpetual and its mark price for each watched symbol the answer lists."""
    if not isinstance(payload, list):
        raise ExchangeError(f"premiumIndex: expected a list, got {type(payload).__name__}")
    wanted = frozenset(watched)
    found: dict[str, Contract] = {}
    # Dated futures (`BTCUSDT_251226`) and USDC contracts carry other positions.
    for entry, contract, symbol in watched_entries(payload, "symbol", QUOTE, wanted):
        mark = decimal_field(entry, "markPrice", positive=True)
        if mark is None:
            continue
        held = found.get(symbol)
        if held is None or len(contract) < len(held.contract):  # plain `PEPEUSDT` over `1000PEPEUSDT`
            found[symbol] = Contract(symbol, contract, mark)
    return found


def parse_open_interest(payload: Any, contract: str) -> Decimal:
    """`openInterest` of the answer for `contract`, in contract units."""
    if not isinstance(payload, dict) or payload.get("symbol") != contract:
        raise ExchangeError(f"openInterest: no answer for {contract}")
    oi = decimal_field(payload, "openInterest")
    if oi is None:
        raise ExchangeError(f"openInterest: unusable openInterest for {contract}: {payload.get('openInterest')!r}")
    return oi


async def fetch(client: httpx.AsyncClient, base_url: str, symbols: Iterable[str], log: RequestLog) -> ExchangeResult:
    watched = frozenset(symbols)
    contracts = parse_premium_index(await get_json(client, NAME, base_url + PREMIUM_INDEX, {}, log), watched)
    result = ExchangeResult()
    result.note_absent(watched - contracts.keys(), "not listed by premiumIndex")
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    limited: list[RateLimited] = []

    async def one(c: Contract) -> None:
        async with gate:
            if limited:  # the exchange asked us to stop: issue nothing more this minute
                result.missing[c.symbol] = "skipped after a rate-limit answer"
                return
            try:
                payload = await get_json(client, NAME, base_url + OPEN_INTEREST, {"symbol": c.contract}, log)
                oi = parse_open_interest(payload, c.contract)
            except RateLimited as exc:
                limited.append(exc)
                return
            except ExchangeError as exc:
                result.missing[c.symbol] = str(exc)
                return
            unit = c.contract[: -len(QUOTE)]
            result.add(in_coins(NAME, c.symbol, c.contract, unit, oi, c.mark_price, oi * c.mark_price))

    await asyncio.gather(*(one(c) for c in contracts.values()))
    if limited:
        raise limited[0]
    return result


# ---------------------------------------------------------------- market data for the commands
# Weights: premiumIndex (all) 10, fundingInfo 0 (own limit of 500 per 5 min), ticker/24hr with a
# symbol 1, klines 1..10 by `limit`, openInterestHist 0 (own limit of 1,000 per 5 min).
TICKER_24H = "/fapi/v1/ticker/24hr"
FUNDING_INFO = "/fapi/v1/fundingInfo"
KLINES = "/fapi/v1/klines"
OI_HISTORY = "/futures/data/openInterestHist"
KLINE_INTERVALS = {"5m": "5m", "15m": "15m", "1h": "1h", "4h": "4h", "1d": "1d"}
OI_PERIODS = KLINE_INTERVALS  # openInterestHist takes the same names
KLINES_PER_PAGE = 1500
OI_HISTORY_PER_PAGE = 500  # and only the last 30 days are served
DEFAULT_FUNDING_INTERVAL_H = 8.0  # fundingInfo lists only the contracts whose interval was changed
HISTORY_IN_FLIGHT = 5
# Calibration pages through 30 days: openInterestHist has an IP limit of its own (1,000 requests per
# 5 minutes) and serves the last 30 days only; klines count against the weight (a full page weighs 10
# of the 2,400 per minute).
OI_HISTORY_PAGING = market.HistoryPaging(
    OI_HISTORY_PER_PAGE, market.RateLimit("futures-data", 1000, 300.0), HISTORY_IN_FLIGHT, kept_ms=30 * 86_400_000
)
KLINES_PAGING = market.HistoryPaging(KLINES_PER_PAGE, market.RateLimit("weight", 2400 // 10, 60.0), HISTORY_IN_FLIGHT)


def parse_contracts(premium: Any, funding_info: Any) -> dict[str, market.Contract]:
    """Every USDT perpetual by base symbol, from premiumIndex (all contracts) and fundingInfo."""
    if not isinstance(premium, list):
        raise ExchangeError(f"premiumIndex: expected a list, got {type(premium).__name__}")
    hours: dict[str, float] = {}
    for entry in funding_info if isinstance(funding_info, list) else []:
        value = decimal_field(entry, "fundingIntervalHours", positive=True) if isinstance(entry, dict) else None
        if value is not None and isinstance(entry.get("symbol"), str):
            hours[entry["symbol"]] = float(value)
    found: dict[str, market.Contract] = {}
    for entry in premium:
        name = entry.get("symbol") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.endswith(QUOTE):  # dated `BTCUSDT_260626`, USDC
            continue
        symbol = normalise(name)
        held = found.get(symbol) if symbol else None
        if symbol is None or (held is not None and len(held.name) <= len(name)):  # `PEPEUSDT` over `1000PEPEUSDT`
            continue
        interval = hours.get(name, DEFAULT_FUNDING_INTERVAL_H)
        found[symbol] = market.Contract(NAME, symbol, name, multiplier(name[: -len(QUOTE)]), interval)
    return found


async def contracts(client: httpx.AsyncClient, base_url: str, log: RequestLog) -> dict[str, market.Contract]:
    premium, info = await asyncio.gather(
        get_json(client, NAME, base_url + PREMIUM_INDEX, {}, log),
        get_json(client, NAME, base_url + FUNDING_INFO, {}, log),
    )
    return parse_contracts(premium, info)


def parse_quote(ticker: Any, premium: Any, oi: Any, contract: market.Contract) -> market.Quote:
    for what, payload in (("ticker/24hr", ticker), ("premiumIndex", premium)):
        if not isinstance(payload, dict) or payload.get("symbol") != contract.name:
            raise ExchangeError(f"{what}: no answer for {contract.name}")
    last = decimal_field(ticker, "lastPrice", positive=True)
    mark = decimal_field(premium, "markPrice", positive=True)
    if last is None or mark is None:
        raise ExchangeError(f"ticker/premiumIndex: no usable price for {contract.name}")
    units = parse_open_interest(oi, contract.name)
    m = contract.multiplier
    coins = float(units) * m
    volume = as_float(decimal_field(ticker, "volume"))
    return market.Quote(
        exchange=NAME,
        symbol=contract.symbol,
        last=float(last) / m,
        mark=float(mark) / m,
        change_24h_pct=as_float(decimal_field(ticker, "priceChangePercent", signed=True)),
        volume_24h_usd=as_float(decimal_field(ticker, "quoteVolume")),
        volume_24h_coins=volume * m if volume is not None else None,
        funding_rate=as_float(decimal_field(premium, "lastFundingRate", signed=True)),
        funding_interval_h=contract.funding_interval_h,
        next_funding_ms=epoch_ms(premium.get("nextFundingTime")),
        oi_coins=coins,
        oi_usd=coins * float(mark) / m,
        time_ms=max(epoch_ms(premium.get("time")) or 0, epoch_ms(ticker.get("closeTime")) or 0),
    )


async def quote(client: httpx.AsyncClient, base_url: str, contract: market.Contract, log: RequestLog) -> market.Quote:
    params = {"symbol": contract.name}
    ticker, premium, oi = await asyncio.gather(
        get_json(client, NAME, base_url + TICKER_24H, params, log),
        get_json(client, NAME, base_url + PREMIUM_INDEX, params, log),
        get_json(client, NAME, base_url + OPEN_INTEREST, params, log),
    )
    return parse_quote(ticker, premium, oi, contract)


async def open_interest(
    client: httpx.AsyncClient, base_url: str, contract: market.Contract, log: RequestLog
) -> market.OpenInterest:
    params = {"symbol": contract.name}
    premium, oi = await asyncio.gather(
        get_json(client, NAME, base_url + PREMIUM_INDEX, params, log),
        get_json(client, NAME, base_url + OPEN_INTEREST, params, log),
    )
    mark = decimal_field(premium, "markPrice", positive=True) if isinstance(premium, dict) else None
    if mark is None:
        raise ExchangeError(f"premiumIndex: no usable markPrice for {contract.name}")
    coins = float(parse_open_interest(oi, contract.name)) * contract.multiplier
    time_ms = epoch_ms(oi.get("time")) or epoch_ms(premium.get("time")) or 0
    return market.OpenInterest(NAME, contract.symbol, time_ms, coins, coins * float(mark) / contract.multiplier)


def parse_klines(payload: Any, contract: market.Contract, interval_ms: int) -> list[market.Bar]:
    """`[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBuyBase,
    takerBuyQuote, ignore]` rows, oldest first; prices per contract unit, volumes in units."""
    if not isinstance(payload, list):
        raise ExchangeError(f"klines: expected a list, got {type(payload).__name__}")
    m = contract.multiplier
    bars = []
    for row in payload:
        if not isinstance(row, list) or len(row) < 11 or not isinstance(row[0], int):
            raise ExchangeError(f"klines: malformed row {str(row)[:80]}")
        o, h, lo, c, vol, quote_vol, buy = number_fields(row, (1, 2, 3, 4, 5, 7, 9), "klines")
        bars.append(market.Bar(row[0], interval_ms, o / m, h / m, lo / m, c / m, vol * m, quote_vol, buy * m))
    return bars


async def bars(
    client: httpx.AsyncClient,
    base_url: str,
    contract: market.Contract,
    interval: str,
    start_ms: int,
    end_ms: int,
    log: RequestLog,
) -> list[market.Bar]:
    """The bars opening in [start_ms, end_ms), every page requested at once."""
    step = market.INTERVAL_MS[interval]

    async def page(first: int, stop: int) -> list[market.Bar]:
        params = {
            "symbol": contract.name,
            "interval": KLINE_INTERVALS[interval],
            "startTime": str(first),
            "endTime": str(stop - 1),
            "limit": str(market.periods(first, stop, step)),
        }
        return parse_klines(await get_json(client, NAME, base_url + KLINES, params, log), contract, step)

    return await market.paged(page, (start_ms, end_ms), step, KLINES_PER_PAGE, HISTORY_IN_FLIGHT, attrgetter("open_ms"))


def parse_open_interest_history(payload: Any, contract: market.Contract) -> list[market.OpenInterest]:
    """`[{"symbol", "sumOpenInterest" (units), "sumOpenInterestValue" (USD), "timestamp"}]`, oldest first."""
    if not isinstance(payload, list):
        raise ExchangeError(f"openInterestHist: expected a list, got {type(payload).__name__}")
    points = []
    for entry in payload:
        if not isinstance(entry, dict):
            continue
        units = decimal_field(entry, "sumOpenInterest")
        time_ms = epoch_ms(entry.get("timestamp"))
        if units is None or time_ms is None:
            continue
        usd = decimal_field(entry, "sumOpenInterestValue")
        coins = float(units) * contract.multiplier
        points.append(market.OpenInterest(NAME, contract.symbol, time_ms, coins, as_float(usd)))
    return points


async def open_interest_history(
    client: httpx.AsyncClient,
    base_url: str,
    contract: market.Contract,
    period: str,
    start_ms: int,
    end_ms: int,
    log: RequestLog,
) -> list[market.OpenInterest]:
    """Open interest every `period` in [start_ms, end_ms), oldest first (Binance keeps 30 days)."""
    step = market.INTERVAL_MS[period]

    async def page(first: int, stop: int) -> list[market.OpenInterest]:
        params = {
            "symbol": contract.name,
            "period": OI_PERIODS[period],
            "startTime": str(first),
            "endTime": str(stop - 1),
            "limit": str(market.periods(first, stop, step)),
        }
        return parse_open_interest_history(await get_json(client, NAME, base_url + OI_HISTORY, params, log), contract)

    return await market.paged(
        page, (start_ms, end_ms), step, OI_HISTORY_PER_PAGE, HISTORY_IN_FLIGHT, attrgetter("time_ms")
    )
