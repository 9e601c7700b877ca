"""`/profile SYM`: the volume profile of the current UTC day and of the previous one, from the 5m
bars of every exchange that answered: POC, value area (70 %), VWAP, where the price stands, and a
text histogram of today a trader can read at a glance."""

from __future__ import annotations

import math

from commands.replies.text import (
    bold,
    clock,
    escape,
    exchange_name,
    finish,
    price,
    price_at_step,
    unavailable,
)
from cryptoalerts import volume_profile as vp
from cryptoalerts.exchanges.market import Bar, PerExchange, align

DAY_MS = 86_400_000
BAR_INTERVAL = "5m"
HISTOGRAM_ROWS = 20
HISTOGRAM_WIDTH = 12
INSIDE, OUTSIDE = "█", "░"


def reply(symbol: str, data: PerExchange[list[Bar]], exchanges: tuple[str, ...], now_ms: int) -> str:
    answered = [n for n in exchanges if data.results.get(n)]
    notes = [unavailable(n, data.failures[n]) for n in exchanges if n in data.failures]
    head = bold(f"📐 {escape(symbol)} volume profile") + f" · {clock(now_ms)}"
    if not answered:
        return finish([head, "No bars from any exchange right now.", *notes])
    today_start = align(now_ms, DAY_MS)
    bars = [b for n in answered for b in data.results[n]]
    grid = vp.grid(bars)
    assert grid is not None  # bars is not empty
    today = vp.profile([b for b in bars if b.open_ms >= today_start], grid)
    yesterday = vp.profile([b for b in bars if today_start - DAY_MS <= b.open_ms < today_start], grid)
    last = data.results[answered[0]][-1].close
    lines = [head, f"{', '.join(exchange_name(n) for n in answered)} · {BAR_INTERVAL} bars · rows of {_step(grid)}"]
    for title, profile in (("Today (UTC)", today), ("Yesterday", yesterday)):
        lines.append(_summary(title, profile, grid.step))
    lines.append(_where(last, today, yesterday))
    if today is not None:
        lines.append(histogram(today, last))
        lines.append(f"{INSIDE} value area (70% of volume) · {OUTSIDE} outside")
    return finish([*lines, *notes])


def _summary(title: str, profile: vp.Profile | None, step: float) -> str:
    """Levels with the rows' precision (a level is a row, not a trade price); VWAP as a price."""
    if profile is None:
        return f"{bold(title)}: no volume."
    vwap = price(profile.vwap) if profile.vwap is not None else "n/a"
    poc, low, high = (
        f"${price_at_step(v, step / 2)}" for v in (profile.poc_price, profile.value_area_low, profile.value_area_high)
    )
    return f"{bold(title)}: POC {poc} · value area {low}–{high} · VWAP {vwap}"


def _where(last: float, today: vp.Profile | None, yesterday: vp.Profile | None) -> str:
    parts = []
    if today is not None:
        parts.append(f"{today.position(last)} today's value area")
        if today.vwap:
            parts.append(f"{abs(last / today.vwap - 1) * 100:.2f}% {'above' if last >= today.vwap else 'below'} VWAP")
    if yesterday is not None:
        parts.append(f"{yesterday.position(last)} yesterday's value area")
    return f"Price {price(last)}: " + ", ".join(parts) + "." if parts else f"Price {price(last)}."


def histogram(profile: vp.Profile, last: float) -> str:
    """Today's rows, highest price on top, merged so at most HISTOGRAM_ROWS show; each labelled
    with its lower edge, drawn solid inside the value area, and marked at the POC and the price."""
    traded = [i for i, v in enumerate(profile.volumes) if v > 0]
    first, stop = traded[0], traded[-1] + 1
    merge = math.ceil((stop - first) / HISTOGRAM_ROWS)
    groups = [range(start, min(stop, start + merge)) for start in range(first, stop, merge)][::-1]
    volumes = [sum(profile.volumes[i] for i in rows) for rows in groups]
    labels = [price_at_step(profile.grid.low(rows.start), profile.grid.step * merge) for rows in groups]
    width = max(len(label) for label in labels)
    top = max(volumes)
    lines = []
    for rows, volume, label in zip(groups, volumes, labels, strict=True):
        inside = rows.start <= profile.value_high and rows.stop - 1 >= profile.value_low
        length = max(1, round(volume / top * HISTOGRAM_WIDTH)) if volume > 0 else 0
        marks = [m for m, row in (("POC", profile.poc), ("◀ price", profile.grid.row(last))) if row in rows]
        bar = (INSIDE if inside else OUTSIDE) * length
        lines.append(f"{label.rjust(width)} {bar.ljust(HISTOGRAM_WIDTH)} {' '.join(marks)}".rstrip())
    return "<pre>" + escape("\n".join(lines)) + "</pre>"


def _step(grid: vp.Grid) -> str:
    return "$" + price_at_step(grid.step, grid.step)
