"""The calibration core: alerts per day per candidate threshold, by the pipeline's own rule, and the proposal."""

from __future__ import annotations

import pytest
from calibration_series import BAR_MS, DAY_MS, spikes

from cryptoalerts import oi, thresholds
from cryptoalerts.cascade import Liquidation
from cryptoalerts.thresholds import OiRule
from infra.cli import calibration, replay

END_MS = 1_782_000_000_000
RULE = OiRule(change_pct=15, window_min=15, min_exchanges=2)


def series_of(points: dict[str, list[tuple[int, float, float]]]) -> dict[str, dict[int, oi.Point]]:
    return {ex: {t: oi.Point(coins, price) for t, coins, price in rows} for ex, rows in points.items()}


def flat_series(changes_pct: list[float], exchanges: tuple[str, ...] = ("binance", "bybit")) -> dict:
    """One bar every 5 minutes; bar 3k+3 sits `changes_pct[k]` percent above the flat level, so each
    listed change is one 15-minute window's (the level is flat 15 minutes before every bar)."""
    rows: dict[str, dict[int, oi.Point]] = {ex: {} for ex in exchanges}
    bar = 0
    for change in changes_pct:
        for _ in range(3):
            for ex in exchanges:
                rows[ex][END_MS + bar * BAR_MS] = oi.Point(1000.0, 1.0)
            bar += 1
        for ex in exchanges:
            rows[ex][END_MS + bar * BAR_MS] = oi.Point(1000.0 * (1 + change / 100), 1.0)
        bar += 1
    return rows


# ---------------------------------------------------------------- the grid
@pytest.mark.parametrize(
    ("rough", "nice"), [(0.001, 0.01), (0.0123, 0.02), (0.021, 0.025), (0.03, 0.05), (0.07, 0.1), (3.2, 5.0)]
)
def test_the_step_is_a_nice_number_at_least_as_coarse_as_asked(rough: float, nice: float) -> None:
    assert calibration.nice_step(rough) == pytest.approx(nice)


def test_the_grid_reaches_just_past_the_largest_rise_where_nothing_fires() -> None:
    values = calibration.grid(1.41)
    assert values[0] == 0.01 and values[-1] == 1.42 and len(values) == 142
    assert calibration.grid(1.41, step=0.25) == (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
    with pytest.raises(ValueError, match="coarser step"):
        calibration.grid(500, step=0.001)


# ---------------------------------------------------------------- open interest
def test_the_proposal_reproduces_a_known_quantile_within_one_grid_step() -> None:
    synthetic = spikes(END_MS, days=30)
    result = calibration.calibrate_oi("BTC", series_of(synthetic.points), RULE, target_per_day=1.0)
    assert result.proposed is not None
    expected = synthetic.threshold_for(1.0)  # about 8.55 %
    assert abs(result.proposed.change_pct - expected) <= result.step
    assert result.proposed.per_day <= 1.0
    # One step lower fires more than the target: the proposal is the lowest that meets it.
    below = next(r for r in result.curve if r.change_pct == pytest.approx(result.proposed.change_pct - result.step))
    assert below.per_day > 1.0
    assert result.days == pytest.approx(30, abs=0.02)
    assert result.note is None


def test_every_candidate_is_judged_by_the_backtest_engine() -> None:
    """The rate of any candidate is what `replay_oi` reports with that threshold in force."""
    synthetic = spikes(END_MS, days=3)
    series = series_of(synthetic.points)
    result = calibration.calibrate_oi("BTC", series, RULE, target_per_day=5.0)
    snapshots = [
        replay.Snapshot(t, ex, "BTC", point) for ex, by_minute in series.items() for t, point in by_minute.items()
    ]
    for rate in result.curve[:: len(result.curve) // 7]:
        document = {"symbols": ["BTC"], "oi": {"BTC": {"change_pct": rate.change_pct}}}
        assert len(replay.replay_oi(snapshots, thresholds.effective(document)).alerts) == rate.alerts


def test_a_proposal_never_sits_in_a_dip_of_the_curve() -> None:
    # Three 5-minute windows in a row rise 8 %, 5.5 % and 8 %: one episode at a 5 % threshold, two
    # at 6 % (the middle window breaks it), none above 8 %.
    levels = [1000.0] * 6 + [1080.0, 1080.0 * 1.055, 1080.0 * 1.055 * 1.08] + [1080.0 * 1.055 * 1.08] * 6
    rows = {ex: {END_MS + i * BAR_MS: oi.Point(level, 1.0) for i, level in enumerate(levels)} for ex in ("a", "b")}
    rule = OiRule(change_pct=15, window_min=5, min_exchanges=2)
    days = (len(levels) - 1) * BAR_MS / DAY_MS
    result = calibration.calibrate_oi("BTC", rows, rule, target_per_day=1.5 / days)  # one episode allowed, not two
    by_pct = {round(r.change_pct, 4): r.alerts for r in result.curve}
    assert (by_pct[5.0], by_pct[6.0], by_pct[8.0]) == (1, 2, 2)
    assert result.proposed is not None and result.proposed.change_pct > 8.0


def test_the_rule_needs_min_exchanges_confirming() -> None:
    one_rises = flat_series([10.0] * 20, exchanges=("binance",))
    one_rises["bybit"] = {t: oi.Point(1000.0, 1.0) for t in one_rises["binance"]}
    result = calibration.calibrate_oi("BTC", one_rises, RULE, target_per_day=1000.0)
    assert all(r.alerts == 0 for r in result.curve)
    single = OiRule(change_pct=15, window_min=15, min_exchanges=1)
    assert calibration.calibrate_oi("BTC", one_rises, single, 1000.0).curve[0].alerts == 20


def test_without_enough_exchanges_there_is_no_proposal_and_the_note_says_why() -> None:
    result = calibration.calibrate_oi("BTC", flat_series([5.0] * 400, exchanges=("binance",)), RULE, 1.0)
    assert result.proposed is None and result.days == 0
    assert result.note is not None and "needs 2 exchanges" in result.note and "binance" in result.note
    assert "min_exchanges" in result.note


def test_a_history_too_short_for_the_target_proposes_nothing() -> None:
    result = calibration.calibrate_oi("BTC", flat_series([5.0, 0.0, 3.0]), RULE, target_per_day=1.0)
    assert result.proposed is None
    assert result.note is not None and "cannot tell 1 a day apart from none" in result.note
    assert result.note.endswith("(a longer history (--days) or a higher --target-per-day)")
    assert [r.alerts for r in result.curve if r.change_pct in (3.0, 5.0)] == [2, 1]


def test_days_count_only_time_the_rule_could_fire() -> None:
    synthetic = spikes(END_MS, days=10)
    series = series_of(synthetic.points)
    # OKX keeps only its newest 1,440 bars (5 days): with min_exchanges 3 only those days count.
    series["okx"] = dict(sorted(series["okx"].items())[-1440:])
    three = OiRule(change_pct=15, window_min=15, min_exchanges=3)
    assert calibration.calibrate_oi("BTC", series, three, 1.0).days == pytest.approx(5, abs=0.02)
    assert calibration.calibrate_oi("BTC", series, RULE, 1.0).days == pytest.approx(10, abs=0.02)


def test_each_exchange_gets_its_own_distribution() -> None:
    synthetic = spikes(END_MS, days=5)
    result = calibration.calibrate_oi("BTC", series_of(synthetic.points), RULE, 1.0)
    by_exchange = {s.exchange: s for s in result.spreads}
    assert set(by_exchange) == {"binance", "bybit", "okx"}
    assert by_exchange["bybit"].largest == pytest.approx(1.1 * by_exchange["binance"].largest, rel=1e-6)
    assert by_exchange["okx"].largest == pytest.approx(0.5 * by_exchange["binance"].largest, rel=1e-6)
    assert result.largest is not None and result.largest.exchange == "bybit"
    p99 = dict(by_exchange["binance"].percentiles)[99.0]
    changes = sorted(pct for _, pct in result.changes["binance"])
    assert sum(c <= p99 for c in changes) / len(changes) == pytest.approx(0.99, abs=0.002)


def test_percentiles_interpolate_between_ranks() -> None:
    assert calibration.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert calibration.percentile([5.0], 99.9) == 5.0


# ---------------------------------------------------------------- liquidations
def liquidation(t_s: float, usd: float, symbol: str = "BTC") -> Liquidation:
    return Liquidation(symbol=symbol, is_long=True, usd=usd, time_ms=int(END_MS + t_s * 1000))


def bursts(days: int, per_day: int, sizes: list[float], every_s: float = 2.0) -> list[Liquidation]:
    """`per_day` bursts a day, each `sizes` one after another `every_s` apart, bursts hours apart."""
    found = []
    for day in range(days):
        for k in range(per_day):
            start = day * 86_400 + k * 86_400 / per_day
            found += [liquidation(start + i * every_s, usd) for i, usd in enumerate(sizes)]
    return found


def test_cascades_per_day_and_a_proposal_within_the_target() -> None:
    # Ten bursts a day of six liquidations (the largest $400K), and once a day two more $2M ones.
    liqs = bursts(10, 10, [30_000, 60_000, 90_000, 120_000, 200_000, 400_000])
    liqs += [liquidation(day * 86_400 + 3_600 + s, 2_000_000) for day in range(10) for s in (0, 1, 2, 3, 4)]
    liqs.sort(key=lambda liq: liq.time_ms)
    days = (liqs[-1].time_ms - liqs[0].time_ms) / DAY_MS
    rules = thresholds.defaults()  # BTC: 5 x $100K in 30 s
    result = calibration.calibrate_liquidations("BTC", liqs, rules, days, target_per_day=2.0)
    assert result.current.cascades == 10  # the daily $2M burst; the others have only three above $100K
    assert result.proposed is not None and result.proposed.per_day <= 2.0
    assert result.proposed.cascades == 10  # closest to the target from below
    assert result.busiest == 6 and result.largest_usd == 2_000_000
    # The proposal, replayed through the detector, fires what the calibration says.
    candidate = thresholds.effective(
        {"liquidation": {"BTC": {"min_usd": result.proposed.min_usd, "cascade_count": result.proposed.cascade_count}}}
    )
    assert len(replay.detect_cascades(liqs, candidate)) == result.proposed.cascades


def test_a_calm_recording_keeps_the_cascade_count_in_force() -> None:
    liqs = bursts(3, 2, [5_000, 6_000])  # never three within 30 s
    days = 3.0
    result = calibration.calibrate_liquidations("BTC", liqs, thresholds.defaults(), days, target_per_day=1.0)
    assert result.proposed is not None
    assert result.proposed.cascades == 0 and result.proposed.cascade_count == 5
    assert result.proposed.min_usd == calibration.LOWEST_MIN_USD


def test_liquidation_rows_say_when_there_is_nothing_to_measure() -> None:
    short = [liquidation(i, 200_000) for i in range(6)]
    result = calibration.calibrate_liquidations("BTC", short, thresholds.defaults(), 0.01, 1.0)
    assert result.proposed is None and result.current.cascades == 1
    assert result.note is not None and "cannot tell 1 a day apart from none" in result.note
    # What would help names the cascade flag; more days of exchange history would not.
    assert result.note.endswith("(a longer recording or a higher --cascade-target-per-day)")
    absent = calibration.calibrate_liquidations("ETH", short, thresholds.defaults(), 2.0, 1.0)
    assert absent.proposed is None and absent.note == "no liquidation of ETH in the recording"


def test_the_usd_ladder_ends_just_above_the_largest_liquidation() -> None:
    ladder = calibration.usd_ladder(420_000)
    assert ladder[:4] == (1_000, 1_500, 2_000, 2_500)
    assert ladder[-2:] == (400_000, 500_000)
