"""The WebSocket connection lifecycle (architecture.md §3).

Keeps one connection to the liquidation stream open around the clock:
- keepalive pings (the websockets library closes a connection whose pong does not come back);
- reconnect with exponential backoff and full jitter: first retry within `base_s`, delays capped at
  `cap_s`, the sequence reset once a connection has stayed up for `stable_s`;
- a data-silence watchdog: no message for `silence_s` closes the connection (then reconnect);
- a proactive reconnect `rotate_after_s` after opening (Binance cuts every connection at 24 h): the
  new connection is opened and read for `overlap_s` before the old one is closed, so nothing is
  missed; the repeats the overlap delivers are dropped by the caller's duplicate filter.

Messages go to `on_message(message, received_at)` in arrival order; it must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

from listener.log import logger

OnMessage = Callable[[str | bytes, float], None]

# Binance frames are ~250 bytes; a message above this closes the connection (websockets' limit).
MAX_MESSAGE_BYTES = 1 << 20
_CLOSE_TIMEOUT_S = 2.0


class Backoff:
    """Exponential backoff with full jitter: the n-th retry waits uniform(0, min(cap, base * 2**n))."""

    def __init__(
        self,
        base_s: float = 1.0,
        cap_s: float = 60.0,
        stable_s: float = 60.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.stable_s = stable_s
        self._rand = rand
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**self.attempt)
        self.attempt += 1
        return self._rand() * ceiling

    def connection_ended(self, uptime_s: float) -> None:
        """A connection that stayed up for a stable minute resets the sequence."""
        if uptime_s >= self.stable_s:
            self.attempt = 0


class _TrackedConnection(ClientConnection):
    """Notes when a ping or pong arrived: proof of life on a quiet but healthy connection."""

    last_control: float = 0.0

    def process_event(self, event: Any) -> None:
        opcode = getattr(event, "opcode", None)  # the handshake's Response comes through here too
        if opcode is Opcode.PING or opcode is Opcode.PONG:
            self.last_control = time.monotonic()
        super().process_event(event)


@dataclass(eq=False)
class _Conn:
    ws: _TrackedConnection
    number: int
    opened_at: float
    rotate_at: float
    last_data: float
    reader: asyncio.Task[None] | None = None
    watchdog: asyncio.Task[None] | None = None
    end_reason: str = field(default="")


class Stream:
    def __init__(
        self,
        url: str,
        on_message: OnMessage,
        *,
        backoff: Backoff | None = None,
        silence_s: float = 600.0,
        rotate_after_s: float = 23 * 3600.0,
        overlap_s: float = 5.0,
        ping_interval_s: float = 20.0,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self._on_message = on_message
        self.backoff = backoff or Backoff()
        self.silence_s = silence_s
        self.rotate_after_s = rotate_after_s
        self.overlap_s = overlap_s
        self.ping_interval_s = ping_interval_s
        self.open_timeout_s = open_timeout_s
        self.state = "starting"
        self.state_since = time.time()
        self.connections_opened = 0
        self.reconnects = 0
        self.rotations = 0
        self.silences = 0
        self.connect_failures = 0
        self.last_message_at: float | None = None  # monotonic
        self._open: set[_Conn] = set()

    # ---------------------------------------------------------------- observations
    @property
    def connected(self) -> bool:
        return bool(self._open)

    def last_sign_of_life(self) -> float | None:
        """Monotonic time of the newest message, ping or pong on an open connection (or its opening)."""
        times = [max(c.last_data, c.ws.last_control) for c in self._open]
        return max(times) if times else None

    def fresh(self, now: float | None = None) -> bool:
        """Connected, and data or a ping arrived within the silence limit."""
        last = self.last_sign_of_life()
        return last is not None and (time.monotonic() if now is None else now) - last <= self.silence_s

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_since = time.time()

    # ---------------------------------------------------------------- lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        """Hold a connection until `stop` is set."""
        stopping = asyncio.ensure_future(stop.wait())
        conn: _Conn | None = None
        try:
            while not stop.is_set():
                if conn is None:
                    conn = await self._connect_with_backoff(stop, stopping, retry=self.connections_opened > 0)
                    if conn is None:
                        break
                timeout = max(0.0, conn.rotate_at - time.monotonic())
                assert conn.reader is not None
                await asyncio.wait({conn.reader, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    break
                if conn.reader.done():
                    uptime = time.monotonic() - conn.opened_at
                    self.backoff.connection_ended(uptime)
                    logger.warning(
                        "stream connection lost; reconnecting",
                        extra={"connection": conn.number, "reason": conn.end_reason, "uptime_s": round(uptime, 1)},
                    )
                    await self._discard(conn)
                    conn = None
                    continue
                conn = await self._rotate(conn, stop, stopping)
        finally:
            stopping.cancel()
            for c in list(self._open):
                await self._discard(c)
            if conn is not None:
                await self._discard(conn)
            self._set_state("stopped")

    async def _rotate(self, old: _Conn, stop: asyncio.Event, stopping: asyncio.Future[Any]) -> _Conn:
        """Open the successor, read both for `overlap_s`, then close the old one."""
        new = await self._open_connection()
        if new is None:
            old.rotate_at = time.monotonic() + self.backoff.next_delay()
            return old
        self.rotations += 1
        logger.info(
            "proactive reconnect: new connection up, closing the old one after the overlap",
            extra={"old": old.number, "new": new.number, "overlap_s": self.overlap_s},
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(stopping), self.overlap_s)
        await self._discard(old)
        return new

    async def _connect_with_backoff(
        self, stop: asyncio.Event, stopping: asyncio.Future[Any], retry: bool
    ) -> _Conn | None:
        while not stop.is_set():
            if retry:
                delay = self.backoff.next_delay()
                self._set_state("waiting")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopping), delay)
                if stop.is_set():
                    return None
            retry = True
            conn = await self._open_connection()
            if conn is not None:
                if self.connections_opened > 1:
                    self.reconnects += 1
                return conn
        return None

    async def _open_connection(self) -> _Conn | None:
        if not self._open:
            self._set_state("connecting")
        try:
            ws = await connect(
                self.url,
                open_timeout=self.open_timeout_s,
                ping_interval=self.ping_interval_s,
                ping_timeout=self.ping_interval_s,
                close_timeout=_CLOSE_TIMEOUT_S,
                max_size=MAX_MESSAGE_BYTES,
                create_connection=_TrackedConnection,
            )
        except Exception as exc:  # refused, reset, DNS, TLS, handshake rejected, timeout
            self.connect_failures += 1
            logger.warning(
                "stream connect failed",
                extra={"url": self.url, "error": f"{type(exc).__name__}: {exc}"[:300], "attempt": self.backoff.attempt},
            )
            return None
        assert isinstance(ws, _TrackedConnection)
        now = time.monotonic()
        self.connections_opened += 1
        conn = _Conn(
            ws=ws,
            number=self.connections_opened,
            opened_at=now,
            rotate_at=now + self.rotate_after_s,
            last_data=now,
        )
        conn.reader = asyncio.create_task(self._read(conn), name=f"stream-read-{conn.number}")
        conn.watchdog = asyncio.create_task(self._watch(conn), name=f"stream-watchdog-{conn.number}")
        self._open.add(conn)
        self._set_state("connected")
        logger.info("stream connected", extra={"url": self.url, "connection": conn.number})
        return conn

    async def _read(self, conn: _Conn) -> None:
        on_message = self._on_message
        clock = time.perf_counter
        try:
            async for message in conn.ws:
                received_at = clock()
                conn.last_data = self.last_message_at = time.monotonic()
                try:
                    on_message(message, received_at)
                except Exception:  # a bug in handling one frame must not end the stream
                    logger.exception("message handler failed; frame skipped")
            conn.end_reason = conn.end_reason or f"closed by server ({_close_text(conn.ws)})"
        except ConnectionClosed as exc:
            conn.end_reason = conn.end_reason or f"connection closed ({exc})"
        except Exception as exc:
            conn.end_reason = conn.end_reason or f"{type(exc).__name__}: {exc}"

    async def _watch(self, conn: _Conn) -> None:
        """Close a connection that has carried no data for `silence_s` (pings alone don't count)."""
        check_every = min(max(self.silence_s / 10, 0.05), 5.0)
        while True:
            await asyncio.sleep(check_every)
            silent_for = time.monotonic() - conn.last_data
            if silent_for > self.silence_s:
                self.silences += 1
                conn.end_reason = f"no data for {silent_for:.1f} s"
                logger.warning(
                    "stream silent; reconnecting", extra={"connection": conn.number, "silent_s": round(silent_for, 1)}
                )
                await conn.ws.close(code=1000, reason="data silence")
                return

    async def _discard(self, conn: _Conn) -> None:
        self._open.discard(conn)
        if conn.watchdog is not None:
            conn.watchdog.cancel()
        with contextlib.suppress(Exception):
            await conn.ws.close()
        if conn.reader is not None and not conn.reader.done():
            conn.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await conn.reader
        if not self._open and self.state == "connected":
            self._set_state("waiting")


def _close_text(ws: ClientConnection) -> str:
    code = ws.close_code
    return f"code {code}" if code is not None else "no close frame"
