"""The retained history: 18 bytes or less per liquidation, wrap-around, 1 min / 1 h / 24 h figures."""

from __future__ import annotations

from cryptoalerts.cascade import Liquidation
from listener.history import RECORD_BYTES, History

NOW = 1_761_125_893_270


def liq(t_ms: int, usd: float, symbol: str = "BTC", long: bool = True) -> Liquidation:
    return Liquidation(symbol, long, usd, t_ms)


def test_a_retained_liquidation_costs_at_most_18_bytes() -> None:
    assert RECORD_BYTES == 8
    history = History(capacity=4096)
    for s in range(40):
        for i in range(4096 + 100):  # full rings, wrapped
            history.add(liq(NOW + i, 30_000.0 + i, symbol=f"S{s}"))
    assert history.retained() == 40 * 4096
    per_record = history.nbytes() / history.retained()
    assert per_record <= 18, per_record


def test_ring_wraps_around_keeping_the_newest() -> None:
    history = History(capacity=4)
    for i in range(6):
        history.add(liq(NOW + i * 1000, 100.0 * (i + 1)))
    assert history.retained() == 4
    # The first two (100, 200) were overwritten: 300 + 400 + 500 + 600.
    assert history.stats()["BTC"]["1m"] == {"long_count": 4, "long_usd": 1800.0, "short_count": 0, "short_usd": 0.0}
    history.add(liq(NOW + 6000, 700.0))
    assert history.stats()["BTC"]["1m"]["long_usd"] == 400 + 500 + 600 + 700


def test_windows_and_sides() -> None:
    history = History()
    history.add(liq(NOW - 30_000, 1000.0, long=True))  # 30 s ago
    history.add(liq(NOW - 10_000, 2000.0, long=False))  # 10 s ago
    history.add(liq(NOW - 30 * 60_000, 4000.0, long=True))  # 30 min ago
    history.add(liq(NOW - 5 * 3_600_000, 8000.0, long=False))  # 5 h ago
    history.add(liq(NOW - 25 * 3_600_000, 16000.0, long=True))  # 25 h ago: beyond the horizon
    history.add(liq(NOW, 32000.0, symbol="ETH", long=False))
    stats = history.stats()
    btc = stats["BTC"]
    assert btc["1m"] == {"long_count": 1, "long_usd": 1000.0, "short_count": 1, "short_usd": 2000.0}
    assert btc["1h"] == {"long_count": 2, "long_usd": 5000.0, "short_count": 1, "short_usd": 2000.0}
    assert btc["24h"] == {"long_count": 2, "long_usd": 5000.0, "short_count": 2, "short_usd": 10000.0}
    assert stats["ETH"]["24h"]["short_usd"] == 32000.0
    assert history.newest_ms == NOW


def test_figures_are_relative_to_the_given_now() -> None:
    history = History()
    history.add(liq(NOW, 1000.0))
    assert history.stats(now_ms=NOW + 120_000)["BTC"]["1m"]["long_count"] == 0
    assert history.stats(now_ms=NOW + 120_000)["BTC"]["1h"]["long_count"] == 1


def test_symbol_count_is_bounded() -> None:
    history = History(max_symbols=2)
    for symbol in ("A", "B", "C"):
        history.add(liq(NOW, 1.0, symbol=symbol))
    assert set(history.stats()) == {"A", "B"}
    assert history.refused == 1
