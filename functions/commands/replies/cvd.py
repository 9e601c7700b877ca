"""`/cvd SYM [15m|1h|4h|1d]`: cumulative volume delta over the last 24 bars from the exchanges' real
taker buy and sell volume (Binance's klines, OKX's taker-volume statistics; Bybit publishes none),
the delta over 1, 4 and 24 bars beside the price change over the same spans, the buy share, and a
divergence line when price and CVD point opposite ways."""

from __future__ import annotations

from collections.abc import Sequence

from commands.replies.text import (
    NOTHING,
    bold,
    clock,
    compact,
    escape,
    exchange_name,
    finish,
    share,
    signed_compact,
    table,
    unavailable,
)
from cryptoalerts import taker_flow as tf
from cryptoalerts.exchanges.market import INTERVAL_MS, Bar, Candles, PerExchange

BARS = 24
SPANS = (1, 4, 24)
SPARKS = "▁▂▃▄▅▆▇█"


def flows_of(data: Candles) -> list[tf.Flow] | None:
    """An exchange's taker flow per bar: from its bars where they carry taker buys, else from its
    taker statistics; None where it publishes neither."""
    if data.bars and all(b.taker_buy is not None for b in data.bars):
        return [tf.Flow(b.open_ms, b.taker_buy or 0.0, b.volume - (b.taker_buy or 0.0)) for b in data.bars]
    if data.taker is not None:
        return [tf.Flow(f.open_ms, f.buy, f.sell) for f in data.taker]
    return None


def reply(symbol: str, interval: str, data: PerExchange[Candles], exchanges: tuple[str, ...], now_ms: int) -> str:
    flows = {n: f for n in exchanges if n in data.results and (f := flows_of(data.results[n])) is not None}
    head = bold(f"🧮 {escape(symbol)} CVD · {interval} bars") + f" · last {BARS} to {clock(now_ms)}"
    lines = [head]
    notes = [unavailable(n, data.failures[n]) for n in exchanges if n in data.failures]
    silent = [exchange_name(n) for n in exchanges if n in data.results and n not in flows]
    if silent:
        notes.append(f"{', '.join(silent)}: publishes no taker volume, not counted.")
    if not flows:
        return finish([*lines, "No taker volume from any exchange right now.", *notes])
    # Every row ends at the newest bar all the publishing exchanges have (OKX's statistics may not
    # hold the bar still trading yet), so the rows add up to the total and match the price's spans.
    combined = tf.combine(*flows.values())[-BARS:]
    counted = {f.open_ms for f in combined}
    reference = _reference(data, exchanges, counted)
    prices = _price_changes(reference[1]) if reference else [None] * len(SPANS)
    rows = [["", *(f"{n} bar" if n == 1 else f"{n} bars" for n in SPANS)]]
    for n, series in flows.items():
        aligned = [f for f in series if f.open_ms in counted]
        rows.append([exchange_name(n), *(signed_compact(tf.delta(aligned, k)) for k in SPANS)])
    if len(flows) > 1:
        rows.append(["All", *(signed_compact(tf.delta(combined, k)) for k in SPANS)])
    rows.append(["Buys", *(share(tf.buy_share(combined, k)) for k in SPANS)])
    rows.append(["Price", *(NOTHING if p is None else f"{p:+.1f}%" for p in prices)])
    lines += [
        f"Taker buys − sells in {escape(symbol)}, summed over the last 1, 4 and 24 bars:",
        table(rows),
        f"CVD <code>{sparkline(tf.cvd(combined))}</code>",
    ]
    lines += _divergences(symbol, combined, prices)
    if reference and combined:
        closes_ms = combined[-1].open_ms + INTERVAL_MS[interval]
        newest = (
            "the newest bar is still open" if closes_ms > now_ms else f"newest bar counted closed at {clock(closes_ms)}"
        )
        notes.append(f"Price from {exchange_name(reference[0])}; {newest}.")
    return finish([*lines, *notes])


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[3] * len(values)
    return "".join(SPARKS[round((v - low) / (high - low) * (len(SPARKS) - 1))] for v in values)


def _reference(
    data: PerExchange[Candles], exchanges: tuple[str, ...], counted: set[int]
) -> tuple[str, list[Bar]] | None:
    """The first exchange's bars at the periods the flows count: the price beside the delta."""
    for name in exchanges:
        bars = [b for b in data.results[name].bars if b.open_ms in counted] if name in data.results else []
        if bars:
            return name, bars
    return None


def _price_changes(bars: Sequence[Bar]) -> list[float | None]:
    opens, closes = [b.open for b in bars], [b.close for b in bars]
    return [tf.price_change_pct(opens, closes, k) for k in SPANS]


def _divergences(symbol: str, flows: Sequence[tf.Flow], prices: Sequence[float | None]) -> list[str]:
    for span, price in sorted(zip(SPANS, prices, strict=True), reverse=True):
        window = flows[-span:]
        delta = tf.delta(window, span)
        kind = tf.divergence(price, delta, sum(f.volume for f in window))
        if kind is None or price is None:
            continue
        side = "sold" if delta < 0 else "bought"
        meaning = "the rise is not carried by buying" if kind == "bearish" else "the fall is being absorbed"
        bars = f"{span} bar" if span == 1 else f"{span} bars"
        return [
            f"⚠️ {kind.capitalize()} divergence over {bars}: price {price:+.1f}% while takers {side} "
            f"{compact(abs(delta))} {escape(symbol)} net; {meaning}."
        ]
    return []
