"""The commands' pure calculations against figures computed by hand: funding, spread, relative
volume, taker delta and CVD, divergence, volume profile (grid, POC ties, value area, VWAP) and
open-interest changes with the distance to the alert rule."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cryptoalerts import funding, oi_changes, relative_volume, taker_flow, volume_profile
from cryptoalerts.spread import spread
from cryptoalerts.taker_flow import Flow
from cryptoalerts.thresholds import OiRule

DAY = 86_400_000
MIN = 60_000


# ---------------------------------------------------------------- funding
@pytest.mark.parametrize(
    ("rate", "hours", "annual"),
    [(0.0001, 8, 10.95), (0.0001, 4, 21.9), (-0.00005, 1, -43.8), (0.000125, 8, 13.6875)],
)
def test_funding_is_annualised_by_payments_per_year(rate: float, hours: float, annual: float) -> None:
    assert funding.annualised_pct(rate, hours) == pytest.approx(annual)


def test_a_funding_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        funding.annualised_pct(0.0001, 0)


def test_time_to_the_next_payment_never_goes_negative() -> None:
    assert funding.time_to_next_ms(10_000, 4_000) == 6_000
    assert funding.time_to_next_ms(10_000, 12_000) == 0


# ---------------------------------------------------------------- spread
def test_spread_is_high_minus_low_over_their_midpoint_in_basis_points() -> None:
    gap = spread({"binance": 100.0, "bybit": 100.1, "okx": 99.9})
    assert gap is not None
    assert gap.bps == pytest.approx(20.0)  # 0.2 / 100.0 x 10,000
    assert (gap.highest, gap.lowest) == ("bybit", "okx")


def test_spread_needs_two_prices() -> None:
    assert spread({"binance": 100.0}) is None
    assert spread({"binance": 100.0, "okx": 0.0}) is None  # a price of 0 is no quote


# ---------------------------------------------------------------- relative volume
def test_relative_volume_compares_with_the_same_time_on_previous_days() -> None:
    t = 50 * DAY + 9 * 3_600_000  # a bar opening at 09:00
    volumes = {t - k * DAY: 10.0 * k for k in range(1, 8)}  # 10, 20, ... 70: mean 40
    volumes[t - 3_600_000] = 1_000.0  # the bar before it is no baseline
    usual = relative_volume.baseline(volumes, t)
    assert sorted(usual) == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    assert relative_volume.relative(100.0, usual) == pytest.approx(2.5)


def test_missing_days_shrink_the_baseline_and_none_leaves_no_figure() -> None:
    t = 50 * DAY
    assert relative_volume.baseline({t - DAY: 30.0, t - 3 * DAY: 50.0}, t) == [30.0, 50.0]
    assert relative_volume.relative(80.0, [30.0, 50.0]) == pytest.approx(2.0)
    assert relative_volume.relative(80.0, []) is None
    assert relative_volume.relative(80.0, [0.0, 0.0]) is None


def test_the_current_bar_is_judged_by_its_pace_once_enough_of_it_passed() -> None:
    assert relative_volume.pace(30.0, 0.25, [40.0]) == pytest.approx(3.0)  # 30 in a quarter: 120 a bar
    assert relative_volume.pace(30.0, 0.1, [40.0]) is None


# ---------------------------------------------------------------- taker flow
FLOWS = [Flow(0, 10, 5), Flow(1, 5, 10), Flow(2, 8, 8), Flow(3, 20, 10)]  # deltas +5, -5, 0, +10


def test_delta_cvd_and_buy_share() -> None:
    assert taker_flow.cvd(FLOWS) == [5, 0, 0, 10]
    assert taker_flow.delta(FLOWS, 2) == 10
    assert taker_flow.delta(FLOWS, 4) == 10
    assert taker_flow.buy_share(FLOWS, 4) == pytest.approx(43 / 76)
    assert taker_flow.buy_share([], 4) is None


def test_exchanges_combine_only_where_both_have_the_period() -> None:
    other = [Flow(1, 1, 2), Flow(3, 4, 0), Flow(9, 100, 0)]
    combined = taker_flow.combine(FLOWS, other)
    assert [(f.open_ms, f.buy, f.sell) for f in combined] == [(1, 6, 12), (3, 24, 10)]


def test_price_change_runs_from_the_span_first_open_to_the_last_close() -> None:
    opens, closes = [100.0, 101.0, 102.0, 103.0], [101.0, 102.0, 103.0, 104.0]
    assert taker_flow.price_change_pct(opens, closes, 2) == pytest.approx((104 / 102 - 1) * 100)
    assert taker_flow.price_change_pct(opens, closes, 5) is None


@pytest.mark.parametrize(
    ("price", "delta", "volume", "kind"),
    [
        (1.0, -5.0, 100.0, "bearish"),  # price up, takers sold 5 % net
        (-1.0, 5.0, 100.0, "bullish"),  # price down, takers bought
        (1.0, 5.0, 100.0, None),  # same direction
        (0.1, -5.0, 100.0, None),  # the price barely moved
        (1.0, -1.0, 100.0, None),  # 1 % imbalance is balance
        (None, -5.0, 100.0, None),
    ],
)
def test_divergence_needs_opposite_and_material_moves(
    price: float | None, delta: float, volume: float, kind: str | None
) -> None:
    assert taker_flow.divergence(price, delta, volume) == kind


# ---------------------------------------------------------------- volume profile
@dataclass(frozen=True)
class Candle:
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float


@pytest.mark.parametrize(
    ("span", "rows", "step"),
    [(100.0, 32, 5.0), (7.5, 3, 2.5), (0.00017, 32, 0.00001), (64.0, 32, 2.0), (3200.0, 32, 100.0)],
)
def test_rows_are_nice_steps_sized_to_the_range(span: float, rows: int, step: float) -> None:
    assert volume_profile.nice_step(span, rows) == pytest.approx(step)


def test_a_tiny_price_gets_tiny_rows_not_zero() -> None:
    grid = volume_profile.grid([Candle(0.00001240, 0.00001200, 0.0000123, 1, 1)])
    assert grid is not None
    assert 0 < grid.step <= 0.000000025
    assert grid.origin <= 0.000012 < grid.origin + grid.step


def test_a_bar_volume_spreads_over_the_rows_its_range_covers() -> None:
    grid = volume_profile.Grid(origin=100.0, step=1.0, rows=5)
    volumes = volume_profile.distribute(
        [Candle(103.0, 101.0, 102.0, 10.0, 1020.0), Candle(104.5, 104.5, 104.5, 3.0, 313.5)], grid
    )
    assert volumes == [0.0, 5.0, 5.0, 0.0, 3.0]


@pytest.mark.parametrize(
    ("volumes", "poc"),
    [
        ([0, 5, 1, 5, 0], 1),  # two rows equally near the middle: the lower
        ([5, 1, 5, 1, 5], 2),  # the one nearest the middle of the traded range
        ([1, 2, 9, 2, 1], 2),
        ([0, 0, 3, 1, 3], 2),  # the middle of what traded (rows 2..4) is row 3: 2 and 4 tie, lower wins
    ],
)
def test_point_of_control_ties(volumes: list[float], poc: int) -> None:
    assert volume_profile.point_of_control(volumes) == poc


@pytest.mark.parametrize(
    ("volumes", "area"),
    [
        ([1, 2, 10, 4, 3], (2, 3)),  # 10 + 4 = 14 >= 70 % of 20
        ([1, 3, 10, 3, 1], (1, 3)),  # equal neighbours are added together: 16 >= 12.6
        ([6, 1, 1, 1, 1], (0, 1)),  # at the edge it can only grow one way: 7 >= 7
        ([10, 1, 1, 1, 1], (0, 0)),  # the POC alone holds 70 %
        ([0, 0, 6, 0, 4], (1, 4)),  # empty neighbours tie (both added), then the volume beyond them
    ],
)
def test_value_area_grows_from_the_poc_toward_the_heavier_side(volumes: list[float], area: tuple[int, int]) -> None:
    poc = volume_profile.point_of_control(volumes)
    assert volume_profile.value_area(volumes, poc) == area


def test_profile_reports_levels_position_and_vwap() -> None:
    candles = [Candle(102.0, 100.0, 101.0, 2.0, 200.0), Candle(104.0, 102.0, 103.0, 3.0, 330.0)]
    grid = volume_profile.Grid(origin=100.0, step=1.0, rows=4)
    profile = volume_profile.profile(candles, grid)
    assert profile is not None
    assert list(profile.volumes) == [1.0, 1.0, 1.5, 1.5]
    assert profile.vwap == pytest.approx(106.0)  # (200 + 330) / 5
    assert profile.poc == 2 and profile.poc_price == 102.5
    assert (profile.value_area_low, profile.value_area_high) == (101.0, 104.0)  # 4 of 5 >= 3.5
    assert [profile.position(p) for p in (100.5, 102.0, 104.5)] == ["below", "inside", "above"]
    assert volume_profile.profile([], grid) is None


# ---------------------------------------------------------------- open-interest changes
RULE = OiRule(change_pct=15, window_min=15, min_exchanges=2)


def test_change_over_a_horizon_within_one_series() -> None:
    series = {0: 100.0, 15 * MIN: 110.0}
    change = oi_changes.change(series, 15 * MIN, 15, MIN)
    assert change is not None and change.pct == pytest.approx(10.0)


def test_ends_may_stand_in_within_the_tolerance_the_later_one_first() -> None:
    series = {MIN: 100.0, -MIN: 50.0, 16 * MIN: 120.0}
    change = oi_changes.change(series, 16 * MIN, 15, MIN)  # 1 min off: the point at +1 min wins the tie
    assert change is not None and (change.before, change.after) == (100.0, 120.0)
    assert oi_changes.change({0: 100.0, 17 * MIN: 120.0}, 17 * MIN, 15, MIN) is None  # 2 min off


def test_the_total_is_the_change_of_the_sum() -> None:
    changes = {
        "binance": oi_changes.Change(100.0, 110.0, 0, 1),
        "bybit": oi_changes.Change(300.0, 300.0, 0, 1),
        "okx": None,
    }
    assert oi_changes.total(changes) == pytest.approx(2.5)
    assert oi_changes.total({"okx": None}) is None


def test_the_gap_to_the_alert_is_set_by_the_deciding_exchange() -> None:
    gap = oi_changes.gap({"binance": 20.0, "bybit": 5.0, "okx": None}, RULE)
    assert (gap.deciding_pct, gap.points_short, gap.confirming, gap.met) == (5.0, 10.0, 1, False)
    met = oi_changes.gap({"binance": 20.0, "bybit": 16.0, "okx": 1.0}, RULE)
    assert met.met and met.points_short == 0.0 and met.confirming == 2
    assert oi_changes.gap({"binance": 20.0, "bybit": None, "okx": None}, RULE).deciding_pct is None
