"""A local WebSocket server speaking Binance USD-M's liquidation stream (`!forceOrder@arr`).

Real wire format (frames as Binance sends them, plain or in the combined-stream envelope), served
at the routed path `/market/ws/!forceOrder@arr`. A feed of steps drives it: frames (the real
recording, scripted cascades, garbage) and faults (drop every connection, go silent, refuse
connections for a while). Like the exchange, it broadcasts each frame to every open connection,
so two overlapping connections both see it; unlike the exchange, it holds the feed while no client
is connected, so a test can assert that every frame was delivered and every alert arrived once.
`max_connection_age_s` cuts each connection at a (time-compressed) 24 h mark.

    server = await FakeBinanceWS(max_connection_age_s=2).start()
    server.feed(*cascade_frames("BTCUSDT", ...), Drop(), Garbage("not json"), Silence(1.5))
    await server.drained()
    await server.stop()

`python -m infra.fakes.binance_ws --replay data/binance_liquidations_2025-10-22.csv`
serves the recording for the local stack and the benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from cryptoalerts.timeutil import parse_iso, to_epoch_ms

PATH = "/market/ws/!forceOrder@arr"
STREAM = "!forceOrder@arr"
# The recording spans about 18.5 minutes; a looped replay moves on by 20 each round.
RECORDING_SPAN_MS = 20 * 60_000


# ---------------------------------------------------------------- frames in Binance's format
def frame(contract: str, side: str, price: str | float, qty: str | float, time_ms: int, *, wrap: bool = False) -> str:
    """A forceOrder frame; prices and quantities as strings, as Binance sends them."""
    p, q = str(price), str(qty)
    payload = {
        "e": "forceOrder",
        "E": time_ms,
        "o": {
            "s": contract,
            "S": side,
            "o": "LIMIT",
            "f": "IOC",
            "q": q,
            "p": p,
            "ap": p,
            "X": "FILLED",
            "l": q,
            "z": q,
            "T": time_ms,
        },
    }
    if wrap:
        return json.dumps({"stream": STREAM, "data": payload}, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def recording_frames(csv_path: Path | str, *, wrap: bool = False, shift_ms: int = 0) -> list[str]:
    """The recording's rows rebuilt as frames (its README says how), in recorded order."""
    with open(csv_path, encoding="utf-8", newline="") as fh:
        return [
            frame(
                row["symbol"],
                row["side"],
                row["avg_price"],
                row["filled_qty"],
                to_epoch_ms(parse_iso(row["timestamp"])) + shift_ms,
                wrap=wrap,
            )
            for row in csv.DictReader(fh)
        ]


def looped_recording_frames(csv_path: Path | str, count: int, *, first_round: int = 0, wrap: bool = False) -> list[str]:
    """`count` frames of the recording replayed round after round, from round `first_round` on.

    Each round is shifted by the recording's span (`first_round` may be negative: earlier), so a
    looped replay is new liquidations, not repeats that the listener's duplicate filter would drop.
    """
    frames: list[str] = []
    round_ = first_round
    while len(frames) < count:
        frames.extend(recording_frames(csv_path, wrap=wrap, shift_ms=round_ * RECORDING_SPAN_MS))
        round_ += 1
    return frames[:count]


def cascade_frames(
    contract: str,
    side: str,
    count: int,
    usd_each: float,
    start_ms: int,
    spacing_ms: int = 1000,
    price: float = 100.0,
    *,
    wrap: bool = False,
) -> list[str]:
    """`count` liquidations of `usd_each` USD, `spacing_ms` apart."""
    qty = round(usd_each / price, 8)
    return [frame(contract, side, price, qty, start_ms + i * spacing_ms, wrap=wrap) for i in range(count)]


# ---------------------------------------------------------------- feed steps
@dataclass(frozen=True)
class Send:
    """One WebSocket message (text or binary), broadcast to every open connection."""

    payload: str | bytes


@dataclass(frozen=True)
class Garbage(Send):
    """A message that is not a usable frame (kept apart so tests read clearly)."""


@dataclass(frozen=True)
class Drop:
    """Abort every open connection without a close frame (a reset)."""


@dataclass(frozen=True)
class Silence:
    """Send nothing for `seconds` while connections stay open (pings still answered)."""

    seconds: float


@dataclass(frozen=True)
class Refuse:
    """Close the listening socket (and every connection) for `seconds`: connects are refused."""

    seconds: float


Step = Send | Drop | Silence | Refuse


class FakeBinanceWS:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_connection_age_s: float | None = None,
        ping_interval_s: float | None = None,
        rate_per_s: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.max_connection_age_s = max_connection_age_s
        self.ping_interval_s = ping_interval_s
        self.rate_per_s = rate_per_s
        self._server: Server | None = None
        self._steps: asyncio.Queue[Step] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._clients: set[ServerConnection] = set()
        self._client_present = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._cutters: set[asyncio.Task[None]] = set()
        self.connections_accepted = 0
        self.messages_sent = 0  # messages handed to at least one connection
        self.deliveries = 0  # messages x connections
        self.cuts = 0

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{PATH}"

    @property
    def open_connections(self) -> int:
        return len(self._clients)

    async def start(self) -> FakeBinanceWS:
        await self._listen()
        self._pump = asyncio.create_task(self._run_feed(), name="fake-binance-feed")
        return self

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        for task in list(self._cutters):
            task.cancel()
        await self._close_listener()

    def feed(self, *steps: Step | str | bytes | Iterable[Step | str | bytes]) -> None:
        """Queue steps; a str/bytes is a message. Lists of either are flattened."""
        for step in _flatten(steps):
            self._idle.clear()
            self._steps.put_nowait(Send(step) if isinstance(step, str | bytes) else step)

    async def drained(self, timeout: float = 30) -> None:
        """Wait until every queued step has been carried out."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def wait_for_clients(self, count: int = 1, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while len(self._clients) < count:
                await asyncio.sleep(0.01)

    # ---------------------------------------------------------------- internals
    async def _listen(self) -> None:
        self._server = await serve(
            self._handler,
            self.host,
            self.port,
            ping_interval=self.ping_interval_s,
            compression=None,
            process_request=self._check_path,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._clients.clear()
        self._client_present.clear()

    def _check_path(self, connection: ServerConnection, request: Any) -> Any:
        if request.path.split("?", 1)[0] not in (PATH, "/ws/!forceOrder@arr", "/market/stream", "/stream"):
            return connection.respond(404, "unknown stream\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections_accepted += 1
        self._clients.add(ws)
        self._client_present.set()
        if self.max_connection_age_s is not None:
            task = asyncio.create_task(self._cut_at_age(ws))
            self._cutters.add(task)
            task.add_done_callback(self._cutters.discard)
        try:
            await ws.wait_closed()
        finally:
            self._clients.discard(ws)
            if not self._clients:
                self._client_present.clear()

    async def _cut_at_age(self, ws: ServerConnection) -> None:
        assert self.max_connection_age_s is not None
        await asyncio.sleep(self.max_connection_age_s)
        if ws in self._clients:
            self.cuts += 1
            await ws.close(code=1000, reason="24 h connection limit")

    async def _run_feed(self) -> None:
        interval = 1 / self.rate_per_s if self.rate_per_s else 0.0
        while True:
            if self._steps.empty():
                self._idle.set()
            step = await self._steps.get()
            if isinstance(step, Send):
                await self._client_present.wait()
                # Unpaced, consecutive messages go out as one burst per connection: a message at a
                # time costs the fake more CPU than the listener spends on it.
                batch = [step] if interval else self._take_burst(step)
                delivered = 0
                for ws in list(self._clients):
                    with contextlib.suppress(Exception):
                        await _send_all(ws, batch)
                        delivered += 1
                if delivered:
                    self.messages_sent += len(batch)
                    self.deliveries += delivered * len(batch)
                else:  # every client went away mid-send: keep the messages for the next one
                    await self._requeue_front(*batch)
                    await asyncio.sleep(0.01)  # let the dead connection's handler run and unregister it
                # send() on a fast socket never suspends: yield so pings and handshakes get served
                await asyncio.sleep(interval)
            elif isinstance(step, Drop):
                for ws in list(self._clients):
                    ws.transport.abort()
                await asyncio.sleep(0)
            elif isinstance(step, Silence):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Refuse):
                await self._close_listener()
                await asyncio.sleep(step.seconds)
                await self._listen()

    def _take_burst(self, first: Send, limit: int = 256) -> list[Send]:
        batch = [first]
        while len(batch) < limit and not self._steps.empty() and isinstance(self._steps._queue[0], Send):  # type: ignore[attr-defined]
            batch.append(self._steps.get_nowait())  # type: ignore[arg-type]
        return batch

    async def _requeue_front(self, *steps: Step) -> None:
        rest = list(steps)
        while not self._steps.empty():
            rest.append(self._steps.get_nowait())
        for item in rest:
            self._steps.put_nowait(item)


async def _send_all(ws: ServerConnection, batch: list[Send]) -> None:
    if len(batch) == 1:
        await ws.send(batch[0].payload)
        return
    # websockets' own pattern for writing through its protocol (see Connection.send_context).
    async with ws.send_context():
        for step in batch:
            payload = step.payload
            if isinstance(payload, str):
                ws.protocol.send_text(payload.encode())
            else:
                ws.protocol.send_binary(payload)


def _flatten(items: Iterable[Any]) -> Iterator[Step | str | bytes]:
    for item in items:
        if isinstance(item, str | bytes | Send | Drop | Silence | Refuse):
            yield item
        else:
            yield from _flatten(item)


# ---------------------------------------------------------------- command line
async def _serve_cli(args: argparse.Namespace) -> None:
    server = await FakeBinanceWS(args.host, args.port, rate_per_s=args.rate).start()
    print(json.dumps({"url": server.url}), flush=True)
    rounds = 0
    while True:
        if args.frames:
            with open(args.frames, encoding="utf-8") as fh:
                frames = [line.rstrip("\n") for line in fh if line.strip()]
        elif args.synthetic:
            frames = synthetic_frames(args.synthetic, wrap=args.wrap, start_ms=_SYNTHETIC_START_MS + rounds * 10**9)
        elif args.replay:
            # Each round is shifted past the previous one, so a looped replay is new liquidations,
            # not repeats that the listener's duplicate filter would drop.
            frames = recording_frames(args.replay, wrap=args.wrap, shift_ms=rounds * RECORDING_SPAN_MS)
        else:
            frames = []
        server.feed(frames)
        await server.drained(timeout=10**9)
        rounds += 1
        if not args.loop or not frames or args.frames:
            break
    await asyncio.Event().wait()  # keep serving (pings, reconnects) until killed


_SYNTHETIC_START_MS = 1_761_125_800_000


def synthetic_frames(count: int, *, wrap: bool = False, start_ms: int = _SYNTHETIC_START_MS) -> list[str]:
    """`count` distinct frames cycling over the recording's mix of symbols and sizes (benchmarks)."""
    contracts = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "1000PEPEUSDT", "XRPUSDC", "币安人生USDT", "DOGEUSDT", "KDAUSDT"]
    sizes = [12.5, 480.0, 2_600.0, 27_000.0, 60_000.0, 150_000.0]
    return [
        frame(
            contracts[i % len(contracts)],
            "SELL" if i % 3 else "BUY",
            "100.0",
            f"{sizes[i % len(sizes)] / 100:.4f}",
            start_ms + i * 7,
            wrap=wrap,
        )
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--replay", help="CSV recording to serve (data/binance_liquidations_*.csv)")
    parser.add_argument("--frames", help="file of ready-made messages, one per line, served as they are")
    parser.add_argument("--synthetic", type=int, default=0, help="serve this many synthetic frames instead")
    parser.add_argument("--rate", type=float, default=None, help="frames per second (default: as fast as possible)")
    parser.add_argument("--wrap", action="store_true", help="combined-stream envelope {stream, data}")
    parser.add_argument("--loop", action="store_true", help="serve the frames again and again")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_cli(args))


if __name__ == "__main__":
    main()
