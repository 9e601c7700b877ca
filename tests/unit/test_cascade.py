"""The pure cascade detector (architecture.md §2.7): boundaries, episodes, figures, live thresholds."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import pytest

from cryptoalerts import alert, thresholds
from cryptoalerts.cascade import Cascade, CascadeDetector, DuplicateFilter, ExchangeFigures, Liquidation, to_alert

W = 10_000  # window in ms for the rule below
DEFAULT = {"min_usd": 1000, "cascade_count": 3, "window_s": 10}


def rule(symbols: tuple[str, ...] = ("BTC", "ETH", "SOL", "币安人生"), **liquidation: Any) -> thresholds.Thresholds:
    # The built-in document has BTC/ETH/SOL entries of its own; give them the test's figures too.
    entry = {**DEFAULT, **liquidation}
    return thresholds.effective(
        {"symbols": list(symbols), "liquidation": {"default": entry, "BTC": entry, "ETH": entry, "SOL": entry}}
    )


def detector(**liquidation: Any) -> CascadeDetector:
    return CascadeDetector(rule(**liquidation))


def liq(t: int, usd: float = 2000, symbol: str = "BTC", long: bool = True, exchange: str = "binance") -> Liquidation:
    return Liquidation(symbol, long, usd, t, exchange=exchange)


def fires(det: CascadeDetector, events: list[Liquidation]) -> list[Cascade]:
    return [c for c in (det.observe(e) for e in events) if c is not None]


def test_fires_on_exactly_cascade_count() -> None:
    det = detector()
    assert det.observe(liq(0)) is None
    assert det.observe(liq(1000)) is None
    cascade = det.observe(liq(2000))
    assert cascade is not None
    assert (cascade.count, cascade.fired_at_ms, cascade.first_ms, cascade.last_ms) == (3, 2000, 0, 2000)


def test_one_short_of_cascade_count_does_not_fire() -> None:
    assert fires(detector(cascade_count=4), [liq(0), liq(1), liq(2)]) == []


def test_window_is_open_at_its_start() -> None:
    # (T - window, T]: an event exactly window_s before T is outside.
    assert fires(detector(), [liq(0), liq(5000), liq(W)]) == []
    assert len(fires(detector(), [liq(1), liq(5000), liq(W)])) == 1


def test_one_alert_per_episode() -> None:
    # A liquidation every 9 s for two minutes: never a gap of window_s, so a single alert.
    events = [liq(i * 9000) for i in range(14)] + [liq(13 * 9000 + 100), liq(13 * 9000 + 200)]
    det = detector(cascade_count=2)
    assert len(fires(det, events)) == 1


def test_episode_ends_after_a_gap_of_exactly_window_s() -> None:
    first = [liq(0), liq(100), liq(200)]
    assert len(fires(detector(), [*first, liq(200 + W), liq(300 + W), liq(400 + W)])) == 2


def test_a_gap_just_short_of_window_s_keeps_the_episode() -> None:
    first = [liq(0), liq(100), liq(200)]
    assert len(fires(detector(), [*first, liq(199 + W), liq(300 + W), liq(400 + W)])) == 1


def test_out_of_order_event_inside_the_window_counts() -> None:
    cascade = fires(detector(), [liq(0), liq(2000), liq(1000)])
    assert len(cascade) == 1
    assert (cascade[0].fired_at_ms, cascade[0].first_ms, cascade[0].last_ms) == (2000, 0, 2000)


def test_out_of_order_event_older_than_the_window_is_ignored() -> None:
    assert fires(detector(), [liq(20_000), liq(25_000), liq(20_000 - W)]) == []
    # ...and it does not open a gap either: T stays the newest event time.
    assert len(fires(detector(), [liq(20_000), liq(25_000), liq(5_000), liq(26_000)])) == 1


def test_interleaved_symbols_are_counted_apart() -> None:
    events = [liq(0, symbol="BTC"), liq(1, symbol="ETH"), liq(2, symbol="BTC"), liq(3, symbol="ETH")]
    det = detector()
    assert fires(det, events) == []
    cascades = fires(det, [liq(4, symbol="ETH"), liq(5, symbol="BTC")])
    assert [c.symbol for c in cascades] == ["ETH", "BTC"]


def test_below_the_floor_does_not_count_and_the_floor_itself_does() -> None:
    assert fires(detector(), [liq(0), liq(1), liq(2, usd=999.99)]) == []
    assert len(fires(detector(), [liq(0), liq(1), liq(2, usd=1000)])) == 1


def test_per_symbol_floor_overrides_the_default() -> None:
    doc = {"symbols": ["BTC", "ETH"], "liquidation": {"default": DEFAULT, "BTC": {"min_usd": 5000}, "ETH": {}}}
    det = CascadeDetector(thresholds.effective(doc))
    assert det.thresholds.liquidation("ETH").min_usd == 50000  # the built-in ETH entry still applies
    det.thresholds = thresholds.effective({**doc, "liquidation": {**doc["liquidation"], "ETH": {"min_usd": 1000}}})
    assert fires(det, [liq(0), liq(1), liq(2)]) == []
    assert len(fires(det, [liq(i, symbol="ETH") for i in range(3)])) == 1


def test_symbols_not_watched_never_fire() -> None:
    assert fires(detector(), [liq(i, usd=10**9, symbol="DOGE") for i in range(50)]) == []


def test_non_ascii_symbol_fires() -> None:
    assert [c.symbol for c in fires(detector(), [liq(i, symbol="币安人生") for i in range(3)])] == ["币安人生"]


def test_figures_side_priority_and_alert() -> None:
    events = [liq(0, 3000, long=True), liq(500, 1500, long=False), liq(900, 4000, long=True)]
    (cascade,) = fires(detector(), events)
    assert (cascade.long_count, cascade.short_count) == (2, 1)
    assert (cascade.long_usd, cascade.short_usd, cascade.largest_usd) == (7000, 1500, 4000)
    assert cascade.side == "long"
    # 8500 / (3 x 1000) = 2.83x the threshold: MEDIUM.
    assert cascade.priority == "MEDIUM"
    message = to_alert(cascade)
    assert alert.decode(message.encode()) == message
    assert message.id == "liquidation_cascade:BTC:900"
    assert message.dedup_key == "liquidation_cascade:BTC:long"
    assert message.detected_at == "1970-01-01T00:00:00.900Z"
    assert message.data == {
        "exchange": "binance",
        "window_s": 10,
        "count": 3,
        "total_usd": 8500,
        "long_count": 2,
        "short_count": 1,
        "long_usd": 7000,
        "short_usd": 1500,
        "largest_usd": 4000,
        "first_at": "1970-01-01T00:00:00.000Z",
        "last_at": "1970-01-01T00:00:00.900Z",
        # Additive (architecture.md §2.4): every feed of `feeds.liquidations`, zeros included.
        "per_exchange": {
            "binance": {"count": 3, "usd": 8500, "long_usd": 7000, "short_usd": 1500},
            "bybit": {"count": 0, "usd": 0, "long_usd": 0, "short_usd": 0},
            "okx": {"count": 0, "usd": 0, "long_usd": 0, "short_usd": 0},
        },
        "sampled": ["binance"],
    }


def test_short_side_dominates_when_shorts_are_larger() -> None:
    events = [liq(0, 9000, long=False), liq(1, 1000), liq(2, 1000)]
    (cascade,) = fires(detector(), events)
    assert cascade.side == "short"
    assert cascade.priority == "HIGH"  # 11000 / 3000 >= 3


def test_thresholds_change_live() -> None:
    det = detector(cascade_count=5)
    assert fires(det, [liq(0), liq(1), liq(2)]) == []
    det.thresholds = rule()
    assert len(fires(det, [liq(3)])) == 1  # the new count (3) applies to the window already seen
    det.thresholds = rule(symbols=("ETH",))
    assert fires(det, [liq(W * 10 + i) for i in range(5)]) == []  # BTC no longer watched


# ---------------------------------------------------------------- one detector over all feeds
def test_a_cascade_split_across_exchanges_fires_only_on_their_sum() -> None:
    # Count 3: Binance alone has 2, Bybit alone has 1; interleaved event times, out of order across feeds.
    events = [liq(1000, exchange="binance"), liq(3000, 5000, long=False, exchange="bybit")]
    det = detector()
    assert fires(det, events) == []
    (cascade,) = fires(det, [liq(2000, exchange="binance")])
    assert (cascade.count, cascade.first_ms, cascade.last_ms, cascade.fired_at_ms) == (3, 1000, 3000, 3000)
    assert cascade.exchange == "multi"
    assert cascade.sampled == ["binance"]  # Bybit reports every liquidation; Binance one a second
    assert cascade.per_exchange == {
        "binance": ExchangeFigures(2, 4000, 4000, 0),
        "bybit": ExchangeFigures(1, 5000, 0, 5000),
        "okx": ExchangeFigures(0, 0, 0, 0),
    }
    data = to_alert(cascade).data
    assert data["exchange"] == "multi" and data["sampled"] == ["binance"]
    assert data["per_exchange"]["bybit"] == {"count": 1, "usd": 5000, "long_usd": 0, "short_usd": 5000}
    assert sum(f["count"] for f in data["per_exchange"].values()) == data["count"] == 3
    assert sum(f["usd"] for f in data["per_exchange"].values()) == data["total_usd"]


def test_a_bybit_only_cascade_is_not_sampled_and_names_bybit() -> None:
    (cascade,) = fires(detector(), [liq(i, exchange="bybit") for i in range(3)])
    assert (cascade.exchange, cascade.sampled) == ("bybit", [])
    assert [name for name, f in cascade.per_exchange.items() if f.count] == ["bybit"]


def test_per_exchange_lists_exactly_the_enabled_feeds_in_their_order() -> None:
    doc = {"symbols": ["BTC"], "liquidation": {"BTC": DEFAULT}, "feeds": {"liquidations": ["okx", "bybit"]}}
    det = CascadeDetector(thresholds.effective(doc))
    (cascade,) = fires(det, [liq(0, exchange="okx"), liq(1, exchange="okx"), liq(2, exchange="bybit")])
    assert list(cascade.per_exchange) == ["bybit", "okx"]
    assert (cascade.exchange, cascade.sampled) == ("multi", ["okx"])


def test_a_feed_taken_out_of_the_thresholds_stops_counting_at_once() -> None:
    det = detector()
    det.thresholds = thresholds.effective(
        {"symbols": ["BTC"], "liquidation": {"BTC": DEFAULT}, "feeds": {"liquidations": ["bybit"]}}
    )
    assert fires(det, [liq(i, exchange="binance") for i in range(5)]) == []
    (cascade,) = fires(det, [liq(10 + i, exchange="bybit") for i in range(3)])
    assert list(cascade.per_exchange) == ["bybit"] and cascade.count == 3


def test_merged_windows_match_the_rule_over_interleaved_feeds() -> None:
    rng = random.Random(7)
    det = detector()
    events = []
    t = 0
    for _ in range(600):
        t += rng.choice([0, 1, 400, 2500, 9999, 10_001])
        events.append(liq(t, symbol=rng.choice(["BTC", "ETH"]), exchange=rng.choice(["binance", "bybit", "okx"])))
    cascades = fires(det, events)
    # Same alerts as one feed carrying them all: the feed a liquidation came from never changes the rule.
    assert [(c.symbol, c.fired_at_ms, c.count) for c in cascades] == oracle(events, det.thresholds)
    assert any(c.exchange == "multi" for c in cascades)
    for c in cascades:
        assert sum(f.count for f in c.per_exchange.values()) == c.count


def oracle(events: list[Liquidation], doc: thresholds.Thresholds) -> list[tuple[str, int, int]]:
    """architecture.md §2.7 read literally, by brute force: (symbol, T, count) of each alert."""
    seen: dict[str, list[int]] = {}
    newest: dict[str, int] = {}
    in_episode: dict[str, bool] = {}
    out = []
    for e in events:
        r = doc.liquidation(e.symbol)
        if not doc.watches(e.symbol) or e.usd < r.min_usd:
            continue
        w = r.window_s * 1000
        if e.symbol in newest and e.time_ms - newest[e.symbol] >= w:
            in_episode[e.symbol] = False
        newest[e.symbol] = max(newest.get(e.symbol, e.time_ms), e.time_ms)
        seen.setdefault(e.symbol, []).append(e.time_ms)
        t = newest[e.symbol]
        count = sum(1 for x in seen[e.symbol] if t - w < x <= t)
        if not in_episode.get(e.symbol) and count >= r.cascade_count:
            in_episode[e.symbol] = True
            out.append((e.symbol, t, count))
    return out


@pytest.mark.parametrize("seed", range(25))
def test_matches_the_brute_force_reading_of_the_rule(seed: int) -> None:
    rng = random.Random(seed)
    det = detector()
    t = 0
    events = []
    for _ in range(400):
        t += rng.choice([0, 1, 50, 800, 2500, 4000, 9999, 10_000, 10_001, 30_000])
        jitter = -rng.choice([1, 3, 12_000]) if rng.random() < 0.1 else 0  # out-of-order arrivals
        events.append(
            liq(max(0, t + jitter), usd=rng.choice([500, 999, 1000, 5000]), symbol=rng.choice(["BTC", "ETH", "SOL"]))
        )
    got = [(c.symbol, c.fired_at_ms, c.count) for c in fires(det, events)]
    assert got == oracle(events, det.thresholds)
    assert got  # the generator does produce cascades


def test_duplicate_filter_drops_repeats_within_its_capacity() -> None:
    dedup = DuplicateFilter(capacity=3)
    assert [dedup.is_duplicate(k) for k in ("a", "b", "a", "c", "b")] == [False, False, True, False, True]
    dedup.is_duplicate("d")  # "a" falls out of the remembered span
    assert dedup.is_duplicate("a") is False


def test_duplicate_filter_remembers_exactly_the_last_capacity_identities_over_many_windows() -> None:
    """Against an oracle (the last `capacity` identities it let through), over enough identities to
    age the whole window out many times, repeats both inside and just beyond its span."""
    rng = random.Random(13)
    capacity = 50
    dedup = DuplicateFilter(capacity=capacity)
    remembered: deque[int] = deque(maxlen=capacity)
    verdicts = []
    for n in range(5_000):
        # New, or one offered a while ago (non-negative: hash(-1) == hash(-2) in CPython).
        key = n if n < 2 * capacity or rng.random() < 0.5 else n - rng.randint(1, 2 * capacity)
        expected = key in remembered
        verdicts.append(expected)
        assert dedup.is_duplicate(key) is expected, n
        if not expected:
            remembered.append(key)
    assert 0 < sum(verdicts) < len(verdicts)  # both kinds of verdict were tested
