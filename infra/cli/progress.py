"""A progress bar on stderr for work counted in steps (pages of history), with a line per group.

On a terminal it redraws one line in place; elsewhere (a pipe, a log file, a test) it stays quiet
until the end and prints one summary line, so logs hold no carriage returns.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO

WIDTH = 24
REDRAW_S = 0.1


class Progress:
    def __init__(
        self,
        label: str,
        totals: dict[str, int],
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.totals = dict(totals)
        self.done: Counter[str] = Counter()
        self.cached: Counter[str] = Counter()
        self._stream = stream if stream is not None else sys.stderr
        self._live = self._stream.isatty()
        self._clock = clock
        self._started = clock()
        self._drawn = 0.0

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def advance(self, group: str, *, cached: bool = False) -> None:
        self.done[group] += 1
        if cached:
            self.cached[group] += 1
        if self._live and (self._clock() - self._drawn >= REDRAW_S or self.done.total() == self.total):
            self._draw()

    def add(self, group: str, steps: int) -> None:
        """More steps for a group, found on the way (the price bars an exchange needs besides)."""
        self.totals[group] = self.totals.get(group, 0) + steps

    def skip(self, group: str) -> None:
        """The group stopped early (its exchange failed): its remaining steps will not come."""
        self.totals[group] = self.done[group]

    def close(self) -> str:
        """Finish the bar and return the summary line (also printed)."""
        elapsed = self._clock() - self._started
        done = self.done.total()
        from_cache = self.cached.total()
        summary = (
            f"{self.label}: {done} page(s), {from_cache} from the cache, {done - from_cache} fetched in {elapsed:.1f} s"
        )
        if self._live:
            self._stream.write("\r\x1b[2K")
        print(summary, file=self._stream, flush=True)
        return summary

    def _draw(self) -> None:
        self._drawn = self._clock()
        total = max(self.total, 1)
        done = self.done.total()
        filled = WIDTH * done // total
        groups = "  ".join(f"{g} {self.done[g]}/{n}" for g, n in sorted(self.totals.items()))
        line = f"{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] {done}/{total} pages  {groups}"
        self._stream.write("\r\x1b[2K" + line)
        self._stream.flush()
