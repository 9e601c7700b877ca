"""`crypto-alerts backtest` on the real recordings in data/, checked against the pure core
(cryptoalerts.cascade, cryptoalerts.oi) driven directly from the same CSV rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from cryptoalerts import alert, cascade, oi, thresholds
from cryptoalerts.symbols import normalise
from cryptoalerts.thresholds import OI_EXCHANGE_COUNT
from cryptoalerts.timeutil import parse_iso, to_epoch_ms
from infra.cli.main import main
from infra.repo import BINANCE_LIQUIDATIONS, BTC_OPEN_INTEREST

# Low enough to fire on this calm recording: 3 liquidations of a few thousand USD within 30 s;
# a 1% rise of BTC positions in 15 minutes confirmed by the one exchange recorded.
TUNED = {
    "symbols": ["BTC", "ETH", "SOL", "XRP", "FET", "ASTER", "ZEC", "PEPE", "币安人生", "BNB", "DOGE", "SUI"],
    "liquidation": {
        "default": {"min_usd": 2000, "cascade_count": 3, "window_s": 30},
        "BTC": {"min_usd": 5000},
        "ETH": {"min_usd": 5000},
        "SOL": {"min_usd": 2000},
    },
    "oi": {"default": {"change_pct": 1.0, "window_min": 15, "min_exchanges": 1}, "BTC": {"change_pct": 1.0}},
}


@pytest.fixture
def tuned_file(tmp_path: Path) -> Path:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(TUNED, ensure_ascii=False), encoding="utf-8")
    return path


def run_json(capsys, *args: str) -> list[dict[str, Any]]:
    assert main(["backtest", "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def cascades_driven_directly(path: Path, rules: thresholds.Thresholds) -> list[dict[str, Any]]:
    """The cascade core fed straight from the CSV rows (exact repeated rows dropped)."""
    detector = cascade.CascadeDetector(rules)
    seen: set[tuple[str, ...]] = set()
    alerts = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            key = tuple(row.values())
            if key in seen:
                continue
            seen.add(key)
            symbol = normalise(row["symbol"])
            if symbol is None:
                continue
            liq = cascade.Liquidation(
                symbol=symbol,
                is_long=row["side"] == "SELL",
                usd=float(row["avg_price"]) * float(row["filled_qty"]),
                time_ms=to_epoch_ms(parse_iso(row["timestamp"])),
            )
            fired = detector.observe(liq)
            if fired is not None:
                alerts.append(cascade.to_alert(fired).to_dict())
    return alerts


def explosions_driven_directly(path: Path, rules: thresholds.Thresholds) -> list[dict[str, Any]]:
    """The OI core evaluated at every recorded minute of the BTC export, one alert per episode."""
    series: dict[int, oi.Point] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            price = float(row["price_close"])
            series[int(row["timestamp"])] = oi.Point(oi=float(row["oi_close"]) / price, mark_price=price)
    alerts, active = [], False
    rule = rules.oi("BTC")
    for minute in sorted(series):
        verdict = oi.evaluate("BTC", minute, rule, {"binance": series}, OI_EXCHANGE_COUNT)
        if oi.should_alert(verdict.exploded, active):
            alerts.append(alert.oi_explosion("BTC", minute, verdict.priority, verdict.alert_data()).to_dict())
        active = verdict.exploded
    return alerts


def test_backtest_liquidations_match_the_cascade_core(tuned_file, capsys) -> None:
    out = run_json(capsys, "--liquidations", str(BINANCE_LIQUIDATIONS), "--thresholds", str(tuned_file))
    expected = cascades_driven_directly(BINANCE_LIQUIDATIONS, thresholds.effective(TUNED))
    assert len(expected) >= 5  # the comparison means something only if the core fires
    assert out == expected
    assert {a["symbol"] for a in out} >= {"ETH", "XRP", "币安人生"}


def test_backtest_open_interest_matches_the_oi_core(tuned_file, capsys) -> None:
    out = run_json(capsys, "--oi", str(BTC_OPEN_INTEREST), "--thresholds", str(tuned_file))
    expected = explosions_driven_directly(BTC_OPEN_INTEREST, thresholds.effective(TUNED))
    assert len(expected) >= 3
    assert out == expected
    assert all(a["kind"] == "oi_explosion" and a["data"]["confirming"] == 1 for a in out)


def test_the_default_thresholds_stay_silent_on_these_calm_recordings(capsys) -> None:
    args = ["backtest", "--liquidations", str(BINANCE_LIQUIDATIONS), "--oi", str(BTC_OPEN_INTEREST)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "liquidations: 1426 frames, 2025-10-22T09:36:42.306Z to 2025-10-22T09:55:07.684Z" in out
    assert "32 exact repeats dropped" in out  # the recorder's two overlapping connections
    assert "open interest: 4406 evaluations of BTC@binance (4406)" in out
    assert "would have fired: 0 alert(s)" in out


def test_the_report_lists_each_alert_and_counts_per_day(tuned_file, capsys) -> None:
    liq, oi_csv = str(BINANCE_LIQUIDATIONS), str(BTC_OPEN_INTEREST)
    alerts = run_json(capsys, "--liquidations", liq, "--oi", oi_csv, "--thresholds", str(tuned_file))
    assert main(["backtest", "--liquidations", liq, "--oi", oi_csv, "--thresholds", str(tuned_file)]) == 0
    out = capsys.readouterr().out
    assert f"would have fired: {len(alerts)} alert(s)" in out
    for a in alerts:
        assert f"  {a['detected_at']}  {a['kind']}" in out
    per_day: dict[str, int] = {}
    for a in alerts:
        per_day[a["detected_at"][:10]] = per_day.get(a["detected_at"][:10], 0) + 1
    day_lines = out.split("per UTC day:\n")[1].splitlines()
    assert {line.split()[0]: int(line.split()[1]) for line in day_lines if line.startswith("  20")} == per_day


def test_backtest_refuses_bad_input_with_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"liquidation": {"BTC": {"cascade_count": 0}}}')
    assert main(["backtest", "--liquidations", str(BINANCE_LIQUIDATIONS), "--thresholds", str(bad)]) == 1
    assert "liquidation.BTC.cascade_count" in capsys.readouterr().err

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("time,symbol\n1,BTCUSDT\n")
    assert main(["backtest", "--liquidations", str(wrong)]) == 1
    assert "missing column(s) timestamp, side, avg_price, filled_qty" in capsys.readouterr().err
    assert main(["backtest", "--oi", str(wrong)]) == 1
    assert "unknown open-interest CSV" in capsys.readouterr().err

    assert main(["backtest"]) == 1
    assert "--liquidations" in capsys.readouterr().err
    assert main(["backtest", "--oi", str(tmp_path / "missing.csv")]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err
