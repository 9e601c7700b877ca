"""`/volume SYM [15m|1h|4h|1d]`: the last closed bar's volume per exchange and in total, against
the same time of day on the past days (relative volume), the bar so far, and the taker buy share
where the exchange publishes it (Binance in its klines, OKX in its taker-volume statistics)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import fmean

from commands.replies.text import (
    NOTHING,
    bold,
    clock,
    compact,
    day,
    duration,
    escape,
    exchange_name,
    finish,
    share,
    table,
    unavailable,
)
from cryptoalerts import relative_volume as rv
from cryptoalerts.exchanges.market import Bar, Candles, PerExchange, TakerFlow, align
from cryptoalerts.relative_volume import DAY_MS
from cryptoalerts.telegram_format import usd


@dataclass(frozen=True)
class _Row:
    usd: float
    coins: float
    relative: float | None
    usual_coins: float | None  # mean of the baseline, for the total
    buy_share: float | None


def reply(
    symbol: str, interval: str, data: PerExchange[Candles], exchanges: tuple[str, ...], interval_ms: int, now_ms: int
) -> str:
    current_open = align(now_ms, interval_ms)
    last_open = current_open - interval_ms
    rows: dict[str, _Row] = {}
    now_rows: dict[str, _Row] = {}
    for name, flows in data.results.items():
        by_open = {b.open_ms: b for b in flows.bars}
        taker = {f.open_ms: f for f in flows.taker or []}
        volumes = {t: b.volume for t, b in by_open.items()}
        if last_open in by_open:
            rows[name] = _row(by_open[last_open], taker.get(last_open), volumes, last_open, 1.0)
        if current_open in by_open:
            elapsed = (now_ms - current_open) / interval_ms
            now_rows[name] = _row(by_open[current_open], taker.get(current_open), volumes, current_open, elapsed)

    if interval == "1d":
        closed = f"Yesterday ({day(last_open)}), relative to the {rv.BASELINE_DAYS} days before"
    else:
        closed = (
            f"Last closed bar {clock(last_open)[:5]}–{clock(current_open)}, relative to the same "
            f"{interval} on the {rv.BASELINE_DAYS} days before"
        )
    lines = [
        bold(f"📊 {escape(symbol)} volume · {interval} bars") + f" · {clock(now_ms)}",
        closed + ":",
        table([["", "USD", escape(symbol), "rel", "buys"], *_cells(rows, exchanges), *_total(rows)]),
    ]
    missing = [unavailable(n, data.failures[n]) for n in exchanges if n in data.failures]
    absent = [f"{exchange_name(n)}: no closed bar yet" for n in exchanges if n in data.results and n not in rows]
    lines += missing + absent
    if now_rows:
        lines.append(_now_line(symbol, now_rows, now_ms - current_open, interval_ms))
    no_taker = [exchange_name(n) for n in exchanges if n in rows and rows[n].buy_share is None]
    if no_taker:
        lines.append(f"Taker buys: {', '.join(no_taker)} publishes none.")
    return finish(lines)


def _row(bar: Bar, flow: TakerFlow | None, volumes: Mapping[int, float], open_ms: int, elapsed: float) -> _Row:
    usual = rv.baseline(volumes, open_ms)
    relative = rv.relative(bar.volume, usual) if elapsed >= 1 else rv.pace(bar.volume, elapsed, usual)
    if bar.taker_buy is not None and bar.volume > 0:
        buys: float | None = bar.taker_buy / bar.volume
    elif flow is not None and flow.buy + flow.sell > 0:
        buys = flow.buy / (flow.buy + flow.sell)
    else:
        buys = None
    return _Row(bar.quote_volume, bar.volume, relative, fmean(usual) if usual else None, buys)


def _cells(rows: Mapping[str, _Row], exchanges: tuple[str, ...]) -> list[list[str]]:
    return [
        [exchange_name(n), usd(r.usd).lstrip("$"), compact(r.coins), _times(r.relative), share(r.buy_share)]
        for n in exchanges
        if (r := rows.get(n)) is not None
    ]


def _total(rows: Mapping[str, _Row]) -> list[list[str]]:
    if len(rows) < 2:
        return []
    coins = sum(r.coins for r in rows.values())
    usual = [r.usual_coins for r in rows.values() if r.usual_coins]
    relative = coins / sum(usual) if len(usual) == len(rows) else None
    published = [(r.buy_share, r.coins) for r in rows.values() if r.buy_share is not None]
    weight = sum(c for _, c in published)
    buys = sum(s * c for s, c in published) / weight if weight > 0 else None
    return [["All", usd(sum(r.usd for r in rows.values())).lstrip("$"), compact(coins), _times(relative), share(buys)]]


def _now_line(symbol: str, rows: Mapping[str, _Row], elapsed_ms: int, interval_ms: int) -> str:
    coins = sum(r.coins for r in rows.values())
    volume = f"{usd(sum(r.usd for r in rows.values()))} · {compact(coins)} {escape(symbol)}"
    text = f"{'Today' if interval_ms >= DAY_MS else 'Bar'} so far ({duration(elapsed_ms)} in): {volume}"
    usual = [r.usual_coins for r in rows.values() if r.usual_coins]
    pace = rv.pace(coins, elapsed_ms / interval_ms, [sum(usual)]) if len(usual) == len(rows) else None
    return text + (f" · on pace for {pace:.1f}x" if pace is not None else "")


def _times(value: float | None) -> str:
    return NOTHING if value is None else f"{value:.1f}x"
