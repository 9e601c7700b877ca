"""Bybit's topics follow the instrument list on the open connections, even on one closing under them,
and the hourly refresh outlives a refresh that fails."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from websockets.exceptions import ConnectionClosedError

from listener.feeds.bybit import TOPIC_PREFIX, BybitFeed
from listener.settings import Settings
from listener.stream import Link

SETTINGS = Settings(ws_url="", queue_url="", thresholds_parameter="")


class ClosingConnection:
    """A connection the exchange has just closed: the stream has not noticed yet, every send fails."""

    async def send(self, text: str) -> None:
        raise ConnectionClosedError(None, None)


async def test_a_new_listing_while_the_connection_closes_is_kept_for_the_next_one() -> None:
    feed = BybitFeed(SETTINGS, lambda liq, at: None)
    await feed.watch([TOPIC_PREFIX + "BTCUSDT", TOPIC_PREFIX + "ETHUSDT"])  # not running: no connection yet
    (shard,) = feed.shards
    shard.stream._open.add(Link(ws=ClosingConnection(), number=1, opened_at=0.0, rotate_at=1e18))  # type: ignore[arg-type]
    # The hourly refresh: one listing new, one gone. Neither send reaches Bybit, and neither raises.
    await feed.watch([TOPIC_PREFIX + "BTCUSDT", TOPIC_PREFIX + "NEWUSDT"])
    assert shard.topics == [TOPIC_PREFIX + "BTCUSDT", TOPIC_PREFIX + "NEWUSDT"]  # what the next connection subscribes


async def test_the_hourly_refresh_goes_on_after_a_refresh_that_failed() -> None:
    feed = BybitFeed(replace(SETTINGS, instruments_refresh_s=0.01), lambda liq, at: None)
    calls = 0

    async def refresh() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in one refresh")
        return True

    feed._refresh = refresh  # type: ignore[method-assign]
    stop = asyncio.Event()
    refresher = asyncio.create_task(feed._refresh_every(stop))
    async with asyncio.timeout(5):
        while calls < 3:
            await asyncio.sleep(0.01)
    stop.set()
    await refresher  # ended by stop, not by the failure
