"""The market the fake exchanges serve to the commands: 5-minute bars and open interest at any time,
built from the real BTC recording in data/ (price OHLC, open interest, CVD; 15 days).

- Time: the recording's last bar is the bar forming when the tape was made; earlier slots walk back
  through it, and beyond its 15 days (or after it, as time passes) it repeats, each repetition scaled
  so prices and open interest join without a jump. Every request sees one consistent history.
- Level: each symbol follows the recording's shape scaled to its current mark price and open
  interest (what the snapshot endpoints serve), so a command's figures agree with the OI pipeline's.
  ETH, SOL and the rest move like BTC did: a fake's simplification, stated here.
- Volume is not in the recording: a 5-minute bar trades a share of the open interest, more in
  busy hours (the UTC day's rhythm) and in bars with a wide range. Taker buys follow the recording's
  own CVD: the bar's buy share is 50 % moved by its CVD step. Each exchange trades its own share.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from statistics import median

from infra.repo import BTC_OPEN_INTEREST

SLOT_MS = 300_000
# Coins traded per 5 minutes as a share of open interest (BTC on Binance: about 0.6 %: 80,000 BTC
# open, some 500 BTC a bar, $8B a day: the order of the real market).
TURNOVER_PER_SLOT = 0.006
EXCHANGE_SHARE = {"binance": 1.0, "bybit": 0.45, "okx": 0.35}
# Each exchange's price sits a hair from the others', so the spread is not always zero.
EXCHANGE_BASIS = {"binance": 1.0, "bybit": 1.00012, "okx": 0.99991}
# Busy and quiet hours of the UTC day (Asia morning, Europe, US open peak), as a volume factor.
HOURLY = (0.8, 0.7, 0.7, 0.8, 0.8, 0.7, 0.7, 0.9, 1.0, 1.0, 1.0, 1.0,
          1.1, 1.3, 1.6, 1.5, 1.3, 1.2, 1.0, 0.9, 0.9, 0.9, 0.8, 0.8)  # fmt: skip


@dataclass(frozen=True)
class Recorded:
    """The recording as arrays, one entry per 5-minute bar."""

    open: tuple[float, ...]
    high: tuple[float, ...]
    low: tuple[float, ...]
    close: tuple[float, ...]
    oi_coins: tuple[float, ...]
    cvd_step: tuple[float, ...]  # the bar's CVD change
    funding: tuple[float, ...]  # the funding rate in force (per 8 h)
    median_range: float  # of (high - low) / open
    median_cvd_step: float  # of |cvd_step|

    @property
    def bars(self) -> int:
        return len(self.close)


@cache
def recorded(path: Path = BTC_OPEN_INTEREST) -> Recorded:
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    o, h, lo, c = ([float(r[k]) for r in rows] for k in ("price_open", "price_high", "price_low", "price_close"))
    coins = [float(r["oi_close"]) / float(r["price_close"]) for r in rows]  # the export gives USD: see data/README
    cvd = [float(r["cvd_close"]) for r in rows]
    funding = tuple(float(r["funding_close"]) for r in rows)
    steps = [0.0, *(b - a for a, b in pairwise(cvd))]
    ranges = [(hh - ll) / oo for oo, hh, ll in zip(o, h, lo, strict=True)]
    return Recorded(tuple(o), tuple(h), tuple(lo), tuple(c), tuple(coins), tuple(steps), funding, median(ranges),
                    median(abs(s) for s in steps if s) or 1.0)  # fmt: skip


@dataclass(frozen=True)
class Slot:
    """One 5-minute bar of one symbol on one exchange: prices in USD per coin, sizes in coins."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    taker_buy: float
    oi: float

    @property
    def quote_volume(self) -> float:
        # Trades spread over the bar's range; its typical price is the usual stand-in for the VWAP.
        return self.volume * (self.high + self.low + self.close) / 3


class Tape:
    """The recording laid out on the time axis, its last bar at `anchor_ms`'s slot."""

    def __init__(self, anchor_ms: int, data: Recorded | None = None) -> None:
        self.data = data or recorded()
        self.anchor_slot = anchor_ms // SLOT_MS
        # Repetitions join: the next one starts where the last ended.
        self._price_step = self.data.close[-1] / self.data.open[0]
        self._oi_step = self.data.oi_coins[-1] / self.data.oi_coins[0]

    def _index(self, slot: int) -> tuple[int, int]:
        k = slot - self.anchor_slot + self.data.bars - 1
        return k % self.data.bars, k // self.data.bars  # (bar of the recording, repetition)

    def slot(self, slot: int, mark: float, oi: float, now_slot: int, exchange: str, volume_factor: float = 1.0) -> Slot:
        """Slot `slot` scaled so that the slot `now_slot` closes at `mark` with `oi` coins open."""
        i, repetition = self._index(slot)
        d = self.data
        price_scale = mark * EXCHANGE_BASIS.get(exchange, 1.0) / self._close_at(now_slot)
        p = self._price_step**repetition * price_scale
        oi_here = d.oi_coins[i] * self._oi_step**repetition * oi / self._oi_at(now_slot)
        wide = (d.high[i] - d.low[i]) / d.open[i] / d.median_range
        hour = (slot * SLOT_MS // 3_600_000) % 24
        volume = oi * TURNOVER_PER_SLOT * EXCHANGE_SHARE.get(exchange, 0.3) * HOURLY[hour] * (0.5 + 0.5 * wide)
        volume *= volume_factor
        buy_share = 0.5 + 0.12 * math.tanh(d.cvd_step[i] / d.median_cvd_step)
        return Slot(slot * SLOT_MS, d.open[i] * p, d.high[i] * p, d.low[i] * p, d.close[i] * p, volume,
                    volume * buy_share, oi_here)  # fmt: skip

    def funding(self, slot: int) -> float:
        return self.data.funding[self._index(slot)[0]]

    def _close_at(self, slot: int) -> float:
        i, repetition = self._index(slot)
        return self.data.close[i] * self._price_step**repetition

    def _oi_at(self, slot: int) -> float:
        i, repetition = self._index(slot)
        return self.data.oi_coins[i] * self._oi_step**repetition


@dataclass(frozen=True)
class Candle:
    """Slots merged into one bar of a longer interval."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    taker_buy: float


def merge(slots: list[Slot], open_ms: int, fraction_of_last: float = 1.0) -> Candle:
    """One bar from its 5-minute slots; the newest slot counts `fraction_of_last` of its volume
    (a bar still trading has traded only part of it)."""
    scale = [1.0] * (len(slots) - 1) + [fraction_of_last]
    return Candle(
        open_ms,
        slots[0].open,
        max(s.high for s in slots),
        min(s.low for s in slots),
        slots[-1].close,
        sum(s.volume * f for s, f in zip(slots, scale, strict=True)),
        sum(s.quote_volume * f for s, f in zip(slots, scale, strict=True)),
        sum(s.taker_buy * f for s, f in zip(slots, scale, strict=True)),
    )
