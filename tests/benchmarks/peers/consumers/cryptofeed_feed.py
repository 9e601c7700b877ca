"""The cryptofeed reference: its own exchange class, pointed at the benchmark server, subscribed to
liquidations of every symbol the server lists, run by its FeedHandler as its users run it (uvloop,
its default). The callback adds each liquidation's notional (quantity x price, cryptofeed's Decimals).

Binance and Bybit only: cryptofeed 2.4.1 (and its main branch) never subscribes OKX's
`liquidation-orders` stream; its OKX class polls `/api/v5/public/liquidation-orders` over REST,
per instrument family, once a minute. So it has no part in an OKX run, and in an all-three run it
holds its Binance and Bybit feeds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from cryptofeed import FeedHandler
from cryptofeed.connection import RestEndpoint, WebsocketEndpoint
from cryptofeed.defines import LIQUIDATIONS
from cryptofeed.exchanges import BinanceFutures, Bybit
from cryptofeed.feed import Feed

from peers.consumers.report import arguments, checkpoint


def binance_futures(base: str) -> type[Feed]:
    """BinanceFutures with its addresses on the server: it reads `/fapi/v1/exchangeInfo` over https,
    then opens `wss://.../stream?streams=<symbol>@forceOrder/...` (combined streams, per symbol)."""
    rest = BinanceFutures.rest_endpoints[0]
    ws = BinanceFutures.websocket_endpoints[0]

    class LoopbackBinanceFutures(BinanceFutures):
        websocket_endpoints: ClassVar = [WebsocketEndpoint(base, options=ws.options)]
        rest_endpoints: ClassVar = [RestEndpoint(base.replace("wss://", "https://", 1), routes=rest.routes)]

    return LoopbackBinanceFutures


def bybit(base: str) -> type[Feed]:
    """Bybit with its addresses on the server: it reads `/v5/market/instruments-info` (linear and
    spot) over https, then opens `wss://.../v5/public/linear` and subscribes `liquidation.<SYMBOL>`
    one symbol a message (Bybit's legacy topic, which the server also serves)."""
    rest = Bybit.rest_endpoints[0]
    linear = Bybit.websocket_endpoints[0]

    class LoopbackBybit(Bybit):
        websocket_endpoints: ClassVar = [dataclasses.replace(linear, address=base + "/v5/public/linear", sandbox=None)]
        rest_endpoints: ClassVar = [RestEndpoint(base.replace("wss://", "https://", 1), routes=rest.routes)]

    return LoopbackBybit


# One per exchange wire (peers/wire.py): cryptofeed's class for it, given the server's base URL.
FEEDS: dict[str, Callable[[str], type[Feed]]] = {"binance": binance_futures, "bybit": bybit}


def main() -> None:
    args = arguments(__doc__)
    # `all`: every exchange cryptofeed streams, its feeds in one FeedHandler (one process, one loop).
    feed_classes = [make(args.url) for name, make in FEEDS.items() if args.exchange in (name, "all")]
    targets = iter(args.checkpoints)
    target = next(targets)
    count = 0
    total = Decimal(0)

    async def on_liquidation(liquidation: Any, receipt_timestamp: float) -> None:
        nonlocal count, total, target
        total += liquidation.quantity * liquidation.price
        count += 1
        if count == target:
            checkpoint(count, notional_usd=float(total))
            target = next(targets, -1)

    handler = FeedHandler(config={"uvloop": True, "log": {"filename": args.log or "/dev/null", "level": "WARNING"}})
    for feed_class in feed_classes:
        # Every contract the server lists; BinanceFutures adds a premium index per perpetual, which
        # has no liquidations (cryptofeed refuses them outside candles).
        symbols = [s for s in feed_class.symbols() if "PINDEX" not in s]
        feed = feed_class(symbols=symbols, channels=[LIQUIDATIONS], callbacks={LIQUIDATIONS: on_liquidation})
        handler.add_feed(feed)
    # FeedHandler.run() asks for the current loop, which uvloop >= 0.22 no longer creates on demand:
    # give it one (from the uvloop policy FeedHandler has just installed), as its users now must.
    asyncio.set_event_loop(asyncio.new_event_loop())
    handler.run()


if __name__ == "__main__":
    main()
