"""Liquidation-cascade detection (architecture.md §2.7): pure, driven by exchange event time only.

No I/O, no clock, no asyncio, no AWS: the listener feeds it live frames and the backtest feeds it a
recording, and both get the same alerts at any replay speed (architecture.md §2.6).

Rule: a watched symbol's liquidation qualifies at `ap x z >= min_usd`. A cascade fires the moment
the symbol has `cascade_count` qualifying liquidations with event times in (T - window_s, T], T being
the newest qualifying event time seen for it. One alert per episode: the symbol fires again only
after a gap of at least `window_s` between qualifying liquidations.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from cryptoalerts import alert
from cryptoalerts.thresholds import Thresholds
from cryptoalerts.timeutil import iso_ms

EXCHANGE = "binance"

# A window never needs more entries than the largest valid `cascade_count` (10,000) to decide;
# the margin keeps the figures exact during any realistic episode while bounding memory.
MAX_WINDOW_EVENTS = 20_000


@dataclass(slots=True)
class Liquidation:
    """One liquidation order, normalised. `identity` tells exact duplicates apart (see DuplicateFilter)."""

    symbol: str  # base asset (BTC, PEPE, 币安人生)
    is_long: bool  # a SELL liquidation order closes a long
    usd: float  # notional: average price x filled quantity
    time_ms: int  # exchange event time (o.T)
    identity: Hashable = None


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
        "exchange": EXCHANGE,
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
        # (event time ms, usd, is_long), sorted by event time.
        self.events: deque[tuple[int, float, bool]] = deque()
        self.newest_ms = newest_ms
        self.in_episode = False


class CascadeDetector:
    """Per-symbol sliding windows over qualifying liquidations.

    `thresholds` may be replaced at any time (live SSM edits); the next liquidation of each symbol is
    judged by the new rule. A symbol taken off the watch list stops alerting at once.
    """

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self._windows: dict[str, _SymbolWindow] = {}

    def observe(self, liq: Liquidation) -> Cascade | None:
        """Feed one liquidation; returns the cascade it completes, if any."""
        thresholds = self.thresholds
        symbol = liq.symbol
        if not thresholds.watches(symbol):
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
        _insert_sorted(events, (t, liq.usd, liq.is_long))
        while events[0][0] <= horizon:
            events.popleft()
        if state.in_episode or len(events) < rule.cascade_count:
            return None
        state.in_episode = True
        return _figures(symbol, state, rule.window_s, rule.min_usd, rule.cascade_count)


def _insert_sorted(events: deque[tuple[int, float, bool]], item: tuple[int, float, bool]) -> None:
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


def _figures(symbol: str, state: _SymbolWindow, window_s: float, min_usd: float, cascade_count: int) -> Cascade:
    long_count = short_count = 0
    long_usd = short_usd = largest = 0.0
    for _t, usd, is_long in state.events:
        if is_long:
            long_count += 1
            long_usd += usd
        else:
            short_count += 1
            short_usd += usd
        largest = max(largest, usd)
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
    )


class DuplicateFilter:
    """Remembers the identities of the most recent liquidations to drop exact repeats.

    Two overlapping connections (the proactive 24 h reconnect, or a recorder that had two open)
    deliver the same frame twice within seconds; `capacity` bounds memory while covering that span.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._seen: set[Hashable] = set()
        self._order: deque[Hashable] = deque()

    def is_duplicate(self, identity: Hashable) -> bool:
        if identity in self._seen:
            return True
        self._seen.add(identity)
        self._order.append(identity)
        if len(self._order) > self.capacity:
            self._seen.discard(self._order.popleft())
        return False
