"""Bounded in-memory outbox: alerts wait here until SQS has them (architecture.md §3).

`put` never blocks frame processing. Alerts go to a blocking `send_batch` (botocore's SendMessageBatch,
up to `batch` alerts a call) on worker threads, with up to `in_flight` calls at once, so a storm of
hundreds of alerts leaves within a few round trips and never waits behind the stream: an alert is
handed to a free call slot inside `put` itself, before the frames still in hand are read; while
every slot is busy, new alerts gather into the next batch. A sender task collects the results.
The alerts of a failed call (or those SQS refused in a partial failure) go back to the front of the
queue, and no new call is issued until a capped exponential backoff with full jitter has passed.
When the outbox is full the oldest queued alert gives way (a stale alert is worth less than a fresh
one), logged with its body and counted. On shutdown `close` lets the sender drain what is left with
short retries; the caller bounds the time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from listener.log import logger

# While draining for shutdown a retry waits at most this long, so several attempts fit the budget.
_CLOSING_RETRY_CAP_S = 0.5


@dataclass(slots=True)
class Pending:
    alert_id: str
    body: str
    received_at: float  # time.monotonic() when the frame that produced it arrived
    attempts: int = 0


# send_batch(alerts) -> [(alert, reason)] for those SQS refused; raises when the call itself failed.
SendBatch = Callable[[Sequence[Pending]], Sequence[tuple[Pending, str]]]


class Outbox:
    def __init__(
        self,
        send_batch: SendBatch,
        capacity: int = 1000,
        retry_base_s: float = 0.2,
        retry_cap_s: float = 30.0,
        batch: int = 10,
        in_flight: int = 4,
        on_send_issued: Callable[[Pending, float], None] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._send_batch = send_batch
        self.capacity = capacity
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.batch = max(1, batch)
        self.in_flight = max(1, in_flight)
        self._on_send_issued = on_send_issued
        self._rand = rand
        self._queue: deque[Pending] = deque()
        self._sending: dict[asyncio.Future[Sequence[tuple[Pending, str]]], list[Pending]] = {}
        self._wakeup = asyncio.Event()  # an alert was queued, or close() was called
        self._closed = False
        self._resume_at = 0.0  # monotonic: no call before this (backing off after a failure)
        self._failures_in_a_row = 0
        self._executor = ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="sqs-send")
        self._loop: asyncio.AbstractEventLoop | None = None  # while `run` runs
        self.sent = 0
        self.dropped = 0
        self.send_failures = 0  # calls that failed, or had entries refused
        self.calls = 0
        self.last_send_latency_ms: float | None = None  # frame received -> send issued, newest alert

    @property
    def depth(self) -> int:
        return len(self._queue) + sum(len(items) for items in self._sending.values())

    def pending(self) -> list[Pending]:
        return [item for items in self._sending.values() for item in items] + list(self._queue)

    def put(self, alert_id: str, body: str, received_at: float | None = None) -> None:
        if self.depth >= self.capacity and self._queue:
            lost = self._queue.popleft()
            self.dropped += 1
            logger.error(
                "outbox full: oldest alert dropped",
                extra={"alert_id": lost.alert_id, "capacity": self.capacity, "body": lost.body},
            )
        self._queue.append(Pending(alert_id, body, time.monotonic() if received_at is None else received_at))
        if self._loop is not None:  # a free call slot takes it now, before the rest of the frames in hand
            self._issue(self._loop)
        self._wakeup.set()

    def close(self) -> None:
        """Stop waiting for new alerts; `run` returns once everything queued has been sent."""
        self._closed = True
        # A long backoff would outlast the stop timeout: cut it to a short, jittered retry.
        now = time.monotonic()
        if self._resume_at > now:
            self._resume_at = now + self._rand() * min(self._resume_at - now, _CLOSING_RETRY_CAP_S)
        self._wakeup.set()

    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        try:
            while True:
                self._issue(loop)
                if self._closed and not self._queue and not self._sending:
                    return
                self._wakeup.clear()
                waits: set[asyncio.Future[Any]] = {*self._sending, asyncio.ensure_future(self._wakeup.wait())}
                # Alerts waiting and no call out: wake when the backoff ends (at once if it just has).
                timeout = max(0.0, self._resume_at - time.monotonic()) if self._queue and not self._sending else None
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waits - set(self._sending):
                    if not waiter.done():
                        waiter.cancel()
                for call in [c for c in self._sending if c.done()]:
                    self._finished(call)
        finally:
            self._loop = None
            for call in self._sending:
                call.cancel()
            self._executor.shutdown(wait=False)

    def _issue(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._queue and len(self._sending) < self.in_flight and time.monotonic() >= self._resume_at:
            items = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            issued = time.monotonic()
            for item in items:
                item.attempts += 1
                if self._on_send_issued is not None:
                    self._on_send_issued(item, issued)
            self.last_send_latency_ms = (issued - items[-1].received_at) * 1000
            self.calls += 1
            call = loop.run_in_executor(self._executor, self._send_batch, items)
            self._sending[call] = items

    def _finished(self, call: asyncio.Future[Sequence[tuple[Pending, str]]]) -> None:
        items = self._sending.pop(call)
        try:
            refused = list(call.result())
            error = "; ".join(sorted({reason for _item, reason in refused}))[:300]
        except Exception as exc:
            refused = [(item, "") for item in items]
            error = f"{type(exc).__name__}: {exc}"[:300]
        failed = {id(item) for item, _reason in refused}
        for item in items:
            if id(item) not in failed:
                self.sent += 1
                logger.info("alert sent", extra={"alert_id": item.alert_id, "attempts": item.attempts})
        if not refused:
            self._failures_in_a_row = 0
            return
        # Back to the front, in their order, ahead of everything queued since.
        self._queue.extendleft(reversed([item for item in items if id(item) in failed]))
        self.send_failures += 1
        self._failures_in_a_row += 1
        delay = self._retry_delay(self._failures_in_a_row)
        self._resume_at = max(self._resume_at, time.monotonic() + delay)
        logger.warning(
            "alert send failed; will retry",
            extra={
                "alert_ids": [item.alert_id for item in items if id(item) in failed],
                "attempt": max(item.attempts for item in items),
                "retry_in_s": round(delay, 3),
                "error": error,
            },
        )

    def _retry_delay(self, attempts: int) -> float:
        cap = _CLOSING_RETRY_CAP_S if self._closed else self.retry_cap_s
        return self._rand() * min(cap, self.retry_base_s * 2 ** (attempts - 1))
