"""The WebSocket connection lifecycle every feed shares (architecture.md §3).

Keeps one connection to a feed's stream open around the clock:
- keepalive pings (the websockets library closes a connection whose pong does not come back), and
  the feed's own application-level keepalive (`keepalive(link)`, e.g. Bybit's `{"op":"ping"}`);
- on every new connection the feed's `on_open(link)` first (its subscriptions); a failure there
  counts as a failed connect;
- reconnect with exponential backoff and full jitter: first retry within `base_s`, delays capped at
  `cap_s`, the sequence reset once a connection has stayed up for `stable_s`;
- a data-silence watchdog: no data frame for `silence_s` closes the connection (then reconnect);
- a proactive reconnect `rotate_after_s` after opening (Binance cuts every connection at 24 h), or
  when the feed asks for one (`rotate()`, OKX's upgrade notice): the new connection is opened and
  read for `overlap_s` before the old one is closed, so nothing is missed; the repeats the overlap
  delivers are dropped by the feed's duplicate filter.

Frames go to `on_frame(payload, is_text, received_at)` in arrival order (listener/connection.py);
it must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect

from listener import tls
from listener.connection import FeedConnection, OnFrame
from listener.log import logger

# Exchange frames are a few hundred bytes (a Bybit batch a few KiB); anything above this is refused.
MAX_MESSAGE_BYTES = 1 << 20
_CLOSE_TIMEOUT_S = 2.0
_OPEN_HOOK_TIMEOUT_S = 10.0


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


@dataclass(eq=False)
class Link:
    """One open connection, as a feed's hooks see it."""

    ws: FeedConnection
    number: int
    opened_at: float
    rotate_at: float
    reader: asyncio.Task[None] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    end_reason: str = ""

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    @property
    def last_data(self) -> float:
        """Monotonic time of the newest data frame, or of the opening."""
        return max(self.ws.last_data, self.opened_at)

    @property
    def last_message(self) -> float:
        """Monotonic time of the newest frame of any kind (data, reply, ping, pong), or of the opening."""
        return max(self.ws.last_data, self.ws.last_reply, self.ws.last_control, self.opened_at)


Hook = Callable[[Link], Awaitable[None]]


class Stream:
    def __init__(
        self,
        url: str,
        on_frame: OnFrame,
        *,
        name: str = "stream",
        on_open: Hook | None = None,
        keepalive: Hook | None = None,
        backoff: Backoff | None = None,
        silence_s: float = 600.0,
        rotate_after_s: float | None = 23 * 3600.0,
        overlap_s: float = 5.0,
        ping_interval_s: float = 20.0,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.name = name
        self._on_frame = on_frame
        self._on_open = on_open
        self._keepalive = keepalive
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
        self._last_data_closed: float | None = None  # newest data frame of connections now closed
        self._open: set[Link] = set()
        self._rotate_now = asyncio.Event()

    # ---------------------------------------------------------------- observations
    @property
    def connected(self) -> bool:
        return bool(self._open)

    @property
    def backoff_attempt(self) -> int:
        return self.backoff.attempt

    @property
    def last_message_at(self) -> float | None:
        """Monotonic time of the newest data frame on any connection so far (None before the first)."""
        times = [link.ws.last_data for link in self._open if link.ws.last_data]
        if self._last_data_closed is not None:
            times.append(self._last_data_closed)
        return max(times) if times else None

    def last_sign_of_life(self) -> float | None:
        """Monotonic time of the newest frame, ping or pong on an open connection (or its opening)."""
        times = [link.last_message for link in self._open]
        return max(times) if times else None

    def fresh(self, now: float | None = None) -> bool:
        """Connected, and data or a ping arrived within the silence limit."""
        last = self.last_sign_of_life()
        return last is not None and (time.monotonic() if now is None else now) - last <= self.silence_s

    def links(self) -> list[Link]:
        return sorted(self._open, key=lambda link: link.number)

    def rotate(self) -> None:
        """Move to a new connection now (overlapping the old one), e.g. on an exchange's upgrade notice."""
        self._rotate_now.set()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_since = time.time()

    # ---------------------------------------------------------------- lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        """Hold a connection until `stop` is set."""
        stopping = asyncio.ensure_future(stop.wait())
        rotating: asyncio.Future[Any] | None = None
        link: Link | None = None
        try:
            while not stop.is_set():
                if link is None:
                    link = await self._connect_with_backoff(stop, stopping, retry=self.connections_opened > 0)
                    if link is None:
                        break
                if rotating is None or rotating.done():
                    rotating = asyncio.ensure_future(self._rotate_now.wait())
                timeout = max(0.0, link.rotate_at - time.monotonic())
                assert link.reader is not None
                await asyncio.wait(
                    {link.reader, stopping, rotating}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if stop.is_set():
                    break
                if link.reader.done():
                    uptime = time.monotonic() - link.opened_at
                    self.backoff.connection_ended(uptime)
                    logger.warning(
                        "stream connection lost; reconnecting",
                        extra={
                            "stream": self.name,
                            "connection": link.number,
                            "reason": link.end_reason,
                            "uptime_s": round(uptime, 1),
                        },
                    )
                    await self._discard(link)
                    link = None
                    continue
                if time.monotonic() >= link.rotate_at or self._rotate_now.is_set():
                    self._rotate_now.clear()
                    link = await self._rotate(link, stopping)
        finally:
            stopping.cancel()
            if rotating is not None:
                rotating.cancel()
            for open_link in list(self._open):
                await self._discard(open_link)
            if link is not None:
                await self._discard(link)
            self._set_state("stopped")

    def _rotate_deadline(self, now: float) -> float:
        return now + self.rotate_after_s if self.rotate_after_s else float("inf")

    async def _rotate(self, old: Link, stopping: asyncio.Future[Any]) -> Link:
        """Open the successor, read both for `overlap_s`, then close the old one."""
        new = await self._open_connection()
        if new is None:
            old.rotate_at = time.monotonic() + self.backoff.next_delay()
            return old
        self.rotations += 1
        logger.info(
            "proactive reconnect: new connection up, closing the old one after the overlap",
            extra={"stream": self.name, "old": old.number, "new": new.number, "overlap_s": self.overlap_s},
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(stopping), self.overlap_s)
        await self._discard(old)
        return new

    async def _connect_with_backoff(
        self, stop: asyncio.Event, stopping: asyncio.Future[Any], retry: bool
    ) -> Link | None:
        while not stop.is_set():
            if retry:
                delay = self.backoff.next_delay()
                self._set_state("waiting")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopping), delay)
                if stop.is_set():
                    return None
            retry = True
            link = await self._open_connection()
            if link is not None:
                if self.connections_opened > 1:
                    self.reconnects += 1
                return link
        return None

    async def _open_connection(self) -> Link | None:
        if not self._open:
            self._set_state("connecting")
        on_frame = self._on_frame

        def factory(*args: Any, **kwargs: Any) -> FeedConnection:
            return FeedConnection(*args, on_frame=on_frame, max_frame_bytes=MAX_MESSAGE_BYTES, **kwargs)

        try:
            ws = await connect(
                self.url,
                open_timeout=self.open_timeout_s,
                ping_interval=self.ping_interval_s,
                ping_timeout=self.ping_interval_s,
                close_timeout=_CLOSE_TIMEOUT_S,
                max_size=MAX_MESSAGE_BYTES,
                compression=None,  # exchanges' frames are small; inflating them costs more than it saves
                create_connection=factory,  # type: ignore[arg-type]
                ssl=tls.context() if self.url.startswith("wss:") else None,
            )
        except Exception as exc:  # refused, reset, DNS, TLS, handshake rejected, timeout
            self._connect_failed(exc)
            return None
        assert isinstance(ws, FeedConnection)
        now = time.monotonic()
        self.connections_opened += 1
        link = Link(ws=ws, number=self.connections_opened, opened_at=now, rotate_at=self._rotate_deadline(now))
        if self._on_open is not None:
            try:
                await asyncio.wait_for(self._on_open(link), _OPEN_HOOK_TIMEOUT_S)
            except Exception as exc:  # the subscription could not be sent: this connection is no use
                with contextlib.suppress(Exception):
                    await ws.close()
                self._connect_failed(exc)
                return None
        link.reader = asyncio.create_task(self._read(link), name=f"{self.name}-read-{link.number}")
        link.tasks.append(asyncio.create_task(self._watch(link), name=f"{self.name}-watchdog-{link.number}"))
        if self._keepalive is not None:
            link.tasks.append(asyncio.create_task(self._keep(link), name=f"{self.name}-keepalive-{link.number}"))
        self._open.add(link)
        self._set_state("connected")
        logger.info("stream connected", extra={"stream": self.name, "url": self.url, "connection": link.number})
        return link

    def _connect_failed(self, exc: BaseException) -> None:
        self.connect_failures += 1
        logger.warning(
            "stream connect failed",
            extra={
                "stream": self.name,
                "url": self.url,
                "error": f"{type(exc).__name__}: {exc}"[:300],
                "attempt": self.backoff.attempt,
            },
        )

    async def _read(self, link: Link) -> None:
        """Frames are handled as they arrive (FeedConnection); this waits for the connection's end."""
        await link.ws.wait_closed()
        code = link.ws.close_code
        link.end_reason = link.end_reason or (
            f"closed by server (code {code})" if code is not None else "connection lost without a close frame"
        )

    async def _keep(self, link: Link) -> None:
        assert self._keepalive is not None
        try:
            await self._keepalive(link)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a keepalive that cannot send means the connection is gone
            link.end_reason = link.end_reason or f"keepalive failed: {type(exc).__name__}: {exc}"[:300]
            with contextlib.suppress(Exception):
                await link.ws.close(code=1011, reason="keepalive failed")

    async def _watch(self, link: Link) -> None:
        """Close a connection that has carried no data for `silence_s` (pings and pongs don't count)."""
        check_every = min(max(self.silence_s / 10, 0.05), 5.0)
        while True:
            await asyncio.sleep(check_every)
            silent_for = time.monotonic() - link.last_data
            if silent_for > self.silence_s:
                self.silences += 1
                link.end_reason = f"no data for {silent_for:.1f} s"
                logger.warning(
                    "stream silent; reconnecting",
                    extra={"stream": self.name, "connection": link.number, "silent_s": round(silent_for, 1)},
                )
                await link.ws.close(code=1000, reason="data silence")
                return

    async def _discard(self, link: Link) -> None:
        if link in self._open and link.ws.last_data:
            last = link.ws.last_data
            self._last_data_closed = max(last, self._last_data_closed or last)
        self._open.discard(link)
        for task in link.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await link.ws.close()
        if link.reader is not None and not link.reader.done():
            link.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link.reader
        if not self._open and self.state == "connected":
            self._set_state("waiting")
