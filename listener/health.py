"""A minimal HTTP/1.1 server for the container health check and operators (architecture.md §2.8).

GET /health -> 200 while healthy, 503 otherwise; GET /status -> JSON; GET /metrics -> the same
counters and gauges in Prometheus' text format, for anyone running the listener outside AWS. One
request per connection, bounded in size and time, so a slow or broken client can neither block nor
crash the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from listener.log import logger

_MAX_LINE = 8 * 1024
_MAX_HEADERS = 100
_REQUEST_TIMEOUT_S = 5.0
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        healthy: Callable[[], bool],
        status: Callable[[], dict[str, Any]],
        metrics: Callable[[], str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._healthy = healthy
        self._status = status
        self._metrics = metrics
        self._server: asyncio.Server | None = None

    async def start(self) -> HealthServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=_MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("health server listening", extra={"host": self.host, "port": self.port})
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT_S):
                status, body, head_only = await self._respond(reader)
                if isinstance(body, str):
                    payload, content_type = body.encode(), PROMETHEUS_TEXT
                else:
                    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
                    content_type = "application/json"
                writer.write(
                    (
                        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                        f"Content-Type: {content_type}\r\n"
                        f"Content-Length: {len(payload)}\r\n"
                        "Cache-Control: no-store\r\n"
                        "Connection: close\r\n\r\n"
                    ).encode()
                    + (b"" if head_only else payload)
                )
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away or misbehaved; nothing to answer
        except Exception:
            logger.exception("health request failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any] | str, bool]:
        try:
            request_line = (await reader.readuntil(b"\n")).decode("latin-1").split()
            for _ in range(_MAX_HEADERS):
                if (await reader.readuntil(b"\n")).strip() == b"":
                    break
            else:
                return 400, {"error": "too many headers"}, False
        except asyncio.LimitOverrunError:  # a line beyond _MAX_LINE
            return 400, {"error": "request line or header too long"}, False
        if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
            return 400, {"error": "not an HTTP/1.x request"}, False
        method, target = request_line[0], request_line[1]
        path = target.split("?", 1)[0]
        if path not in ("/health", "/status", "/metrics") or (path == "/metrics" and self._metrics is None):
            return 404, {"error": "unknown path; try /health, /status or /metrics"}, False
        if method not in ("GET", "HEAD"):
            return 405, {"error": "only GET and HEAD"}, False
        head_only = method == "HEAD"
        if path == "/health":
            ok = self._healthy()
            return (200 if ok else 503), {"status": "ok" if ok else "unhealthy"}, head_only
        if path == "/metrics":
            assert self._metrics is not None
            return 200, self._metrics(), head_only
        return 200, self._status(), head_only
