"""The Telegram message for an alert (architecture.md §2.5): pure text, HTML parse mode, at most 4096 characters.

The first five lines of each kind are a contract and keep the seed's exact form; detail lines may
follow and are the first to go when a message would be too long. Every value taken from the alert
is HTML-escaped, so a hostile symbol or exchange name can neither inject markup nor break parsing.
The text carries no tags: what the API receives is, once unescaped, exactly what the reader sees.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from cryptoalerts.alert import LIQUIDATION_CASCADE, OI_EXPLOSION, Alert
from cryptoalerts.timeutil import parse_iso

PARSE_MODE = "HTML"
# Telegram's limit for a message text. Measured here in UTF-16 code units of the escaped text,
# which is never less than what Telegram counts (characters after entity parsing).
MAX_LENGTH = 4096
ELLIPSIS = "…"
# How exchanges are named in the message; an exchange not listed appears as the alert names it.
EXCHANGE_NAMES = {"binance": "Binance", "bybit": "Bybit", "okx": "OKX"}


def format_alert(alert: Alert) -> str:
    """The message for a schema-1 alert, ready for `sendMessage` with `parse_mode=HTML`."""
    if alert.kind == LIQUIDATION_CASCADE:
        required, details = _liquidation_lines(alert.data), _liquidation_details(alert.data)
        title = "LIQUIDATION CASCADE"
    elif alert.kind == OI_EXPLOSION:
        required, details = _oi_lines(alert.data), _oi_details(alert.data, alert.detected_at)
        title = "OI EXPLOSION"
    else:  # decode() admits only the two kinds; a new kind must get its own lines here
        raise ValueError(f"no message format for kind {alert.kind!r}")
    return fit(alert.symbol, title, required, details)


def fit(symbol: str, title: str, required: Sequence[str], details: Sequence[str], limit: int = MAX_LENGTH) -> str:
    """Join the lines, dropping detail lines from the end, then shortening the symbol, until it fits.

    `required` and `details` are already escaped; `symbol` is raw, so it is cut before escaping
    and an entity such as `&amp;` is never split.
    """
    kept = list(details)
    while True:
        text = _join(_title(symbol, title), required, kept)
        if utf16_len(text) <= limit or not kept:
            break
        kept.pop()
    if utf16_len(text) <= limit:
        return text
    low, high = 0, len(symbol)  # the longest prefix of the symbol that still fits
    while low < high:
        mid = (low + high + 1) // 2
        if utf16_len(_join(_title(symbol[:mid] + ELLIPSIS, title), required, [])) <= limit:
            low = mid
        else:
            high = mid - 1
    return _join(_title(symbol[:low] + ELLIPSIS, title), required, [])


def _title(symbol: str, title: str) -> str:
    return f"🚨 {escape(symbol)} {title}"


def _join(title: str, required: Sequence[str], details: Sequence[str]) -> str:
    lines = [title, *required]
    if details:
        lines += ["", *details]
    return "\n".join(lines)


def _liquidation_lines(d: Mapping[str, Any]) -> list[str]:
    return [
        f"⚡ {plural(d['count'], 'liquidation')} in {plural(d['window_s'], 'second')}",
        f"💰 Total: {usd(d['total_usd'])} liquidated",
        f"📉 {plural(d['long_count'], 'long')}, {plural(d['short_count'], 'short')}",
        "⚠️ Potential price impact expected",
    ]


def _liquidation_details(d: Mapping[str, Any]) -> list[str]:
    lines = []
    per_exchange: Mapping[str, Mapping[str, Any]] = d.get("per_exchange") or {}
    if per_exchange:  # `🏦 Binance 4 · Bybit 3 · OKX 0`, the order the alert lists them in
        lines.append("🏦 " + " · ".join(f"{exchange_name(name)} {f['count']}" for name, f in per_exchange.items()))
    sampled = d.get("sampled") or []
    if sampled:
        names = " and ".join(exchange_name(str(name)) for name in sampled)
        verb = "reports" if len(sampled) == 1 else "report"
        lines.append(f"ℹ️ Lower bound: {names} {verb} at most one liquidation per symbol per second")
    contributors = [name for name, f in per_exchange.items() if f["count"]] or [str(d["exchange"])]
    return [
        *lines,
        f"Longs {usd(d['long_usd'])} · Shorts {usd(d['short_usd'])} · Largest {usd(d['largest_usd'])}",
        f"{' + '.join(exchange_name(n) for n in contributors)} · {_clock(d['first_at'])}–{_clock(d['last_at'])} UTC",
    ]


def _oi_lines(d: Mapping[str, Any]) -> list[str]:
    return [
        f"📈 {pct(d['change_pct'])} increase in {plural(d['window_min'], 'minute')}",
        f"💰 {usd(d['before_usd'])} → {usd(d['after_usd'])} ({usd(d['after_usd'] - d['before_usd'], sign=True)})",
        f"🏦 {d['confirming']}/{d['exchanges_total']} exchanges confirming",
        "⚡ Institutional positioning detected",
    ]


def _oi_details(d: Mapping[str, Any], evaluated_at: str) -> list[str]:
    per_exchange: Mapping[str, Mapping[str, Any]] = d["per_exchange"]
    return [
        *(
            f"{exchange_name(name)} {pct(figures['change_pct'])} · "
            f"{usd(figures['before_usd'])} → {usd(figures['after_usd'])}"
            for name, figures in sorted(per_exchange.items())
        ),
        f"Open interest {_window(evaluated_at, d['window_min'])} UTC",
    ]


def escape(text: str) -> str:
    """Telegram's HTML mode needs `<`, `>` and `&` escaped outside tags; quotes may stay."""
    return html.escape(text, quote=False)


def exchange_name(name: str) -> str:
    return escape(EXCHANGE_NAMES.get(name.lower(), name))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def usd(amount: float, sign: bool = False) -> str:
    """`1_200_000` -> `$1.2M`, `2.1e9` -> `$2.1B`, `4e8` -> `$400M`, `25_000` -> `$25K`, `950` -> `$950`.

    Below 100 of a unit one decimal is kept (dropped when it is `.0`); from 100 on, whole units.
    A figure that rounds up to 1000 of a unit is shown in the next one (`999_960` -> `$1M`).
    `sign=True` writes `+` before a positive amount, as for a change.
    """
    prefix = "-" if amount < 0 else ("+" if sign and amount > 0 else "")
    value = abs(amount)
    if round(value) < 1000:
        return f"{prefix}${round(value)}"
    for unit, suffix in ((1e3, "K"), (1e6, "M"), (1e9, "B")):
        text = _mantissa(value / unit)
        if float(text) < 1000:
            return f"{prefix}${text}{suffix}"
    return f"{prefix}${_mantissa(value / 1e12)}T"


def pct(value: float) -> str:
    """`18` -> `+18%`, `2.34` -> `+2.3%`, `-4.06` -> `-4.1%`: one decimal at most, always signed."""
    text = _decimal(abs(value))
    return f"{'-' if value < 0 and text != '0' else '+'}{text}%"


def plural(count: float, noun: str) -> str:
    """`7 liquidations`, `1 long`, `30 seconds`, `1.5 seconds`."""
    text = _decimal(count)
    return f"{text} {noun}" if text == "1" else f"{text} {noun}s"


def _mantissa(value: float) -> str:
    return _decimal(value) if round(value, 1) < 100 else f"{value:.0f}"


def _decimal(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _window(end_iso: str, minutes: float) -> str:
    """The minutes an OI change spans, from 09:23 to 09:38 for 15 minutes up to 09:38."""
    try:
        end = parse_iso(end_iso)
    except ValueError:
        return f"{plural(minutes, 'minute')} to {escape(end_iso)}"
    return f"{(end - timedelta(minutes=minutes)).strftime('%H:%M')}–{end.strftime('%H:%M')}"


def _clock(iso: str) -> str:
    """`2025-10-22T09:38:13.270Z` -> `09:38:13`; a time that does not parse is shown escaped as it is."""
    try:
        return parse_iso(iso).strftime("%H:%M:%S")
    except ValueError:
        return escape(iso)
