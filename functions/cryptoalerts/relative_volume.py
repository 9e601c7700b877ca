"""Relative volume (pure): a bar's volume against the usual volume of the same time of day.

Volume has a strong daily rhythm (the US open is busier than 03:00 UTC), so a bar is compared
with the bars that opened at the same time on each of the previous `days` days, not with the
bars just before it. For daily bars that is simply the previous `days` days. 3.4x means 3.4 times
the mean of those bars. The current bar is compared by its pace: its volume so far scaled to the
whole bar, shown only once enough of the bar has passed to mean something.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import fmean

DAY_MS = 86_400_000
BASELINE_DAYS = 7
# Before this share of a bar has passed, its pace says more about chance than about the market.
MIN_PACE_FRACTION = 0.2


def baseline(volumes: Mapping[int, float], open_ms: int, days: int = BASELINE_DAYS) -> list[float]:
    """The volumes of the bars that opened at the same time of day on each of the previous `days`
    days (those present in `volumes`, keyed by open time)."""
    return [volumes[t] for k in range(1, days + 1) if (t := open_ms - k * DAY_MS) in volumes]


def relative(volume: float, usual: Sequence[float]) -> float | None:
    """`volume` / mean of `usual`; None without a baseline (or one of nothing traded)."""
    if not usual:
        return None
    mean = fmean(usual)
    return volume / mean if mean > 0 else None


def pace(volume_so_far: float, elapsed_fraction: float, usual: Sequence[float]) -> float | None:
    """The current bar's relative volume if it keeps trading at its pace so far."""
    if elapsed_fraction < MIN_PACE_FRACTION:
        return None
    return relative(volume_so_far / min(1.0, elapsed_fraction), usual)
