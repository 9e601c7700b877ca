"""The listener over real sockets: fake Binance WebSocket -> listener -> moto SQS.

Alerts must arrive exactly once each whatever the connection does (drops mid-cascade, garbage,
silence, refused connections, the 24 h cut) and the listener must keep running throughout.
"""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from listener_harness import (
    T0,
    eventually,
    fake_binance,
    receive_alerts,
    running_listener,
    set_thresholds,
    settings_for,
)

from cryptoalerts import alert, thresholds
from cryptoalerts.cascade import CascadeDetector, DuplicateFilter, Liquidation
from cryptoalerts.symbols import normalise
from cryptoalerts.timeutil import parse_iso, to_epoch_ms
from infra.fakes.binance_ws import Drop, Garbage, Refuse, Silence, cascade_frames, frame, recording_frames
from infra.repo import BINANCE_LIQUIDATIONS

# Lowered floors so that the calm recording has cascades to find (the defaults find none in it).
REPLAY_RULE = {"min_usd": 200, "cascade_count": 4, "window_s": 30}
REPLAY_SYMBOLS = ["币安人生", "KDA", "EVAA", "RIVER", "ETH", "ASTER", "FET", "4", "AIA", "COAI", "BNB", "BLUAI"]
REPLAY_DOC = {
    "symbols": REPLAY_SYMBOLS,
    "liquidation": {"default": REPLAY_RULE, "BTC": REPLAY_RULE, "ETH": REPLAY_RULE, "SOL": REPLAY_RULE},
}


def expected_replay_alert_ids(csv_path) -> list[str]:  # type: ignore[no-untyped-def]
    """Straight from the CSV columns (not through the frame parser): exact duplicate rows removed."""
    detector = CascadeDetector(thresholds.effective(REPLAY_DOC))
    dedup = DuplicateFilter()
    ids = []
    with open(csv_path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if dedup.is_duplicate(tuple(row.values())):
                continue
            symbol = normalise(row["symbol"])
            assert symbol is not None
            t = to_epoch_ms(parse_iso(row["timestamp"]))
            cascade = detector.observe(Liquidation(symbol, row["side"] == "SELL", float(row["usd_value"]), t))
            if cascade is not None:
                ids.append(f"liquidation_cascade:{cascade.symbol}:{cascade.fired_at_ms}")
    return ids


@pytest.mark.parametrize("wrap", [False, True], ids=["raw-stream", "combined-stream"])
async def test_replay_of_the_real_recording_alerts_once_per_cascade(stack, wrap: bool) -> None:
    set_thresholds(stack, REPLAY_DOC)
    expected = expected_replay_alert_ids(BINANCE_LIQUIDATIONS)
    assert len(expected) >= 15
    frames = recording_frames(BINANCE_LIQUIDATIONS, wrap=wrap)
    async with fake_binance() as server, running_listener(settings_for(stack, server.url)) as run:
        await eventually(lambda: run.listener.detector.thresholds.symbols == tuple(REPLAY_SYMBOLS), what="thresholds")
        half = len(frames) // 2
        # A drop in the middle: the feed resumes on the next connection.
        server.feed(frames[:half], Drop(), frames[half:])
        await server.drained()
        bodies = await receive_alerts(stack.refs["AlertQueue"], expected=len(expected))
        assert not run.task.done()
        status = run.listener.status()
    ids = [b["id"] for b in bodies]
    assert sorted(ids) == sorted(expected)  # each exactly once
    for body in bodies:
        alert.validate(body)
        assert body["data"]["exchange"] == "binance"
    assert status["frames"] == 1426
    assert status["duplicates"] >= 28  # the recording's doubled tail, not counted twice
    assert status["connection"]["reconnects"] >= 1


async def test_faults_mid_cascade_never_lose_or_double_an_alert(stack) -> None:
    # Default thresholds: BTC 100k, ETH 50k, SOL 25k; 5 in 30 s.
    a = cascade_frames("BTCUSDT", "SELL", 5, 150_000, T0)
    b = cascade_frames("ETHUSDT", "BUY", 5, 60_000, T0 + 100_000)
    c = cascade_frames("1000PEPEUSDT", "SELL", 5, 30_000, T0 + 200_000)  # not watched: no alert
    d = cascade_frames("SOLUSDT", "SELL", 6, 26_000, T0 + 300_000, spacing_ms=500)
    garbage = [
        Garbage("not json"),
        Garbage(b"\x00\x01\x02binary"),
        Garbage("x" * 200_000),
        Garbage('{"e":"forceOrder","E":1,"o":{"s":5}}'),
        Garbage('{"e":"aggTrade","E":1}'),
        Garbage("[]"),
        Garbage(frame("BTCUSD_PERP", "SELL", "1", "1", T0)),
    ]
    async with fake_binance() as server, running_listener(settings_for(stack, server.url, silence_s=0.6)) as run:
        server.feed(
            a[:3],
            Drop(),  # reset mid-cascade
            a[3:],
            a,  # the same liquidations again (a second connection's copy): no second alert
            garbage,
            b[:2],
            Silence(1.5),  # longer than silence_s: the watchdog reconnects
            b[2:],
            c,
            Refuse(1.0),  # connections refused for a while
            d[:4],
            Drop(),
            d[4:],
        )
        await server.drained(timeout=30)
        bodies = await receive_alerts(stack.refs["AlertQueue"], expected=3)
        assert not run.task.done()
        status = run.listener.status()
    ids = Counter(b["id"] for b in bodies)
    assert ids == Counter(
        {
            f"liquidation_cascade:BTC:{T0 + 4000}": 1,
            f"liquidation_cascade:ETH:{T0 + 104_000}": 1,
            f"liquidation_cascade:SOL:{T0 + 302_000}": 1,
        }
    )
    by_symbol = {b["symbol"]: b for b in bodies}
    assert by_symbol["BTC"]["dedup_key"] == "liquidation_cascade:BTC:long"
    assert by_symbol["ETH"]["dedup_key"] == "liquidation_cascade:ETH:short"
    assert by_symbol["BTC"]["data"]["count"] == 5
    assert set(status["malformed"]) == {
        "not_json",
        "binary",
        "too_large",
        "wrong_type",
        "other_event",
        "not_object",
        "unsupported_symbol",
    }
    assert status["duplicates"] == 5
    assert status["connection"]["silences"] >= 1
    assert status["connection"]["connect_failures"] >= 1
    assert status["connection"]["reconnects"] >= 4


async def test_proactive_reconnect_before_the_24h_cut_overlaps_and_deduplicates(stack) -> None:
    # Compressed day: the server cuts at 1.0 s, the listener moves to a new connection at 0.4 s.
    doge = cascade_frames("DOGEUSDT", "SELL", 600, 30_000, T0, spacing_ms=10)  # qualifying, not watched
    btc = cascade_frames("BTCUSDT", "BUY", 5, 200_000, T0 + 3000, spacing_ms=500)
    feed = doge[:300] + btc + doge[300:]
    async with fake_binance(max_connection_age_s=1.0, rate_per_s=300) as server:
        settings = settings_for(stack, server.url, rotate_after_s=0.4, overlap_s=0.2)
        async with running_listener(settings) as run:
            server.feed(feed)
            await server.drained(timeout=30)
            bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
            status = run.listener.status()
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:BTC:{T0 + 5000}"]
    assert status["connection"]["rotations"] >= 3
    assert server.deliveries > server.messages_sent  # overlaps really delivered frames twice...
    assert status["duplicates"] == server.deliveries - server.messages_sent  # ...and each repeat was dropped
    assert status["qualifying"] == len(feed)  # none missed, none counted twice
    assert server.cuts == 0  # the listener always moved first


async def test_the_24h_cut_itself_is_survived(stack) -> None:
    btc = cascade_frames("BTCUSDT", "SELL", 5, 200_000, T0, spacing_ms=400)
    async with (
        fake_binance(max_connection_age_s=0.5, rate_per_s=5) as server,
        running_listener(settings_for(stack, server.url)) as run,
    ):
        server.feed(btc)
        await server.drained(timeout=30)
        bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
        status = run.listener.status()
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:BTC:{T0 + 1600}"]
    assert server.cuts >= 1
    assert status["connection"]["reconnects"] >= 1
    assert status["qualifying"] == 5


async def test_a_live_thresholds_edit_takes_effect_and_an_invalid_one_is_ignored(stack) -> None:
    async with fake_binance() as server, running_listener(settings_for(stack, server.url)) as run:
        set_thresholds(stack, {"symbols": ["DOGE"], "liquidation": {"DOGE": {"min_usd": 1000, "cascade_count": 3}}})
        await eventually(lambda: run.listener.detector.thresholds.watches("DOGE"), what="edit applied")
        set_thresholds(stack, {"symbols": "DOGE"})  # invalid: keeps the last valid document
        await eventually(lambda: run.listener._thresholds._rejected_raw is not None, what="edit rejected")
        server.feed(cascade_frames("DOGEUSDT", "SELL", 3, 2_000, T0))
        bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:DOGE:{T0 + 2000}"]
