"""Open-interest changes over several horizons, and how far a symbol is from its alert (pure).

For `/oi`: each exchange's change in coins (positions, not price) from the point nearest
`anchor - horizon` to the point nearest `anchor` of one series, whether the series is the
pipeline's minute snapshots or an exchange's own open-interest history. Both ends come from the
same series: exchanges and sources differ in what they count (Bybit reports both sides in some
fields), and a ratio within one series is the same either way.

The alert rule fires when `min_exchanges` exchanges rise by `change_pct` over `window_min`
(architecture.md §2.7); so the distance to it is set by the `min_exchanges`-th largest rise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptoalerts.thresholds import OiRule

HORIZONS_MIN = (15, 60, 240, 1440)
MINUTE_MS = 60_000

# time (epoch ms) -> open interest in coins
Series = Mapping[int, float]


def nearest(series: Series, target_ms: int, tolerance_ms: int, latest_ms: int) -> tuple[int, float] | None:
    """The point of `target_ms`, else the nearest within the tolerance, never after `latest_ms`;
    of two equally near, the later (a shorter span can only understate a change)."""
    best: tuple[int, float] | None = None
    for time_ms, coins in series.items():
        distance = abs(time_ms - target_ms)
        if time_ms > latest_ms or distance > tolerance_ms or coins <= 0:
            continue
        if best is None or (distance, -time_ms) < (abs(best[0] - target_ms), -best[0]):
            best = (time_ms, coins)
    return best


@dataclass(frozen=True)
class Change:
    before: float  # coins
    after: float
    before_ms: int
    after_ms: int

    @property
    def pct(self) -> float:
        return (self.after - self.before) * 100 / self.before


def change(series: Series, anchor_ms: int, minutes: int, tolerance_ms: int) -> Change | None:
    """The change over the `minutes` ending at `anchor_ms`; None without both ends."""
    after = nearest(series, anchor_ms, tolerance_ms, anchor_ms)
    before = nearest(series, anchor_ms - minutes * MINUTE_MS, tolerance_ms, anchor_ms)
    if after is None or before is None or before[0] >= after[0]:
        return None
    return Change(before[1], after[1], before[0], after[0])


def total(changes: Mapping[str, Change | None]) -> float | None:
    """The change of the sum over the exchanges with both ends, in % (the pipeline's aggregate)."""
    counted = [c for c in changes.values() if c is not None]
    before = sum(c.before for c in counted)
    return (sum(c.after for c in counted) - before) * 100 / before if before > 0 else None


@dataclass(frozen=True)
class Gap:
    """Where a symbol stands against its OI alert rule."""

    rule: OiRule
    deciding_pct: float | None  # the min_exchanges-th largest rise; None with too few exchanges
    confirming: int  # exchanges at or above the threshold

    @property
    def met(self) -> bool:
        return self.confirming >= self.rule.min_exchanges

    @property
    def points_short(self) -> float | None:
        """Percentage points the deciding exchange still has to rise (0 once the rule is met)."""
        if self.deciding_pct is None:
            return None
        return max(0.0, self.rule.change_pct - self.deciding_pct)


def gap(window_changes: Mapping[str, float | None], rule: OiRule) -> Gap:
    """`window_changes`: each exchange's change over the rule's window in % (None: not measured)."""
    rises = sorted((c for c in window_changes.values() if c is not None), reverse=True)
    deciding = rises[rule.min_exchanges - 1] if len(rises) >= rule.min_exchanges else None
    return Gap(rule, deciding, sum(1 for c in rises if c >= rule.change_pct))
