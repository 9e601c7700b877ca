"""The liquidation feeds, one module per exchange: URL, subscriptions, keepalive, parser (architecture.md §2.7)."""

from __future__ import annotations

from listener.feed import Feed
from listener.feeds.binance import BinanceFeed
from listener.feeds.bybit import BybitFeed
from listener.feeds.okx import OkxFeed

FEEDS: dict[str, type[Feed]] = {feed.name: feed for feed in (BinanceFeed, BybitFeed, OkxFeed)}
