"""What a message asks of the bot (architecture.md §2.9): symbols in every way traders write them,
bar sizes, commands addressed to a bot in a group, and junk of every size."""

from __future__ import annotations

import pytest

from cryptoalerts.command_parser import Command, Invalid, parse, parse_symbol


@pytest.mark.parametrize(
    "arg",
    ["BTC", "btc", "BtC", "BTCUSDT", "btcusdt", "BTC-USDT", "BTC-USDT-SWAP", "$BTC", "$btc", "BTC/USDT", "BTCUSDC"],
)
def test_every_way_of_writing_btc_means_btc(arg: str) -> None:
    assert parse(f"/price {arg}") == Command("price", "BTC")


@pytest.mark.parametrize(
    ("arg", "symbol"),
    [
        ("1000PEPEUSDT", "PEPE"),
        ("1000pepe", "PEPE"),
        ("pepe", "PEPE"),
        ("1INCH", "1INCH"),
        ("1MBABYDOGEUSDT", "BABYDOGE"),
        ("币安人生", "币安人生"),
        ("SOL-USDT-SWAP", "SOL"),
        ("BTCUSDT.P", "BTC"),  # TradingView's perpetual notation
    ],
)
def test_multipliers_are_stripped_and_names_kept(arg: str, symbol: str) -> None:
    assert parse_symbol(arg) == symbol


def test_no_symbol_means_btc_and_the_default_bar_sizes() -> None:
    assert parse("/price") == Command("price", "BTC")
    assert parse("/volume") == Command("volume", "BTC", "15m")
    assert parse("/cvd eth") == Command("cvd", "ETH", "1h")


def test_a_bar_size_may_come_before_or_after_the_symbol() -> None:
    assert parse("/volume eth 4h") == Command("volume", "ETH", "4h")
    assert parse("/volume 1D eth") == Command("volume", "ETH", "1d")
    assert parse("/cvd\nsol\n15m") == Command("cvd", "SOL", "15m")


def test_a_bot_mention_is_answered_only_by_that_bot() -> None:
    assert parse("/price@MyBot BTC", bot_username="MyBot") == Command("price", "BTC")
    assert parse("/price@mybot BTC", bot_username="MyBot") == Command("price", "BTC")
    assert parse("/price@OtherBot BTC", bot_username="MyBot") is None
    assert parse("/price@AnyBot BTC") == Command("price", "BTC")  # username unknown: answer


@pytest.mark.parametrize("text", ["hello", "", "   ", "/", "price BTC", "BTC /price"])
def test_text_that_is_no_command_is_not_answered(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        ("/price !!!", "“!!!” is not a symbol."),
        ("/price BTC ETH", "One symbol at a time"),
        ("/volume BTC 2h", "“2h” is not a bar size"),
        ("/price ETHBTC-PERP", "“ETHBTC-PERP” is not a symbol."),
        ("/launch BTC", "“/launch” is not a command I know."),
    ],
)
def test_malformed_commands_get_an_answer_saying_how_to_write_them(text: str, starts: str) -> None:
    result = parse(text)
    assert isinstance(result, Invalid)
    assert result.answer.startswith(starts)


def test_a_10_kb_argument_is_refused_with_a_short_answer() -> None:
    result = parse("/price " + "A" * 10_240)
    assert isinstance(result, Invalid)
    assert len(result.answer) < 200
    assert "…" in result.answer


def test_a_10_kb_command_name_is_refused_with_a_short_answer() -> None:
    result = parse("/" + "x" * 10_240)
    assert isinstance(result, Invalid) and len(result.answer) < 100


def test_other_commands_ignore_their_arguments() -> None:
    assert parse("/help me") == Command("help")
    assert parse("/status now") == Command("status")
