"""Volume profile (pure): how much traded at each price, its point of control, value area and VWAP.

- Rows: the price range is cut into rows of a "nice" step (1, 2, 2.5 or 5 times a power of ten)
  chosen from the range itself, so a coin at $0.00001 gets rows of $0.0000001 and BTC rows of
  $50: never a profile of rows shown as `$0`. Two profiles built on one grid line up row for row.
- Each bar's volume is spread evenly over the rows its low-high range covers (in proportion to
  the overlap); a bar that did not move puts it all in its close's row.
- POC (point of control): the row with the most volume. Several rows tied: the one nearest the
  middle of the traded range, and of two equally near, the lower.
- Value area: from the POC, repeatedly add the neighbouring row (above or below) with more volume,
  both when they are equal, until it holds VALUE_AREA_SHARE of the volume.
- VWAP: turnover / volume over the bars (the exchanges' own quote volume, so it is exact for the
  trades, not estimated from the candle).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

VALUE_AREA_SHARE = 0.70
ROWS = 32  # rows over the whole grid; a day usually spans fewer
# A row no narrower than this share of the price: a flat market still gets sensible rows.
MIN_STEP_SHARE = 1e-4
_NICE = (1.0, 2.0, 2.5, 5.0, 10.0)

Position = Literal["above", "inside", "below"]


class Candle(Protocol):
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...
    @property
    def quote_volume(self) -> float: ...


@dataclass(frozen=True)
class Grid:
    origin: float  # the lowest row's lower edge
    step: float
    rows: int

    def row(self, price: float) -> int:
        return min(self.rows - 1, max(0, math.floor((price - self.origin) / self.step)))

    def low(self, row: int) -> float:
        return self.origin + row * self.step

    def high(self, row: int) -> float:
        return self.origin + (row + 1) * self.step


def nice_step(span: float, rows: int) -> float:
    """The smallest 1/2/2.5/5 x 10^k step that covers `span` in at most `rows` rows."""
    if span <= 0 or rows <= 0:
        raise ValueError(f"need a positive span and row count, got {span} and {rows}")
    raw = span / rows
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in _NICE if m * power >= raw * (1 - 1e-12))
    return float(f"{step:.12g}")  # 2.5 x 1e-05, not 2.5000000000000004e-05


def grid(candles: Iterable[Candle], rows: int = ROWS) -> Grid | None:
    """A grid of nice rows over the candles' whole range; None without candles."""
    items = list(candles)
    if not items:
        return None
    low, high = min(c.low for c in items), max(c.high for c in items)
    step = nice_step(max(high - low, high * MIN_STEP_SHARE * rows), rows)
    origin = math.floor(low / step) * step
    return Grid(origin, step, math.floor((high - origin) / step) + 1)


@dataclass(frozen=True)
class Profile:
    grid: Grid
    volumes: tuple[float, ...]  # coins per row, lowest row first
    poc: int
    value_low: int  # lowest row of the value area
    value_high: int
    vwap: float | None

    @property
    def total(self) -> float:
        return sum(self.volumes)

    @property
    def poc_price(self) -> float:
        return (self.grid.low(self.poc) + self.grid.high(self.poc)) / 2

    @property
    def value_area_low(self) -> float:
        return self.grid.low(self.value_low)

    @property
    def value_area_high(self) -> float:
        return self.grid.high(self.value_high)

    def position(self, price: float) -> Position:
        if price > self.value_area_high:
            return "above"
        if price < self.value_area_low:
            return "below"
        return "inside"


def distribute(candles: Iterable[Candle], g: Grid) -> list[float]:
    volumes = [0.0] * g.rows
    for c in candles:
        if c.volume <= 0:
            continue
        if c.high <= c.low:
            volumes[g.row(c.close)] += c.volume
            continue
        for row in range(g.row(c.low), g.row(c.high) + 1):
            overlap = min(c.high, g.high(row)) - max(c.low, g.low(row))
            if overlap > 0:
                volumes[row] += c.volume * overlap / (c.high - c.low)
    return volumes


def point_of_control(volumes: Sequence[float]) -> int:
    traded = [i for i, v in enumerate(volumes) if v > 0]
    if not traded:
        raise ValueError("no volume: a profile has no point of control")
    middle = (traded[0] + traded[-1]) / 2
    top = max(volumes)
    return min((i for i in traded if volumes[i] == top), key=lambda i: (abs(i - middle), i))


def value_area(volumes: Sequence[float], poc: int, share: float = VALUE_AREA_SHARE) -> tuple[int, int]:
    """The (lowest, highest) row of the value area grown from `poc`."""
    target = share * sum(volumes)
    low = high = poc
    covered = volumes[poc]
    while covered < target * (1 - 1e-12) and (low > 0 or high < len(volumes) - 1):
        below = volumes[low - 1] if low > 0 else -1.0
        above = volumes[high + 1] if high < len(volumes) - 1 else -1.0
        if below >= above and low > 0:
            low -= 1
            covered += below
        if above >= below and high < len(volumes) - 1:
            high += 1
            covered += above
    return low, high


def vwap(candles: Iterable[Candle]) -> float | None:
    items = list(candles)
    volume = sum(c.volume for c in items)
    return sum(c.quote_volume for c in items) / volume if volume > 0 else None


def profile(candles: Sequence[Candle], g: Grid) -> Profile | None:
    """The profile of `candles` on grid `g`; None when nothing traded."""
    volumes = distribute(candles, g)
    if not any(v > 0 for v in volumes):
        return None
    poc = point_of_control(volumes)
    low, high = value_area(volumes, poc)
    return Profile(g, tuple(volumes), poc, low, high, vwap(candles))
