"""OKX v5: open interest of the USDT-margined perpetual swaps, and the market data the commands read.

`GET /api/v5/public/open-interest?instType=SWAP` answers every swap in one request: `oi` (in
contracts, whose size `ctVal` differs per instrument), `oiCcy` (in coins) and `oiUsd`. We use
`oiCcy`, which needs no contract size, and take the mark price as `oiUsd / oiCcy` (OKX values the
open interest at its mark price), saving a second request. Limit: 20 requests per 2 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
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
from cryptoalerts.symbols import normalise

NAME = "okx"
OPEN_INTEREST = "/api/v5/public/open-interest"
SUFFIX = "-USDT-SWAP"


def data(payload: Any, what: str) -> list[Any]:
    """The v5 envelope's `data`; ExchangeError for a code other than "0"."""
    if not isinstance(payload, dict):
        raise ExchangeError(f"{what}: expected an object, got {type(payload).__name__}")
    if payload.get("code") != "0":
        raise ExchangeError(f"{what}: code {payload.get('code')!r}: {str(payload.get('msg'))[:100]}")
    entries = payload.get("data")
    if not isinstance(entries, list):
        raise ExchangeError(f"{what}: data missing")
    return entries


def parse_open_interest(payload: Any, watched: Iterable[str]) -> ExchangeResult:
    wanted = frozenset(watched)
    entries = data(payload, "open-interest")
    result = ExchangeResult()
    # USDC swaps and coin-margined `BTC-USD-SWAP` hold other positions.
    for entry, contract, symbol in watched_entries(entries, "instId", SUFFIX, wanted):
        coins = decimal_field(entry, "oiCcy", positive=True)
        usd = decimal_field(entry, "oiUsd", positive=True)
        if coins is None or usd is None:
            result.missing[symbol] = f"unusable open interest for {contract}"
            continue
        result.add(in_coins(NAME, symbol, contract, contract[: -len(SUFFIX)], coins, usd / coins, usd))
    result.note_absent(wanted, "not listed by open-interest")
    return result


async def fetch(client: httpx.AsyncClient, base_url: str, symbols: Iterable[str], log: RequestLog) -> ExchangeResult:
    payload = await get_json(client, NAME, base_url + OPEN_INTEREST, {"instType": "SWAP"}, log)
    return parse_open_interest(payload, symbols)


# ---------------------------------------------------------------- market data for the commands
# OKX quotes prices per coin (no `1000PEPE` names: sizes are in contracts of `ctVal` coins), and
# every endpoint used here also gives a figure in coins, so no contract size is needed.
TICKER = "/api/v5/market/ticker"
MARK_PRICE = "/api/v5/public/mark-price"
FUNDING_RATE = "/api/v5/public/funding-rate"
CANDLES = "/api/v5/market/candles"  # the newest 1,440 bars of each size
TAKER_VOLUME = "/api/v5/rubik/stat/taker-volume-contract"  # the newest 1,440 periods
OI_HISTORY = "/api/v5/rubik/stat/contracts/open-interest-history"  # the newest 1,440 periods
# `1D` bars open at 00:00 UTC+8 on OKX; the `utc` sizes open at 00:00 UTC like the others'.
BAR_SIZES = {"5m": "5m", "15m": "15m", "1h": "1H", "4h": "4H", "1d": "1Dutc"}
CANDLES_PER_PAGE = 300
RUBIK_PER_PAGE = 100
UNIT_COINS = "0"  # taker volume in coins (the default, 1, is contracts)
HISTORY_IN_FLIGHT = 4  # pages in flight at once; the pacing below keeps each endpoint inside its limit
# Contract open-interest history: 10 requests per 2 s per IP and instrument, the newest 1,440
# periods only (5 days of 5 minutes). Candles: 40 per 2 s per IP, also the newest 1,440.
OI_HISTORY_PAGING = market.HistoryPaging(
    RUBIK_PER_PAGE,
    market.RateLimit("open-interest-history", 10, 2.0, per_instrument=True),
    HISTORY_IN_FLIGHT,
    kept_periods=1440,
)
CANDLES_PAGING = market.HistoryPaging(
    CANDLES_PER_PAGE, market.RateLimit("candles", 40, 2.0), HISTORY_IN_FLIGHT, kept_periods=1440
)


def parse_contracts(payload: Any) -> dict[str, market.Contract]:
    """Every USDT-margined swap by base symbol, from the open interest of all swaps (the same
    request the snapshot makes: it lists each live swap)."""
    found: dict[str, market.Contract] = {}
    for entry in data(payload, "open-interest"):
        name = entry.get("instId") if isinstance(entry, dict) else None
        if isinstance(name, str) and name.endswith(SUFFIX) and (symbol := normalise(name)) is not None:
            found[symbol] = market.Contract(NAME, symbol, name)
    return found


async def contracts(client: httpx.AsyncClient, base_url: str, log: RequestLog) -> dict[str, market.Contract]:
    return parse_contracts(await get_json(client, NAME, base_url + OPEN_INTEREST, {"instType": "SWAP"}, log))


def _one(payload: Any, what: str, contract: market.Contract) -> Mapping[str, Any]:
    for entry in data(payload, what):
        if isinstance(entry, dict) and entry.get("instId") == contract.name:
            return entry
    raise ExchangeError(f"{what}: no answer for {contract.name}")


def parse_quote(ticker: Any, mark_price: Any, funding: Any, oi: Any, contract: market.Contract) -> market.Quote:
    t = _one(ticker, "ticker", contract)
    m = _one(mark_price, "mark-price", contract)
    f = _one(funding, "funding-rate", contract)
    o = _one(oi, "open-interest", contract)
    last = decimal_field(t, "last", positive=True)
    mark = decimal_field(m, "markPx", positive=True)
    if last is None or mark is None:
        raise ExchangeError(f"ticker/mark-price: no usable price for {contract.name}")
    open_24h = decimal_field(t, "open24h", positive=True)
    coins_24h = as_float(decimal_field(t, "volCcy24h"))  # coins for swaps; `vol24h` counts contracts
    settle, following = epoch_ms(f.get("fundingTime")), epoch_ms(f.get("nextFundingTime"))
    # OKX changes an altcoin's funding interval at will: the gap between the next two settlements tells it.
    hours = (following - settle) / 3_600_000 if settle and following and following > settle else None
    return market.Quote(
        exchange=NAME,
        symbol=contract.symbol,
        last=float(last),
        mark=float(mark),
        change_24h_pct=float((last - open_24h) * 100 / open_24h) if open_24h is not None else None,
        # The ticker has no quote volume for swaps: coins at the last price, an estimate.
        volume_24h_usd=coins_24h * float(last) if coins_24h is not None else None,
        volume_24h_coins=coins_24h,
        funding_rate=as_float(decimal_field(f, "fundingRate", signed=True)),
        funding_interval_h=hours,
        next_funding_ms=settle,
        oi_coins=as_float(decimal_field(o, "oiCcy")),
        oi_usd=as_float(decimal_field(o, "oiUsd")),
        time_ms=max(epoch_ms(t.get("ts")) or 0, epoch_ms(m.get("ts")) or 0),
    )


async def quote(client: httpx.AsyncClient, base_url: str, contract: market.Contract, log: RequestLog) -> market.Quote:
    inst = {"instId": contract.name}
    swap = {"instType": "SWAP", **inst}
    ticker, mark, funding, oi = await asyncio.gather(
        get_json(client, NAME, base_url + TICKER, inst, log),
        get_json(client, NAME, base_url + MARK_PRICE, swap, log),
        get_json(client, NAME, base_url + FUNDING_RATE, inst, log),
        get_json(client, NAME, base_url + OPEN_INTEREST, swap, log),
    )
    return parse_quote(ticker, mark, funding, oi, contract)


async def open_interest(
    client: httpx.AsyncClient, base_url: str, contract: market.Contract, log: RequestLog
) -> market.OpenInterest:
    params = {"instType": "SWAP", "instId": contract.name}
    entry = _one(await get_json(client, NAME, base_url + OPEN_INTEREST, params, log), "open-interest", contract)
    coins = decimal_field(entry, "oiCcy")
    if coins is None:
        raise ExchangeError(f"open-interest: no usable oiCcy for {contract.name}")
    usd = as_float(decimal_field(entry, "oiUsd"))
    return market.OpenInterest(NAME, contract.symbol, epoch_ms(entry.get("ts")) or 0, float(coins), usd)


def parse_candles(payload: Any, interval_ms: int) -> list[market.Bar]:
    """`[ts, o, h, l, c, vol (contracts), volCcy (coins), volCcyQuote (USDT), confirm]`, newest first."""
    bars = []
    for row in data(payload, "candles"):
        start = epoch_ms(row[0]) if isinstance(row, list) and row else None
        if start is None or len(row) < 8:
            raise ExchangeError(f"candles: malformed row {str(row)[:80]}")
        o, h, lo, c, coins, usd = number_fields(row, (1, 2, 3, 4, 6, 7), "candles")
        bars.append(market.Bar(start, interval_ms, o, h, lo, c, coins, usd))
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
    """The bars opening in [start_ms, end_ms); `after` pages back from a time, so all pages are
    requested at once."""
    step = market.INTERVAL_MS[interval]

    async def page(first: int, stop: int) -> list[market.Bar]:
        count = market.periods(first, stop, step)
        params = {"instId": contract.name, "bar": BAR_SIZES[interval], "after": str(stop), "limit": str(count)}
        return parse_candles(await get_json(client, NAME, base_url + CANDLES, params, log), step)

    return await market.paged(
        page, (start_ms, end_ms), step, CANDLES_PER_PAGE, HISTORY_IN_FLIGHT, attrgetter("open_ms")
    )


def _rubik_rows(payload: Any, what: str, width: int) -> list[list[float]]:
    rows = []
    for row in data(payload, what):
        if not isinstance(row, list) or len(row) < width or epoch_ms(row[0]) is None:
            raise ExchangeError(f"{what}: malformed row {str(row)[:80]}")
        rows.append([float(epoch_ms(row[0]) or 0), *number_fields(row, range(1, width), what)])
    return rows


def parse_taker_volume(payload: Any) -> list[market.TakerFlow]:
    """`[ts, sellVol, buyVol]` rows (in coins with `unit=0`), newest first."""
    return [market.TakerFlow(int(ts), buy, sell) for ts, sell, buy in _rubik_rows(payload, "taker-volume", 3)]


async def taker_flow(
    client: httpx.AsyncClient,
    base_url: str,
    contract: market.Contract,
    interval: str,
    start_ms: int,
    end_ms: int,
    log: RequestLog,
) -> list[market.TakerFlow]:
    """Taker buy and sell volume per period opening in [start_ms, end_ms), oldest first."""
    step = market.INTERVAL_MS[interval]

    async def page(first: int, stop: int) -> list[market.TakerFlow]:
        # `begin` and `end` are exclusive: records newer than `begin` and earlier than `end`.
        params = {
            "instId": contract.name,
            "period": BAR_SIZES[interval],
            "unit": UNIT_COINS,
            "begin": str(first - 1),
            "end": str(stop),
            "limit": str(RUBIK_PER_PAGE),
        }
        return parse_taker_volume(await get_json(client, NAME, base_url + TAKER_VOLUME, params, log))

    return await market.paged(page, (start_ms, end_ms), step, RUBIK_PER_PAGE, HISTORY_IN_FLIGHT, attrgetter("open_ms"))


def parse_open_interest_history(payload: Any, contract: market.Contract) -> list[market.OpenInterest]:
    """`[ts, oi (contracts), oiCcy (coins), oiUsd]` rows, newest first."""
    return [
        market.OpenInterest(NAME, contract.symbol, int(ts), coins, usd)
        for ts, _, coins, usd in _rubik_rows(payload, "open-interest-history", 4)
    ]


async def open_interest_history(
    client: httpx.AsyncClient,
    base_url: str,
    contract: market.Contract,
    period: str,
    start_ms: int,
    end_ms: int,
    log: RequestLog,
) -> list[market.OpenInterest]:
    """Open interest every `period` in [start_ms, end_ms), oldest first. OKX serves the newest
    1,440 periods (5 days of 5m, 60 days of 1h): page further back with a longer period."""
    step = market.INTERVAL_MS[period]

    async def page(first: int, stop: int) -> list[market.OpenInterest]:
        params = {
            "instId": contract.name,
            "period": BAR_SIZES[period],
            "begin": str(first - 1),
            "end": str(stop),
            "limit": str(RUBIK_PER_PAGE),
        }
        return parse_open_interest_history(await get_json(client, NAME, base_url + OI_HISTORY, params, log), contract)

    return await market.paged(page, (start_ms, end_ms), step, RUBIK_PER_PAGE, HISTORY_IN_FLIGHT, attrgetter("time_ms"))
