"""The listener's WebSocket connection (listener/connection.py) over real sockets: it reads data frames
into its own buffer and hands each payload to the feed once, whatever the reads cut them into.

The server writes raw frames in writes of its choosing with a pause after each, so frames arrive
split at every kind of boundary: inside a header, inside an extended length, inside a payload, larger
than the connection's read buffer, and in the same read as the handshake's response. Each case runs
on asyncio's loop and on uvloop (whose transports hand a buffer only to a protocol that is not an
asyncio.Protocol), plain and over TLS.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop
from peers import tls as bench_tls
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.utils import accept_key

from listener.connection import READ_BUFFER_BYTES, FeedConnection

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop] | None] = {"asyncio": None, "uvloop": uvloop.new_event_loop}
END = b"end"


def raw(payload: bytes, opcode: Opcode = Opcode.TEXT, fin: bool = True) -> bytes:
    """One frame as a server writes it (unmasked)."""
    return Frame(opcode, payload, fin=fin).serialize(mask=False)


# Payloads around every length encoding (7-bit, 16-bit, 64-bit) and one larger than the read buffer.
PAYLOADS = [b"x" * n for n in (0, 1, 125, 126, 127, 65535, 65536)] + [
    b'{"e":"forceOrder","o":{"s":"BTCUSDT"}}',
    bytes(range(256)) * ((READ_BUFFER_BYTES + 5000) // 256),
    "币安人生".encode(),
]


class Client:
    """A FeedConnection that records what reaches `on_frame`, done at the END frame."""

    def __init__(self) -> None:
        self.frames: list[tuple[bytes, bool]] = []
        self.done = asyncio.Event()
        self.conn: FeedConnection | None = None

    def on_frame(self, payload: bytes, text: bool, received_at: float) -> bool:
        assert type(payload) is bytes and received_at > 0
        self.frames.append((payload, text))
        if payload == END:
            self.done.set()
        return True

    async def read(self, url: str, context: ssl.SSLContext | None, max_frame_bytes: int = 1 << 20) -> Client:
        def factory(*args: Any, **kwargs: Any) -> FeedConnection:
            return FeedConnection(*args, on_frame=self.on_frame, max_frame_bytes=max_frame_bytes, **kwargs)

        self.conn = await connect(  # type: ignore[assignment]
            url,
            create_connection=factory,  # type: ignore[arg-type]
            ssl=context,
            compression=None,
            max_size=max_frame_bytes,
        )
        assert self.conn is not None
        await asyncio.wait_for(self.done.wait(), 20)
        return self


def run(loop: str, scenario: Callable[[], Any]) -> Any:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(scenario())


def split_everywhere(frames: list[bytes]) -> list[bytes]:
    """Each frame's first 14 bytes one write each (every byte of a header and of a 16- or 64-bit
    length alone), then its payload in two halves."""
    writes: list[bytes] = []
    for frame in frames:
        head, rest = frame[:14], frame[14:]
        writes += [head[i : i + 1] for i in range(len(head))]
        writes += [part for part in (rest[: len(rest) // 2], rest[len(rest) // 2 :]) if part]
    return writes


def writes_of(size: int, frames: list[bytes]) -> list[bytes]:
    stream = b"".join(frames)
    return [stream[i : i + size] for i in range(0, len(stream), size)]


async def serve_raw(
    writes: list[bytes], server_tls: ssl.SSLContext | None, extra: Callable[[ServerConnection], Any] | None = None
) -> Server:
    """A server that writes each of `writes` on its own, pausing after each so reads split there."""

    async def handler(ws: ServerConnection) -> None:
        for data in writes:
            ws.transport.write(data)
            await asyncio.sleep(0.002)
        if extra is not None:
            await extra(ws)
        await asyncio.sleep(1)

    return await serve(handler, "127.0.0.1", 0, ssl=server_tls, compression=None, max_size=None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return bench_tls.self_signed(tmp_path_factory.mktemp("tls"))


def contexts(use_tls: bool, certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    if not use_tls:
        return None, None
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*certificate)
    return server, ssl.create_default_context(cafile=str(certificate[0]))


SPLITS: dict[str, Callable[[list[bytes]], list[bytes]]] = {
    "split-everywhere": split_everywhere,
    "writes-of-1000": lambda frames: writes_of(1000, frames),
    "writes-of-1MiB": lambda frames: writes_of(1 << 20, frames),  # many frames a read, one beyond the buffer
}


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("use_tls", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("split", sorted(SPLITS))
def test_every_frame_reaches_the_feed_once_in_order_however_the_reads_split_it(
    loop: str, use_tls: bool, split: str, certificate: tuple[Path, Path]
) -> None:
    sent = [(p, True) for p in PAYLOADS[:-2]] + [(PAYLOADS[-2], False), (PAYLOADS[-1], True), (END, True)]
    writes = SPLITS[split]([raw(p, Opcode.TEXT if text else Opcode.BINARY) for p, text in sent])
    server_tls, client_tls = contexts(use_tls, certificate)

    async def scenario() -> Client:
        async with await serve_raw(writes, server_tls) as server:
            port = server.sockets[0].getsockname()[1]
            return await Client().read(f"{'wss' if use_tls else 'ws'}://127.0.0.1:{port}/", client_tls)

    assert run(loop, scenario).frames == sent


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_pings_are_answered_and_fragments_and_what_follows_them_still_arrive(loop: str) -> None:
    ping = raw(b"are you there", Opcode.PING)
    fragmented = raw(b"frag", fin=False) + raw(b"men", Opcode.CONT, fin=False) + raw(b"ted", Opcode.CONT)
    stream = raw(b"one") + ping + raw(b"two") + fragmented + raw(b"three") + ping + raw(b"four") + raw(END)
    pongs: list[bool] = []

    async def answered(ws: ServerConnection) -> None:
        # A ping of the server's own protocol, after the raw stream: its pong must come back.
        waiter = await ws.ping(b"and now?")
        pongs.append(await asyncio.wait_for(waiter, 5) is not None)

    async def scenario() -> Client:
        async with await serve_raw(writes_of(7, [stream]), None, answered) as server:
            port = server.sockets[0].getsockname()[1]
            client = await Client().read(f"ws://127.0.0.1:{port}/", None)
            for _ in range(200):
                if pongs:
                    break
                await asyncio.sleep(0.01)
            return client

    client = run(loop, scenario)
    texts = [payload for payload, _ in client.frames]
    assert texts == [b"one", b"two", b"fragmented", b"three", b"four", END]
    assert client.conn is not None and client.conn.last_control > 0  # the raw pings were seen
    assert pongs == [True]


def close_code_sent(loop: str, stream: bytes, **connect_kwargs: Any) -> tuple[list[bytes], int | None]:
    """The payloads the feed got from `stream`, and the close code the listener sent: when it fails
    a connection, websockets reads nothing more (not the server's reply)."""

    async def scenario() -> Client:
        async with await serve_raw([stream], None) as server:
            port = server.sockets[0].getsockname()[1]
            client = Client()

            def factory(*args: Any, **kwargs: Any) -> FeedConnection:
                return FeedConnection(*args, on_frame=client.on_frame, max_frame_bytes=1000, **kwargs)

            conn = await connect(f"ws://127.0.0.1:{port}/", create_connection=factory, **connect_kwargs)  # type: ignore[arg-type]
            await asyncio.wait_for(conn.wait_closed(), 5)
            client.conn = conn  # type: ignore[assignment]
            return client

    client = run(loop, scenario)
    assert client.conn is not None
    sent = client.conn.protocol.close_sent
    return [payload for payload, _ in client.frames], None if sent is None else sent.code


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_frame_over_the_limit_ends_the_connection_with_1009(loop: str) -> None:
    stream = raw(b"fine") + raw(b"y" * 5000) + raw(b"never read")
    assert close_code_sent(loop, stream, max_size=1000) == ([b"fine"], 1009)


# Frames cut right after their header or their 16-bit length, whose payload would read as the start
# of a long frame (0x61, then a 16-bit length of 65535) to a parser that resumed in the wrong place.
LOOKS_LIKE_A_HEADER = b"a~\xff\xff"
CUTS = {
    "after-the-header": (LOOKS_LIKE_A_HEADER + b" short", 2),
    "after-the-16-bit-length": (LOOKS_LIKE_A_HEADER * 50, 4),
}


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("cut_at", sorted(CUTS))
def test_a_frame_cut_short_in_the_same_read_as_the_handshake_response_still_arrives(loop: str, cut_at: str) -> None:
    """The server's 101 response, one frame and the first bytes of the next in one write: websockets
    must read the response alone, or it keeps the cut frame's start and the feed stalls."""
    payload, cut = CUTS[cut_at]
    frames = [raw(b"first"), raw(payload, Opcode.BINARY), raw(END)]

    async def handshake_and_frames(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        response = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
        ).encode()
        writer.write(response + frames[0] + frames[1][:cut])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(frames[1][cut:] + frames[2])
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    async def scenario() -> Client:
        server = await asyncio.start_server(handshake_and_frames, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await Client().read(f"ws://127.0.0.1:{port}/", None)

    assert run(loop, scenario).frames == [(b"first", True), (payload, False), (END, True)]


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_masked_frame_from_the_server_ends_the_connection_as_a_protocol_error(loop: str) -> None:
    """Servers never mask (RFC 6455 §5.1): the fast path hands the frame to websockets, which fails
    the connection with 1002; the frames before it have reached the feed."""
    stream = raw(b"fine") + Frame(Opcode.TEXT, b"masked").serialize(mask=True) + raw(b"never read")
    assert close_code_sent(loop, stream) == ([b"fine"], 1002)
