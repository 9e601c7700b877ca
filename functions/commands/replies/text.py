"""Formats every reply shares: prices, amounts, percentages, times, and fitting the 4,096 limit.

A trader reads these on a phone: prices with the precision the coin needs (BTC `$65,012.3`, PEPE
`$0.00001234`), amounts compact with their unit (`81.2K BTC`, `$5.28B`), times in UTC with the
unit said (`09:41 UTC`, `in 2h 18m`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from cryptoalerts.telegram_format import ELLIPSIS, MAX_LENGTH, escape, exchange_name, pct, utf16_len

NOTHING = "n/a"
_TAG = re.compile(r"<[^>]*>")


def price(value: float) -> str:
    """Six significant digits from $1 up (at most 4 decimals), four below: `$65,012.3`,
    `$3,201.45`, `$0.5123`, `$0.00001234`."""
    if value <= 0 or not math.isfinite(value):
        return NOTHING
    if value >= 1:
        decimals = min(4, max(0, 6 - (math.floor(math.log10(value)) + 1)))
    else:
        decimals = 3 - math.floor(math.log10(value))
    return f"${value:,.{decimals}f}"


def price_at_step(value: float, step: float) -> str:
    """A price level of a grid whose rows are `step` apart, with just the decimals the step needs."""
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    return f"{value:,.{decimals}f}"


def compact(value: float) -> str:
    """`81_234.5` -> `81.2K`, `1_234_567` -> `1.2M`, `512.3` -> `512`, `12.34` -> `12.3`,
    `0.01234` -> `0.0123` (three significant digits below 1)."""
    size = abs(value)
    sign = "-" if value < 0 else ""
    if size >= 1000:
        for unit, suffix in ((1e3, "K"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
            scaled = size / unit
            if round(scaled, 1) < 1000 or suffix == "T":
                text = f"{scaled:.1f}" if round(scaled, 1) < 100 else f"{scaled:.0f}"
                return f"{sign}{text.removesuffix('.0')}{suffix}"
    if size >= 100:
        return f"{sign}{size:.0f}"
    if size >= 1:
        return f"{sign}{size:.1f}".removesuffix(".0")
    if size == 0:
        return "0"
    return f"{sign}{size:.3g}"


def signed_compact(value: float) -> str:
    text = compact(value)
    return text if text.startswith("-") or text == "0" else f"+{text}"


def coins(value: float, symbol: str) -> str:
    return f"{compact(value)} {escape(symbol)}"


def share(fraction: float | None) -> str:
    """`0.537` -> `54%`."""
    return NOTHING if fraction is None else f"{fraction * 100:.0f}%"


def duration(ms: int) -> str:
    """`8_280_000` -> `2h 18m`; under a minute `under 1m`; from a day on `3d 4h`."""
    minutes = ms // 60_000
    if minutes < 1:
        return "under 1m"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def clock(epoch_ms: int, seconds: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%H:%M:%S UTC" if seconds else "%H:%M UTC")


def day(epoch_ms: int) -> str:
    """`29 Nov`."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%d %b")


def day_clock(epoch_ms: int) -> str:
    """`22 Oct 09:38 UTC`."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%d %b %H:%M UTC")


def bold(text: str) -> str:
    """`text` must already be escaped."""
    return f"<b>{text}</b>"


def finish(lines: Sequence[str], limit: int = MAX_LENGTH) -> str:
    """Join a reply's lines (escaped HTML; a `<pre>` block is one line), dropping lines from the
    end until it fits Telegram's limit: the most important lines come first."""
    keep, size = 0, -1  # no newline before the first line
    for line in lines:
        size += utf16_len(line) + 1
        if size > limit and keep > 0:
            break
        keep += 1
    text = "\n".join(lines[:keep])
    if utf16_len(text) <= limit:
        return text
    # One line alone too long: only hostile input gets here. Cut it as plain text, never inside
    # a tag or an entity (`&amp;` half cut would be refused by Telegram).
    plain = _TAG.sub("", text)
    while utf16_len(plain) > limit - 1:
        plain = plain[: limit - 1 - max(0, utf16_len(plain) - len(plain))]
    amp = plain.rfind("&")
    if amp != -1 and ";" not in plain[amp:]:
        plain = plain[:amp]
    return plain + ELLIPSIS


def signed_pct(value: float | None) -> str:
    return NOTHING if value is None else pct(value)


def unavailable(exchange: str, reason: str) -> str:
    """`OKX: unavailable (timed out)`, or `OKX: not listed`."""
    name = exchange_name(exchange)
    return f"{name}: not listed" if reason == "not listed" else f"{name}: unavailable ({escape(reason)})"


def table(rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Rows of cells as a `<pre>` block, the first `left` columns left-aligned, the rest right-aligned
    (numbers line up on a phone's monospace font). Cells must already be escaped."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.append(" ".join(cells).rstrip())
    return "<pre>" + "\n".join(out) + "</pre>"
