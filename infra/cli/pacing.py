"""Requests paced to an exchange's rate limit: at most N within any window of S seconds.

Exchanges count requests in windows of their own (Binance 1,000 per 5 minutes for its statistics
endpoints, OKX 10 per 2 seconds per instrument, Bybit 600 per 5 seconds per IP), by when a request
reaches them. A client cannot see that moment, only that it lies between sending and the answer; so
a request holds its place in the window from the moment it is sent until S seconds after its answer.
Then any S seconds at the exchange hold at most N of them, however long each one queued on the way.
The client keeps a margin below the documented figure for the requests others on the address make.

    pace = Pace(10, 2.0)
    async with pace:
        await client.get(...)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType

# Use this share of a documented limit: room for other clients on the same address.
MARGIN = 0.8


class Pace:
    def __init__(self, requests: int, per_s: float, *, margin: float = MARGIN) -> None:
        self.requests = max(1, int(requests * margin))
        self.per_s = per_s
        self._answered: deque[float] = deque()  # when each of the last requests was answered
        self._in_flight = 0
        self._held_until = 0.0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> Pace:
        """Return when one more request may be sent, and count it."""
        loop = asyncio.get_running_loop()
        async with self._changed:
            while True:
                now = loop.time()
                while self._answered and self._answered[0] <= now - self.per_s:
                    self._answered.popleft()
                if now >= self._held_until and len(self._answered) + self._in_flight < self.requests:
                    self._in_flight += 1
                    return self
                if now < self._held_until:
                    wait: float | None = self._held_until - now
                elif self._answered:
                    wait = self._answered[0] + self.per_s - now
                else:
                    wait = None  # every place is taken by a request in flight: its answer frees one
                with contextlib.suppress(TimeoutError):  # a place frees itself in time, or an answer frees one
                    await asyncio.wait_for(self._changed.wait(), wait)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        async with self._changed:
            self._in_flight -= 1
            self._answered.append(asyncio.get_running_loop().time())
            self._changed.notify_all()

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (the exchange answered 429 with a Retry-After)."""
        self._held_until = max(self._held_until, asyncio.get_running_loop().time() + seconds)
