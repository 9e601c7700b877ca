"""Bybit v5: open interest of the linear USDT perpetuals, and the market data the commands read.

`GET /v5/market/tickers?category=linear` without `symbol` answers every linear contract in one
request: open interest (in the base coin for linear contracts; for `1000PEPEUSDT`, units of
1000 PEPE), its USD value and `markPrice`. Limit: 600 requests per 5 s per IP.

Since 2026-06-11 Bybit documents `openInterest` / `openInterestValue` as both sides (longs plus
shorts, twice the usual figure) and adds `singleOpenInterest` / `singleOpenInterestValue`, one
side, which is what Binance and OKX report: the single-side fields are used where present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from operator import attrgetter
from typing import Any

import httpx

from cryptoalerts.exchanges import market
from cryptoalerts.exchanges.fetch import (
    ExchangeError,
    ExchangeResult,
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

NAME = "bybit"
TICKERS = "/v5/market/tickers"
QUOTE = "USDT"


def single_side_open_interest(entry: Mapping[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    """Open interest (contract units) and its USD value, one side, as the other exchanges count it."""
    if entry.get("singleOpenInterest") not in (None, ""):
        return decimal_field(entry, "singleOpenInterest"), decimal_field(entry, "singleOpenInterestValue")
    return decimal_field(entry, "openInterest"), decimal_field(entry, "openInterestValue")


def result_list(payload: Any, what: str) -> tuple[dict[str, Any], list[Any]]:
    """The v5 envelope's `result` and its `list`; ExchangeError for a non-zero retCode."""
    if not isinstance(payload, dict):
        raise ExchangeError(f"{what}: expected an object, got {type(payload).__name__}")
    if payload.get("retCode") != 0:
        raise ExchangeError(f"{what}: retCode {payload.get('retCode')!r}: {str(payload.get('retMsg'))[:100]}")
    body = payload.get("result")
    entries = body.get("list") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(entries, list):
        raise ExchangeError(f"{what}: result.list missing")
    return body, entries


def parse_tickers(payload: Any, watched: Iterable[str]) -> ExchangeResult:
    wanted = frozenset(watched)
    _, entries = result_list(payload, "tickers")
    result = ExchangeResult()
    # `BTCPERP` (USDC) and dated `BTCUSDT-26DEC25` hold other positions.
    for entry, contract, symbol in watched_entries(entries, "symbol", QUOTE, wanted):
        oi, value = single_side_open_interest(entry)
        mark = decimal_field(entry, "markPrice", positive=True)
        if oi is None or mark is None:
            result.missing[symbol] = f"unusable ticker for {contract}"
            continue
        usd = value if value is not None else oi * mark
        result.add(in_coins(NAME, symbol, contract, contract[: -len(QUOTE)], oi, mark, usd))
    result.note_absent(wanted, "not listed by tickers")
    return result


async def fetch(client: httpx.AsyncClient, base_url: str, symbols: Iterable[str], log: RequestLog) -> ExchangeResult:
    payload = await get_json(client, NAME, base_url + TICKERS, {"category": "linear"}, log)
    return parse_tickers(payload, symbols)


# ---------------------------------------------------------------- market data for the commands
KLINE = "/v5/market/kline"
OI_HISTORY = "/v5/market/open-interest"
KLINE_INTERVALS = {"5m": "5", "15m": "15", "1h": "60", "4h": "240", "1d": "D"}
OI_PERIODS = {"5m": "5min", "15m": "15min", "1h": "1h", "4h": "4h", "1d": "1d"}
KLINES_PER_PAGE = 1000
OI_HISTORY_PER_PAGE = 200
HISTORY_IN_FLIGHT = 10
# One limit for every endpoint: 600 requests per 5 s per IP (beyond it: HTTP 403 and a 10-minute
# ban). Open-interest history goes back to the contract's listing.
IP_LIMIT = market.RateLimit("ip", 600, 5.0)
OI_HISTORY_PAGING = market.HistoryPaging(OI_HISTORY_PER_PAGE, IP_LIMIT, HISTORY_IN_FLIGHT)
KLINES_PAGING = market.HistoryPaging(KLINES_PER_PAGE, IP_LIMIT, HISTORY_IN_FLIGHT)


def parse_contracts(payload: Any) -> dict[str, market.Contract]:
    """Every USDT perpetual by base symbol, from the tickers of all linear contracts (the same
    request the snapshot makes); its `fundingIntervalHour` says each one's funding interval."""
    _, entries = result_list(payload, "tickers")
    found: dict[str, market.Contract] = {}
    for entry in entries:
        name = entry.get("symbol") if isinstance(entry, dict) else None
        # `BTCPERP` (USDC) and dated `BTCUSDT-26DEC25` are other contracts; a dated one has a deliveryTime.
        if not isinstance(name, str) or not name.endswith(QUOTE) or entry.get("deliveryTime", "0") not in ("0", ""):
            continue
        symbol = normalise(name)
        if symbol is None or (symbol in found and len(found[symbol].name) <= len(name)):
            continue
        hours = as_float(decimal_field(entry, "fundingIntervalHour", positive=True))
        found[symbol] = market.Contract(NAME, symbol, name, multiplier(name[: -len(QUOTE)]), hours)
    return found


async def contracts(client: httpx.AsyncClient, base_url: str, log: RequestLog) -> dict[str, market.Contract]:
    return parse_contracts(await get_json(client, NAME, base_url + TICKERS, {"category": "linear"}, log))


def _ticker(payload: Any, contract: market.Contract) -> tuple[dict[str, Any], int]:
    _, entries = result_list(payload, "tickers")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("symbol") == contract.name:
            return entry, epoch_ms(payload.get("time")) or 0
    raise ExchangeError(f"tickers: no answer for {contract.name}")


def parse_quote(payload: Any, contract: market.Contract) -> market.Quote:
    entry, time_ms = _ticker(payload, contract)
    last = decimal_field(entry, "lastPrice", positive=True)
    mark = decimal_field(entry, "markPrice", positive=True)
    if last is None or mark is None:
        raise ExchangeError(f"tickers: no usable price for {contract.name}")
    m = contract.multiplier
    units, value = single_side_open_interest(entry)
    change = decimal_field(entry, "price24hPcnt", signed=True)  # a fraction: 0.0123 is +1.23 %
    volume = as_float(decimal_field(entry, "volume24h"))
    hours = as_float(decimal_field(entry, "fundingIntervalHour", positive=True)) or contract.funding_interval_h
    return market.Quote(
        exchange=NAME,
        symbol=contract.symbol,
        last=float(last) / m,
        mark=float(mark) / m,
        change_24h_pct=float(change) * 100 if change is not None else None,
        volume_24h_usd=as_float(decimal_field(entry, "turnover24h")),
        volume_24h_coins=volume * m if volume is not None else None,
        funding_rate=as_float(decimal_field(entry, "fundingRate", signed=True)),
        funding_interval_h=hours,
        next_funding_ms=epoch_ms(entry.get("nextFundingTime")),
        oi_coins=float(units) * m if units is not None else None,
        oi_usd=as_float(value) if value is not None else (float(units * mark) if units is not None else None),
        time_ms=time_ms,
    )


async def quote(client: httpx.AsyncClient, base_url: str, contract: market.Contract, log: RequestLog) -> market.Quote:
    params = {"category": "linear", "symbol": contract.name}
    return parse_quote(await get_json(client, NAME, base_url + TICKERS, params, log), contract)


async def open_interest(
    client: httpx.AsyncClient, base_url: str, contract: market.Contract, log: RequestLog
) -> market.OpenInterest:
    q = await quote(client, base_url, contract, log)
    if q.oi_coins is None:
        raise ExchangeError(f"tickers: no usable open interest for {contract.name}")
    return market.OpenInterest(NAME, contract.symbol, q.time_ms, q.oi_coins, q.oi_usd)


def parse_klines(payload: Any, contract: market.Contract, interval_ms: int) -> list[market.Bar]:
    """`[startTime, open, high, low, close, volume (base units), turnover (USDT)]` rows, newest first,
    every field a string. Bybit publishes no taker volume."""
    _, rows = result_list(payload, "kline")
    m = contract.multiplier
    bars = []
    for row in rows:
        start = epoch_ms(row[0]) if isinstance(row, list) and row else None
        if start is None or len(row) < 7:
            raise ExchangeError(f"kline: malformed row {str(row)[:80]}")
        o, h, lo, c, vol, turnover = number_fields(row, (1, 2, 3, 4, 5, 6), "kline")
        bars.append(market.Bar(start, interval_ms, o / m, h / m, lo / m, c / m, vol * m, turnover))
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
            "category": "linear",
            "symbol": contract.name,
            "interval": KLINE_INTERVALS[interval],
            "start": str(first),
            "end": str(stop - 1),
            "limit": str(market.periods(first, stop, step)),
        }
        return parse_klines(await get_json(client, NAME, base_url + KLINE, params, log), contract, step)

    return await market.paged(page, (start_ms, end_ms), step, KLINES_PER_PAGE, HISTORY_IN_FLIGHT, attrgetter("open_ms"))


def parse_open_interest_history(payload: Any, contract: market.Contract) -> list[market.OpenInterest]:
    """`result.list` of `{"openInterest", "singleOpenInterest", "timestamp"}`, newest first, in base
    units and without a USD value."""
    _, entries = result_list(payload, "open-interest")
    points = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        units, _ = single_side_open_interest(entry)
        time_ms = epoch_ms(entry.get("timestamp"))
        if units is not None and time_ms is not None:
            points.append(market.OpenInterest(NAME, contract.symbol, time_ms, float(units) * contract.multiplier, None))
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
    """Open interest every `period` in [start_ms, end_ms), oldest first; pages by time rather than
    by Bybit's cursor, so all of them are requested at once."""
    step = market.INTERVAL_MS[period]

    async def page(first: int, stop: int) -> list[market.OpenInterest]:
        params = {
            "category": "linear",
            "symbol": contract.name,
            "intervalTime": OI_PERIODS[period],
            "startTime": str(first),
            "endTime": str(stop - 1),
            "limit": str(market.periods(first, stop, step)),
        }
        payload = await get_json(client, NAME, base_url + OI_HISTORY, params, log)
        return parse_open_interest_history(payload, contract)

    return await market.paged(
        page, (start_ms, end_ms), step, OI_HISTORY_PER_PAGE, HISTORY_IN_FLIGHT, attrgetter("time_ms")
    )
