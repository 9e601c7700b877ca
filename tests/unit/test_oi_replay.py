"""Replay of the real BTC open-interest series (Binance, 5-minute bars, June 2026) through the pure
evaluator, as OiEvaluateFunction would see it minute by minute.

The recording gives open interest in USD (`oi_close`); the evaluator works in coins, so each bar is
converted with that bar's close price (`oi_close / price_close` coins at mark `price_close`). The
test's own expectations use the same conversion but are computed directly from the CSV, not with
the evaluator. The recording has one exchange, so besides the true defaults (2 of 3 exchanges,
which one exchange can never satisfy) the default figures are also replayed with
`min_exchanges = 1`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import pytest

from cryptoalerts import oi, thresholds
from cryptoalerts.oi import Point
from cryptoalerts.thresholds import OiRule
from cryptoalerts.timeutil import MINUTE_MS, iso_ms
from infra.repo import BTC_OPEN_INTEREST

WINDOW_MIN = 15


def load(path: Path) -> dict[int, Point]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        int(r["timestamp"]): Point(
            oi=float(r["oi_close"]) / float(r["price_close"]), mark_price=float(r["price_close"])
        )
        for r in rows
    }


@pytest.fixture(scope="module")
def series() -> dict[int, Point]:
    bars = load(BTC_OPEN_INTEREST)
    assert len(bars) == 4406
    return bars


def replay(bars: dict[int, Point], rule: OiRule) -> tuple[list[int], list[int]]:
    """Evaluate every bar's minute in order; return (minutes that exploded, minutes that alerted)."""
    exploded, alerted, active = [], [], False
    for minute in sorted(bars):
        verdict = oi.evaluate("BTC", minute, rule, {"binance": bars}, thresholds.OI_EXCHANGE_COUNT)
        if oi.should_alert(verdict.exploded, active):
            alerted.append(minute)
        if verdict.exploded:
            exploded.append(minute)
        active = verdict.exploded
    return exploded, alerted


def changes_15m(bars: dict[int, Point]) -> dict[int, float]:
    """Each bar's change in coins against the bar exactly 15 minutes earlier, where there is one."""
    out = {}
    for minute, now in bars.items():
        then = bars.get(minute - WINDOW_MIN * MINUTE_MS)
        if then is not None:
            out[minute] = (now.oi - then.oi) * 100 / then.oi
    return out


def test_default_thresholds_never_fire_on_the_recorded_calm_market(series: dict[int, Point]) -> None:
    rule = thresholds.defaults().oi("BTC")
    as_deployed = replay(series, rule)
    one_exchange = replay(series, replace(rule, min_exchanges=1))
    largest = max(changes_15m(series).values())
    print(
        f"\nBTC replay, {len(series)} bars: default thresholds fire {len(as_deployed[1])} times "
        f"({len(one_exchange[1])} with min_exchanges=1); largest 15-min rise {largest:.2f} % "
        f"against the {rule.change_pct:g} % threshold"
    )
    assert as_deployed == ([], [])
    assert one_exchange == ([], [])
    assert 1 < largest < rule.change_pct  # data/README.md: +1.41 % in coins


def test_a_threshold_at_the_99_9th_percentile_fires_on_exactly_the_right_minutes(series: dict[int, Point]) -> None:
    changes = changes_15m(series)
    ordered = sorted(changes.values())
    p999 = ordered[math.ceil(0.999 * len(ordered)) - 1]  # nearest-rank percentile
    rule = OiRule(change_pct=p999, window_min=WINDOW_MIN, min_exchanges=1)

    # Expected, straight from the data: the condition holds where the change reaches the threshold;
    # an alert goes out where it holds and did not hold at the previous bar.
    holds = {m: changes.get(m, -math.inf) >= p999 for m in sorted(series)}
    minutes = sorted(series)
    expected_alerts = [m for i, m in enumerate(minutes) if holds[m] and not (i > 0 and holds[minutes[i - 1]])]
    expected_exploded = [m for m in minutes if holds[m]]

    exploded, alerted = replay(series, rule)
    print(
        f"\nBTC replay at the 99.9th percentile ({p999:.3f} %): {len(exploded)} minutes over it, "
        f"{len(alerted)} alerts at {', '.join(iso_ms(m) for m in alerted)}"
    )
    assert exploded == expected_exploded
    assert alerted == expected_alerts
    assert 1 <= len(alerted) <= len(exploded) <= 10
