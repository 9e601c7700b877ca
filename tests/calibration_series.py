"""A synthetic open-interest history whose 15-minute rises follow a known distribution.

Positions sit at a flat level on every exchange; every fourth 5-minute bar one spike rises by `x`
percent on Binance, `1.1 x` on Bybit and `x / 2` on OKX, and the next bar is back at the level. So
each spike is one 15-minute window of its own (one episode), the rule "2 of 3 exchanges rise by
`change_pct`" fires on it exactly when `x >= change_pct`, and the alerts per day at any threshold is
the number of spikes at or above it. The spikes' sizes are the evenly spaced quantiles of an
exponential distribution, shuffled: the threshold that fires at most T times a day is its
(1 - T / spikes-per-day) quantile, known in closed form.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

BAR_MS = 300_000
DAY_MS = 86_400_000
SPIKE_EVERY = 4  # bars; a spike and the three flat bars after it make one window each
LEVEL = 100_000.0  # coins
PRICE = 50_000.0  # USD per coin
FACTOR = {"binance": 1.0, "bybit": 1.1, "okx": 0.5}


@dataclass(frozen=True)
class Synthetic:
    mean_pct: float  # of the exponential distribution of spike sizes
    spikes_per_day: float
    points: dict[str, list[tuple[int, float, float]]]  # exchange -> (bar open ms, coins, price)

    def quantile(self, p: float) -> float:
        """The exponential distribution's p-quantile, in percent."""
        return -self.mean_pct * math.log(1 - p)

    def threshold_for(self, per_day: float) -> float:
        """The change_pct above which the spikes fire `per_day` times a day on average."""
        return self.quantile(1 - per_day / self.spikes_per_day)


def spikes(end_ms: int, days: int, mean_pct: float = 2.0, seed: int = 7) -> Synthetic:
    """`days` of 5-minute bars ending before `end_ms` (aligned to 5 minutes), on all three exchanges."""
    end = end_ms - end_ms % BAR_MS
    bars = days * DAY_MS // BAR_MS
    first = end - bars * BAR_MS
    spike_bars = list(range(SPIKE_EVERY, bars, SPIKE_EVERY))
    sizes = [-mean_pct * math.log(1 - (i + 0.5) / len(spike_bars)) for i in range(len(spike_bars))]
    random.Random(seed).shuffle(sizes)
    size_at = dict(zip(spike_bars, sizes, strict=True))
    points: dict[str, list[tuple[int, float, float]]] = {ex: [] for ex in FACTOR}
    for bar in range(bars):
        x = size_at.get(bar, 0.0)
        for exchange, factor in FACTOR.items():
            points[exchange].append((first + bar * BAR_MS, LEVEL * (1 + factor * x / 100), PRICE))
    return Synthetic(mean_pct, DAY_MS / (SPIKE_EVERY * BAR_MS), points)
