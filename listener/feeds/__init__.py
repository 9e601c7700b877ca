"""The liquidation feeds, one module per exchange: URL, subscriptions, keepalive, parser (architecture.md §2.7)."""

from __future__ import annotations

from listener.feed import Feed
from listener.feeds.binance import BinanceFeed

FEEDS: dict[str, type[Feed]] = {feed.name: feed for feed in (BinanceFeed,)}
