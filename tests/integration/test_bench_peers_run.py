"""The peer benchmark's instrument end to end, small: moto server, the one loopback wss:// server,
the listener as production runs it, and the null consumer (standard library only, so this needs
none of .venv-peers). cryptofeed and the bare client run only under `make bench-peers`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from peers import bench


def test_it_measures_the_listener_and_the_server_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures.json"
    code = bench.main(
        [
            "--frames=3000",
            "--warmup=1500",
            "--repetitions=1",
            "--consumers=listener,null",
            "--alerts",
            f"--peers-python={sys.executable}",
            f"--json={out}",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    figures = json.loads(out.read_text())
    runs = {r["consumer"]: r for r in figures["runs"]}
    assert set(runs) == {"listener", "null", "listener-storm"}
    # Every frame counted, none malformed, exactly the recording's repeats dropped (checked per run).
    assert runs["listener"]["extra"]["frames"] == 4500
    assert runs["listener"]["extra"]["duplicates"] == figures["expected"]["repeats"] > 0
    assert runs["listener"]["extra"]["cascades"] == 0  # the template's thresholds: a calm recording
    # With the storm's thresholds the first 3,000 frames of the recording fire cascades, and every
    # alert reaches SQS (by the SIGTERM flush at the latest).
    storm = runs["listener-storm"]["extra"]
    assert storm["cascades"] > 0 and storm["alerts_on_sqs"] == storm["cascades"]
    assert 0 <= storm["on_sqs_at_last_frame"] <= storm["cascades"]
    for r in runs.values():
        assert r["frames"] == 3000 and r["seconds"] > 0 and r["cpu_seconds"] >= 0 and r["peak_rss_bytes"] > 0
    assert "server alone (null consumer)" in printed and "listener peak RSS" in printed


def test_it_measures_the_listener_holding_all_three_feeds_against_the_bare_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The listener's production configuration: Binance, Bybit and OKX in one process, each feed
    subscribing as against the exchange (Bybit topics acknowledged, OKX sizes read over https)."""
    out = tmp_path / "figures.json"
    code = bench.main(
        [
            "--exchange=all",
            "--frames=3000",
            "--warmup=1500",
            "--repetitions=1",
            "--consumers=listener,bare,null",
            f"--peers-python={sys.executable}",  # the bare client needs only websockets and orjson
            f"--json={out}",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "null left out of this run" in printed  # it subscribes to nothing: Binance's stream only
    figures = json.loads(out.read_text())
    runs = {r["consumer"]: r for r in figures["runs"]}
    assert set(runs) == {"listener", "bare"}
    # Every frame of the three streams counted, none malformed (checked per run), the bare client's
    # notional checked against the frames' own.
    assert runs["listener"]["extra"]["frames"] == 4500 and not runs["listener"]["extra"]["malformed"]
    assert runs["bare"]["frames"] == runs["listener"]["frames"] == 3000
