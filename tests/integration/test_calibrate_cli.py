"""`crypto-alerts calibrate` on recordings: the real BTC and liquidation recordings in data/, synthetic
ones with a known answer, and `--apply` against SSM on moto server (the real AWS wire protocol)."""

from __future__ import annotations

import gzip
import json
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import boto3
import pytest
from calibration_series import spikes

from cryptoalerts import oi, thresholds
from infra.cli.main import main
from infra.local import aws_resources
from infra.repo import BINANCE_LIQUIDATIONS, BTC_OPEN_INTEREST
from listener import record

PARAMETER = "/crypto-alerts/local/thresholds"  # aws_resources.deploy's default stage is `local`
END_MS = 1_782_000_000_000
# The recording has one exchange: the rule can only fire with one exchange confirming.
ONE_EXCHANGE = {"oi": {"default": {"min_exchanges": 1}}}


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def snapshots_csv(path: Path, symbol: str, points: dict[str, list[tuple[int, float, float]]]) -> Path:
    lines = ["timestamp,exchange,symbol,oi,mark_price"]
    for exchange, rows in points.items():
        lines += [f"{t},{exchange},{symbol},{coins!r},{price!r}" for t, coins, price in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def calibrate_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["calibrate", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def backtest_rate(capsys: pytest.CaptureFixture[str], kind: str, *args: str) -> float:
    """Alerts per day in the backtest's own report: its alerts over its recording's span."""
    assert main(["backtest", *args]) == 0
    out = capsys.readouterr().out
    fired = re.search(r"would have fired: (\d+) alert\(s\)", out)
    span = re.search(rf"{kind}: .* to .* \(([0-9.]+) h\)", out)
    assert fired and span, out
    return int(fired.group(1)) / (float(span.group(1)) / 24)


@pytest.fixture
def cli_env(stack: aws_resources.Stack, monkeypatch: pytest.MonkeyPatch) -> aws_resources.Stack:
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.delenv("THRESHOLDS_PARAMETER", raising=False)
    return stack


def stored() -> tuple[dict[str, Any], int]:
    param = boto3.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]
    return (json.loads(param["Value"]) if param["Value"].strip() else {}), param["Version"]


def put_stored(document: dict[str, Any]) -> None:
    boto3.client("ssm").put_parameter(Name=PARAMETER, Value=json.dumps(document), Type="String", Overwrite=True)


# ---------------------------------------------------------------- the real recordings
def test_on_the_real_btc_recording_the_proposal_fires_at_most_the_target_in_the_backtest(tmp_path, capsys) -> None:
    one_exchange = write_json(tmp_path / "t.json", ONE_EXCHANGE)
    found = calibrate_json(
        capsys, "--oi", str(BTC_OPEN_INTEREST), "--thresholds", str(one_exchange), "--symbols", "BTC"
    )
    row = found["symbols"]["BTC"]["oi"]
    assert row["current"]["alerts"] == 0  # the default 15 % never fired on these calm 14 days
    proposed = row["proposed"]["change_pct"]
    assert 0.5 < proposed < 1.41 and row["largest"]["change_pct"] == pytest.approx(1.407, abs=0.001)

    tuned = write_json(
        tmp_path / "tuned.json", {**ONE_EXCHANGE, "oi": {**ONE_EXCHANGE["oi"], "BTC": {"change_pct": proposed}}}
    )
    rate = backtest_rate(capsys, "open interest", "--oi", str(BTC_OPEN_INTEREST), "--thresholds", str(tuned))
    assert 0 < rate <= 1.0  # it fires, and at most the target
    assert rate == pytest.approx(row["proposed"]["per_day"], abs=0.01)
    # One grid step lower, the backtest fires more than the target: the proposal is tight.
    lower = write_json(
        tmp_path / "lower.json",
        {"oi": {"default": {"min_exchanges": 1}, "BTC": {"change_pct": round(proposed - row["step"], 6)}}},
    )
    assert backtest_rate(capsys, "open interest", "--oi", str(BTC_OPEN_INTEREST), "--thresholds", str(lower)) > 1.0


def test_a_higher_target_proposes_a_lower_threshold(tmp_path, capsys) -> None:
    one_exchange = str(write_json(tmp_path / "t.json", ONE_EXCHANGE))
    base = ("--oi", str(BTC_OPEN_INTEREST), "--thresholds", one_exchange, "--symbols", "BTC")
    one = calibrate_json(capsys, *base)["symbols"]["BTC"]["oi"]["proposed"]
    five = calibrate_json(capsys, *base, "--target-per-day", "5")["symbols"]["BTC"]["oi"]["proposed"]
    assert five["change_pct"] < one["change_pct"] and one["per_day"] <= 1 < five["per_day"] <= 5


def test_liquidation_proposals_fire_at_most_the_target_in_the_backtest(tmp_path, capsys) -> None:
    # 18 minutes of calm market: only a high target (one cascade there is 78 a day) can be measured.
    found = calibrate_json(
        capsys, "--oi", str(BTC_OPEN_INTEREST), "--liquidations", str(BINANCE_LIQUIDATIONS),
        "--thresholds", str(write_json(tmp_path / "t.json", ONE_EXCHANGE)),
        "--symbols", "BTC", "ETH", "XRP", "--cascade-target-per-day", "200",
    )  # fmt: skip
    rules: dict[str, Any] = {"symbols": ["BTC", "ETH", "XRP"], "liquidation": {}}
    for symbol in ("BTC", "ETH", "XRP"):
        row = found["symbols"][symbol]["liquidation"]
        assert row["current"]["cascades"] == 0 and row["proposed"] is not None, row
        assert row["proposed"]["per_day"] <= 200
        rules["liquidation"][symbol] = {k: row["proposed"][k] for k in ("min_usd", "cascade_count")}
    assert sum(found["symbols"][s]["liquidation"]["proposed"]["cascades"] for s in ("BTC", "ETH", "XRP")) > 0
    tuned = write_json(tmp_path / "tuned.json", rules)
    assert main(["backtest", "--json", "--liquidations", str(BINANCE_LIQUIDATIONS), "--thresholds", str(tuned)]) == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for symbol in ("BTC", "ETH", "XRP"):
        fired = sum(a["symbol"] == symbol for a in alerts)
        assert fired == found["symbols"][symbol]["liquidation"]["proposed"]["cascades"]


def listener_recording(directory: Path, frames: list[tuple[int, str]]) -> Path:
    """Frames as `python -m listener --record` keeps them: gzip JSON lines, one file per UTC hour."""
    directory.mkdir()
    by_hour: dict[int, list[bytes]] = {}
    for t, text in frames:
        line = json.dumps({"feed": "bybit", "t": t + 3.5, "text": text}) + "\n"
        by_hour.setdefault(t // record.HOUR_MS, []).append(line.encode())
    for hour, lines in by_hour.items():
        with gzip.open(directory / record.file_name(hour), "wb") as fh:
            fh.writelines(lines)
    return directory


def bybit_frame(t: int, usd: float) -> str:
    entry = {"T": t, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": f"{usd:.2f}"}
    return json.dumps({"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": t, "data": [entry]})


def test_cascades_from_the_listeners_own_recording_meet_the_target_in_the_backtest(tmp_path, capsys) -> None:
    # Three days of Bybit's stream: six bursts a day of six liquidations 2 s apart ($30K to $400K),
    # and once a day five of $2M.
    frames = []
    for day in range(3):
        for burst in range(6):
            start = END_MS + day * 86_400_000 + burst * 14_400_000
            sizes = (30_000, 60_000, 90_000, 120_000, 200_000, 400_000)
            frames += [(start + i * 2000, bybit_frame(start + i * 2000, usd)) for i, usd in enumerate(sizes)]
        start = END_MS + day * 86_400_000 + 3_600_000
        frames += [(start + i * 1000, bybit_frame(start + i * 1000, 2_000_000)) for i in range(5)]
    recording = listener_recording(tmp_path / "recording", sorted(frames))
    rules = write_json(tmp_path / "t.json", {**ONE_EXCHANGE, "symbols": ["BTC"]})
    found = calibrate_json(
        capsys, "--oi", str(BTC_OPEN_INTEREST), "--liquidations", str(recording), "--thresholds", str(rules),
        "--cascade-target-per-day", "2",
    )  # fmt: skip
    row = found["symbols"]["BTC"]["liquidation"]
    assert found["liquidations"]["liquidations"] == 3 * (6 * 6 + 5)
    assert row["current"]["cascades"] == 3  # 5 x $100K in 30 s: only the daily $2M burst
    proposed = row["proposed"]
    assert proposed["per_day"] <= 2 and proposed["cascades"] == 3
    tuned = write_json(tmp_path / "tuned.json", {"symbols": ["BTC"], "liquidation": {"BTC": {
        "min_usd": proposed["min_usd"], "cascade_count": proposed["cascade_count"]}}})  # fmt: skip
    assert main(["backtest", "--json", "--liquidations", str(recording), "--thresholds", str(tuned)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == proposed["cascades"]


def test_the_table_shows_current_proposed_and_largest_per_symbol(tmp_path, capsys) -> None:
    args = ["calibrate", "--oi", str(BTC_OPEN_INTEREST), "--liquidations", str(BINANCE_LIQUIDATIONS)]
    args += ["--thresholds", str(write_json(tmp_path / "t.json", ONE_EXCHANGE)), "--symbols", "BTC"]
    assert main(args) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("symbol  alert"))
    assert header.split() == ["symbol", "alert", "current", "alerts/day", "proposed", "alerts/day", "largest", "seen"]
    oi_row = next(line for line in out.splitlines() if line.startswith("BTC     OI 15 min"))
    assert re.search(r"15%\s+0\.00\s+0\.\d+%\s+0\.\d\d\s+\+1\.41% binance 2026-06-08 12:10 UTC", oi_row), oi_row
    cascade_row = next(line for line in out.splitlines() if line.startswith("BTC     cascade 30 s"))
    assert "5 x $100K" in cascade_row and "$304K largest; 9 in 30 s" in cascade_row
    assert "BTC cascades: a recording of 0.3 h cannot tell 1 a day apart from none" in out
    assert "binance 2026-06-07 04:40 UTC to 2026-06-22 11:45 UTC (15.3 days)" in out
    assert re.search(r"BTC\s+binance\s+4,403\s+\+0\.01\s+\+0\.25\s+\+0\.75\s+\+1\.19\s+\+1\.41", out)


def test_plot_writes_a_png_per_symbol_with_history(tmp_path, capsys) -> None:
    args = [
        "calibrate",
        "--oi",
        str(BTC_OPEN_INTEREST),
        "--thresholds",
        str(write_json(tmp_path / "t.json", ONE_EXCHANGE)),
    ]
    assert main([*args, "--plot", str(tmp_path / "plots")]) == 0
    assert f"wrote {tmp_path / 'plots' / 'calibrate-BTC.png'}" in capsys.readouterr().err
    png = (tmp_path / "plots" / "calibrate-BTC.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    assert not (tmp_path / "plots" / "calibrate-ETH.png").exists()  # no history for ETH: no chart


def test_the_chart_draws_both_thresholds_over_30_days_of_legible_dates() -> None:
    from infra.cli import calibration, calibration_plot

    # 30 days to 2026-11-30: the date axis ticks every fourth day and at the month's first, close together.
    synthetic = spikes(1_796_023_200_000, days=30)
    series = {ex: {t: oi.Point(c, p) for t, c, p in rows} for ex, rows in synthetic.points.items()}
    row = calibration.calibrate_oi("BTC", series, thresholds.defaults().oi("BTC"), 1.0)
    assert row.proposed is not None
    figure = calibration_plot.chart(row)
    changes, rates = figure.axes
    # Both thresholds: across the changes (horizontal) and on the rate curve (vertical).
    assert {row.rule.change_pct, row.proposed.change_pct} <= {line.get_ydata()[0] for line in changes.lines}
    assert {row.rule.change_pct, row.proposed.change_pct} <= {line.get_xdata()[0] for line in rates.lines}
    # The dates under the changes can be read: no two labels overlap.
    figure.canvas.draw()
    boxes = sorted(
        (label.get_window_extent() for label in changes.get_xticklabels() if label.get_text()), key=lambda b: b.x0
    )
    assert len(boxes) >= 4
    assert all(left.x1 < right.x0 for left, right in pairwise(boxes)), [(b.x0, b.x1) for b in boxes]


def test_a_synthetic_history_reproduces_its_known_quantile(tmp_path, capsys) -> None:
    synthetic = spikes(END_MS, days=30)
    recording = snapshots_csv(tmp_path / "oi.csv", "BTC", synthetic.points)
    found = calibrate_json(capsys, "--oi", str(recording), "--thresholds", str(write_json(tmp_path / "t.json", {})))
    row = found["symbols"]["BTC"]["oi"]
    assert abs(row["proposed"]["change_pct"] - synthetic.threshold_for(1.0)) <= row["step"]
    assert set(row["exchanges"]) == {"binance", "bybit", "okx"}


def test_bad_input_is_one_line_and_no_traceback(tmp_path, capsys) -> None:
    assert (
        main(
            [
                "calibrate",
                "--oi",
                str(tmp_path / "missing.csv"),
                "--thresholds",
                str(write_json(tmp_path / "t.json", {})),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err
    assert (
        main(
            [
                "calibrate",
                "--oi",
                str(BTC_OPEN_INTEREST),
                "--symbols",
                "BTC-USDT",
                "--thresholds",
                str(tmp_path / "t.json"),
            ]
        )
        == 1
    )
    assert "'BTC-USDT' is not a symbol" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["calibrate", "--target-per-day", "0"])
    assert "must be a positive number" in capsys.readouterr().err
    assert main(["calibrate", "--apply", "--thresholds", str(tmp_path / "t.json")]) == 1
    assert "drop --thresholds" in capsys.readouterr().err


# ---------------------------------------------------------------- --apply through SSM
def test_apply_writes_the_proposals_through_the_validated_path(cli_env, capsys) -> None:
    put_stored(
        {"symbols": ["BTC", "ETH"], "oi": {"default": {"min_exchanges": 1}}, "dispatch": {"rate_limit_per_hour": 20}}
    )
    assert main(["calibrate", "--oi", str(BTC_OPEN_INTEREST), "--apply"]) == 0
    out = capsys.readouterr().out
    document, _ = stored()
    proposed = document["oi"]["BTC"]["change_pct"]
    assert f"  oi.BTC.change_pct = {proposed}" in out and "in force everywhere within 60 s" in out
    assert document["dispatch"] == {"rate_limit_per_hour": 20}  # the rest of the stored document stays
    assert "ETH" not in document["oi"]  # no history for ETH: its threshold is left alone
    assert thresholds.effective(document).oi("BTC").change_pct == proposed < 15


def test_apply_refuses_an_invalid_proposal_and_writes_nothing(cli_env, tmp_path, capsys) -> None:
    # A new listing's positions grow from almost nothing: its rises run to thousands of percent, and the
    # proposal for one alert a day (about 21,000 %) is beyond what the thresholds accept (10,000).
    wild = spikes(END_MS, days=10, mean_pct=5_000).points
    calm = spikes(END_MS, days=10).points
    recording = snapshots_csv(tmp_path / "wild.csv", "NEWCOIN", wild)
    calm_recording = snapshots_csv(tmp_path / "calm.csv", "BTC", calm)
    put_stored({"symbols": ["BTC", "NEWCOIN"]})
    _, version = stored()
    args = ["calibrate", "--oi", str(recording), "--oi", str(calm_recording), "--apply"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "invalid thresholds: oi.NEWCOIN.change_pct:" in captured.err and "out of range" in captured.err
    assert "nothing written" in captured.err
    assert "NEWCOIN" in captured.out  # the table still shows what was measured
    document, after = stored()
    assert after == version and document == {"symbols": ["BTC", "NEWCOIN"]}  # not even BTC's valid proposal


def test_apply_without_any_proposal_says_so(cli_env, tmp_path, capsys) -> None:
    put_stored({"symbols": ["BTC"]})  # min_exchanges 2: one recorded exchange can never fire
    assert main(["calibrate", "--oi", str(BTC_OPEN_INTEREST), "--apply"]) == 1
    captured = capsys.readouterr()
    assert "no proposal to apply" in captured.err
    assert "the rule needs 2 exchanges; the history has 1 (binance)" in captured.out
