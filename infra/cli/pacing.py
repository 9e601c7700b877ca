"""Requests paced to an exchange's rate limit: at most N started within any window of S seconds.

Exchanges count requests in windows of their own (Binance 1,000 per 5 minutes for its statistics
endpoints, OKX 10 per 2 seconds per instrument, Bybit 600 per 5 seconds per IP). A client that keeps
every sliding window under the limit stays under theirs wherever their windows start; it keeps a
margin below the documented figure for the requests others on the same IP make.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

# Use this share of a documented limit: room for other clients on the same address.
MARGIN = 0.8


class Pace:
    def __init__(
        self,
        requests: int,
        per_s: float,
        *,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.requests = max(1, int(requests * margin))
        self.per_s = per_s
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._held_until = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when one more request may start, and count it as started."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._held_until:
                    await self._sleep(self._held_until - now)
                    continue
                while self._starts and self._starts[0] <= now - self.per_s:
                    self._starts.popleft()
                if len(self._starts) < self.requests:
                    self._starts.append(now)
                    return
                await self._sleep(self._starts[0] + self.per_s - now)

    def hold(self, seconds: float) -> None:
        """Start nothing for `seconds` (the exchange answered 429 with a Retry-After)."""
        self._held_until = max(self._held_until, self._clock() + seconds)
