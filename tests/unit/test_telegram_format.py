"""The Telegram message (architecture.md §2.5): the seed's exact lines, rounding, escaping, the 4096 limit."""

from __future__ import annotations

from typing import Any

import pytest
from sample_alerts import cascade_data, oi_data

from cryptoalerts.alert import Alert, liquidation_cascade, oi_explosion
from cryptoalerts.telegram_format import MAX_LENGTH, format_alert, pct, plural, usd, utf16_len
from infra.fakes.telegram import render_html


def cascade(symbol: str = "BTC", **overrides: Any) -> Alert:
    return liquidation_cascade(symbol, 1761125893270, "long", "HIGH", cascade_data(**overrides))


def oi(symbol: str = "BTC", **overrides: Any) -> Alert:
    return oi_explosion(symbol, 1761125880000, "HIGH", oi_data(**overrides))


def test_liquidation_cascade_keeps_the_seed_lines_first() -> None:
    lines = format_alert(cascade()).splitlines()
    assert lines[:5] == [
        "🚨 BTC LIQUIDATION CASCADE",
        "⚡ 7 liquidations in 30 seconds",
        "💰 Total: $1.2M liquidated",
        "📉 5 longs, 2 shorts",
        "⚠️ Potential price impact expected",
    ]
    assert "Binance · 09:37:50–09:38:13 UTC" in lines


def test_a_multi_exchange_cascade_adds_per_exchange_figures_and_a_lower_bound_note() -> None:
    per_exchange = {
        "binance": {"count": 4, "usd": 700_000.0, "long_usd": 600_000.0, "short_usd": 100_000.0},
        "bybit": {"count": 3, "usd": 534_567.0, "long_usd": 400_000.0, "short_usd": 134_567.0},
        "okx": {"count": 0, "usd": 0.0, "long_usd": 0.0, "short_usd": 0.0},
    }
    lines = format_alert(cascade(exchange="multi", per_exchange=per_exchange, sampled=["binance"])).splitlines()
    assert lines[:5] == [
        "🚨 BTC LIQUIDATION CASCADE",
        "⚡ 7 liquidations in 30 seconds",
        "💰 Total: $1.2M liquidated",
        "📉 5 longs, 2 shorts",
        "⚠️ Potential price impact expected",
    ]
    assert "🏦 Binance 4 · Bybit 3 · OKX 0" in lines
    assert "ℹ️ Lower bound: Binance reports at most one liquidation per symbol per second" in lines
    assert "Binance + Bybit · 09:37:50–09:38:13 UTC" in lines
    both = format_alert(cascade(exchange="multi", per_exchange=per_exchange, sampled=["binance", "okx"]))
    assert "ℹ️ Lower bound: Binance and OKX report at most one liquidation per symbol per second" in both


def test_a_bybit_only_cascade_has_no_lower_bound_note() -> None:
    per_exchange = {"bybit": {"count": 7, "usd": 1_234_567.0, "long_usd": 1e6, "short_usd": 234_567.0}}
    text = format_alert(cascade(exchange="bybit", per_exchange=per_exchange, sampled=[]))
    assert "🏦 Bybit 7" in text.splitlines() and "Lower bound" not in text


def test_oi_explosion_keeps_the_seed_lines_first() -> None:
    lines = format_alert(oi()).splitlines()
    assert lines[:5] == [
        "🚨 BTC OI EXPLOSION",
        "📈 +18% increase in 15 minutes",
        "💰 $2.1B → $2.5B (+$400M)",
        "🏦 3/3 exchanges confirming",
        "⚡ Institutional positioning detected",
    ]
    assert lines[6:] == [
        "Binance +18% · $700M → $830M",
        "Bybit +18% · $700M → $830M",
        "OKX +18% · $700M → $830M",
        "Open interest 09:23–09:38 UTC",
    ]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (1_234_567, "$1.2M"),
        (2.1e9, "$2.1B"),
        (2.549e9, "$2.5B"),
        (4e8, "$400M"),
        (25_000, "$25K"),
        (99_949, "$99.9K"),
        (123_456, "$123K"),
        (950, "$950"),
        (999.6, "$1K"),  # rounds up into the next unit
        (999_960, "$1M"),
        (999_960_000, "$1B"),
        (1_040_000, "$1M"),  # a trailing .0 is dropped
        (3.2e12, "$3.2T"),
        (0, "$0"),
        (-4e8, "-$400M"),
    ],
)
def test_usd_amounts(amount: float, text: str) -> None:
    assert usd(amount) == text


def test_usd_change_is_signed() -> None:
    assert usd(4e8, sign=True) == "+$400M"
    assert usd(-4e8, sign=True) == "-$400M"
    assert usd(0, sign=True) == "$0"


@pytest.mark.parametrize(
    ("value", "text"),
    [(18, "+18%"), (18.0, "+18%"), (17.96, "+18%"), (2.34, "+2.3%"), (-4.06, "-4.1%"), (-0.01, "+0%")],
)
def test_percentages(value: float, text: str) -> None:
    assert pct(value) == text


def test_plurals() -> None:
    assert plural(7, "liquidation") == "7 liquidations"
    assert plural(1, "long") == "1 long"
    assert plural(0, "short") == "0 shorts"
    assert plural(1.5, "second") == "1.5 seconds"
    assert plural(30.0, "second") == "30 seconds"


def test_singular_counts_read_naturally() -> None:
    lines = format_alert(cascade(long_count=1, short_count=0, window_s=1)).splitlines()
    assert lines[1] == "⚡ 7 liquidations in 1 second"
    assert lines[3] == "📉 1 long, 0 shorts"


@pytest.mark.parametrize("symbol", ["<b>PWN</b>", "A&B", "<script>alert(1)</script>", "X</a><a href='y'>", "&amp;"])
def test_hostile_symbols_are_escaped_and_render_as_written(symbol: str) -> None:
    text = format_alert(cascade(symbol=symbol))
    assert "<" not in text and ">" not in text
    # Telegram's HTML parser (the fake's strict stand-in) accepts it and shows the symbol verbatim.
    assert render_html(text).splitlines()[0] == f"🚨 {symbol} LIQUIDATION CASCADE"


def test_hostile_exchange_names_are_escaped() -> None:
    figures = {"before": 1.0, "after": 2.0, "change_pct": 100.0, "before_usd": 1e6, "after_usd": 2e6}
    text = format_alert(oi(per_exchange={"<i>evil</i>&co": figures}))
    assert "&lt;i&gt;evil&lt;/i&gt;&amp;co +100%" in text
    assert "<i>evil</i>&co +100%" in render_html(text)


def test_a_huge_symbol_is_cut_to_fit_and_keeps_the_contract_lines() -> None:
    text = format_alert(cascade(symbol="&" * 10_000))  # 5 characters each once escaped
    assert utf16_len(text) <= MAX_LENGTH
    lines = text.splitlines()
    assert lines[0].startswith("🚨 &amp;&amp;") and lines[0].endswith("… LIQUIDATION CASCADE")
    assert lines[1:5] == [
        "⚡ 7 liquidations in 30 seconds",
        "💰 Total: $1.2M liquidated",
        "📉 5 longs, 2 shorts",
        "⚠️ Potential price impact expected",
    ]
    render_html(text)  # no entity was split


def test_emoji_count_double_toward_the_limit() -> None:
    text = format_alert(cascade(symbol="🚀" * 5_000))  # 2 UTF-16 units each
    assert utf16_len(text) <= MAX_LENGTH
    assert len(text) < MAX_LENGTH // 2 + 200


def test_detail_lines_go_first_when_too_long() -> None:
    figures = {"before": 1.0, "after": 2.0, "change_pct": 100.0, "before_usd": 1e6, "after_usd": 2e6}
    many = {f"exchange{i:04d}": figures for i in range(400)}
    text = format_alert(oi(per_exchange=many))
    assert utf16_len(text) <= MAX_LENGTH
    lines = text.splitlines()
    assert lines[0] == "🚨 BTC OI EXPLOSION"  # the symbol is untouched
    assert lines[6] == "exchange0000 +100% · $1M → $2M"  # details kept in order, the tail dropped
    assert 6 < len(lines) < 406
