"""What every liquidation feed shares: its counters, its duplicate filter, its streams, its status.

A feed turns its exchange's frames into normalised liquidations (architecture.md §2.7), drops the
exact repeats it sees (an overlapping connection delivers some frames twice) and hands the rest to
the listener's `sink`, which applies the size floor and the one cascade detector over all feeds.
Each exchange's module (listener/feeds/) adds its URL, subscriptions, keepalive and parser.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from cryptoalerts.cascade import DuplicateFilter, Liquidation
from cryptoalerts.timeutil import iso_ms
from listener.log import logger
from listener.parse import FrameError
from listener.record import Recorder
from listener.settings import Settings
from listener.stream import Backoff, Hook, Stream

# sink(liquidation, received_at monotonic)
Sink = Callable[[Liquidation, float], None]


class Feed:
    name: ClassVar[str]

    def __init__(self, settings: Settings, sink: Sink, recorder: Recorder | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.recorder = recorder
        self.dedup = DuplicateFilter()
        self.frames = 0  # data frames received (pongs and acknowledgements are not counted)
        self.liquidations = 0  # parsed, not repeats
        self.duplicates = 0
        self.malformed: Counter[str] = Counter()
        self.streams: list[Stream] = []
        self.started_at = time.time()

    def on_frame(self, payload: bytes, text: bool, received_at: float) -> bool:
        """One frame of the feed's streams (or of a recording); True when it carried data."""
        raise NotImplementedError

    # ---------------------------------------------------------------- the shell
    def stream(
        self,
        url: str,
        on_frame: Callable[[bytes, bool, float], bool],
        *,
        name: str | None = None,
        on_open: Hook | None = None,
        keepalive: Hook | None = None,
        rotate_after_s: float | None = None,
    ) -> Stream:
        s = self.settings
        stream = Stream(
            url,
            on_frame if self.recorder is None else self.recorder.wrap(self.name, on_frame),
            name=name or self.name,
            on_open=on_open,
            keepalive=keepalive,
            backoff=Backoff(s.backoff_base_s, s.backoff_cap_s, s.stable_s),
            silence_s=s.silence_s,
            rotate_after_s=rotate_after_s,
            overlap_s=s.overlap_s,
            ping_interval_s=s.ping_interval_s,
        )
        self.streams.append(stream)
        return stream

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the feed's streams until `stop` is set."""
        await asyncio.gather(*(s.run(stop) for s in self.streams))

    # ---------------------------------------------------------------- counting
    def malformed_frame(self, exc: FrameError, payload: bytes | str = b"") -> None:
        first = exc.kind not in self.malformed
        self.malformed[exc.kind] += 1
        if first:  # once per kind: a broken feed must not flood the logs
            logger.warning(
                "malformed frame skipped (logged once per kind)",
                extra={"feed": self.name, "kind": exc.kind, "detail": str(exc)[:200], "frame": repr(payload[:200])},
            )

    def deliver(self, liq: Liquidation, received_at: float) -> None:
        if self.dedup.is_duplicate(liq.identity):
            self.duplicates += 1
            return
        self.liquidations += 1
        self.sink(liq, received_at)

    def deliver_all(self, liquidations: list[Liquidation], received_at: float) -> None:
        """`deliver` for each of a frame's liquidations (one call for the batch: this is the hot path)."""
        is_duplicate, sink = self.dedup.is_duplicate, self.sink
        new = 0
        for liq in liquidations:
            if is_duplicate(liq.identity):
                self.duplicates += 1
                continue
            new += 1
            sink(liq, received_at)
        self.liquidations += new

    # ---------------------------------------------------------------- observations
    @property
    def connected(self) -> bool:
        return any(s.connected for s in self.streams)

    def fresh(self, now: float | None = None) -> bool:
        """Every stream of the feed is connected and heard from within its silence limit."""
        return bool(self.streams) and all(s.fresh(now) for s in self.streams)

    def last_frame_age_s(self) -> float | None:
        times = [t for s in self.streams if (t := s.last_message_at) is not None]
        return round(time.monotonic() - max(times), 3) if times else None

    def status(self) -> dict[str, Any]:
        streams = self.streams
        return {
            "healthy": self.fresh(),
            "state": _state(streams),
            "connections": [_stream_status(s) for s in streams],
            "last_frame_age_s": self.last_frame_age_s(),
            "frames": self.frames,
            "liquidations": self.liquidations,
            "duplicates": self.duplicates,
            "malformed": dict(self.malformed),
        }


def number_repeats(liquidations: list[Liquidation]) -> None:
    """Identical elements of one frame (a Bybit batch, an OKX push) are separate liquidations, while
    a frame delivered twice is one: each repeat within its frame carries its rank in the identity the
    duplicate filter sees."""
    if len(liquidations) < 2 or len({liq.identity for liq in liquidations}) == len(liquidations):
        return
    seen: Counter[Any] = Counter()
    for liq in liquidations:
        rank = seen[liq.identity]
        seen[liq.identity] += 1
        if rank:
            liq.identity = (liq.identity, rank)


def _state(streams: list[Stream]) -> str:
    states = {s.state for s in streams}
    for state in ("connected", "connecting", "waiting", "starting", "stopped"):
        if state in states:
            return state
    return "starting"


class Connection(Protocol):
    """What a connection's status shows: one stream, or the enabled feeds seen as one."""

    @property
    def state(self) -> str: ...
    @property
    def state_since(self) -> float: ...
    @property
    def url(self) -> str: ...
    @property
    def connections_opened(self) -> int: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def rotations(self) -> int: ...
    @property
    def silences(self) -> int: ...
    @property
    def connect_failures(self) -> int: ...
    @property
    def backoff_attempt(self) -> int: ...


def connection_status(connection: Connection) -> dict[str, Any]:
    return {
        "state": connection.state,
        "since": iso_ms(int(connection.state_since * 1000)),
        "url": connection.url,
        "connections_opened": connection.connections_opened,
        "reconnects": connection.reconnects,
        "rotations": connection.rotations,
        "silences": connection.silences,
        "connect_failures": connection.connect_failures,
        "backoff_attempt": connection.backoff_attempt,
    }


def _stream_status(stream: Stream) -> dict[str, Any]:
    return {"name": stream.name, **connection_status(stream)}
