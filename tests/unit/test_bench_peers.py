"""The peer benchmark's pure parts (tests/benchmarks/peers): the frames it serves, the framing it
writes them with, and the figures it derives. The measuring itself runs in
tests/integration/test_bench_peers_run.py and `make bench-peers`."""

from __future__ import annotations

import csv
import json
import math

import pytest
from peers import bench, procfs, stats, wire
from websockets.frames import Frame, Opcode

from infra.fakes.binance_ws import recording_frames
from infra.repo import BINANCE_LIQUIDATIONS

BINANCE = wire.WIRES["binance"]
ROWS = 1426  # data/README.md


# ---------------------------------------------------------------- frames
def test_the_timed_frames_are_the_recording_then_its_shifted_replays() -> None:
    phases = wire.Phases.build(BINANCE, ROWS + 10, warmup=100)
    texts = [text for text, _ in phases.timed]
    assert texts[:ROWS] == recording_frames(BINANCE_LIQUIDATIONS)
    first, again = json.loads(texts[0]), json.loads(texts[ROWS])
    assert again["o"]["s"] == first["o"]["s"] and again["o"]["T"] > first["o"]["T"]
    assert [contract for _, contract in phases.timed[:3]] == [json.loads(t)["o"]["s"] for t in texts[:3]]


def test_warm_up_frames_come_before_the_timed_ones_and_repeat_none_of_them() -> None:
    phases = wire.Phases.build(BINANCE, 3000, warmup=2000)
    assert (len(phases.warmup), len(phases.timed), phases.total) == (2000, 3000, 5000)
    warm_times = [json.loads(t)["o"]["T"] for t, _ in phases.warmup]
    timed_times = [json.loads(t)["o"]["T"] for t, _ in phases.timed]
    assert max(warm_times) < min(timed_times)
    assert not {t for t, _ in phases.warmup} & {t for t, _ in phases.timed}


def test_expected_totals_match_the_recordings_own_usd_column() -> None:
    frames = BINANCE.frames(ROWS, 0)
    with open(BINANCE_LIQUIDATIONS, encoding="utf-8", newline="") as fh:
        usd = sum(float(row["usd_value"]) for row in csv.DictReader(fh))
    want = wire.expected(BINANCE, frames)
    assert want.frames == ROWS
    assert math.isclose(want.notional_usd, usd, rel_tol=1e-9)
    assert want.repeats == 32  # the recording's duplicated tail (data/README.md)
    assert want.wire_bytes == sum(len(t.encode()) + 4 for t, _ in frames)  # every frame is 126..65535 bytes


# ---------------------------------------------------------------- what each connection receives
FRAMES = [
    (json.dumps({"e": "forceOrder", "o": {"s": contract}}), contract)
    for contract in ("BTCUSDT", "ETHUSDT", "币安人生USDT", "BTCUSDT")
]


def test_the_all_market_stream_sends_every_frame_as_it_is() -> None:
    for path in ("/market/ws/!forceOrder@arr", "/ws/!forceOrder@arr"):
        subscription = BINANCE.accept(path)
        assert subscription is not None
        assert [subscription.transform(t, c) for t, c in FRAMES] == [t for t, _ in FRAMES]


def test_combined_streams_send_only_the_subscribed_symbols_in_their_envelope() -> None:
    subscription = BINANCE.accept(
        "/stream?streams=btcusdt@forceOrder/%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@forceOrder"
    )
    assert subscription is not None
    sent = [subscription.transform(t, c) for t, c in FRAMES]
    assert sent[1] is None  # ETH was not asked for
    assert json.loads(sent[0] or "") == {"stream": "btcusdt@forceOrder", "data": json.loads(FRAMES[0][0])}
    assert json.loads(sent[2] or "")["stream"] == "币安人生usdt@forceOrder"
    every = BINANCE.accept("/market/stream?streams=!forceOrder@arr")
    assert every is not None
    assert all(json.loads(every.transform(t, c) or "")["stream"] == "!forceOrder@arr" for t, c in FRAMES)


@pytest.mark.parametrize("path", ["/", "/ws/btcusdt@aggTrade", "/stream", "/stream?streams="])
def test_other_paths_are_refused(path: str) -> None:
    assert BINANCE.accept(path) is None


def test_exchange_info_lists_every_contract_with_base_and_quote() -> None:
    frames = [("", c) for c in ("1000PEPEUSDT", "BTCUSDC", "币安人生USDT", "BTCUSDT_251226", "BTCUSDC")]
    info = BINANCE.rest("/fapi/v1/exchangeInfo?x=1", frames)
    by_symbol = {s["symbol"]: s for s in info["symbols"]}
    assert len(info["symbols"]) == 4
    assert (by_symbol["1000PEPEUSDT"]["baseAsset"], by_symbol["1000PEPEUSDT"]["quoteAsset"]) == ("1000PEPE", "USDT")
    assert by_symbol["币安人生USDT"]["baseAsset"] == "币安人生"
    assert by_symbol["BTCUSDT_251226"]["contractType"] == "CURRENT_QUARTER"
    assert by_symbol["BTCUSDC"]["contractType"] == "PERPETUAL"
    assert BINANCE.rest("/fapi/v1/ticker", frames) is None
    with pytest.raises(ValueError, match="not a USD-margined"):
        wire.exchange_info(["BTCUSD_PERP"])


# ---------------------------------------------------------------- WebSocket framing
@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_frames_are_encoded_as_websockets_itself_encodes_them(size: int) -> None:
    payload = b"x" * size
    assert wire.ws_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


def test_writes_hold_whole_frames_and_every_frame_once() -> None:
    texts = [f"frame {i} " + "y" * (i % 300) for i in range(1000)]
    out = wire.chunks(texts, max_bytes=4096)
    assert b"".join(data for data, _ in out) == b"".join(wire.ws_frame(t.encode()) for t in texts)
    assert sum(n for _, n in out) == len(texts)
    assert all(len(data) <= 4096 for data, _ in out)
    big = wire.chunks(["z" * 10_000, "a"], max_bytes=4096)
    assert [n for _, n in big] == [1, 1]  # a frame larger than a write goes alone


# ---------------------------------------------------------------- figures
def run(consumer: str, rep: int, seconds: float, cpu: float = 1.0, rss_mb: float = 40.0) -> stats.Run:
    return stats.Run(consumer, rep, 200_000, seconds, cpu, int(rss_mb * stats.MB))


def test_a_run_reports_rate_cpu_per_frame_and_megabytes() -> None:
    r = run("listener", 1, seconds=2.0, cpu=1.7, rss_mb=43.5)
    assert (r.frames_per_s, round(r.cpu_us_per_frame, 6), r.peak_rss_mb) == (100_000, 8.5, 43.5)


def test_ratios_pair_runs_of_the_same_repetition() -> None:
    runs = [
        run("listener", 1, 2.0),
        run("bare", 1, 1.0),
        run("listener", 2, 1.0),
        run("bare", 2, 1.0),
        run("listener", 3, 1.0),  # its bare run is missing: no ratio for repetition 3
    ]
    assert stats.paired(runs, "listener", "bare", "frames_per_s") == [0.5, 1.0]
    assert stats.median_of(runs, "listener", "frames_per_s") == 200_000


def test_bars_are_the_issues_targets() -> None:
    runs = [
        run("listener", 1, 1.0, cpu=1.2, rss_mb=44.9),
        run("cryptofeed", 1, 1.5),
        run("bare", 1, 0.9, cpu=1.0),
    ]
    found = {b.label: b for b in stats.bars(runs)}
    assert found["listener / cryptofeed frames/s"].value == 1.5 and found["listener / cryptofeed frames/s"].ok
    assert math.isclose(found["listener / bare frames/s"].value, 0.9) and found["listener / bare frames/s"].ok
    assert math.isclose(found["listener / bare CPU per frame"].value, 1.2)
    assert found["listener peak RSS"].ok
    worse = [run("listener", 1, 1.0, cpu=1.3, rss_mb=45.0), run("bare", 1, 0.8, cpu=1.0)]
    assert [b.ok for b in stats.bars(worse)] == [False, False, False]  # no cryptofeed run: no bar for it


def test_the_report_names_each_consumer_and_the_server_headroom() -> None:
    runs = [run("listener", 1, 2.0), run("bare", 1, 1.0), run("null", 1, 0.1)]
    text = stats.table(runs, ["listener", "cryptofeed", "bare", "null"])
    assert "cryptofeed" not in text
    assert "100,000" in text and "(100k)" in text and "2,000,000" in text
    assert stats.server_headroom(runs, ["listener", "bare"]) == (2_000_000, 200_000)
    assert stats.server_headroom(runs[:2], ["listener", "bare"]) is None


def test_each_repetition_starts_with_the_next_consumer() -> None:
    consumers = ["listener", "cryptofeed", "bare"]
    assert [bench.order_for(consumers, rep)[0] for rep in range(4)] == ["listener", "cryptofeed", "bare", "listener"]
    assert sorted(bench.order_for(consumers, 2)) == sorted(consumers)


# ---------------------------------------------------------------- /proc
def test_cpu_time_counts_user_and_system_ticks_of_any_command_name() -> None:
    stat = "4242 (python (bench) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 100 0 0"
    assert procfs.cpu_seconds_from_stat(stat, ticks_per_s=100) == 3.0


def test_peak_rss_is_vmhwm_in_bytes() -> None:
    status = "Name:\tpython\nVmPeak:\t  900 kB\nVmHWM:\t   45056 kB\nVmRSS:\t   40000 kB\n"
    assert procfs.peak_rss_from_status(status) == 45056 * 1024
    with pytest.raises(ValueError):
        procfs.peak_rss_from_status("Name:\tkthread\n")
