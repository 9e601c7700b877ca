"""Symbol normalisation (architecture.md §2.7): exchange contract names to base-asset names."""

from __future__ import annotations

import csv

import pytest

from cryptoalerts.symbols import is_valid_symbol, multiplier, normalise
from infra.repo import BINANCE_LIQUIDATIONS


@pytest.mark.parametrize(
    ("contract", "base"),
    [
        ("BTCUSDT", "BTC"),
        ("BTCUSDC", "BTC"),
        ("BTCUSDT_251226", "BTC"),  # Binance dated future
        ("1000PEPEUSDT", "PEPE"),
        ("1000PEPEUSDC", "PEPE"),
        ("1000000MOGUSDT", "MOG"),
        ("1000000BOBUSDT", "BOB"),
        ("1MBABYDOGEUSDT", "BABYDOGE"),
        ("SHIB1000USDT", "SHIB"),  # Bybit writes this one's multiplier after the name
        ("API3USDT", "API3"),  # a trailing digit is part of the name
        ("HPOS10IUSDT", "HPOS10I"),
        ("1INCHUSDT", "1INCH"),  # a leading 1 without three zeros is part of the name
        ("100PEPEUSDT", "100PEPE"),  # two zeros are not a multiplier
        ("XRPUSDC", "XRP"),
        ("币安人生USDT", "币安人生"),  # non-ASCII names are names
        ("BTC-USDT-SWAP", "BTC"),  # OKX perpetual
        ("BTC-USDC-SWAP", "BTC"),
        ("BTC-USDT-260626", "BTC"),  # OKX dated future
        ("PEPE-USDT-SWAP", "PEPE"),
    ],
)
def test_usd_margined_contracts_normalise_to_their_base_asset(contract: str, base: str) -> None:
    assert normalise(contract) == base


@pytest.mark.parametrize(
    "contract",
    [
        "BTCUSD",  # coin-margined
        "BTCUSD_PERP",
        "BTC-USD-SWAP",
        "ETHBTC",
        "USDT",  # no base at all
        "",
        "BTC_USDT",
        "BTC-USDT",  # OKX spot is not a contract of the form BASE-QUOTE-TYPE
        "BTC-USDT-SWAP-X",
        "BTC-EUR-SWAP",
        "BT C USDT",
    ],
)
def test_anything_else_normalises_to_none(contract: str) -> None:
    assert normalise(contract) is None


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("1000PEPE", 1000),
        ("1000000MOG", 1_000_000),
        ("1MBABYDOGE", 1_000_000),
        ("SHIB1000", 1000),
        ("SHIB1000USDT", 1000),  # a whole contract name
        ("1000PEPEUSDT", 1000),
        ("1INCH", 1),
        ("API3", 1),
        ("BTC", 1),
        ("1000", 1),
    ],
)
def test_multiplier_of_a_prefixed_name(unit: str, factor: int) -> None:
    assert multiplier(unit) == factor


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("BTC", True),
        ("1INCH", True),
        ("币安人生", True),
        ("BTC-1", False),
        ("BTC ", False),
        ("", False),
        (None, False),
        (5, False),
    ],
)
def test_a_symbol_is_a_non_empty_string_of_letters_and_digits(value: object, valid: bool) -> None:
    assert is_valid_symbol(value) is valid


def test_every_symbol_of_the_real_liquidation_feed_normalises() -> None:
    with open(BINANCE_LIQUIDATIONS, newline="") as fh:
        contracts = {row["symbol"] for row in csv.DictReader(fh)}
    bases = {c: normalise(c) for c in contracts}
    assert all(b is not None and is_valid_symbol(b) for b in bases.values()), [c for c, b in bases.items() if not b]
    assert bases["1000PEPEUSDT"] == bases["1000PEPEUSDC"] == "PEPE"
    assert bases["1000000BOBUSDT"] == "BOB" and bases["币安人生USDT"] == "币安人生" and bases["1INCHUSDT"] == "1INCH"
