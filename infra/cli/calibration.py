"""Thresholds from history: how often each candidate would have fired, and which one meets a target.

Pure: plain data in, plain data out. Every verdict is the pipeline's own rule run by the backtest
engine (`infra.cli.replay`), never a copy of it:
- open interest: each minute is measured once (`replay.evaluate_every_minute`: the exchanges' changes
  over the window, ±1 minute, in coins) and judged at each candidate `change_pct`
  (`oi.Evaluation.explodes_at`: `min_exchanges` or more rising by that much), one alert per episode
  (`replay.episode_starts`, i.e. `oi.should_alert`);
- liquidations: the symbol's liquidations go through the listener's `CascadeDetector` under each
  candidate `min_usd` / `cascade_count` (`replay.detect_cascades`).

A proposal is the lowest candidate at which the history fires at most the target rate, and so does
every candidate above it: the count of episodes is not strictly monotonic in the threshold (a higher
one can split an episode in two), and a proposal must not sit in such a dip.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from cryptoalerts import oi, thresholds
from cryptoalerts.cascade import Liquidation
from cryptoalerts.thresholds import LiquidationRule, OiRule, Thresholds
from cryptoalerts.timeutil import MINUTE_MS
from infra.cli import replay

DAY_MS = 86_400_000
# Percentiles of each exchange's window changes shown beside the proposal.
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# The automatic grid of `change_pct` candidates: about this many steps up to the largest rise seen,
# each step a "nice" number (1, 2, 2.5 or 5 times a power of ten), never finer than 0.01 %.
GRID_STEPS = 200
MIN_STEP_PCT = 0.01
MAX_CANDIDATES = 20_000
NICE_STEPS = (1.0, 2.0, 2.5, 5.0)
# `min_usd` candidates: 1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 times each power of ten from $1,000 up.
USD_LADDER = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5)
LOWEST_MIN_USD = 1_000.0
# `cascade_count` candidates besides the current one: two liquidations are not yet a cascade.
CASCADE_COUNTS = range(3, 11)


@dataclass(frozen=True)
class Coverage:
    """What one exchange's history (or a recording's series) of one symbol held."""

    points: int
    first_ms: int
    last_ms: int
    last_usd: float | None = None  # the newest open interest in USD


@dataclass(frozen=True)
class Rate:
    """How often a candidate `change_pct` would have fired over the history."""

    change_pct: float
    alerts: int
    per_day: float


@dataclass(frozen=True)
class Spread:
    """The distribution of one exchange's changes over the window (percent, positions in coins)."""

    exchange: str
    windows: int
    percentiles: tuple[tuple[float, float], ...]  # (percentile, change_pct)
    largest: float
    largest_at_ms: int


@dataclass(frozen=True)
class OiCalibration:
    symbol: str
    rule: OiRule  # the rule in force; the proposal changes only its `change_pct`
    target_per_day: float
    days: float  # time during which enough exchanges were measured for the rule to fire
    spreads: tuple[Spread, ...]
    step: float
    curve: tuple[Rate, ...]  # every candidate on the grid, ascending
    current: Rate
    proposed: Rate | None
    note: str | None = None  # why there is no proposal, or what limits it
    # Each exchange's change at every minute measured, oldest first (for the plot).
    changes: Mapping[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)

    @property
    def largest(self) -> Spread | None:
        """The exchange with the largest rise seen."""
        return max(self.spreads, key=lambda s: s.largest, default=None)


def calibrate_oi(
    symbol: str,
    series: Mapping[str, oi.Series],
    rule: OiRule,
    target_per_day: float,
    step: float | None = None,
) -> OiCalibration:
    """The alerts per day of each candidate `change_pct` on this history, and the proposal."""
    evaluations = replay.evaluate_every_minute(symbol, series, rule) if series else []
    measurable = [e for e in evaluations if len(e.changes) >= rule.min_exchanges]
    days = len(measurable) * _cadence_ms([e.minute_ms for e in evaluations]) / DAY_MS
    changes = _changes_by_exchange(evaluations)
    spreads = _spreads(changes)
    largest = max((s.largest for s in spreads), default=0.0)
    values = grid(largest, step) if largest > 0 else ()
    used_step = values[0] if values else (step or MIN_STEP_PCT)

    def rate(change_pct: float, alerts: int) -> Rate:
        return Rate(change_pct, alerts, alerts / days if days > 0 else 0.0)

    # A minute's verdict changes once as the threshold rises (from exploding to not): the rule itself,
    # asked by bisection, tells where; each candidate then needs no more than a comparison per minute.
    highest = [_highest_exploding(e, values) for e in evaluations]
    curve = tuple(
        rate(c, len(replay.first_of_each_episode(level >= i for level in highest))) for i, c in enumerate(values)
    )
    current = rate(rule.change_pct, len(replay.episode_starts(evaluations, rule.change_pct)))
    proposed = lowest_within(curve, target_per_day, key=lambda r: r.per_day) if resolves(days, target_per_day) else None
    note = _oi_note(symbol, series, rule, measurable, largest, days, target_per_day)
    return OiCalibration(
        symbol=symbol,
        rule=rule,
        target_per_day=target_per_day,
        days=days,
        spreads=spreads,
        step=used_step,
        curve=curve,
        current=current,
        proposed=proposed if largest > 0 else None,
        note=note,
        changes=changes,
    )


def _highest_exploding(verdict: oi.Evaluation, values: Sequence[float]) -> int:
    """The index of the highest candidate at which this minute explodes, -1 if none: exploding at a
    threshold means exploding at every lower one (more exchanges rise by less)."""
    low, high = 0, len(values)  # explodes at values[:low] (known), not at values[high:]
    while low < high:
        middle = (low + high) // 2
        if verdict.explodes_at(values[middle]):
            low = middle + 1
        else:
            high = middle
    return low - 1


def grid(largest: float, step: float | None = None) -> tuple[float, ...]:
    """Candidate `change_pct` values: multiples of `step` up to the first one above `largest`,
    where nothing fires any more. The step is a nice number giving about GRID_STEPS candidates."""
    if step is None:
        step = nice_step(largest / GRID_STEPS)
    if not step > 0 or not math.isfinite(step):
        raise ValueError(f"the grid step must be a positive number of percent, not {step}")
    count = math.floor(largest / step) + 1
    if count > MAX_CANDIDATES:
        raise ValueError(f"a step of {step:g}% gives {count:,} candidates up to {largest:.4g}%; use a coarser step")
    decimals = max(0, -math.floor(math.log10(step)) + 2)
    return tuple(round(step * i, decimals) for i in range(1, count + 1))


def nice_step(rough: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is at least `rough` (and at least MIN_STEP_PCT)."""
    rough = max(rough, MIN_STEP_PCT)
    power = 10.0 ** math.floor(math.log10(rough))
    for nice in (*NICE_STEPS, 10.0):
        if nice * power >= rough * (1 - 1e-9):
            return round(nice * power, 12)
    raise AssertionError("unreachable: 10 x 10^k is always at least rough")


def lowest_within(candidates: Sequence[Any], target: float, key: Callable[[Any], float]) -> Any:
    """The lowest candidate (they are in ascending order of threshold) whose rate, and the rate of
    every candidate above it, is at most `target`; None if even the highest exceeds it."""
    chosen = None
    for candidate in reversed(candidates):
        if key(candidate) > target:
            break
        chosen = candidate
    return chosen


def _cadence_ms(minutes: Sequence[int]) -> int:
    """The usual spacing of the history (5 minutes for the exchanges' history, 1 for live snapshots)."""
    gaps = Counter(b - a for a, b in pairwise(minutes) if b > a)
    return gaps.most_common(1)[0][0] if gaps else MINUTE_MS


def _changes_by_exchange(evaluations: Iterable[oi.Evaluation]) -> dict[str, tuple[tuple[int, float], ...]]:
    changes: dict[str, list[tuple[int, float]]] = {}
    for verdict in evaluations:
        for change in verdict.changes:
            changes.setdefault(change.exchange, []).append((verdict.minute_ms, change.change_pct))
    return {exchange: tuple(seen) for exchange, seen in sorted(changes.items())}


def _spreads(changes: Mapping[str, Sequence[tuple[int, float]]]) -> tuple[Spread, ...]:
    spreads = []
    for exchange, seen in changes.items():
        ordered = sorted(pct for _, pct in seen)
        at, largest = max(seen, key=lambda point: point[1])
        spreads.append(
            Spread(exchange, len(seen), tuple((p, percentile(ordered, p)) for p in PERCENTILES), largest, at)
        )
    return tuple(spreads)


def percentile(ordered: Sequence[float], p: float) -> float:
    """The p-th percentile of sorted values, interpolated between the two nearest ranks."""
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _oi_note(
    symbol: str,
    series: Mapping[str, oi.Series],
    rule: OiRule,
    measurable: Sequence[oi.Evaluation],
    largest: float,
    days: float,
    target: float,
) -> str | None:
    exchanges = sorted(ex for ex, points in series.items() if points)
    if not exchanges:
        return f"no open-interest history for {symbol}"
    if not measurable:
        have = ", ".join(exchanges)
        return (
            f"the rule needs {rule.min_exchanges} exchanges measured over {rule.window_min} min; "
            f"the history has {len(exchanges)} ({have}) that never overlap enough"
            if len(exchanges) >= rule.min_exchanges
            else f"the rule needs {rule.min_exchanges} exchanges; the history has {len(exchanges)} ({have}): "
            f"lower oi.{symbol}.min_exchanges or fetch the others"
        )
    if largest <= 0:
        return f"open interest never rose over {rule.window_min} min: any threshold stays silent"
    if not resolves(days, target):
        return (
            f"{_span(days)} of history cannot tell {target:g} a day apart from none: "
            f"{_needed(target, 'a longer history (--days) or a higher --target-per-day')}"
        )
    return None


def resolves(days: float, target_per_day: float) -> bool:
    """Whether a history this long can measure the target: one event in it must not already be more
    than the target rate (else "at most the target" only means "never", whatever the threshold)."""
    return days > 0 and days * target_per_day >= 1


def _span(days: float) -> str:
    return f"{days:.1f} days" if days >= 2 else f"{days * 24:.1f} h"


def _needed(target: float, remedy: str) -> str:
    return f"it takes at least {_span(1 / target)} ({remedy})"


# ---------------------------------------------------------------- liquidations
@dataclass(frozen=True)
class CascadeRate:
    """How often a candidate cascade rule would have fired over the recording."""

    min_usd: float
    cascade_count: int
    cascades: int
    per_day: float


@dataclass(frozen=True)
class LiquidationCalibration:
    symbol: str
    rule: LiquidationRule  # the rule in force; `window_s` stays as it is
    target_per_day: float
    days: float
    liquidations: int  # of this symbol in the recording
    largest_usd: float
    busiest: int  # the most liquidations of any size within `window_s`
    current: CascadeRate
    by_count: tuple[CascadeRate, ...]  # for each candidate count, its lowest `min_usd` within the target
    proposed: CascadeRate | None
    note: str | None = None


def calibrate_liquidations(
    symbol: str,
    liquidations: Sequence[Liquidation],
    rules: Thresholds,
    days: float,
    target_per_day: float,
    counts: Iterable[int] | None = None,
) -> LiquidationCalibration:
    """Cascades per day under the current rule and under candidate rules, and the proposal: of each
    count's lowest `min_usd` within the target, the one firing closest to the target (then the current
    count, then the larger count)."""
    mine = sorted((liq for liq in liquidations if liq.symbol == symbol), key=lambda liq: liq.time_ms)
    rule = rules.liquidation(symbol)

    def rate(min_usd: float, count: int) -> CascadeRate:
        candidate = _with_cascade_rule(rules, symbol, min_usd, count, rule.window_s)
        # The detector skips smaller ones itself; leaving them out first only saves it the work.
        fired = len(replay.detect_cascades((liq for liq in mine if liq.usd >= min_usd), candidate))
        return CascadeRate(min_usd, count, fired, fired / days if days > 0 else 0.0)

    current = rate(rule.min_usd, rule.cascade_count)
    largest = max((liq.usd for liq in mine), default=0.0)
    note = None
    by_count: list[CascadeRate] = []
    if not mine:
        note = f"no liquidation of {symbol} in the recording"
    elif not resolves(days, target_per_day):
        note = f"a recording of {_span(days)} cannot tell {target_per_day:g} a day apart from none: "
        note += _needed(target_per_day, "a longer recording or a higher --cascade-target-per-day")
    else:
        ladder = usd_ladder(largest)
        for count in sorted({*(counts if counts is not None else CASCADE_COUNTS), rule.cascade_count}):
            # From the top (silent) down, stopping at the first candidate above the target.
            chosen = None
            for min_usd in reversed(ladder):
                found = rate(min_usd, count)
                if found.per_day > target_per_day:
                    break
                chosen = found
            if chosen is not None:
                by_count.append(chosen)
    proposed = max(
        by_count,
        key=lambda r: (r.per_day, r.cascade_count == rule.cascade_count, r.cascade_count),
        default=None,
    )
    return LiquidationCalibration(
        symbol=symbol,
        rule=rule,
        target_per_day=target_per_day,
        days=days,
        liquidations=len(mine),
        largest_usd=largest,
        busiest=busiest(mine, rule.window_s),
        current=current,
        by_count=tuple(by_count),
        proposed=proposed,
        note=note,
    )


def usd_ladder(largest_usd: float) -> tuple[float, ...]:
    """`min_usd` candidates from $1,000 up to the first one above the largest liquidation."""
    values = []
    power = LOWEST_MIN_USD
    while True:
        for factor in USD_LADDER:
            value = factor * power
            values.append(value)
            if value > largest_usd:
                return tuple(values)
        power *= 10


def busiest(liquidations: Sequence[Liquidation], window_s: float) -> int:
    """The most liquidations with event times within one window (T - window_s, T]."""
    times = sorted(liq.time_ms for liq in liquidations)
    most = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window_s * 1000:
            start += 1
        most = max(most, end - start + 1)
    return most


def _with_cascade_rule(rules: Thresholds, symbol: str, min_usd: float, count: int, window_s: float) -> Thresholds:
    """The thresholds in force with only this symbol watched and the candidate rule for it."""
    document = thresholds.deep_merge(rules.document, {"symbols": [symbol]})
    document["liquidation"][symbol] = {"min_usd": min_usd, "cascade_count": count, "window_s": window_s}
    return thresholds.effective(document)
