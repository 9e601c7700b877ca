"""The pure OI evaluator: delta math, nearest-minute rule, confirmation, price moves, episodes."""

from __future__ import annotations

import pytest

from cryptoalerts import alert, oi
from cryptoalerts.oi import Point
from cryptoalerts.thresholds import OiRule
from cryptoalerts.timeutil import MINUTE_MS

M = 29_679_000 * MINUTE_MS  # 2026-06-07T04:40:00Z, a minute boundary
RULE = OiRule(change_pct=15, window_min=15, min_exchanges=2)


def at(minutes_before: int) -> int:
    return M - minutes_before * MINUTE_MS


def series(before: float, after: float, *, before_at: int = 15, after_at: int = 0, price: float = 100.0) -> oi.Series:
    return {at(before_at): Point(before, price), at(after_at): Point(after, price)}


# ---------------------------------------------------------------- which minutes
def test_minutes_needed_are_the_newer_end_and_each_window_start_with_tolerance() -> None:
    assert oi.minutes_needed(M, [15]) == [at(16), at(15), at(14), at(1), at(0)]
    assert oi.minutes_needed(M, [15, 60, 15]) == [at(61), at(60), at(59), at(16), at(15), at(14), at(1), at(0)]


def test_nearest_prefers_the_exact_minute_then_the_later_neighbour() -> None:
    s = {at(16): Point(1, 1), at(15): Point(2, 1), at(14): Point(3, 1)}
    assert oi.nearest(s, at(15), latest_ms=M) == (at(15), Point(2, 1))
    del s[at(15)]
    assert oi.nearest(s, at(15), latest_ms=M) == (at(14), Point(3, 1))
    del s[at(14)]
    assert oi.nearest(s, at(15), latest_ms=M) == (at(16), Point(1, 1))
    del s[at(16)]
    assert oi.nearest({at(17): Point(1, 1), at(13): Point(1, 1)}, at(15), latest_ms=M) is None


def test_nearest_never_uses_a_minute_after_the_evaluated_one() -> None:
    assert oi.nearest({M + MINUTE_MS: Point(1, 1)}, M, latest_ms=M) is None
    assert oi.nearest({at(1): Point(1, 1), M + MINUTE_MS: Point(2, 1)}, M, latest_ms=M) == (at(1), Point(1, 1))


# ---------------------------------------------------------------- delta math
def test_change_is_the_ratio_of_open_interest_in_coins() -> None:
    change = oi.exchange_change("binance", series(1000, 1200), M, 15)
    assert change is not None
    assert change.change_pct == pytest.approx(20.0)
    assert (change.before, change.after) == (1000, 1200)
    assert (change.before_usd, change.after_usd) == (100_000, 120_000)


def test_a_fall_is_a_negative_change() -> None:
    change = oi.exchange_change("okx", series(1000, 800), M, 15)
    assert change is not None and change.change_pct == pytest.approx(-20.0)


@pytest.mark.parametrize(
    ("before_at", "after_at", "counts"),
    [
        (15, 0, True),
        (14, 0, True),  # window start missing: the minute after it stands in
        (16, 0, True),  # ... or the minute before it
        (15, 1, True),  # the evaluated minute missing: the minute before stands in
        (17, 0, False),  # two minutes away is too far
        (13, 0, False),
        (15, 2, False),
        (15, -1, False),  # only a later minute: not available when M is evaluated
    ],
)
def test_missing_minutes_use_the_nearest_within_one_minute_else_the_exchange_does_not_count(
    before_at: int, after_at: int, counts: bool
) -> None:
    change = oi.exchange_change("bybit", series(1000, 1300, before_at=before_at, after_at=after_at), M, 15)
    assert (change is not None) is counts


def test_both_ends_cannot_be_the_same_snapshot() -> None:
    # Window of 1 minute, only M-1 stored: it would be both ends; the exchange does not count.
    assert oi.exchange_change("binance", {at(1): Point(10, 1)}, M, 1) is None
    change = oi.exchange_change("binance", {at(1): Point(10, 1), at(0): Point(12, 1)}, M, 1)
    assert change is not None and change.change_pct == pytest.approx(20.0)


def test_zero_open_interest_before_does_not_count() -> None:
    assert oi.exchange_change("okx", series(0, 100), M, 15) is None


def test_a_price_move_alone_does_not_fire() -> None:
    # OI in coins unchanged while the price doubles: USD OI doubles, the change in positions is 0.
    moved = {at(15): Point(1000, 50_000), at(0): Point(1000, 100_000)}
    verdict = oi.evaluate("BTC", M, RULE, {"binance": moved, "bybit": moved, "okx": moved}, 3)
    assert [c.change_pct for c in verdict.changes] == [0.0, 0.0, 0.0]
    assert verdict.after_usd == 2 * verdict.before_usd
    assert not verdict.exploded


def test_a_price_fall_does_not_hide_a_rise_in_positions() -> None:
    rose = {at(15): Point(1000, 100_000), at(0): Point(1200, 80_000)}  # +20% coins, USD -4%
    verdict = oi.evaluate("BTC", M, RULE, {"binance": rose, "okx": rose}, 3)
    assert verdict.exploded and verdict.after_usd < verdict.before_usd


# ---------------------------------------------------------------- confirmation
@pytest.mark.parametrize(
    ("changes", "min_exchanges", "confirming", "exploded"),
    [
        ((20, 20, 20), 2, 3, True),
        ((20, 16, 0), 2, 2, True),
        ((20, 14.9, 0), 2, 1, False),
        ((15, 15, 0), 2, 2, True),  # exactly the threshold counts ("by change_pct or more")
        ((20, 20, 0), 3, 2, False),
        ((20, 0, 0), 1, 1, True),
        ((-30, -30, -30), 1, 0, False),  # a collapse is not an explosion
    ],
)
def test_confirmation_counts_exchanges_at_or_above_the_threshold(
    changes: tuple[float, float, float], min_exchanges: int, confirming: int, exploded: bool
) -> None:
    rule = OiRule(change_pct=15, window_min=15, min_exchanges=min_exchanges)
    data = {name: series(1000, 1000 + 10 * pct) for name, pct in zip(("binance", "bybit", "okx"), changes, strict=True)}
    verdict = oi.evaluate("BTC", M, rule, data, 3)
    assert len(verdict.confirming) == confirming
    assert verdict.exploded is exploded


def test_an_exchange_without_data_cannot_confirm() -> None:
    data = {"binance": series(1000, 1300), "bybit": {at(0): Point(1300, 100)}}  # bybit has no start
    verdict = oi.evaluate("BTC", M, RULE, data, 3)
    assert [c.exchange for c in verdict.changes] == ["binance"]
    assert not verdict.exploded


def test_no_data_at_all_is_a_calm_verdict() -> None:
    verdict = oi.evaluate("BTC", M, RULE, {}, 3)
    assert verdict.changes == () and verdict.change_pct == 0.0 and not verdict.exploded


# ---------------------------------------------------------------- alert figures and priority
def test_aggregate_figures_sum_the_exchanges_that_count() -> None:
    data = {
        "binance": {at(15): Point(1000, 100), at(0): Point(1300, 110)},
        "okx": {at(15): Point(3000, 100), at(0): Point(3300, 110)},
    }
    verdict = oi.evaluate("BTC", M, OiRule(change_pct=10, window_min=15, min_exchanges=2), data, 3)
    assert verdict.change_pct == pytest.approx(15.0)  # 4000 -> 4600 coins
    assert verdict.before_usd == pytest.approx(400_000)
    assert verdict.after_usd == pytest.approx(506_000)
    body = verdict.alert_data()
    assert body["confirming"] == 2 and body["exchanges_total"] == 3 and body["window_min"] == 15
    assert body["per_exchange"]["binance"] == {
        "before": 1000,
        "after": 1300,
        "change_pct": pytest.approx(30.0),
        "before_usd": 100_000,
        "after_usd": 143_000,
    }
    # The data satisfies alert schema 1 as the dispatcher will check it.
    made = alert.oi_explosion("BTC", M, verdict.priority, body)
    assert alert.decode(made.encode()).data == body


@pytest.mark.parametrize(("pct", "priority"), [(20, "LOW"), (22.5, "MEDIUM"), (44.9, "MEDIUM"), (45, "HIGH")])
def test_priority_follows_the_aggregate_change_against_the_threshold(pct: float, priority: str) -> None:
    data = {name: series(1000, 1000 + 10 * pct) for name in ("binance", "bybit")}
    assert oi.evaluate("BTC", M, RULE, data, 3).priority == priority


# ---------------------------------------------------------------- episodes
def run_episodes(conditions: list[bool]) -> list[int]:
    """Indices of the evaluations that alert, carrying the episode state as the store does."""
    active, alerts = False, []
    for i, exploded in enumerate(conditions):
        if oi.should_alert(exploded, active):
            alerts.append(i)
        active = exploded
    return alerts


@pytest.mark.parametrize(
    ("conditions", "alerts"),
    [
        ([False, True, True, True, False], [1]),
        ([True, True, False, True], [0, 3]),
        ([True, False, True, False, True], [0, 2, 4]),
        ([False, False], []),
    ],
)
def test_one_alert_per_episode_and_again_only_after_a_calm_evaluation(
    conditions: list[bool], alerts: list[int]
) -> None:
    assert run_episodes(conditions) == alerts
