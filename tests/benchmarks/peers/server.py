"""The one loopback server of the peer benchmark: wss:// (as the exchanges are), one wire (peers/wire.py).

`python -m peers.server --exchange binance --timed 200000 --warmup 20000 --cert C --key K`

It serves the exchange's REST documents (instrument lists) and its streams on one port, and sends
frames only when told, so the orchestrator decides when a phase starts. Control is JSON lines:
commands on stdin, events on stdout.

    -> {"event": "ready", "port": 43121}
    -> {"event": "connected", "connection": 1, "path": "...", "frames": {"warmup": 20000, "timed": 200000}}
    -> {"event": "subscribed", "connection": 2, "frames": {...}}   a subscribe message changed what it gets
    <- {"send": "warmup"}        every open stream connection gets the phase's frames
    -> {"event": "sent", "phase": "warmup", "frames": 20000, "bytes": ..., "first_write": t0, "drained": t1}
    -> {"event": "closed", "connection": 1}

Frames are encoded once per subscription, before a phase is sent (never while it is timed), and
written as whole WebSocket frames, many per write, straight to the connection's transport: the
server costs a fraction of a microsecond per frame (measured every run against a consumer that only
counts bytes), so it is never what a consumer waits on. Times are `time.monotonic()`, the same clock
in every process on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from peers.wire import WIRES, Frame, Phases, Subscription, Wire, chunks

PHASES = ("warmup", "timed")


@dataclass(eq=False)
class _Stream:
    number: int
    ws: ServerConnection
    subscription: Subscription
    encoded: dict[str, list[tuple[bytes, int]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # frames per phase it receives


class BenchServer:
    def __init__(self, wire: Wire, phases: Phases, tls: ssl.SSLContext | None) -> None:
        self.wire = wire
        self.frames: dict[str, list[Frame]] = {"warmup": phases.warmup, "timed": phases.timed}
        self.tls = tls
        self.streams: set[_Stream] = set()
        self._encoded: dict[tuple[Any, str], list[tuple[bytes, int]]] = {}
        self._per_key: dict[str, Counter[str]] = {}
        self._connections = 0
        self._rest: dict[str, str] = {}

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> None:
        async with serve(
            self._handler,
            host,
            port,
            ssl=self.tls,
            compression=None,  # as the exchanges' liquidation streams: no permessage-deflate
            ping_interval=None,  # clients ping; the server answers
            max_size=1 << 20,
            write_limit=1 << 20,
            process_request=self._process_request,
        ) as server:
            emit(event="ready", port=server.sockets[0].getsockname()[1])
            await self._control()

    # ------------------------------------------------------------------ HTTP: REST and paths
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            body = self._rest_body(request.path)
            if body is None:
                return connection.respond(404, "unknown path\n")
            response = connection.respond(200, body)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if self.wire.accept(request.path) is None:
            return connection.respond(404, "unknown stream\n")
        return None

    def _rest_body(self, path: str) -> str | None:
        if path not in self._rest:
            everything = self.frames["warmup"] + self.frames["timed"]
            document = self.wire.rest(path, everything)
            if document is None:
                return None
            self._rest[path] = json.dumps(document, ensure_ascii=False)
        return self._rest[path]

    # ------------------------------------------------------------------ streams
    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        subscription = self.wire.accept(ws.request.path)
        assert subscription is not None  # _process_request answered 404 otherwise
        self._connections += 1
        stream = _Stream(self._connections, ws, subscription)
        self._subscribe(stream, subscription)
        self.streams.add(stream)
        emit(
            event="connected",
            connection=stream.number,
            path=ws.request.path[:200],
            frames=dict(stream.counts),
            **subscription.detail,
        )
        try:
            async for message in ws:
                changed, replies = self.wire.on_message(stream.subscription, str(message))
                for reply in replies:
                    await ws.send(reply)
                if changed.key != stream.subscription.key:
                    self._subscribe(stream, changed)
                    emit(event="subscribed", connection=stream.number, frames=dict(stream.counts), **changed.detail)
        except ConnectionClosed:
            pass  # a consumer is stopped with SIGTERM after its run, without a closing handshake
        except Exception as exc:  # reported, never fatal: the next consumer still gets served
            emit(event="error", connection=stream.number, error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            self.streams.discard(stream)
            emit(event="closed", connection=stream.number)

    def _subscribe(self, stream: _Stream, subscription: Subscription) -> None:
        """Counts what the subscription receives now; encodes it only before a phase is sent (a
        client subscribing symbol by symbol changes its subscription hundreds of times)."""
        stream.subscription = subscription
        stream.encoded.clear()
        for phase in PHASES:
            stream.counts[phase] = self._count(subscription, phase)

    def _count(self, subscription: Subscription, phase: str) -> int:
        if subscription.keys is not None:
            per_key = self._per_key.get(phase)
            if per_key is None:
                per_key = self._per_key[phase] = Counter(key for _, key in self.frames[phase])
            return sum(per_key[k] for k in subscription.keys)
        transform = subscription.transform
        return sum(1 for text, key in self.frames[phase] if transform(text, key) is not None)

    def _encode(self, stream: _Stream) -> None:
        for phase in PHASES:
            if phase in stream.encoded:
                continue
            key = (stream.subscription.key, phase)
            if key not in self._encoded:
                transform = stream.subscription.transform
                texts = (t for text, route in self.frames[phase] if (t := transform(text, route)) is not None)
                self._encoded[key] = chunks(texts)
            stream.encoded[phase] = self._encoded[key]

    async def _send(self, phase: str) -> None:
        streams = list(self.streams)
        for stream in streams:  # before the clock starts
            self._encode(stream)
        first_write = time.monotonic()
        results = await asyncio.gather(*(_write_all(s, phase) for s in streams), return_exceptions=True)
        drained = time.monotonic()
        errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        emit(
            event="sent",
            phase=phase,
            connections=len(streams),
            frames=sum(n for s in streams for _, n in s.encoded[phase]),
            bytes=sum(len(c) for s in streams for c, _ in s.encoded[phase]),
            first_write=first_write,
            drained=drained,
            errors=errors,
        )

    # ------------------------------------------------------------------ control
    async def _control(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            command = json.loads(line)
            if "send" in command:
                if command["send"] not in PHASES:
                    emit(event="error", error=f"unknown phase {command['send']!r}")
                    continue
                await self._send(command["send"])
            elif command.get("quit"):
                return


async def _write_all(stream: _Stream, phase: str) -> None:
    ws = stream.ws
    for data, _ in stream.encoded[phase]:
        # Whole frames straight to the transport; websockets' own flow control paces the writes.
        ws.transport.write(data)
        await ws.drain()


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--exchange", choices=sorted(WIRES), default="binance")
    parser.add_argument("--timed", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--plain", action="store_true", help="ws:// instead of wss://")
    args = parser.parse_args()
    wire = WIRES[args.exchange]
    tls = None
    if not args.plain:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    server = BenchServer(wire, Phases.build(wire, args.timed, args.warmup), tls)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(port=args.port))


if __name__ == "__main__":
    main()
