"""Recording: every raw frame of every feed, with its receive time, as gzip-compressed JSON lines.

`python -m listener --record DIR` (or LISTENER_RECORD_DIR=DIR) writes `DIR/liquidations-<UTC hour>.jsonl.gz`,
a new file every hour. One line per frame, in the order the listener received them:

    {"feed":"bybit","t":1761125893270.412,"text":"{\\"topic\\":\\"allLiquidation.BTCUSDT\\",...}"}
    {"feed":"binance","t":1761125893271.002,"binary":"<base64>"}
    {"feed":"okx","t":1761125893000.0,"contracts":{"BTC-USDT-SWAP":0.01,...}}

`t` is the wall-clock receive time in epoch milliseconds. A `contracts` line records the contract
sizes OKX's frames are read with, whenever they change and at the top of every file, so each file
replays on its own (`crypto-alerts backtest --liquidations DIR`, infra/cli/replay.py). Replies
(pongs, acknowledgements) are recorded too: a replay reads the stream exactly as the listener did.

Writing never slows the stream: lines gather in memory and a worker thread compresses and appends
them once a second. A disk that fails is logged and counted; recording is best effort, alerting is not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from listener.log import logger

OnFrame = Callable[[bytes, bool, float], bool]
HOUR_MS = 3_600_000
FILE_PATTERN = "liquidations-*.jsonl.gz"
# Lines held before the next flush is due; beyond, a flush starts at once (bounded memory in a burst).
_FLUSH_AT_LINES = 20_000


def file_name(hour: int) -> str:
    """`liquidations-2025-10-22T09.jsonl.gz` for the UTC hour `hour` (epoch ms // HOUR_MS)."""
    return f"liquidations-{datetime.fromtimestamp(hour * 3600, UTC):%Y-%m-%dT%H}.jsonl.gz"


class Recorder:
    def __init__(
        self, directory: Path | str, flush_every_s: float = 1.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.flush_every_s = flush_every_s
        self._pending: list[tuple[int, bytes, str | None]] = []  # (hour, line, feed of a contracts line)
        self._context: dict[str, bytes] = {}  # feed -> its newest contracts line written (atop every new file)
        self._clock = clock
        self._offset_s = clock() - time.monotonic()  # monotonic receive times -> wall clock
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self._file: gzip.GzipFile | None = None
        self._hour: int | None = None
        self._flushing: asyncio.Future[None] | None = None
        self.lines = 0
        self.files = 0
        self.errors = 0

    def wrap(self, feed: str, on_frame: OnFrame) -> OnFrame:
        """`on_frame` that records each frame first."""
        prefix = b'{"feed":' + json.dumps(feed).encode() + b',"t":'
        offset, pending = self._offset_s, self._pending

        def recording(payload: bytes, text: bool, received_at: float) -> bool:
            ms = (received_at + offset) * 1000
            if text:
                body = b',"text":' + json.dumps(payload.decode("utf-8", "surrogateescape")).encode()
            else:
                body = b',"binary":"' + base64.b64encode(payload) + b'"'
            pending.append((int(ms // HOUR_MS), prefix + f"{ms:.3f}".encode() + body + b"}\n", None))
            if len(pending) >= _FLUSH_AT_LINES:
                self._flush_soon()
            return on_frame(payload, text, received_at)

        return recording

    def contracts(self, feed: str, sizes: Mapping[str, float]) -> None:
        """The contract sizes `feed`'s frames are read with from now on."""
        ms = self._clock() * 1000
        line = json.dumps({"feed": feed, "t": round(ms, 3), "contracts": dict(sizes)}, separators=(",", ":"))
        self._pending.append((int(ms // HOUR_MS), line.encode() + b"\n", feed))

    # ---------------------------------------------------------------- writing
    async def run(self, stop: asyncio.Event) -> None:
        """Flush once a second until `stop`, then flush what is left and close the file."""
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.flush_every_s)
                await self.flush()
        finally:
            await self.flush()
            await asyncio.get_running_loop().run_in_executor(self._writer, self._close)
            self._writer.shutdown(wait=False)

    async def flush(self) -> None:
        if self._flushing is not None:
            await self._flushing
        batch, self._pending[:] = list(self._pending), []
        if batch:
            self._flushing = asyncio.get_running_loop().run_in_executor(self._writer, self._write, batch)
            try:
                await self._flushing
            finally:
                self._flushing = None

    def _flush_soon(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: the periodic flush will do
            asyncio.get_running_loop().create_task(self.flush())

    def _write(self, batch: list[tuple[int, bytes, str | None]]) -> None:
        try:
            for hour, line, context_of in batch:
                if hour != self._hour:
                    self._open(hour)
                assert self._file is not None
                self._file.write(line)
                self.lines += 1
                if context_of is not None:
                    self._context[context_of] = line
            if self._file is not None:
                self._file.flush()
        except OSError as exc:
            self.errors += 1
            if self.errors == 1 or self.errors % 1000 == 0:
                logger.error("recording failed; frames are not being recorded", extra={"error": str(exc)[:300]})

    def _open(self, hour: int) -> None:
        self._close()
        path = self.directory / file_name(hour)
        self._file = opened = gzip.GzipFile(path, "ab", compresslevel=5)
        self._hour = hour
        self.files += 1
        for line in self._context.values():
            opened.write(line)
        logger.info("recording to a new file", extra={"path": str(path)})

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._hour = None

    def status(self) -> dict[str, object]:
        return {"directory": str(self.directory), "lines": self.lines, "files": self.files, "errors": self.errors}
