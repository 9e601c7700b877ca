"""The liquidation feeds the listener can hold (architecture.md §2.3 `feeds.liquidations`, §2.4, §2.7).

One place for their names, in the order alerts and messages list them, and for which of them are
sampled: Binance's all-market stream and OKX's `liquidation-orders` report at most one liquidation
per symbol per second, so a total that includes them is a lower bound; Bybit's `allLiquidation`
reports every one.
"""

from __future__ import annotations

BINANCE = "binance"
BYBIT = "bybit"
OKX = "okx"
LIQUIDATION_FEEDS: tuple[str, ...] = (BINANCE, BYBIT, OKX)
SAMPLED = frozenset({BINANCE, OKX})
