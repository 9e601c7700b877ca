"""Each exchange's market-data answers as the exchanges document them (the examples below are
their own documentation's examples or field lists), parsed into coins and USD per coin: units of
`1000PEPEUSDT`, Bybit's both-sides open interest, OKX's exclusive bounds and UTC day bars."""

from __future__ import annotations

import asyncio
import gc
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest

from cryptoalerts.exchanges import binance, bybit, market, okx
from cryptoalerts.exchanges.fetch import ExchangeError

BTC = market.Contract("binance", "BTC", "BTCUSDT")
PEPE = market.Contract("binance", "PEPE", "1000PEPEUSDT", multiplier=1000)


def test_binance_klines_carry_taker_buys_and_are_scaled_per_coin() -> None:
    # Binance's documentation example for GET /fapi/v1/klines.
    rows = [
        [
            1616338800000,
            "57212.69",
            "57315.00",
            "57196.19",
            "57300.00",
            "496.263",
            1616339099999,
            "28425514.78940",
            7160,
            "273.108",
            "15642623.69718",
            "0",
        ]
    ]
    [bar] = binance.parse_klines(rows, BTC, 300_000)
    assert (bar.open_ms, bar.open, bar.close, bar.volume) == (1616338800000, 57212.69, 57300.0, 496.263)
    assert bar.quote_volume == 28425514.7894 and bar.taker_buy == 273.108
    [pepe] = binance.parse_klines(
        [[0, "0.012", "0.013", "0.011", "0.0125", "1000", 1, "12.5", 1, "600", "7.5", "0"]], PEPE, 300_000
    )
    assert pepe.close == pytest.approx(0.0000125) and pepe.volume == 1_000_000 and pepe.taker_buy == 600_000


def test_binance_contracts_prefer_the_plain_name_and_read_funding_intervals() -> None:
    premium = [
        {"symbol": n, "markPrice": "1"} for n in ("BTCUSDT", "BTCUSDT_260626", "ETHUSDC", "1000PEPEUSDT", "PEPEUSDT")
    ]
    info = [{"symbol": "1000PEPEUSDT", "fundingIntervalHours": 4}, {"symbol": "BTCUSDT", "fundingIntervalHours": 8}]
    found = binance.parse_contracts(premium, info)
    assert set(found) == {"BTC", "PEPE"}
    assert found["PEPE"].name == "PEPEUSDT" and found["PEPE"].multiplier == 1
    assert found["BTC"].funding_interval_h == 8.0
    assert binance.parse_contracts([{"symbol": "1000PEPEUSDT"}], info)["PEPE"].funding_interval_h == 4.0


def test_binance_open_interest_history_is_in_coins() -> None:
    rows = [
        {
            "symbol": "1000PEPEUSDT",
            "sumOpenInterest": "20403.637",
            "sumOpenInterestValue": "150570784.07809979",
            "timestamp": "1583127900000",
        }
    ]
    [point] = binance.parse_open_interest_history(rows, PEPE)
    assert (point.time_ms, point.coins, point.usd) == (1583127900000, 20403637.0, 150570784.07809979)


def test_binance_quote_reads_three_answers_for_one_contract() -> None:
    ticker = {
        "symbol": "BTCUSDT",
        "lastPrice": "65000.1",
        "priceChangePercent": "-1.234",
        "volume": "100.5",
        "quoteVolume": "6532500.0",
        "closeTime": 1780807260000,
    }
    premium = {
        "symbol": "BTCUSDT",
        "markPrice": "65001.0",
        "lastFundingRate": "-0.00002828",
        "nextFundingTime": 1780819200000,
        "time": 1780807260001,
    }
    oi = {"symbol": "BTCUSDT", "openInterest": "80000.5", "time": 1780807260000}
    q = binance.parse_quote(ticker, premium, oi, market.Contract("binance", "BTC", "BTCUSDT", 1, 8.0))
    assert (q.last, q.mark, q.change_24h_pct, q.funding_rate) == (65000.1, 65001.0, -1.234, -0.00002828)
    assert q.oi_coins == 80000.5 and q.oi_usd == pytest.approx(80000.5 * 65001.0)
    with pytest.raises(ExchangeError):
        binance.parse_quote({**ticker, "symbol": "ETHUSDT"}, premium, oi, BTC)


def bybit_envelope(result: dict[str, Any]) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1780994051392}


def test_bybit_kline_is_newest_first_without_taker_volume() -> None:
    # Bybit's documentation example for GET /v5/market/kline (here a linear contract).
    rows = [
        ["1670608800000", "17071", "17073", "17027", "17055.5", "268611", "15.74462667"],
        ["1670605200000", "17071.5", "17071.5", "17061", "17071", "4177", "0.24469757"],
    ]
    bars = bybit.parse_klines(
        bybit_envelope({"symbol": "BTCUSDT", "category": "linear", "list": rows}),
        market.Contract("bybit", "BTC", "BTCUSDT"),
        3_600_000,
    )
    assert [b.open_ms for b in bars] == [1670608800000, 1670605200000]
    assert bars[0].volume == 268611.0 and bars[0].taker_buy is None


def test_bybit_open_interest_prefers_one_side() -> None:
    # Bybit's documentation example (2026-06-11 on: openInterest counts both sides).
    entries = [{"openInterest": "63910691.00000000", "singleOpenInterest": "31955346", "timestamp": "1780963200000"}]
    payload = bybit_envelope({"symbol": "BTCUSDT", "category": "linear", "list": entries, "nextPageCursor": ""})
    [point] = bybit.parse_open_interest_history(payload, market.Contract("bybit", "BTC", "BTCUSDT"))
    assert point.coins == 31955346.0 and point.usd is None
    older = bybit_envelope({"list": [{"openInterest": "100", "timestamp": "1"}]})  # before the single-side fields
    assert bybit.parse_open_interest_history(older, market.Contract("bybit", "BTC", "BTCUSDT"))[0].coins == 100.0


def test_bybit_snapshot_reading_is_one_side_too() -> None:
    ticker = {
        "symbol": "BTCUSDT",
        "markPrice": "65000",
        "openInterest": "160000",
        "openInterestValue": "10400000000",
        "singleOpenInterest": "80000",
        "singleOpenInterestValue": "5200000000",
    }
    reading = bybit.parse_tickers(bybit_envelope({"category": "linear", "list": [ticker]}), ["BTC"]).readings["BTC"]
    assert (reading.oi, reading.oi_usd) == (Decimal("80000"), Decimal("5200000000"))


def test_bybit_contracts_from_the_tickers_skip_dated_and_usdc_contracts() -> None:
    listed = [
        {"symbol": "BTCUSDT", "deliveryTime": "0", "fundingIntervalHour": "8"},
        {"symbol": "BTCUSDT-26DEC25", "deliveryTime": "1766736000000"},
        {"symbol": "BTCPERP", "deliveryTime": "0"},
        {"symbol": "1000PEPEUSDT", "deliveryTime": "0", "fundingIntervalHour": "4"},
    ]
    found = bybit.parse_contracts(bybit_envelope({"category": "linear", "list": listed}))
    assert {s: (c.name, c.multiplier, c.funding_interval_h) for s, c in found.items()} == {
        "BTC": ("BTCUSDT", 1, 8.0),
        "PEPE": ("1000PEPEUSDT", 1000, 4.0),
    }


def test_bybit_errors_are_exchange_errors() -> None:
    with pytest.raises(ExchangeError, match="10001"):
        bybit.parse_klines({"retCode": 10001, "retMsg": "Not supported symbols", "result": {}}, BTC, 60_000)


def okx_envelope(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def test_okx_candles_use_coins_and_quote_volume() -> None:
    rows = [
        ["1597026383085", "3.721", "3.743", "3.677", "3.708", "8422410", "22698348.04828491", "12698348.04828491", "0"]
    ]
    [bar] = okx.parse_candles(okx_envelope(rows), 60_000)
    assert (bar.volume, bar.quote_volume, bar.taker_buy) == (22698348.04828491, 12698348.04828491, None)


def test_okx_taker_volume_is_sell_then_buy() -> None:
    [flow] = okx.parse_taker_volume(okx_envelope([["1630425600000", "7596.2651", "7149.4855"]]))
    assert (flow.open_ms, flow.sell, flow.buy) == (1630425600000, 7596.2651, 7149.4855)


def test_okx_open_interest_history_and_funding_interval() -> None:
    contract = market.Contract("okx", "BTC", "BTC-USDT-SWAP")
    [point] = okx.parse_open_interest_history(
        okx_envelope([["1701417600000", "731377.57", "7313.7757", "269316186"]]), contract
    )
    assert (point.coins, point.usd) == (7313.7757, 269316186.0)
    entry = {"instId": "BTC-USDT-SWAP"}
    quote = okx.parse_quote(
        okx_envelope([{**entry, "last": "100", "open24h": "80", "volCcy24h": "2", "ts": "1"}]),
        okx_envelope([{**entry, "markPx": "101", "ts": "2"}]),
        okx_envelope(
            [{**entry, "fundingRate": "0.0001", "fundingTime": "1703088000000", "nextFundingTime": "1703102400000"}]
        ),
        okx_envelope([{**entry, "oiCcy": "10", "oiUsd": "1010"}]),
        contract,
    )
    assert quote.funding_interval_h == 4.0  # OKX: the gap between the next two settlements
    assert quote.change_24h_pct == pytest.approx(25.0) and quote.volume_24h_usd == 200.0


def test_okx_unknown_instrument_is_an_exchange_error() -> None:
    with pytest.raises(ExchangeError, match="51001"):
        okx.parse_candles({"code": "51001", "msg": "Instrument ID does not exist", "data": []}, 60_000)


def test_pages_cover_a_range_newest_first_without_gaps() -> None:
    pages = market.windows(0, 1_000, 10, 30)
    assert pages[0] == (700, 1_000) and pages[-1] == (0, 100)
    assert all(start == end for (start, _), (_, end) in pairwise(pages))
    assert market.periods(0, 1_001, 10) == 101


def test_a_failing_page_leaves_no_page_created_and_never_asked(recwarn: pytest.WarningsRecorder) -> None:
    """One page failing ends the fetch; the pages still waiting their turn were never started, so
    nothing is left that Python reports as 'coroutine ... was never awaited'."""
    asked: list[int] = []

    async def page(start: int, end: int) -> list[int]:
        asked.append(start)
        if start == 900:  # the newest page, asked first
            raise ExchangeError("HTTP 500 on the newest page", "error 500")
        await asyncio.sleep(1)
        return [start]

    async def fetch() -> None:
        with pytest.raises(ExchangeError):
            await market.paged(page, (0, 1_000), 10, 10, in_flight=1, time_of=lambda t: t)

    asyncio.run(fetch())
    gc.collect()
    assert asked[0] == 900 and len(asked) < 10
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
