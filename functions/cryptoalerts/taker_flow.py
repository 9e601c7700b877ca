"""Taker flow (pure): volume delta, cumulative volume delta (CVD) and divergence with price.

A taker buy is a market order lifting the ask; the delta of a period is taker buys minus taker
sells, in coins, and CVD is its running sum. This uses the exchanges' own taker volume (Binance
klines' taker buy volume, OKX's taker-volume statistics), never a guess from the candle's shape.

Divergence: over a span, price and CVD moving in opposite directions. Price up while takers sold
on balance (bearish: the rise is not carried by buying) or price down while they bought (bullish:
the fall is being absorbed). Small moves are noise, so both must clear a floor: the price must move
at least MIN_PRICE_MOVE_PCT and the delta must be at least MIN_IMBALANCE of the span's volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Literal

MIN_PRICE_MOVE_PCT = 0.2
MIN_IMBALANCE = 0.02  # |delta| / volume: 51 % buys vs 49 % sells

Divergence = Literal["bearish", "bullish"]


@dataclass(frozen=True)
class Flow:
    """Taker buys and sells (coins) in one period."""

    open_ms: int
    buy: float
    sell: float

    @property
    def delta(self) -> float:
        return self.buy - self.sell

    @property
    def volume(self) -> float:
        return self.buy + self.sell


def cvd(flows: Sequence[Flow]) -> list[float]:
    """The running sum of the deltas, oldest first."""
    return list(accumulate(f.delta for f in flows))


def delta(flows: Sequence[Flow], last: int) -> float:
    """The delta over the last `last` periods."""
    return sum(f.delta for f in flows[-last:]) if last > 0 else 0.0


def buy_share(flows: Sequence[Flow], last: int) -> float | None:
    """Taker buys as a share of taker volume over the last `last` periods (0.5 is balanced)."""
    window = flows[-last:] if last > 0 else []
    volume = sum(f.volume for f in window)
    return sum(f.buy for f in window) / volume if volume > 0 else None


def combine(*series: Sequence[Flow]) -> list[Flow]:
    """Several exchanges' flows summed per period; a period counts only where every series has it,
    so a gap on one exchange cannot pass for selling or buying."""
    if not series:
        return []
    by_open = [{f.open_ms: f for f in s} for s in series]
    common = sorted(set(by_open[0]).intersection(*by_open[1:]))
    return [Flow(t, sum(s[t].buy for s in by_open), sum(s[t].sell for s in by_open)) for t in common]


def price_change_pct(opens: Sequence[float], closes: Sequence[float], last: int) -> float | None:
    """Change from the open of the `last`-th newest period to the newest close, in %."""
    if last <= 0 or len(opens) < last or not closes or opens[-last] <= 0:
        return None
    return (closes[-1] / opens[-last] - 1) * 100


def divergence(price_pct: float | None, span_delta: float, span_volume: float) -> Divergence | None:
    if price_pct is None or span_volume <= 0 or abs(price_pct) < MIN_PRICE_MOVE_PCT:
        return None
    if abs(span_delta) / span_volume < MIN_IMBALANCE:
        return None
    if price_pct > 0 and span_delta < 0:
        return "bearish"
    if price_pct < 0 and span_delta > 0:
        return "bullish"
    return None
