"""Binance USD-M futures: open interest of the USDT perpetuals.

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
from typing import Any

import httpx

from cryptoalerts.exchanges.fetch import (
    ExchangeError,
    ExchangeResult,
    RateLimited,
    RequestLog,
    decimal_field,
    get_json,
    in_coins,
    watched_entries,
)

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
