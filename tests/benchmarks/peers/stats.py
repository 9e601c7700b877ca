"""The figures of a peer benchmark: per-run measurements, medians, paired ratios, the issue's bars,
and the table `make bench-peers` prints. Pure: no I/O, no clock.

Ratios are paired: each repetition runs every consumer once, back to back, so a ratio compares runs
that saw the same machine load; the median over repetitions is the figure quoted.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

LISTENER = "listener"
CRYPTOFEED = "cryptofeed"
BARE = "bare"
NULL = "null"  # the server alone, read by a consumer that only counts bytes

MB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    """One consumer's timed phase: from the server's first timed write to the consumer's last frame."""

    consumer: str
    repetition: int
    frames: int
    seconds: float
    cpu_seconds: float  # user + system of the consumer process over the timed phase
    peak_rss_bytes: int  # VmHWM at the end of the run (start-up included: it is the peak)
    server_cpu_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds

    @property
    def cpu_us_per_frame(self) -> float:
        return self.cpu_seconds / self.frames * 1e6

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / MB

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "frames_per_s": self.frames_per_s,
            "cpu_us_per_frame": self.cpu_us_per_frame,
            "peak_rss_mb": self.peak_rss_mb,
        }


def runs_of(runs: Iterable[Run], consumer: str) -> list[Run]:
    return sorted((r for r in runs if r.consumer == consumer), key=lambda r: r.repetition)


def median_of(runs: Iterable[Run], consumer: str, metric: str) -> float | None:
    values = [getattr(r, metric) for r in runs_of(runs, consumer)]
    return statistics.median(values) if values else None


def paired(runs: Iterable[Run], numerator: str, denominator: str, metric: str) -> list[float]:
    """numerator's metric / denominator's, per repetition in which both ran."""
    by_rep: dict[int, dict[str, Run]] = {}
    for r in runs:
        by_rep.setdefault(r.repetition, {})[r.consumer] = r
    return [
        getattr(pair[numerator], metric) / getattr(pair[denominator], metric)
        for _, pair in sorted(by_rep.items())
        if numerator in pair and denominator in pair
    ]


@dataclass(frozen=True)
class Bar:
    """One of issue 13's targets for the listener against its peers."""

    label: str
    per_repetition: list[float]
    value: float
    limit: float
    relation: str  # ">=", "<=" or "<": how value must compare with limit
    unit: str = "×"

    @property
    def ok(self) -> bool:
        if self.relation == ">=":
            return self.value >= self.limit
        return self.value <= self.limit if self.relation == "<=" else self.value < self.limit


def bars(runs: Sequence[Run]) -> list[Bar]:
    """The bars the listener must meet (issue 13); a bar whose peer did not run is left out."""
    out: list[Bar] = []
    specs = [
        ("listener / cryptofeed frames/s", CRYPTOFEED, "frames_per_s", 1.5, ">="),
        ("listener / bare frames/s", BARE, "frames_per_s", 0.9, ">="),
        ("listener / bare CPU per frame", BARE, "cpu_us_per_frame", 1.2, "<="),
    ]
    for label, peer, metric, limit, relation in specs:
        ratios = paired(runs, LISTENER, peer, metric)
        if ratios:
            out.append(Bar(label, ratios, statistics.median(ratios), limit, relation))
    rss = [r.peak_rss_mb for r in runs_of(runs, LISTENER)]
    if rss:
        # The highest peak of any repetition: the budget is a ceiling, not a typical value.
        out.append(Bar("listener peak RSS", rss, max(rss), 45.0, "<", unit=" MB"))
    return out


# ---------------------------------------------------------------- the printed report
def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(runs: Sequence[Run], order: Sequence[str]) -> str:
    """Per consumer: median frames/s (each repetition's in brackets), CPU µs per frame, peak RSS."""
    lines = [f"{'consumer':<15} {'frames/s':>10}  {'(per repetition)':<30} {'CPU µs/frame':>12} {'peak RSS':>10}"]
    for consumer in order:
        mine = runs_of(runs, consumer)
        if not mine:
            continue
        each = " ".join(f"{r.frames_per_s / 1000:,.0f}k" for r in mine)
        lines.append(
            f"{consumer:<15} {_num(median_of(runs, consumer, 'frames_per_s')):>10}  {'(' + each + ')':<30} "
            f"{_num(median_of(runs, consumer, 'cpu_us_per_frame'), 2):>12} "
            f"{_num(median_of(runs, consumer, 'peak_rss_mb'), 1):>7} MB"
        )
    return "\n".join(lines)


def bar_lines(found: Sequence[Bar]) -> str:
    lines = []
    for bar in found:
        each = " ".join(f"{v:.2f}" for v in bar.per_repetition)
        sign = {">=": "≥", "<=": "≤", "<": "<"}[bar.relation]
        verdict = "meets" if bar.ok else "MISSES"
        limit = f"{bar.limit:g}{bar.unit.strip()}"
        lines.append(f"{bar.label:<32} {bar.value:6.2f}{bar.unit:<3} (each: {each})  bar {sign} {limit}: {verdict}")
    return "\n".join(lines)


def server_headroom(runs: Sequence[Run], consumers: Sequence[str]) -> tuple[float, float] | None:
    """(null consumer's median frames/s, fastest real consumer's): the server must outpace the latter."""
    null = median_of(runs, NULL, "frames_per_s")
    fastest = max((m for c in consumers if (m := median_of(runs, c, "frames_per_s")) is not None), default=None)
    if null is None or fastest is None:
        return None
    return null, fastest
