"""`/alerts` (the newest alerts and what became of each) and `/status` (is the pipeline running:
newest stored snapshot per exchange, newest alert, queue depths)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commands.pipeline_reads import STATUS_LOOKBACK_MIN
from commands.replies.text import bold, clock, day_clock, duration, escape, exchange_name, finish
from cryptoalerts.alert import LIQUIDATION_CASCADE, OI_EXPLOSION
from cryptoalerts.telegram_format import pct, plural, usd
from cryptoalerts.timeutil import parse_iso, to_epoch_ms

KIND_NAMES = {LIQUIDATION_CASCADE: "liquidation cascade", OI_EXPLOSION: "OI explosion"}
STATUS_NAMES = {
    "delivered": "delivered",
    "duplicate": "duplicate, not sent again",
    "rate_limited": "held back by the hourly budget",
    "failed": "not delivered",
}
# A snapshot minute older than this means the OI pipeline has stopped for that exchange.
STALE_AFTER_MS = 3 * 60_000


def alerts_reply(items: Sequence[Mapping[str, Any]], days: int, now_ms: int) -> str:
    lines = [bold("🔔 Latest alerts") + f" · {clock(now_ms)}"]
    if not items:
        return finish([*lines, f"No alerts in the last {days} days."])
    for item in items:
        lines += ["", *_alert_lines(item)]
    return finish(lines)


def _alert_lines(item: Mapping[str, Any]) -> list[str]:
    kind = str(item.get("kind") or "")
    when = _when(item.get("recorded_at"))
    status = STATUS_NAMES.get(str(item.get("status")), escape(str(item.get("status"))))
    if item.get("status") == "failed" and item.get("error"):
        status += f" ({escape(str(item['error'])[:80])})"
    title = f"{escape(str(item.get('symbol') or '?'))} {KIND_NAMES.get(kind, escape(kind) or 'alert')}"
    priority = escape(str(item.get("priority") or ""))
    lines = [f"{when} · {bold(title)} · {priority}", status[:1].upper() + status[1:]]
    summary = summarise(kind, item.get("alert"))
    return [lines[0], summary, lines[1]] if summary else lines


def summarise(kind: str, body: Any) -> str | None:
    """One line of an alert's figures from its stored schema-1 body; None when it has none."""
    try:
        data = json.loads(body)["data"] if isinstance(body, str) else None
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        if kind == LIQUIDATION_CASCADE:
            return (
                f"{plural(data['count'], 'liquidation')} in {plural(data['window_s'], 'second')}, "
                f"{usd(data['total_usd'])} ({data['long_count']} long, {data['short_count']} short)"
            )
        if kind == OI_EXPLOSION:
            return (
                f"{pct(data['change_pct'])} in {plural(data['window_min'], 'minute')}, "
                f"{usd(data['before_usd'])} → {usd(data['after_usd'])}, "
                f"{data['confirming']}/{data['exchanges_total']} exchanges"
            )
    except (KeyError, TypeError, ValueError):
        return None
    return None


@dataclass
class Status:
    newest_minutes: dict[str, int | None] = field(default_factory=dict)  # exchange -> newest stored minute
    snapshots_error: str | None = None
    newest_alert: Mapping[str, Any] | None = None
    alerts_error: str | None = None
    queue: tuple[int, int] | None = None  # waiting, in flight
    dead_letters: int | None = None
    queue_error: str | None = None
    watching: tuple[str, ...] = ()


def status_reply(status: Status, exchanges: tuple[str, ...], now_ms: int) -> str:
    lines = [bold("🩺 Pipeline status") + f" · {clock(now_ms, seconds=True)}"]
    if status.snapshots_error:
        lines.append(f"OI snapshots: unavailable ({escape(status.snapshots_error)})")
    else:
        lines.append("OI snapshots, newest minute stored:")
        lines += [_snapshot_line(n, status.newest_minutes.get(n), now_ms) for n in exchanges]
    if status.alerts_error:
        lines.append(f"Newest alert: unavailable ({escape(status.alerts_error)})")
    elif status.newest_alert is None:
        lines.append("Newest alert: none in the last 7 days")
    else:
        item = status.newest_alert
        title = f"{escape(str(item.get('symbol')))} {KIND_NAMES.get(str(item.get('kind')), 'alert')}"
        lines.append(f"Newest alert: {_when(item.get('recorded_at'))} · {title} · {escape(str(item.get('status')))}")
    if status.queue_error or status.queue is None:
        lines.append(f"Queues: unavailable ({escape(status.queue_error or 'no answer')})")
    else:
        waiting, in_flight = status.queue
        dead = status.dead_letters
        warn = " ⚠️ see the runbook" if dead else ""
        lines.append(f"Alert queue: {waiting} waiting, {in_flight} in flight · dead letters: {dead}{warn}")
    if status.watching:
        lines.append(f"Watching {escape(', '.join(status.watching))}")
    return finish(lines)


def _snapshot_line(exchange: str, minute_ms: int | None, now_ms: int) -> str:
    if minute_ms is None:
        return f"{exchange_name(exchange)}: ⚠️ none stored in the last {STATUS_LOOKBACK_MIN} minutes"
    age = now_ms - minute_ms
    mark = "✅" if age <= STALE_AFTER_MS else f"⚠️ {duration(age)} old"
    return f"{exchange_name(exchange)}: {clock(minute_ms)} {mark}"


def _when(recorded_at: Any) -> str:
    try:
        return day_clock(to_epoch_ms(parse_iso(str(recorded_at))))
    except ValueError:
        return escape(str(recorded_at))
