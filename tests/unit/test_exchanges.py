"""Exchange adapters: parsing of each exchange's documented wire format, units, and bad input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cryptoalerts.exchanges import binance, bybit, okx
from cryptoalerts.exchanges.fetch import (
    DEFAULT_BACKOFF_S,
    MAX_BACKOFF_S,
    ExchangeError,
    ExchangeResult,
    RateLimitGate,
    decimal_field,
    in_coins,
    retry_after_s,
)


def wire(text: str) -> object:
    """Decode as the adapters do (get_json): JSON numbers with a fraction become Decimal."""
    return json.loads(text, parse_float=Decimal)


# ---------------------------------------------------------------- Binance
# developers.binance.com, USDⓈ-M futures "Mark Price" (no symbol: a list) and "Open Interest".
BINANCE_PREMIUM_INDEX = """[
  {"symbol": "BTCUSDT", "markPrice": "11793.63104562", "indexPrice": "11781.80495970",
   "estimatedSettlePrice": "11781.16138815", "lastFundingRate": "0.00038246",
   "nextFundingTime": 1597392000000, "interestRate": "0.00010000", "time": 1597370495002},
  {"symbol": "BTCUSDT_251226", "markPrice": "11900.1", "indexPrice": "11781.8", "estimatedSettlePrice": "0",
   "lastFundingRate": "", "nextFundingTime": 0, "interestRate": "", "time": 1597370495002},
  {"symbol": "BTCUSDC", "markPrice": "11790.2", "indexPrice": "11781.8", "estimatedSettlePrice": "0",
   "lastFundingRate": "0.0001", "nextFundingTime": 1597392000000, "interestRate": "0.0001", "time": 1597370495002},
  {"symbol": "1000PEPEUSDT", "markPrice": "0.0100000", "indexPrice": "0.01", "estimatedSettlePrice": "0",
   "lastFundingRate": "0.0001", "nextFundingTime": 1597392000000, "interestRate": "0.0001", "time": 1597370495002},
  {"symbol": "ETHUSDT", "markPrice": "not a number"},
  {"markPrice": "1"},
  "garbage"
]"""
BINANCE_OPEN_INTEREST = '{"openInterest": "10659.509", "symbol": "BTCUSDT", "time": 1589437530011}'


def test_binance_premium_index_picks_the_usdt_perpetual_and_its_mark_price() -> None:
    contracts = binance.parse_premium_index(wire(BINANCE_PREMIUM_INDEX), ["BTC", "PEPE", "ETH", "SOL"])
    assert contracts["BTC"] == binance.Contract("BTC", "BTCUSDT", Decimal("11793.63104562"))
    assert contracts["PEPE"].contract == "1000PEPEUSDT"
    # ETH's mark price is unusable, SOL is not listed: both absent rather than guessed.
    assert set(contracts) == {"BTC", "PEPE"}


def test_binance_premium_index_ignores_unwatched_symbols() -> None:
    assert binance.parse_premium_index(wire(BINANCE_PREMIUM_INDEX), ["SOL"]) == {}


@pytest.mark.parametrize("payload", ['{"symbol": "BTCUSDT"}', "null", '"x"', "42"])
def test_binance_premium_index_of_the_wrong_shape_is_an_exchange_error(payload: str) -> None:
    with pytest.raises(ExchangeError, match="premiumIndex"):
        binance.parse_premium_index(wire(payload), ["BTC"])


def test_binance_open_interest_is_read_from_the_documented_answer() -> None:
    assert binance.parse_open_interest(wire(BINANCE_OPEN_INTEREST), "BTCUSDT") == Decimal("10659.509")


@pytest.mark.parametrize(
    "payload",
    [
        '{"openInterest": "10659.509", "symbol": "ETHUSDT", "time": 1}',  # another contract's answer
        '{"openInterest": "-1", "symbol": "BTCUSDT", "time": 1}',
        '{"openInterest": "NaN", "symbol": "BTCUSDT", "time": 1}',
        '{"openInterest": true, "symbol": "BTCUSDT", "time": 1}',
        '{"symbol": "BTCUSDT", "time": 1}',
        '{"code": -1121, "msg": "Invalid symbol."}',
        "[]",
    ],
)
def test_binance_open_interest_rejects_unusable_answers(payload: str) -> None:
    with pytest.raises(ExchangeError):
        binance.parse_open_interest(wire(payload), "BTCUSDT")


# ---------------------------------------------------------------- Bybit
# bybit-exchange.github.io/docs/v5/market/tickers, category=linear (fields trimmed to those that matter
# plus a few neighbours; the real answer carries more, which the parser must ignore).
BYBIT_TICKERS = """{
  "retCode": 0, "retMsg": "OK",
  "result": {"category": "linear", "list": [
    {"symbol": "BTCUSDT", "lastPrice": "16597.00", "indexPrice": "16598.54", "markPrice": "16596.00",
     "prevPrice24h": "16464.50", "price24hPcnt": "0.008047", "openInterest": "373504107",
     "openInterestValue": "6198857693.04", "fundingRate": "-0.00001", "nextFundingTime": "1672070400000"},
    {"symbol": "1000PEPEUSDT", "markPrice": "0.0100", "openInterest": "2000000", "openInterestValue": "20000"},
    {"symbol": "SHIB1000USDT", "markPrice": "0.0120", "openInterest": "5000000", "openInterestValue": "60000"},
    {"symbol": "BTCPERP", "markPrice": "16600", "openInterest": "10", "openInterestValue": "166000"},
    {"symbol": "BTCUSDT-26DEC25", "markPrice": "16700", "openInterest": "5", "openInterestValue": "83500"},
    {"symbol": "ETHUSDT", "markPrice": "", "openInterest": "100", "openInterestValue": ""},
    {"symbol": "SOLUSDT", "markPrice": "20.5", "openInterest": "1000", "openInterestValue": ""}
  ]},
  "retExtInfo": {}, "time": 1672053054358
}"""


def test_bybit_tickers_give_open_interest_in_coins_with_mark_price_and_value() -> None:
    result = bybit.parse_tickers(wire(BYBIT_TICKERS), ["BTC", "PEPE", "SHIB", "ETH", "SOL", "DOGE"])
    btc = result.readings["BTC"]
    assert (btc.contract, btc.oi, btc.mark_price, btc.oi_usd) == (
        "BTCUSDT",
        Decimal("373504107"),
        Decimal("16596.00"),
        Decimal("6198857693.04"),
    )
    pepe = result.readings["PEPE"]  # quoted per 1000 PEPE: 2,000,000 units are 2e9 coins at 0.00001
    assert (pepe.oi, pepe.mark_price, pepe.oi_usd) == (Decimal("2000000000"), Decimal("0.00001"), Decimal("20000"))
    shib = result.readings["SHIB"]  # Bybit writes this multiplier after the name: also per 1000 SHIB
    assert (shib.contract, shib.oi, shib.mark_price) == ("SHIB1000USDT", Decimal("5000000000"), Decimal("0.000012"))
    # No value reported: OI x mark price stands in.
    assert result.readings["SOL"].oi_usd == Decimal("20500")
    assert set(result.readings) == {"BTC", "PEPE", "SHIB", "SOL"}
    assert result.missing == {"ETH": "unusable ticker for ETHUSDT", "DOGE": "not listed by tickers"}


@pytest.mark.parametrize(
    "payload",
    [
        '{"retCode": 10001, "retMsg": "params error", "result": {}, "time": 1}',
        '{"retCode": 0, "retMsg": "OK", "result": {"category": "linear"}}',
        '{"retCode": 0, "retMsg": "OK", "result": []}',
        "[]",
    ],
)
def test_bybit_error_envelopes_are_exchange_errors(payload: str) -> None:
    with pytest.raises(ExchangeError, match="tickers"):
        bybit.parse_tickers(wire(payload), ["BTC"])


def test_bybit_empty_list_leaves_every_symbol_missing() -> None:
    result = bybit.parse_tickers(wire('{"retCode": 0, "result": {"category": "linear", "list": []}}'), ["BTC"])
    assert result.readings == {} and result.missing == {"BTC": "not listed by tickers"}


# ---------------------------------------------------------------- OKX
# okx.com/docs-v5, "Get open interest" (instType=SWAP answers every swap).
OKX_OPEN_INTEREST = """{
  "code": "0", "msg": "",
  "data": [
    {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "oi": "5000", "oiCcy": "555.55", "oiUsd": "50000",
     "ts": "1597026383085"},
    {"instType": "SWAP", "instId": "BTC-USD-SWAP", "oi": "9000", "oiCcy": "999", "oiUsd": "90000", "ts": "1"},
    {"instType": "SWAP", "instId": "BTC-USDC-SWAP", "oi": "10", "oiCcy": "1", "oiUsd": "100", "ts": "1"},
    {"instType": "SWAP", "instId": "ETH-USDT-SWAP", "oi": "0", "oiCcy": "0", "oiUsd": "0", "ts": "1"}
  ]
}"""


def test_okx_open_interest_uses_coins_and_derives_the_mark_price() -> None:
    result = okx.parse_open_interest(wire(OKX_OPEN_INTEREST), ["BTC", "ETH"])
    btc = result.readings["BTC"]
    assert (btc.contract, btc.oi, btc.oi_usd) == ("BTC-USDT-SWAP", Decimal("555.55"), Decimal("50000"))
    assert btc.mark_price == Decimal("50000") / Decimal("555.55")
    assert result.missing == {"ETH": "unusable open interest for ETH-USDT-SWAP"}


@pytest.mark.parametrize(
    "payload",
    ['{"code": "50011", "msg": "Too Many Requests", "data": []}', '{"code": "0", "msg": ""}', '"x"'],
)
def test_okx_error_envelopes_are_exchange_errors(payload: str) -> None:
    with pytest.raises(ExchangeError, match="open-interest"):
        okx.parse_open_interest(wire(payload), ["BTC"])


# ---------------------------------------------------------------- shared helpers
@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1.5", Decimal("1.5")), (Decimal("2"), Decimal("2")), (3, Decimal(3)), ("0", Decimal(0))],
)
def test_decimal_field_accepts_exchange_numbers(raw: object, expected: Decimal) -> None:
    assert decimal_field({"x": raw}, "x") == expected


@pytest.mark.parametrize("raw", [None, "", "abc", "NaN", "Infinity", "-1", True, 1.5, [], {}])
def test_decimal_field_rejects_what_is_not_a_usable_number(raw: object) -> None:
    assert decimal_field({"x": raw}, "x") is None


def test_decimal_field_positive_rejects_zero() -> None:
    assert decimal_field({"x": "0"}, "x", positive=True) is None


def test_in_coins_converts_multiplier_units() -> None:
    r = in_coins("binance", "MOG", "1000000MOGUSDT", "1000000MOG", Decimal(3), Decimal("0.5"), Decimal("1.5"))
    assert (r.oi, r.mark_price, r.oi_usd) == (Decimal(3_000_000), Decimal("0.0000005"), Decimal("1.5"))


def test_exchange_result_prefers_the_plain_contract_over_a_prefixed_one() -> None:
    plain = in_coins("bybit", "PEPE", "PEPEUSDT", "PEPE", Decimal(1), Decimal(1), Decimal(1))
    prefixed = in_coins("bybit", "PEPE", "1000PEPEUSDT", "1000PEPE", Decimal(1), Decimal(1), Decimal(1))
    for order in ([plain, prefixed], [prefixed, plain]):
        result = ExchangeResult()
        for reading in order:
            result.add(reading)
        assert result.readings["PEPE"].contract == "PEPEUSDT"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "30"}, 30.0),
        ({}, DEFAULT_BACKOFF_S),
        ({"retry-after": "soon"}, DEFAULT_BACKOFF_S),
        ({"retry-after": "-5"}, DEFAULT_BACKOFF_S),
        ({"retry-after": "nan"}, DEFAULT_BACKOFF_S),
        ({"retry-after": "99999999"}, MAX_BACKOFF_S),
    ],
)
def test_retry_after_is_honoured_within_sane_bounds(headers: dict[str, str], expected: float) -> None:
    assert retry_after_s(headers) == expected


def test_rate_limit_gate_blocks_an_exchange_until_its_retry_after_passes() -> None:
    gate = RateLimitGate()
    assert gate.blocked_for("binance", now=100.0) == 0
    gate.back_off("binance", 60, now=100.0)
    assert gate.blocked_for("binance", now=130.0) == 30
    assert gate.blocked_for("bybit", now=130.0) == 0
    gate.back_off("binance", 5, now=131.0)  # a shorter ask never shortens a longer ban
    assert gate.blocked_for("binance", now=150.0) == 10
    assert gate.blocked_for("binance", now=160.0) == 0
