"""Liquidation-cascade detection (architecture.md §2.7): pure, driven by exchange event time only.

No I/O, no clock, no asyncio, no AWS: the listener feeds it live frames and the backtest feeds it a
recording, and both get the same alerts at any replay speed (architecture.md §2.6).

Rule: a watched symbol's liquidation qualifies at a notional of at least `min_usd`. A cascade fires
the moment the symbol has `cascade_count` qualifying liquidations, counted over every feed in
`feeds.liquidations` together, with event times in (T - window_s, T], T being the newest qualifying
event time seen for it. One alert per episode: the symbol fires again only after a gap of at least
`window_s` between qualifying liquidations. The alert says what each exchange saw, and which of the
contributing feeds are sampled (their figures are lower bounds).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from cryptoalerts import alert
from cryptoalerts.feeds import BINANCE, LIQUIDATION_FEEDS, SAMPLED
from cryptoalerts.thresholds import Thresholds
from cryptoalerts.timeutil import iso_ms

# `exchange` of an alert that more than one exchange contributed to (architecture.md §2.4).
MULTI = "multi"

# A window never needs more entries than the largest valid `cascade_count` (10,000) to decide;
# the margin keeps the figures exact during any realistic episode while bounding memory.
MAX_WINDOW_EVENTS = 20_000


@dataclass(slots=True)
class Liquidation:
    """One liquidation order, normalised. `identity` tells exact duplicates apart (see DuplicateFilter)."""

    symbol: str  # base asset (BTC, PEPE, 币安人生)
    is_long: bool  # a long position was liquidated
    usd: float  # notional in USD (architecture.md §2.7, per exchange)
    time_ms: int  # exchange event time (Binance o.T, Bybit T, OKX ts)
    identity: Hashable = None
    exchange: str = BINANCE  # the feed it came from (the seed's only feed is the default)


@dataclass(frozen=True, slots=True)
class ExchangeFigures:
    """What one exchange contributed to a window."""

    count: int = 0
    usd: float = 0.0
    long_usd: float = 0.0
    short_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class Cascade:
    """The figures of a window at the moment it fired."""

    symbol: str
    fired_at_ms: int  # T: the newest qualifying event time of the symbol when it fired
    window_s: float
    min_usd: float
    cascade_count: int
    count: int
    total_usd: float
    long_count: int
    short_count: int
    long_usd: float
    short_usd: float
    largest_usd: float
    first_ms: int
    last_ms: int
    # Every feed in `feeds.liquidations` when it fired (zeros included), and any other contributor.
    per_exchange: dict[str, ExchangeFigures] = field(default_factory=dict)

    @property
    def contributors(self) -> list[str]:
        return [name for name, figures in self.per_exchange.items() if figures.count]

    @property
    def exchange(self) -> str:
        """The one exchange that contributed, or `multi`."""
        contributors = self.contributors
        return contributors[0] if len(contributors) == 1 else MULTI

    @property
    def sampled(self) -> list[str]:
        """Contributing feeds that report at most one liquidation per symbol per second."""
        return [name for name in self.contributors if name in SAMPLED]

    @property
    def side(self) -> str:
        """The side that dominates by USD: "long" when liquidated longs (SELL orders) dominate."""
        return "long" if self.long_usd > self.short_usd else "short"

    @property
    def priority(self) -> alert.Priority:
        return alert.priority_for(self.total_usd / (self.cascade_count * self.min_usd))


def to_alert(cascade: Cascade) -> alert.Alert:
    """The schema-1 alert for a cascade (architecture.md §2.4)."""
    data: dict[str, Any] = {
        "exchange": cascade.exchange,
        "window_s": _plain_number(cascade.window_s),
        "count": cascade.count,
        "total_usd": round(cascade.total_usd, 2),
        "long_count": cascade.long_count,
        "short_count": cascade.short_count,
        "long_usd": round(cascade.long_usd, 2),
        "short_usd": round(cascade.short_usd, 2),
        "largest_usd": round(cascade.largest_usd, 2),
        "first_at": iso_ms(cascade.first_ms),
        "last_at": iso_ms(cascade.last_ms),
        "per_exchange": {
            name: {
                "count": f.count,
                "usd": round(f.usd, 2),
                "long_usd": round(f.long_usd, 2),
                "short_usd": round(f.short_usd, 2),
            }
            for name, f in cascade.per_exchange.items()
        },
        "sampled": cascade.sampled,
    }
    return alert.liquidation_cascade(cascade.symbol, cascade.fired_at_ms, cascade.side, cascade.priority, data)


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def qualifies(liq: Liquidation, thresholds: Thresholds) -> bool:
    """At or above the symbol's size floor (watched or not: the retained history keeps every symbol)."""
    return liq.usd >= thresholds.liquidation(liq.symbol).min_usd


class _SymbolWindow:
    __slots__ = ("events", "in_episode", "newest_ms")

    def __init__(self, newest_ms: int) -> None:
        # (event time ms, usd, is_long, exchange), sorted by event time.
        self.events: deque[tuple[int, float, bool, str]] = deque()
        self.newest_ms = newest_ms
        self.in_episode = False


class CascadeDetector:
    """Per-symbol sliding windows over qualifying liquidations.

    `thresholds` may be replaced at any time (live SSM edits); the next liquidation of each symbol is
    judged by the new rule. A symbol taken off the watch list stops alerting at once, and so does a
    feed taken out of `feeds.liquidations`.
    """

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self._windows: dict[str, _SymbolWindow] = {}

    def observe(self, liq: Liquidation) -> Cascade | None:
        """Feed one liquidation; returns the cascade it completes, if any."""
        thresholds = self.thresholds
        symbol = liq.symbol
        if not thresholds.watches(symbol) or liq.exchange not in thresholds.feeds:
            return None
        rule = thresholds.liquidation(symbol)
        if liq.usd < rule.min_usd:
            return None
        window_ms = rule.window_s * 1000
        t = liq.time_ms
        state = self._windows.get(symbol)
        if state is None:
            state = self._windows[symbol] = _SymbolWindow(t)
        elif t - state.newest_ms >= window_ms:
            # A gap of at least window_s: the episode (if any) is over and the window holds nothing.
            state.events.clear()
            state.in_episode = False
            state.newest_ms = t
        elif t > state.newest_ms:
            state.newest_ms = t
        horizon = state.newest_ms - window_ms
        if t <= horizon:
            return None  # arrived out of order, already outside the window
        events = state.events
        _insert_sorted(events, (t, liq.usd, liq.is_long, liq.exchange))
        while events[0][0] <= horizon:
            events.popleft()
        if state.in_episode or len(events) < rule.cascade_count:
            return None
        state.in_episode = True
        return _figures(symbol, state, rule.window_s, rule.min_usd, rule.cascade_count, thresholds.feeds)


def _insert_sorted(events: deque[tuple[int, float, bool, str]], item: tuple[int, float, bool, str]) -> None:
    if len(events) >= MAX_WINDOW_EVENTS:
        events.popleft()
    if not events or item[0] >= events[-1][0]:
        events.append(item)
        return
    # Out of order (the real feed has 1 ms inversions): walk back from the newest end.
    i = len(events) - 1
    while i > 0 and events[i - 1][0] > item[0]:
        i -= 1
    events.insert(i, item)


def _figures(
    symbol: str, state: _SymbolWindow, window_s: float, min_usd: float, cascade_count: int, feeds: tuple[str, ...]
) -> Cascade:
    long_count = short_count = 0
    long_usd = short_usd = largest = 0.0
    # [count, long_usd, short_usd] per exchange: the enabled feeds first, in their canonical order.
    sums: dict[str, list[float]] = {name: [0, 0.0, 0.0] for name in feeds}
    for _t, usd, is_long, exchange in state.events:
        figures = sums.get(exchange)
        if figures is None:  # a feed turned off while its liquidations were still in the window
            figures = sums[exchange] = [0, 0.0, 0.0]
        figures[0] += 1
        if is_long:
            long_count += 1
            long_usd += usd
            figures[1] += usd
        else:
            short_count += 1
            short_usd += usd
            figures[2] += usd
        largest = max(largest, usd)
    order = {name: i for i, name in enumerate(LIQUIDATION_FEEDS)}
    per_exchange = {
        name: ExchangeFigures(int(c), lu + su, lu, su)
        for name, (c, lu, su) in sorted(sums.items(), key=lambda kv: order.get(kv[0], len(order)))
    }
    return Cascade(
        symbol=symbol,
        fired_at_ms=state.newest_ms,
        window_s=window_s,
        min_usd=min_usd,
        cascade_count=cascade_count,
        count=long_count + short_count,
        total_usd=long_usd + short_usd,
        long_count=long_count,
        short_count=short_count,
        long_usd=long_usd,
        short_usd=short_usd,
        largest_usd=largest,
        first_ms=state.events[0][0],
        last_ms=state.events[-1][0],
        per_exchange=per_exchange,
    )


class DuplicateFilter:
    """Remembers the identities of the most recent liquidations to drop exact repeats.

    Two overlapping connections (the proactive 24 h reconnect, or a recorder that had two open)
    deliver the same frame twice, the twins apart by the difference of the two connections' delays,
    well under a second. `capacity` bounds memory while covering that lag: 1024 liquidations a feed
    span 1.7 s even at Binance's ceiling (one per contract per second, some 600 contracts) and
    minutes at ordinary rates; a larger one costs resident memory on every feed (0.3 MB per feed
    at 4096, docs/benchmarks.md, listener memory) for twins that arrive sooner.
    It keeps the identities' 64-bit hashes, not the identities (a tuple of the frame's strings costs
    some 300 bytes, its hash 32): telling two different liquidations apart would take a hash
    collision among the last `capacity`, less than one chance in 10^12.

    The last `capacity` hashes are split over two sets: `_newer` only gains hashes, `_older` only
    loses them as they age out, and when `_older` is empty the two change places. One set that both
    gains and loses members keeps growing its table (each removal leaves a placeholder, and the
    next table is sized at four times the members); two sets that each only gain or only lose keep
    the table of their size.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._newer: set[int] = set()
        self._older: set[int] = set()
        self._order: deque[int] = deque()  # every remembered hash, oldest first

    def is_duplicate(self, identity: Hashable) -> bool:
        key = hash(identity)
        if key in self._newer or key in self._older:
            return True
        self._newer.add(key)
        order = self._order
        order.append(key)
        if len(order) > self.capacity:
            if not self._older:  # every remembered hash is in _newer: it becomes the one that loses them
                self._older, self._newer = self._newer, set()
            self._older.discard(order.popleft())
        return False
