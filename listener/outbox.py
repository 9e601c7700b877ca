"""Bounded in-memory outbox: alerts wait here until SQS has them (architecture.md §3).

`put` never blocks frame processing: a dedicated sender task hands each alert to a blocking `send`
(boto3) on its own single worker thread, in order, retrying a failure with capped exponential
backoff and full jitter for as long as the process lives. When the outbox is full the oldest alert
gives way (a stale alert is worth less than a fresh one) and that is logged and counted. On
shutdown `close` lets the sender drain what is left with short retries; the caller bounds the time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from listener.log import logger

# While draining for shutdown a retry waits at most this long, so several attempts fit the budget.
_CLOSING_RETRY_CAP_S = 0.5


@dataclass(slots=True)
class Pending:
    alert_id: str
    body: str
    received_at: float  # perf_counter() when the frame that produced it arrived
    attempts: int = 0


class Outbox:
    def __init__(
        self,
        send: Callable[[str], object],
        capacity: int = 1000,
        retry_base_s: float = 0.2,
        retry_cap_s: float = 30.0,
        on_send_issued: Callable[[Pending, float], None] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._send = send
        self.capacity = capacity
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self._on_send_issued = on_send_issued
        self._rand = rand
        self._queue: deque[Pending] = deque()
        self._inflight: Pending | None = None
        self._wakeup = asyncio.Event()  # an alert was queued
        self._closed = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqs-send")
        self.sent = 0
        self.dropped = 0
        self.send_failures = 0
        self.last_send_latency_ms: float | None = None

    @property
    def depth(self) -> int:
        return len(self._queue) + (self._inflight is not None)

    def pending(self) -> list[Pending]:
        head = [self._inflight] if self._inflight is not None else []
        return head + list(self._queue)

    def put(self, alert_id: str, body: str, received_at: float | None = None) -> None:
        if self.depth >= self.capacity and self._queue:
            lost = self._queue.popleft()
            self.dropped += 1
            logger.error(
                "outbox full: oldest alert dropped",
                extra={"alert_id": lost.alert_id, "capacity": self.capacity, "body": lost.body},
            )
        self._queue.append(Pending(alert_id, body, time.perf_counter() if received_at is None else received_at))
        self._wakeup.set()

    def close(self) -> None:
        """Stop waiting for new alerts; `run` returns once everything queued has been sent."""
        self._closed.set()
        self._wakeup.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._queue:
                    if self._closed.is_set():
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                item = self._inflight = self._queue.popleft()
                item.attempts += 1
                issued = time.perf_counter()
                self.last_send_latency_ms = (issued - item.received_at) * 1000
                if self._on_send_issued is not None:
                    self._on_send_issued(item, issued)
                try:
                    await loop.run_in_executor(self._executor, self._send, item.body)
                except Exception as exc:
                    self._queue.appendleft(item)
                    self._inflight = None
                    self.send_failures += 1
                    delay = self._retry_delay(item.attempts)
                    logger.warning(
                        "alert send failed; will retry",
                        extra={
                            "alert_id": item.alert_id,
                            "attempt": item.attempts,
                            "retry_in_s": round(delay, 3),
                            "error": f"{type(exc).__name__}: {exc}"[:300],
                        },
                    )
                    await self._sleep(delay)
                    continue
                self._inflight = None
                self.sent += 1
                logger.info("alert sent", extra={"alert_id": item.alert_id, "attempts": item.attempts})
        finally:
            self._executor.shutdown(wait=False)

    def _retry_delay(self, attempts: int) -> float:
        cap = _CLOSING_RETRY_CAP_S if self._closed.is_set() else self.retry_cap_s
        return self._rand() * min(cap, self.retry_base_s * 2 ** (attempts - 1))

    async def _sleep(self, delay: float) -> None:
        # close() cuts a long backoff short so that shutdown drains with short retries.
        if self._closed.is_set():
            await asyncio.sleep(delay)
            return
        try:
            await asyncio.wait_for(self._closed.wait(), delay)
        except TimeoutError:
            return
        await asyncio.sleep(min(delay, _CLOSING_RETRY_CAP_S) * self._rand())
