"""Funding of a perpetual (pure): the rate per interval, what it comes to over a year, and when
the next payment is due.

Exchanges quote the rate per funding interval (8 h usually; 4 h, 2 h or 1 h for many altcoins, and
each exchange sets its own), so rates are compared only once annualised. Annualised here is simple
(rate x payments per year), as the exchanges themselves display it, not compounded.
"""

from __future__ import annotations

HOURS_PER_YEAR = 24 * 365


def annualised_pct(rate: float, interval_h: float) -> float:
    """`0.0001` every 8 h -> 10.95 (% a year): 1,095 payments of 0.01 %."""
    if interval_h <= 0:
        raise ValueError(f"a funding interval must be positive, got {interval_h} h")
    return rate * (HOURS_PER_YEAR / interval_h) * 100


def time_to_next_ms(next_funding_ms: int, now_ms: int) -> int:
    """Milliseconds until the next payment; 0 when it is due (or the figure is stale)."""
    return max(0, next_funding_ms - now_ms)
