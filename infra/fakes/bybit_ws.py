"""A local WebSocket server speaking Bybit v5's public linear stream, `allLiquidation.<SYMBOL>`.

Real wire format at `/v5/public/linear`: `{"req_id","op":"subscribe","args":[topics]}` is answered
`{"success":true,"ret_msg":"","conn_id":...,"req_id":...,"op":"subscribe"}`; a request naming a
topic the exchange does not have is refused whole, `"success":false,"ret_msg":"error:handler not
found,topic:<topic>"` (as Bybit does), a topic already subscribed answers `error:already
subscribed,topic:<topic>`; `{"op":"ping"}` gets `{"success":true,"ret_msg":"pong",...,"op":"ping"}`.
Liquidations go only to connections subscribed to their topic, batched per symbol as Bybit batches
every 500 ms: `{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":ms,"data":[{"T","s","S","v","p"}]}`.

    server = await FakeBybitWS(symbols=["BTCUSDT", "ETHUSDT"]).start()
    server.feed(liquidation_frame("BTCUSDT", [entry("BTCUSDT", "Buy", "0.5", "64000", T0)]))
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from websockets.asyncio.server import ServerConnection

from infra.fakes.ws_server import FakeExchangeWS, Send, serve_cli

PATH = "/v5/public/linear"
TOPIC_PREFIX = "allLiquidation."


def entry(symbol: str, side: str, size: str | float, price: str | float, time_ms: int) -> dict[str, Any]:
    """One liquidation as Bybit lists it; `side` is the position's (`Buy`: a long was liquidated)."""
    return {"T": time_ms, "s": symbol, "S": side, "v": str(size), "p": str(price)}


def liquidation_frame(symbol: str, entries: Sequence[dict[str, Any]], ts: int | None = None) -> Send:
    """A batch of one symbol's liquidations, sent to the connections subscribed to its topic."""
    topic = TOPIC_PREFIX + symbol
    body = {"topic": topic, "type": "snapshot", "ts": ts or max(e["T"] for e in entries), "data": list(entries)}
    return Send(json.dumps(body, separators=(",", ":")), topic=topic)


def cascade_frames(
    symbol: str, side: str, count: int, usd_each: float, start_ms: int, spacing_ms: int = 1000, price: float = 100.0
) -> list[Send]:
    """`count` liquidations of `usd_each` USD, `spacing_ms` apart, one frame each."""
    size = round(usd_each / price, 8)
    return [
        liquidation_frame(symbol, [entry(symbol, side, size, price, start_ms + i * spacing_ms)]) for i in range(count)
    ]


class FakeBybitWS(FakeExchangeWS):
    path = PATH

    def __init__(self, *args: Any, symbols: Iterable[str] | None = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.symbols: set[str] | None = set(symbols) if symbols is not None else None  # None: any topic
        self.subscriptions: dict[ServerConnection, set[str]] = {}
        self.requests: list[dict[str, Any]] = []  # every subscribe/unsubscribe received
        self.pings = 0
        self.answer_subscriptions = True  # False: requests are taken and never answered (an overloaded exchange)
        self._conn_ids = itertools.count(1)

    def wants(self, ws: ServerConnection, topic: str | None) -> bool:
        return topic is None or topic in self.subscriptions.get(ws, ())

    def subscribed(self) -> set[str]:
        return {t for topics in self.subscriptions.values() for t in topics}

    async def on_client_message(self, ws: ServerConnection, message: str | bytes) -> None:
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            # Bybit answers garbage with an error and keeps the connection.
            await ws.send(json.dumps({"success": False, "ret_msg": "Failed to decode incoming data", "op": ""}))
            return
        op, req_id = request.get("op"), str(request.get("req_id", ""))
        reply: dict[str, Any] = {
            "success": True,
            "ret_msg": "",
            "conn_id": f"fake-{id(ws)}",
            "req_id": req_id,
            "op": op,
        }
        if op == "ping":
            self.pings += 1
            reply["ret_msg"] = "pong"
        elif op in ("subscribe", "unsubscribe"):
            self.requests.append(request)
            if not self.answer_subscriptions:
                return
            topics = [str(t) for t in request.get("args") or []]
            mine = self.subscriptions.setdefault(ws, set())
            listed = self.symbols
            unknown = [t for t in topics if listed is not None and t.removeprefix(TOPIC_PREFIX) not in listed]
            again = [t for t in topics if t in mine] if op == "subscribe" else []
            if unknown:  # the whole request fails, naming the first unknown topic
                reply.update(success=False, ret_msg=f"error:handler not found,topic:{unknown[0]}")
            elif again:
                reply.update(success=False, ret_msg=f"error:already subscribed,topic:{again[0]}")
                mine.update(topics)
            elif op == "subscribe":
                mine.update(topics)
            else:
                mine.difference_update(topics)
        else:
            reply.update(success=False, ret_msg="error:invalid op")
        await ws.send(json.dumps(reply, separators=(",", ":")))

    async def _handler(self, ws: ServerConnection) -> None:
        try:
            await super()._handler(ws)
        finally:
            self.subscriptions.pop(ws, None)


# Contracts of the synthetic feed: the recording's mix of names, sizes and sides (benchmarks).
SYNTHETIC_CONTRACTS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "1000PEPEUSDT", "DOGEUSDT", "XRPUSDT", "KDAUSDT", "WIFUSDT"]


def synthetic_frames(count: int, start_ms: int) -> list[Send]:
    """`count` frames as Bybit batches them: one to four liquidations of one symbol each."""
    sizes = [12.5, 480.0, 2_600.0, 27_000.0, 60_000.0, 150_000.0]
    frames = []
    for i in range(count):
        symbol = SYNTHETIC_CONTRACTS[i % len(SYNTHETIC_CONTRACTS)]
        entries = [
            entry(
                symbol,
                "Buy" if (i + k) % 3 else "Sell",
                f"{sizes[(i + k) % len(sizes)] / 100:.4f}",
                "100.0",
                start_ms + i * 7 + k,
            )
            for k in range(1 + i % 4)
        ]
        frames.append(liquidation_frame(symbol, entries))
    return frames


def main() -> None:
    def make(args: Any) -> FakeBybitWS:
        listed = [s for s in args.symbols.split(",") if s] or None
        return FakeBybitWS(args.host, args.port, rate_per_s=args.rate, symbols=listed)

    serve_cli(make, synthetic_frames, "A local WebSocket server speaking Bybit's allLiquidation topics.")


if __name__ == "__main__":
    main()
