"""OKX v5: open interest of the USDT-margined perpetual swaps.

`GET /api/v5/public/open-interest?instType=SWAP` answers every swap in one request: `oi` (in
contracts, whose size `ctVal` differs per instrument), `oiCcy` (in coins) and `oiUsd`. We use
`oiCcy`, which needs no contract size, and take the mark price as `oiUsd / oiCcy` (OKX values the
open interest at its mark price), saving a second request. Limit: 20 requests per 2 s.
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

NAME = "okx"
OPEN_INTEREST = "/api/v5/public/open-interest"
SUFFIX = "-USDT-SWAP"


def parse_open_interest(payload: Any, watched: Iterable[str]) -> ExchangeResult:
    wanted = frozenset(watched)
    if not isinstance(payload, dict):
        raise ExchangeError(f"open-interest: expected an object, got {type(payload).__name__}")
    if payload.get("code") != "0":
        raise ExchangeError(f"open-interest: code {payload.get('code')!r}: {str(payload.get('msg'))[:100]}")
    entries = payload.get("data")
    if not isinstance(entries, list):
        raise ExchangeError("open-interest: data missing")
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
