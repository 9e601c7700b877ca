"""The null consumer: a WebSocket handshake, then only counts the bytes that arrive (TLS decrypted,
nothing parsed). What it reaches is the server's own ceiling on this machine: every real consumer
must stay below it, or the benchmark measures the server."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
from urllib.parse import urlsplit

from peers.consumers.report import arguments, checkpoint


async def run(url: str, checkpoints: list[int]) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    tls = ssl.create_default_context() if parts.scheme == "wss" else None
    reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=1 << 20)
    key = base64.b64encode(os.urandom(16)).decode()
    target_path = parts.path + (f"?{parts.query}" if parts.query else "")
    writer.write(
        f"GET {target_path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise SystemExit(f"handshake refused: {head[:200]!r}")
    targets = iter(checkpoints)
    target = next(targets)
    received = 0
    while data := await reader.read(1 << 20):
        received += len(data)
        while 0 < target <= received:
            checkpoint(target)
            target = next(targets, -1)
    writer.close()


def main() -> None:
    args = arguments(__doc__)
    asyncio.run(run(args.url, args.checkpoints))


if __name__ == "__main__":
    main()
