"""The replies a trader reads: figures with units and times, failures named, HTML that Telegram
accepts (every reply is parsed by the fake Telegram's HTML parser, which refuses what Telegram
refuses), every outside value escaped, never more than 4,096 characters."""

from __future__ import annotations

import json

import pytest

from commands.replies import cvd, guide, open_interest, pipeline, price, profile, text, volume
from cryptoalerts.exchanges.market import Bar, Candles, OpenInterest, PerExchange, Quote, TakerFlow
from cryptoalerts.oi_changes import Change
from cryptoalerts.telegram_format import MAX_LENGTH, utf16_len
from cryptoalerts.thresholds import OiRule
from infra.fakes.telegram import render_html

EXCHANGES = ("binance", "bybit", "okx")
NOW = 1_780_807_260_000  # 2026-06-07 04:41:00 UTC
HOUR = 3_600_000


def shown(reply: str) -> str:
    """The reply as the reader sees it; raises where Telegram would refuse the HTML."""
    assert utf16_len(reply) <= MAX_LENGTH
    return render_html(reply)


def quote(exchange: str, last: float, **extra: float) -> Quote:
    fields = {
        "change_24h_pct": 1.25,
        "volume_24h_usd": 12.3e9,
        "volume_24h_coins": 189_000.0,
        "funding_rate": 0.0002,
        "funding_interval_h": 8.0,
        "next_funding_ms": NOW + 2 * HOUR + 18 * 60_000,
        "oi_coins": 81_234.0,
        "oi_usd": 5.28e9,
        **extra,
    }
    return Quote(exchange, "BTC", last, last, time_ms=NOW - 500, **fields)  # type: ignore[arg-type]


def test_price_shows_each_exchange_funding_per_year_and_the_spread() -> None:
    data: PerExchange[Quote] = PerExchange(
        results={"binance": quote("binance", 100.0), "bybit": quote("bybit", 100.1)}, failures={"okx": "timed out"}
    )
    seen = shown(price.reply("BTC", data, EXCHANGES, NOW))
    assert seen.splitlines()[0] == "💵 BTC perpetuals (USDT) · 04:40:59 UTC"
    assert "Binance $100.000 · mark $100.000" in seen
    assert "24h +1.2% · volume $12.3B (189K BTC)" in seen
    assert "Funding +0.0200% per 8h (+21.9% a year) · next in 2h 18m" in seen
    assert "Open interest 81.2K BTC ($5.3B)" in seen
    assert "OKX: unavailable (timed out)" in seen
    assert "Spread 10.0 bp: Bybit highest, Binance lowest" in seen  # 0.1 / 100.05


def test_a_small_coin_keeps_its_digits() -> None:
    data = PerExchange(results={"binance": quote("binance", 0.0000123456)})
    assert "$0.00001235" in shown(price.reply("PEPE", data, EXCHANGES, NOW))


def bars(start: int, count: int, step: int, volume: float, taker: float | None) -> list[Bar]:
    return [
        Bar(start + i * step, step, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, volume, volume * 100, taker)
        for i in range(count)
    ]


def test_volume_compares_the_last_closed_bar_with_the_same_time_on_previous_days() -> None:
    step = 900_000
    current = NOW - NOW % step
    last = current - step
    history = [Bar(last - k * 86_400_000, step, 100, 101, 99, 100, 100.0, 10_000.0, 50.0) for k in range(1, 8)]
    closed = Bar(last, step, 100, 101, 99, 100, 340.0, 34_000.0, 204.0)  # 3.4x, 60 % taker buys
    forming = Bar(current, step, 100, 101, 99, 100, 50.0, 5_000.0, 20.0)
    data = PerExchange(
        results={
            "binance": Candles([*history, closed, forming]),
            "bybit": Candles(
                [Bar(b.open_ms, step, 100, 101, 99, 100, b.volume, b.quote_volume) for b in [*history, closed]]
            ),
        },
        failures={"okx": "error 500"},
    )
    seen = shown(volume.reply("BTC", "15m", data, EXCHANGES, step, NOW))
    rows = {line.split()[0]: line.split()[1:] for line in seen.splitlines() if line.split()}
    assert rows["Binance"] == ["34K", "340", "3.4x", "60%"]
    assert rows["Bybit"] == ["34K", "340", "3.4x", "n/a"]
    assert rows["All"] == ["68K", "680", "3.4x", "60%"]
    assert "Last closed bar 04:15–04:30 UTC" in seen
    assert "OKX: unavailable (error 500)" in seen
    assert "Taker buys: Bybit publishes none." in seen


def test_cvd_sums_real_taker_flow_and_names_a_divergence() -> None:
    step = HOUR
    start = NOW - NOW % step - 23 * step
    # Price rises bar after bar while takers sell on balance: a bearish divergence.
    binance = bars(start, 24, step, 100.0, 45.0)
    okx_flows = [TakerFlow(start + i * step, 20.0, 30.0) for i in range(24)]
    data = PerExchange(
        results={
            "binance": Candles(binance),
            "okx": Candles(bars(start, 24, step, 50.0, None), okx_flows),
            "bybit": Candles(bars(start, 24, step, 10.0, None)),
        }
    )
    seen = shown(cvd.reply("BTC", "1h", data, EXCHANGES, NOW))
    rows = {line.split()[0]: line.split()[1:] for line in seen.splitlines() if line.split()}
    assert rows["Binance"] == ["-10", "-40", "-240"]  # 45 bought, 55 sold each bar
    assert rows["OKX"] == ["-10", "-40", "-240"]
    assert rows["All"] == ["-20", "-80", "-480"]
    assert rows["Buys"] == ["43%", "43%", "43%"]  # (45 + 20) / (100 + 50)
    assert "Bearish divergence over 24 bars: price +23.5% while takers sold 480 BTC net" in seen
    assert "Bybit: publishes no taker volume, not counted." in seen


def test_cvd_rows_cover_the_same_bars_when_one_exchange_lacks_the_newest() -> None:
    """OKX's statistics may not hold the bar still trading: every row, the total and the price then
    end at the newest bar both exchanges have, so the rows add up and the spans match."""
    step = HOUR
    start = NOW - NOW % step - 23 * step
    binance = bars(start, 24, step, 100.0, 45.0)  # -10 a bar
    binance[-1] = Bar(binance[-1].open_ms, step, 123.0, 130.0, 122.0, 129.0, 100.0, 10_000.0, 90.0)  # +80, open
    okx_flows = [TakerFlow(start + i * step, 20.0, 30.0) for i in range(23)]  # -10 a bar, none for the open bar
    okx = Candles(bars(start, 24, step, 50.0, None), okx_flows)
    data = PerExchange(results={"binance": Candles(binance), "okx": okx})
    seen = shown(cvd.reply("BTC", "1h", data, EXCHANGES, NOW))
    rows = {line.split()[0]: line.split()[1:] for line in seen.splitlines() if line.split()}
    assert rows["Binance"] == ["-10", "-40", "-230"]  # the 23 bars OKX has too, not the open one
    assert rows["OKX"] == ["-10", "-40", "-230"]
    assert rows["All"] == ["-20", "-80", "-460"]
    price_row = next(line.split() for line in seen.splitlines() if line.startswith("Price "))
    assert price_row[1] == "+0.4%"  # bar 23 of 24 (122.0 -> 122.5), not the open bar's +4.9 %
    assert "newest bar counted closed at 04:00 UTC" in seen and "still open" not in seen


def test_cvd_sparkline_spans_the_range() -> None:
    assert cvd.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert cvd.sparkline([5, 5]) == "▄▄"


def test_profile_of_today_and_yesterday_with_a_readable_histogram() -> None:
    day = 86_400_000
    today = NOW - NOW % day
    yesterday = [Bar(today - day + i * 300_000, 300_000, 100, 102, 98, 100, 10.0, 1_000.0) for i in range(288)]
    rising = [
        Bar(
            today + i * 300_000,
            300_000,
            100 + i * 0.1,
            100.5 + i * 0.1,
            99.5 + i * 0.1,
            100.2 + i * 0.1,
            10.0,
            1_001.0 + i,
        )
        for i in range(56)
    ]
    data = PerExchange(results={"binance": yesterday + rising}, failures={"bybit": "rate limited", "okx": "timed out"})
    seen = shown(profile.reply("BTC", data, EXCHANGES, NOW))
    lines = seen.splitlines()
    # Yesterday traded evenly over 98-102 (16 rows of $0.25): rows 7 and 8 tie for the POC, the lower
    # wins, and the value area grows by both neighbours at once to 13 of the 16 rows (>= 70 %).
    assert "Yesterday: POC $99.875 · value area $98.250–$101.500 · VWAP $100.000" in seen
    assert "Price $105.700: above today's value area, 2.77% above VWAP, above yesterday's value area." in seen
    histogram = [line for line in lines if "█" in line or "░" in line][:-1]  # the last is the legend
    assert 3 <= len(histogram) <= profile.HISTOGRAM_ROWS
    assert sum("POC" in line for line in histogram) == 1 and sum("◀ price" in line for line in histogram) == 1
    assert "Bybit: unavailable (rate limited)" in seen


def test_open_interest_levels_changes_sources_and_the_gap_to_the_alert() -> None:
    live = PerExchange(
        results={
            "binance": OpenInterest("binance", "BTC", NOW, 80_000.0, 5.2e9),
            "bybit": OpenInterest("bybit", "BTC", NOW, 40_000.0, 2.6e9),
        },
        failures={"okx": "timed out"},
    )
    changes = open_interest.Changes(pipeline_minute_ms=NOW - 60_000)
    changes.by_exchange = {
        "binance": {15: Change(100.0, 112.0, 0, 1), 60: Change(100.0, 101.0, 0, 1), 240: None, 1440: None},
        "bybit": {15: Change(100.0, 104.0, 0, 1), 60: None, 240: Change(100.0, 90.0, 0, 1), 1440: None},
    }
    changes.sources = {("binance", 15): "pipeline", ("bybit", 15): "pipeline", ("bybit", 240): "history"}
    seen = shown(open_interest.reply("BTC", live, changes, OiRule(15, 15, 2), EXCHANGES, NOW))
    rows = [line.split() for line in seen.splitlines() if line.split()]
    levels, moves = rows[: len(rows) // 2], rows[len(rows) // 2 :]
    assert ["Binance", "80K", "5.2B", "67%"] in levels
    assert ["All", "120K", "7.8B"] in levels
    assert "OKX: unavailable (timed out)" in seen
    assert ["Binance", "+12.0", "+1.0", "n/a", "n/a"] in moves
    assert ["Bybit", "+4.0", "n/a", "-10.0", "n/a"] in moves
    assert ["All", "+8.0", "+1.0", "-10.0", "n/a"] in moves  # 216 / 200 coins over 15m
    assert "the 2nd-largest 15m rise is +4.0%, 11.0 points short" in seen
    assert "pipeline's minute snapshots (to 04:40 UTC)" in seen and "open-interest history of Bybit" in seen


def test_alerts_show_the_figures_and_status_with_stored_values_escaped() -> None:
    body = {
        "schema": 1,
        "data": {"count": 7, "window_s": 30, "total_usd": 1_234_567, "long_count": 5, "short_count": 2},
    }
    items = [
        {
            "recorded_at": "2026-06-07T04:38:13.270Z",
            "kind": "liquidation_cascade",
            "symbol": "BTC",
            "priority": "HIGH",
            "status": "delivered",
            "alert": json.dumps(body),
        },
        {
            "recorded_at": "2026-06-07T04:12:00.000Z",
            "kind": "oi_explosion",
            "symbol": "<b>&",
            "priority": "LOW",
            "status": "failed",
            "error": "Forbidden: <bot was blocked>",
            "alert": "not json",
        },
    ]
    seen = shown(pipeline.alerts_reply(items, 7, NOW))
    assert "07 Jun 04:38 UTC · BTC liquidation cascade · HIGH" in seen
    assert "7 liquidations in 30 seconds, $1.2M (5 long, 2 short)" in seen
    assert "<b>& OI explosion" in seen  # shown as written, parsed as text
    assert "Not delivered (Forbidden: <bot was blocked>)" in seen
    assert shown(pipeline.alerts_reply([], 7, NOW)).endswith("No alerts in the last 7 days.")


def test_status_flags_a_stale_exchange_and_the_dead_letters() -> None:
    status = pipeline.Status(
        newest_minutes={"binance": NOW - 60_000, "bybit": NOW - 16 * 60_000, "okx": None},
        queue=(3, 1),
        dead_letters=2,
        watching=("BTC", "ETH"),
    )
    seen = shown(pipeline.status_reply(status, EXCHANGES, NOW))
    assert "Binance: 04:40 UTC ✅" in seen
    assert "Bybit: 04:25 UTC ⚠️ 16m old" in seen
    assert "OKX: ⚠️ none stored in the last 15 minutes" in seen
    assert "Alert queue: 3 waiting, 1 in flight · dead letters: 2 ⚠️ see the runbook" in seen
    failing = shown(
        pipeline.status_reply(pipeline.Status(queue_error="AccessDenied", snapshots_error="<x>"), EXCHANGES, NOW)
    )
    assert "Queues: unavailable (AccessDenied)" in failing and "OI snapshots: unavailable (<x>)" in failing


def test_short_answers_are_valid_html_and_escape_what_they_repeat() -> None:
    data: PerExchange[object] = PerExchange(
        failures={"binance": "not listed", "bybit": "not listed", "okx": "timed out"}
    )
    unknown = shown(guide.unknown_symbol("price", "XYZ", data, EXCHANGES))
    assert unknown.startswith("No USDT perpetual for XYZ on Binance, Bybit or OKX.")
    assert "OKX: unavailable (timed out)" in unknown
    assert "<tag>" in shown(guide.failed("price", "<tag>"))
    assert "-1001234567890" in shown(guide.refusal(-1001234567890))
    for reply in (guide.start(), guide.help_text()):
        seen = shown(reply)
        assert all(f"/{command}" in seen for command in ("price", "volume", "oi", "cvd", "profile", "alerts", "status"))


def test_the_command_menu_fits_telegram_rules() -> None:
    assert all(1 <= len(d) <= 256 and c.islower() for c, d in guide.MENU.items())


@pytest.mark.parametrize("size", [10, 5_000, 100_000])
def test_a_reply_never_exceeds_4096_characters(size: int) -> None:
    lines = ["<b>head</b>", *(f"line {i} &amp; more" for i in range(size))]
    reply = text.finish(lines)
    assert utf16_len(reply) <= MAX_LENGTH
    assert shown(reply).startswith("head")


def test_one_line_too_long_is_cut_outside_any_entity() -> None:
    reply = text.finish(["&amp;" * 2000])
    assert utf16_len(reply) <= MAX_LENGTH
    assert shown(reply).endswith("&…")


@pytest.mark.parametrize(
    ("value", "shown_as"),
    [(65_012.34, "$65,012.3"), (3_201.456, "$3,201.46"), (0.51234, "$0.5123"), (0.0000123456, "$0.00001235")],
)
def test_prices_keep_the_precision_the_coin_needs(value: float, shown_as: str) -> None:
    assert text.price(value) == shown_as


@pytest.mark.parametrize(
    ("value", "shown_as"),
    [(81_234.5, "81.2K"), (1_234_567, "1.2M"), (512.3, "512"), (0.01234, "0.0123"), (-4_567, "-4.6K")],
)
def test_amounts_are_compact(value: float, shown_as: str) -> None:
    assert text.compact(value) == shown_as
