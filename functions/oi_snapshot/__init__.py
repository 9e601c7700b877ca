"""OiSnapshotFunction: every minute, open interest from Binance, Bybit and OKX into OiSnapshotTable."""
