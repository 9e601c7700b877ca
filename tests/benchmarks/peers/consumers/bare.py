"""The bare reference: websockets + orjson on plain asyncio; decode every frame and compute its
notional, nothing else. The least a correct consumer of the stream can do in Python.

Per exchange, what such a client must do anyway: Binance's all-market stream needs nothing but its
address; Bybit's needs every linear USDT perpetual subscribed (`allLiquidation.<SYMBOL>`, the list
read from `/v5/market/instruments-info` first); OKX's needs one subscription and the contract sizes
(`/api/v5/public/instruments`), as `sz` is in contracts. `--exchange all` holds the three
connections in one event loop, as the listener holds its three feeds in one process.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from peers.consumers.report import arguments, checkpoint

# A frame's notional in USD, or None for a message that carries no liquidation (an acknowledgement).
Notional = Callable[[str | bytes], float | None]


@dataclass
class Exchange:
    path: str
    notional: Notional
    subscribe: list[str] = field(default_factory=list)  # messages to send once connected


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def binance(_rest: str) -> Exchange:
    def notional(message: str | bytes) -> float:
        order = orjson.loads(message)["o"]
        return float(order["ap"]) * float(order["z"])

    return Exchange("/market/ws/!forceOrder@arr", notional)


def bybit(rest: str) -> Exchange:
    listed: list[str] = []
    cursor = ""
    while True:
        page = _get(f"{rest}/v5/market/instruments-info?category=linear&limit=1000&cursor={cursor}")
        result = page["result"]
        listed += [
            i["symbol"] for i in result["list"] if i["contractType"] == "LinearPerpetual" and i["quoteCoin"] == "USDT"
        ]
        cursor = result.get("nextPageCursor") or ""
        if not cursor:
            break
    topics = ["allLiquidation." + s for s in listed]
    subscribe = [
        json.dumps({"req_id": str(n), "op": "subscribe", "args": topics[i : i + 100]})
        for n, i in enumerate(range(0, len(topics), 100), 1)
    ]

    def notional(message: str | bytes) -> float | None:
        data = orjson.loads(message).get("data")
        if data is None:
            return None  # {"success":true,...,"op":"subscribe"}
        return sum(float(e["p"]) * float(e["v"]) for e in data)

    return Exchange("/v5/public/linear", notional, subscribe)


def okx(rest: str) -> Exchange:
    swaps = _get(f"{rest}/api/v5/public/instruments?instType=SWAP")["data"]
    sizes = {i["instId"]: float(i["ctVal"]) * float(i["ctMult"]) for i in swaps if i["ctType"] == "linear"}
    channel = {"channel": "liquidation-orders", "instType": "SWAP"}
    subscribe = [json.dumps({"id": "1", "op": "subscribe", "args": [channel]})]

    def notional(message: str | bytes) -> float | None:
        data = orjson.loads(message).get("data")
        if data is None:
            return None  # {"event":"subscribe",...}
        total = 0.0
        for item in data:
            size = sizes[item["instId"]]
            for d in item["details"]:
                total += float(d["bkPx"]) * float(d["sz"]) * size
        return total

    return Exchange("/ws/v5/public", notional, subscribe)


# One per exchange wire (peers/wire.py), given the server's https:// base.
EXCHANGES: dict[str, Callable[[str], Exchange]] = {"binance": binance, "bybit": bybit, "okx": okx}


class Progress:
    """Frames handled over every connection, and the checkpoints to report."""

    def __init__(self, checkpoints: list[int]) -> None:
        self.targets = iter(checkpoints)
        self.target = next(self.targets)
        self.count = 0
        self.total = 0.0

    def add(self, usd: float) -> None:
        self.total += usd
        self.count += 1
        if self.count == self.target:
            checkpoint(self.count, notional_usd=self.total)
            self.target = next(self.targets, -1)


async def read(ws: ClientConnection, exchange: Exchange, progress: Progress) -> None:
    for request in exchange.subscribe:
        await ws.send(request)
    notional = exchange.notional
    async for message in ws:
        usd = notional(message)
        if usd is not None:
            progress.add(usd)


async def run(base: str, exchange: str, checkpoints: list[int]) -> None:
    rest = base.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
    names = list(EXCHANGES) if exchange == "all" else [exchange]
    chosen = [EXCHANGES[name](rest) for name in names]
    progress = Progress(checkpoints)
    # The listener's connection settings: pings every 20 s, 1 MiB message limit.
    connections = [connect(base + e.path, ping_interval=20, ping_timeout=20, max_size=1 << 20) for e in chosen]
    sockets = [await c for c in connections]
    try:
        await asyncio.gather(*(read(ws, e, progress) for ws, e in zip(sockets, chosen, strict=True)))
    finally:
        for ws in sockets:
            await ws.close()


def main() -> None:
    args = arguments(__doc__)
    asyncio.run(run(args.url, args.exchange, args.checkpoints))


if __name__ == "__main__":
    main()
