"""The bare reference: websockets + orjson on plain asyncio; decode every frame and compute its
notional, nothing else. The least a correct consumer of the stream can do in Python."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
from websockets.asyncio.client import connect

from peers.consumers.report import arguments, checkpoint


def binance_notional(message: str | bytes) -> float:
    order = orjson.loads(message)["o"]
    return float(order["ap"]) * float(order["z"])


# One per exchange wire (peers/wire.py): the notional the frame carries, summed over its liquidations.
NOTIONAL: dict[str, Callable[[str | bytes], float]] = {"binance": binance_notional}


async def run(url: str, exchange: str, checkpoints: list[int]) -> None:
    notional = NOTIONAL[exchange]
    targets = iter(checkpoints)
    target = next(targets)
    count = 0
    total = 0.0
    # The listener's connection settings: pings every 20 s, 1 MiB message limit.
    async with connect(url, ping_interval=20, ping_timeout=20, max_size=1 << 20) as ws:
        async for message in ws:
            total += notional(message)
            count += 1
            if count == target:
                checkpoint(count, notional_usd=total)
                target = next(targets, -1)


def main() -> None:
    args = arguments(__doc__)
    asyncio.run(run(args.url, args.exchange, args.checkpoints))


if __name__ == "__main__":
    main()
