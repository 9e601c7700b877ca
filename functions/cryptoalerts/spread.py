"""The cross-exchange spread of one symbol's price (pure).

The spread is (highest - lowest) / midpoint, in basis points (1 bp = 0.01 %), the midpoint being
halfway between the two: the distance a trader would cross buying on the cheapest exchange and
selling on the dearest, before fees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BPS = 10_000


@dataclass(frozen=True)
class Spread:
    bps: float
    highest: str  # the exchange with the highest price
    lowest: str


def spread(prices: Mapping[str, float]) -> Spread | None:
    """Over the exchanges that quoted a price; None with fewer than two."""
    usable = {name: p for name, p in prices.items() if p > 0}
    if len(usable) < 2:
        return None
    highest = max(usable, key=lambda n: (usable[n], n))
    lowest = min(usable, key=lambda n: (usable[n], n))
    high, low = usable[highest], usable[lowest]
    return Spread(bps=(high - low) / ((high + low) / 2) * BPS, highest=highest, lowest=lowest)
