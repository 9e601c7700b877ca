"""Valid alert `data` for tests: the architecture.md §2.5 seed messages' figures, overridable field by field."""

from __future__ import annotations

from typing import Any


def cascade_data(**overrides: Any) -> dict[str, Any]:
    return {
        "exchange": "binance",
        "window_s": 30,
        "count": 7,
        "total_usd": 1_234_567.0,
        "long_count": 5,
        "short_count": 2,
        "long_usd": 1_000_000.0,
        "short_usd": 234_567.0,
        "largest_usd": 400_000.0,
        "first_at": "2025-10-22T09:37:50.000Z",
        "last_at": "2025-10-22T09:38:13.270Z",
        **overrides,
    }


def oi_data(**overrides: Any) -> dict[str, Any]:
    per_exchange = {
        name: {"before": 100.0, "after": 118.0, "change_pct": 18.0, "before_usd": 7e8, "after_usd": 8.3e8}
        for name in ("binance", "bybit", "okx")
    }
    return {
        "window_min": 15,
        "change_pct": 18.0,
        "before_usd": 2.1e9,
        "after_usd": 2.5e9,
        "confirming": 3,
        "exchanges_total": 3,
        "per_exchange": per_exchange,
        **overrides,
    }
