"""Where things are in this repository: its root and the real market recordings in data/.

The recordings' provenance and quirks are in data/README.md; tests, benchmarks, the demo and the
backtest read them from here and from nowhere else (the repository stands alone).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
# Binance USD-M all-market liquidations, 2025-10-22 09:36-09:55 UTC (1,426 events).
BINANCE_LIQUIDATIONS = DATA_DIR / "binance_liquidations_2025-10-22.csv"
# BTCUSDT on Binance, 5-minute bars with open interest in USD, 2026-06-07..22, from Binance's REST API
# in the shape the code calls a "CoinGlass export" (data/README.md).
BTC_OPEN_INTEREST = DATA_DIR / "btc_binance_oi_5m_2026-06.csv"
