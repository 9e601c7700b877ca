"""Open-interest explosion detection (architecture.md §2.7). Pure: plain data in, plain data out.

An exchange's change over the window is OI(M) / OI(M - window) - 1 with OI in coins, so a move of
the price alone changes nothing. Each end is the snapshot of that minute or the nearest one within
±1 minute; otherwise the exchange does not count. An explosion is `min_exchanges` or more
exchanges rising by `change_pct` or more; one alert per episode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptoalerts.alert import Priority, priority_for
from cryptoalerts.thresholds import OiRule
from cryptoalerts.timeutil import MINUTE_MS

# How far (in minutes) a snapshot may sit from the minute it stands in for.
TOLERANCE_MIN = 1


@dataclass(frozen=True)
class Point:
    """One stored snapshot: open interest in coins and the mark price (USD per coin)."""

    oi: float
    mark_price: float

    @property
    def usd(self) -> float:
        return self.oi * self.mark_price


# Snapshots of one (symbol, exchange) by minute (epoch ms of the minute's start).
Series = Mapping[int, Point]


def minutes_needed(minute_ms: int, windows: Iterable[int]) -> list[int]:
    """The minutes an evaluation of `minute_ms` may read: M-1 and M for the newer end (M+1 does
    not exist yet when M is evaluated), and M-W-1 .. M-W+1 for each window W."""
    needed = {minute_ms - MINUTE_MS, minute_ms}
    for window in windows:
        start = minute_ms - window * MINUTE_MS
        needed.update(start + k * MINUTE_MS for k in range(-TOLERANCE_MIN, TOLERANCE_MIN + 1))
    return sorted(needed)


def nearest(series: Series, target_ms: int, latest_ms: int) -> tuple[int, Point] | None:
    """The snapshot of `target_ms`, else the nearest within ±1 minute, never later than `latest_ms`.

    At equal distance the later minute wins: it shortens the window rather than stretching it,
    which can only make a firing less likely, never more.
    """
    for offset in (0, *(k for d in range(1, TOLERANCE_MIN + 1) for k in (d, -d))):
        minute = target_ms + offset * MINUTE_MS
        if minute <= latest_ms and minute in series:
            return minute, series[minute]
    return None


@dataclass(frozen=True)
class ExchangeChange:
    exchange: str
    before: float  # coins
    after: float
    before_usd: float
    after_usd: float
    change_pct: float

    def to_data(self) -> dict[str, float]:
        return {
            "before": self.before,
            "after": self.after,
            "change_pct": round(self.change_pct, 4),
            "before_usd": round(self.before_usd, 2),
            "after_usd": round(self.after_usd, 2),
        }


def exchange_change(exchange: str, series: Series, minute_ms: int, window_min: int) -> ExchangeChange | None:
    """The exchange's change over the window ending at `minute_ms`, or None when it does not count."""
    after = nearest(series, minute_ms, latest_ms=minute_ms)
    before = nearest(series, minute_ms - window_min * MINUTE_MS, latest_ms=minute_ms)
    if after is None or before is None or before[0] >= after[0]:
        return None
    (_, old), (_, new) = before, after
    if old.oi <= 0:
        return None
    return ExchangeChange(
        exchange=exchange,
        before=old.oi,
        after=new.oi,
        before_usd=old.usd,
        after_usd=new.usd,
        change_pct=(new.oi - old.oi) * 100 / old.oi,  # exact at a whole-number boundary, unlike ratio - 1
    )


@dataclass(frozen=True)
class Evaluation:
    """The verdict for one symbol and minute, with the figures an alert carries."""

    symbol: str
    minute_ms: int
    rule: OiRule
    changes: tuple[ExchangeChange, ...]  # the exchanges that count (both ends present)
    exchanges_total: int

    @property
    def confirming(self) -> tuple[str, ...]:
        return self.confirming_at(self.rule.change_pct)

    @property
    def exploded(self) -> bool:
        return self.explodes_at(self.rule.change_pct)

    def confirming_at(self, change_pct: float) -> tuple[str, ...]:
        return tuple(c.exchange for c in self.changes if c.change_pct >= change_pct)

    def explodes_at(self, change_pct: float) -> bool:
        """The verdict this minute would get with another `change_pct` (the calibration asks it for
        every candidate threshold without measuring the changes again)."""
        return len(self.confirming_at(change_pct)) >= self.rule.min_exchanges

    @property
    def before_usd(self) -> float:
        return sum(c.before_usd for c in self.changes)

    @property
    def after_usd(self) -> float:
        return sum(c.after_usd for c in self.changes)

    @property
    def change_pct(self) -> float:
        """Aggregate change in coins over the exchanges that count (positions, like the rule)."""
        before = sum(c.before for c in self.changes)
        return (sum(c.after for c in self.changes) - before) * 100 / before if before > 0 else 0.0

    @property
    def priority(self) -> Priority:
        return priority_for(self.change_pct / self.rule.change_pct)

    def alert_data(self) -> dict[str, Any]:
        return {
            "window_min": self.rule.window_min,
            "change_pct": round(self.change_pct, 4),
            "before_usd": round(self.before_usd, 2),
            "after_usd": round(self.after_usd, 2),
            "confirming": len(self.confirming),
            "exchanges_total": self.exchanges_total,
            "per_exchange": {c.exchange: c.to_data() for c in self.changes},
        }


def evaluate(
    symbol: str,
    minute_ms: int,
    rule: OiRule,
    series_by_exchange: Mapping[str, Series],
    exchanges_total: int,
) -> Evaluation:
    changes = (exchange_change(ex, s, minute_ms, rule.window_min) for ex, s in sorted(series_by_exchange.items()))
    return Evaluation(
        symbol=symbol,
        minute_ms=minute_ms,
        rule=rule,
        changes=tuple(c for c in changes if c is not None),
        exchanges_total=exchanges_total,
    )


def should_alert(exploded: bool, episode_active: bool) -> bool:
    """One alert per episode: an explosion alerts only if the previous evaluation saw none."""
    return exploded and not episode_active
