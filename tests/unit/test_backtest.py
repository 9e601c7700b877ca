"""Backtest readers and replay on small hand-made recordings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryptoalerts import thresholds
from cryptoalerts.timeutil import MINUTE_MS
from infra.cli import replay
from listener.feeds.binance import parse

T0 = 1_780_000_020_000 - 1_780_000_020_000 % MINUTE_MS


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_become_the_frames_binance_sends(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "l.csv",
        "timestamp,symbol,side,avg_price,filled_qty,usd_value\n"
        "2025-10-22T09:38:13.270000,1000PEPEUSDT,SELL,0.0071,2000000,14200\n",
    )
    [frame] = list(replay.liquidation_frames(csv_path))
    order = json.loads(frame)["o"]
    assert (order["s"], order["ap"], order["z"], order["T"]) == ("1000PEPEUSDT", "0.0071", "2000000", 1761125893270)
    liq = parse(frame)
    assert (liq.symbol, liq.is_long, liq.usd, liq.time_ms) == ("PEPE", True, pytest.approx(14200), 1761125893270)


def _snapshots_csv(tmp_path: Path, oi_by_minute: dict[int, dict[str, float]]) -> Path:
    lines = ["timestamp,exchange,symbol,oi,mark_price"]
    for minute, per_exchange in sorted(oi_by_minute.items()):
        lines += [f"{T0 + minute * MINUTE_MS},{ex},BTC,{value},60000" for ex, value in per_exchange.items()]
    return write(tmp_path / "oi.csv", "\n".join(lines) + "\n")


def test_an_oi_explosion_needs_enough_exchanges_and_fires_once_per_episode(tmp_path: Path) -> None:
    flat = {"binance": 100.0, "bybit": 100.0, "okx": 100.0}
    surge = {"binance": 120.0, "bybit": 116.0, "okx": 101.0}  # BTC rule: 15% on 2 of 3
    lone = {"binance": 130.0, "bybit": 100.0, "okx": 100.0}
    recording = {m: flat for m in range(0, 15)}
    recording |= {15: surge, 16: surge, 17: flat}  # 15, 16 explode (one episode); 17 does not
    recording |= {m: flat for m in range(18, 32)}
    recording |= {32: surge}  # 15 min after a flat minute: a new episode
    recording |= {m: flat for m in range(33, 48)} | {48: lone}  # one exchange only: silent
    snaps = replay.oi_snapshots(_snapshots_csv(tmp_path, recording))
    result = replay.replay_oi(snaps, thresholds.defaults())
    assert [a.id for a in result.alerts] == [f"oi_explosion:BTC:{T0 + m * MINUTE_MS}" for m in (15, 32)]
    first = result.alerts[0].data
    assert (first["confirming"], first["exchanges_total"]) == (2, 3)
    assert first["per_exchange"]["bybit"]["change_pct"] == pytest.approx(16)
    assert result.series == {("BTC", "binance"): 49, ("BTC", "bybit"): 49, ("BTC", "okx"): 49}


def test_symbols_off_the_watch_list_are_not_evaluated(tmp_path: Path) -> None:
    path = write(tmp_path / "oi.csv", f"timestamp,exchange,symbol,oi,mark_price\n{T0},binance,DOGE,1,0.1\n")
    result = replay.replay_oi(replay.oi_snapshots(path), thresholds.defaults())
    assert (result.evaluations, result.alerts) == (0, [])


def test_a_single_series_export_needs_its_symbol_and_exchange(tmp_path: Path) -> None:
    path = write(tmp_path / "cg.csv", f"timestamp,price_close,oi_close\n{T0},50000,5000000000\n")
    [snap] = replay.oi_snapshots(path, "BTC", "binance")
    assert (snap.symbol, snap.exchange, snap.point.oi, snap.point.mark_price) == ("BTC", "binance", 100000, 50000)
    with pytest.raises(replay.DataError, match="name its symbol and exchange"):
        replay.oi_snapshots(path)


def test_unreadable_rows_name_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "oi.csv", f"timestamp,exchange,symbol,oi,mark_price\n{T0},okx,BTC,lots,1\n")
    with pytest.raises(replay.DataError, match=r"oi.csv:2: could not convert"):
        replay.oi_snapshots(path)
    liq = write(tmp_path / "l.csv", "timestamp,symbol,side,avg_price,filled_qty\nyesterday,BTCUSDT,SELL,1,1\n")
    with pytest.raises(replay.DataError, match=r"l.csv:2: timestamp 'yesterday'"):
        list(replay.liquidation_frames(liq))


def test_frames_the_listener_would_skip_are_counted_not_fatal() -> None:
    good = json.dumps({"e": "forceOrder", "E": 1, "o": {"s": "BTCUSDT", "S": "SELL", "ap": "1", "z": "1", "T": 5}})
    odd = json.dumps({"e": "forceOrder", "E": 1, "o": {"s": "BTCUSD_PERP", "S": "SELL", "ap": "1", "z": "1", "T": 5}})
    result = replay.replay_liquidations([good, good, odd], thresholds.defaults())
    assert (result.frames, result.duplicates, dict(result.skipped)) == (3, 1, {"unsupported_symbol": 1})
