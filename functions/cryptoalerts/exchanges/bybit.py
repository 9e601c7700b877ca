"""Bybit v5: open interest of the linear USDT perpetuals.

`GET /v5/market/tickers?category=linear` without `symbol` answers every linear contract in one
request: `openInterest` (in the base coin for linear contracts; for `1000PEPEUSDT`, units of
1000 PEPE), `openInterestValue` (USD) and `markPrice`. Limit: 600 requests per 5 s per IP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from cryptoalerts.exchanges.fetch import (
    ExchangeError,
    ExchangeResult,
    RequestLog,
    decimal_field,
    get_json,
    in_coins,
    watched_entries,
)

NAME = "bybit"
TICKERS = "/v5/market/tickers"
QUOTE = "USDT"


def parse_tickers(payload: Any, watched: Iterable[str]) -> ExchangeResult:
    wanted = frozenset(watched)
    if not isinstance(payload, dict):
        raise ExchangeError(f"tickers: expected an object, got {type(payload).__name__}")
    if payload.get("retCode") != 0:
        raise ExchangeError(f"tickers: retCode {payload.get('retCode')!r}: {str(payload.get('retMsg'))[:100]}")
    body = payload.get("result")
    entries = body.get("list") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ExchangeError("tickers: result.list missing")
    result = ExchangeResult()
    # `BTCPERP` (USDC) and dated `BTCUSDT-26DEC25` hold other positions.
    for entry, contract, symbol in watched_entries(entries, "symbol", QUOTE, wanted):
        oi = decimal_field(entry, "openInterest")
        mark = decimal_field(entry, "markPrice", positive=True)
        if oi is None or mark is None:
            result.missing[symbol] = f"unusable ticker for {contract}"
            continue
        value = decimal_field(entry, "openInterestValue")
        usd = value if value is not None else oi * mark
        result.add(in_coins(NAME, symbol, contract, contract[: -len(QUOTE)], oi, mark, usd))
    result.note_absent(wanted, "not listed by tickers")
    return result


async def fetch(client: httpx.AsyncClient, base_url: str, symbols: Iterable[str], log: RequestLog) -> ExchangeResult:
    payload = await get_json(client, NAME, base_url + TICKERS, {"category": "linear"}, log)
    return parse_tickers(payload, symbols)
