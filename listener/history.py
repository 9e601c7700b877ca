"""Retained history: per-symbol ring buffers of qualifying liquidations, 8 bytes each.

A record is an event time in whole seconds (uint32, good until 2106) and the USD notional as a
float32 whose sign bit carries the side (negative = a long was liquidated). Two parallel `array`s
per symbol hold them with no per-record object, so a retained liquidation costs 8 bytes plus the
arrays' growth slack. A ring keeps the last `capacity` records, and counts only look back 24 h.
"""

from __future__ import annotations

import math
import sys
from array import array
from typing import Any

from cryptoalerts.cascade import Liquidation

HORIZON_S = 24 * 3600
WINDOWS: tuple[tuple[str, int], ...] = (("1m", 60), ("1h", 3600), ("24h", HORIZON_S))
RECORD_BYTES = array("I").itemsize + array("f").itemsize


class _Ring:
    __slots__ = ("next", "seconds", "usd")

    def __init__(self) -> None:
        self.seconds = array("I")
        self.usd = array("f")
        self.next = 0  # where the next record goes once the ring is full

    def add(self, second: int, signed_usd: float, capacity: int) -> None:
        if len(self.seconds) < capacity:
            self.seconds.append(second)
            self.usd.append(signed_usd)
            return
        self.seconds[self.next] = second
        self.usd[self.next] = signed_usd
        self.next = (self.next + 1) % capacity

    def nbytes(self) -> int:
        return sys.getsizeof(self.seconds) + sys.getsizeof(self.usd) + sys.getsizeof(self)


class History:
    """Qualifying liquidations per symbol: the last `capacity` of each, counted over 1 min, 1 h, 24 h.

    `max_symbols` bounds memory whatever the feed sends; the exchange lists a few hundred contracts.
    """

    def __init__(self, capacity: int = 4096, max_symbols: int = 1024) -> None:
        self.capacity = capacity
        self.max_symbols = max_symbols
        self._rings: dict[str, _Ring] = {}
        self.newest_ms = 0
        self.refused = 0  # records of symbols beyond max_symbols

    def add(self, liq: Liquidation) -> None:
        ring = self._rings.get(liq.symbol)
        if ring is None:
            if len(self._rings) >= self.max_symbols:
                self.refused += 1
                return
            ring = self._rings[liq.symbol] = _Ring()
        ring.add(liq.time_ms // 1000, -liq.usd if liq.is_long else liq.usd, self.capacity)
        if liq.time_ms > self.newest_ms:
            self.newest_ms = liq.time_ms

    def retained(self) -> int:
        return sum(len(r.seconds) for r in self._rings.values())

    def nbytes(self) -> int:
        """Bytes held by the records and their containers (the dict of rings included)."""
        return sys.getsizeof(self._rings) + sum(sys.getsizeof(s) + r.nbytes() for s, r in self._rings.items())

    def stats(self, now_ms: int | None = None) -> dict[str, Any]:
        """Counts and USD per symbol and side over the last 1 min, 1 h and 24 h.

        "Now" defaults to the newest event time seen, so the figures describe the stream as
        recorded (a replay of an old recording shows its own last day, not zeros).
        """
        now_s = (self.newest_ms if now_ms is None else now_ms) // 1000
        return {symbol: _ring_stats(ring, now_s) for symbol, ring in sorted(self._rings.items())}


def _ring_stats(ring: _Ring, now_s: int) -> dict[str, dict[str, float | int]]:
    # [long_count, long_usd, short_count, short_usd] per window.
    sums = [[0, 0.0, 0, 0.0] for _ in WINDOWS]
    for second, signed in zip(ring.seconds, ring.usd, strict=True):
        age = now_s - second
        is_long = math.copysign(1.0, signed) < 0
        usd = abs(signed)
        for i, (_name, span) in enumerate(WINDOWS):
            if age < span:
                bucket = sums[i]
                if is_long:
                    bucket[0] += 1
                    bucket[1] += usd
                else:
                    bucket[2] += 1
                    bucket[3] += usd
    return {
        name: {
            "long_count": int(s[0]),
            "long_usd": round(s[1], 2),
            "short_count": int(s[2]),
            "short_usd": round(s[3], 2),
        }
        for (name, _span), s in zip(WINDOWS, sums, strict=True)
    }
