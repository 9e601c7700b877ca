"""The machinery every fake exchange WebSocket server shares (infra/fakes/*_ws.py).

A feed of steps drives it: messages (in the exchange's real format), and faults (drop every
connection, go silent, refuse connections for a while). Like an exchange, it sends each message to
every open connection that wants it (all of them, or those subscribed to its topic), so two
overlapping connections both see it; unlike an exchange, it holds the feed while no such client is
connected, so a test can assert that every frame was delivered and every alert arrived once.
`max_connection_age_s` cuts each connection at a (time-compressed) 24 h mark. An exchange's fake
adds its paths, what it answers to client messages (subscriptions, pings) and who wants what.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve


# ---------------------------------------------------------------- feed steps
@dataclass(frozen=True)
class Send:
    """One WebSocket message (text or binary), broadcast to every open connection subscribed to
    `topic` (None: to every connection, as Binance's all-market stream does)."""

    payload: str | bytes
    topic: str | None = None


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


class FakeExchangeWS:
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

    path = "/"
    other_paths: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.path}"

    # ---------------------------------------------------------------- what an exchange adds
    async def on_client_message(self, ws: ServerConnection, message: str | bytes) -> None:
        """A message from a client (a subscription, an application-level ping): ignored by default."""

    def wants(self, ws: ServerConnection, topic: str | None) -> bool:
        """Whether `ws` receives messages of `topic`."""
        return topic is None

    @property
    def open_connections(self) -> int:
        return len(self._clients)

    async def start(self) -> FakeExchangeWS:
        await self._listen()
        self._pump = asyncio.create_task(self._run_feed(), name=f"fake-{type(self).__name__}-feed")
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
        if request.path.split("?", 1)[0] not in (self.path, *self.other_paths):
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
            async for message in ws:
                await self.on_client_message(ws, message)
        except Exception:  # a reset connection: the client is gone
            pass
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
                    mine = [step for step in batch if self.wants(ws, step.topic)]
                    if not mine:
                        continue
                    with contextlib.suppress(Exception):
                        await _send_all(ws, mine)
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


# ---------------------------------------------------------------- command line (benchmarks, local runs)
def serve_cli(
    make_server: Callable[[argparse.Namespace], FakeExchangeWS],
    synthetic: Callable[[int, int], list[Send]],
    description: str,
) -> None:
    """`python -m infra.fakes.<exchange>_ws --synthetic N [--loop] [--rate R]`: print `{"url": ...}`,
    then serve N frames (again and again with --loop, each round later in event time, so a looped
    feed is new liquidations rather than repeats), and keep serving until killed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--synthetic", type=int, default=0, help="serve this many synthetic frames")
    parser.add_argument("--rate", type=float, default=None, help="frames per second (default: as fast as possible)")
    parser.add_argument("--loop", action="store_true", help="serve them again and again")
    parser.add_argument("--symbols", default="", help="comma-separated contracts the exchange lists ('' = any)")
    args = parser.parse_args()

    async def serve() -> None:
        server = await make_server(args).start()
        print(json.dumps({"url": server.url}), flush=True)
        rounds = 0
        while args.synthetic:
            server.feed(synthetic(args.synthetic, SYNTHETIC_START_MS + rounds * 10**9))
            await server.drained(timeout=10**9)
            rounds += 1
            if not args.loop:
                break
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


SYNTHETIC_START_MS = 1_761_125_800_000
