"""A local WebSocket server speaking OKX v5's public stream, the `liquidation-orders` channel.

Real wire format at `/ws/v5/public`: `{"id","op":"subscribe","args":[{"channel":"liquidation-orders",
"instType":"SWAP"}]}` is answered `{"id","event":"subscribe","arg":{...},"connId":...}`; an unknown
channel or a malformed request `{"id","event":"error","code":"60012"|"60018","msg":...}`; the text
`ping` gets `pong`. `notice()` sends the service-upgrade notice OKX sends 60 s before it cuts
connections (`{"event":"notice","code":"64008",...}`). `refuse_subscriptions` makes every
subscription fail. Liquidations go to the connections subscribed to the channel:
`{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"instId","instFamily","instType",
"uly","details":[{"side","posSide","sz","bkPx","bkLoss","ccy","ts"}]}]}`, `sz` in contracts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import ServerConnection

from infra.fakes.ws_server import FakeExchangeWS, Send, serve_cli

PATH = "/ws/v5/public"
CHANNEL = "liquidation-orders"
ARG = {"channel": CHANNEL, "instType": "SWAP"}


def detail(
    side: str, contracts: str | float, price: str | float, time_ms: int, pos_side: str = "net"
) -> dict[str, Any]:
    """One liquidation as OKX lists it: `side` is the order's (`sell`: a long was liquidated)."""
    return {"bkLoss": "0", "bkPx": str(price), "ccy": "", "posSide": pos_side, "side": side, "sz": str(contracts),
            "ts": str(time_ms)}  # fmt: skip


def liquidation_frame(items: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> Send:
    """One push: (instId, details) per instrument."""
    data = [_item(inst_id, details) for inst_id, details in items]
    return Send(json.dumps({"arg": ARG, "data": data}, separators=(",", ":")), topic=CHANNEL)


def _item(inst_id: str, details: Sequence[dict[str, Any]]) -> dict[str, Any]:
    family = inst_id.rsplit("-", 1)[0]
    return {"details": list(details), "instFamily": family, "instId": inst_id, "instType": "SWAP", "uly": family}


def cascade_frames(
    inst_id: str,
    side: str,
    count: int,
    usd_each: float,
    start_ms: int,
    contract_size: float,
    spacing_ms: int = 1000,
    price: float = 100.0,
) -> list[Send]:
    """`count` liquidations of `usd_each` USD (`contract_size` coins a contract), one push each."""
    contracts = round(usd_each / price / contract_size, 8)
    return [
        liquidation_frame([(inst_id, [detail(side, contracts, price, start_ms + i * spacing_ms)])])
        for i in range(count)
    ]


class FakeOkxWS(FakeExchangeWS):
    path = PATH

    def __init__(self, *args: Any, refuse_subscriptions: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refuse_subscriptions = refuse_subscriptions
        self.subscribers: set[ServerConnection] = set()
        self.pings = 0
        self.subscribe_requests = 0

    def wants(self, ws: ServerConnection, topic: str | None) -> bool:
        return topic is None or (topic == CHANNEL and ws in self.subscribers)

    def notice(self) -> None:
        """The upgrade notice, to every connection."""
        msg = "The connection will soon be closed for a service upgrade. Please reconnect."
        self.feed(Send(json.dumps({"event": "notice", "code": "64008", "msg": msg, "connId": "fake"})))

    async def on_client_message(self, ws: ServerConnection, message: str | bytes) -> None:
        if message == "ping":
            self.pings += 1
            await ws.send("pong")
            return
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("op") not in ("subscribe", "unsubscribe"):
            await ws.send(json.dumps({"event": "error", "code": "60012", "connId": "fake",
                                      "msg": f"Invalid request: {str(message)[:100]}"}))  # fmt: skip
            return
        self.subscribe_requests += 1
        ident = {"id": request["id"]} if "id" in request else {}
        args = request.get("args") or []
        if self.refuse_subscriptions or args != [ARG]:
            await ws.send(json.dumps({**ident, "event": "error", "code": "60018", "connId": "fake",
                                      "msg": f"Wrong URL or channel:{args}, doesn't exist"}))  # fmt: skip
            return
        if request["op"] == "subscribe":
            self.subscribers.add(ws)
        else:
            self.subscribers.discard(ws)
        await ws.send(json.dumps({**ident, "event": request["op"], "arg": ARG, "connId": "fake"}))

    async def _handler(self, ws: ServerConnection) -> None:
        try:
            await super()._handler(ws)
        finally:
            self.subscribers.discard(ws)


# Instruments of the synthetic feed and their contract sizes (the REST fake's defaults list them).
SYNTHETIC_SWAPS = {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1, "SOL-USDT-SWAP": 1.0, "PEPE-USDT-SWAP": 10_000_000.0}


def synthetic_frames(count: int, start_ms: int) -> list[Send]:
    """`count` pushes, one to three instruments each with one or two details (benchmarks)."""
    names = list(SYNTHETIC_SWAPS)
    frames = []
    for i in range(count):
        items = []
        for k in range(1 + i % 3):
            inst = names[(i + k) % len(names)]
            details = [detail("sell" if (i + j) % 3 else "buy", 1 + (i + j) % 40, "100.0", start_ms + i * 7 + j)
                       for j in range(1 + (i + k) % 2)]  # fmt: skip
            items.append((inst, details))
        frames.append(liquidation_frame(items))
    return frames


def main() -> None:
    serve_cli(
        lambda args: FakeOkxWS(args.host, args.port, rate_per_s=args.rate),
        synthetic_frames,
        "A local WebSocket server speaking OKX's liquidation-orders channel.",
    )


if __name__ == "__main__":
    main()
