"""The peer benchmark's pure parts (tests/benchmarks/peers): the frames it serves, the framing it
writes them with, and the figures it derives. The measuring itself runs in
tests/integration/test_bench_peers_run.py and `make bench-peers`."""

from __future__ import annotations

import csv
import json
import math
from decimal import Decimal
from typing import Any

import pytest
from peers import bench, procfs, stats, wire
from peers.server import BenchServer
from websockets.frames import Frame, Opcode

from infra.fakes.binance_ws import recording_frames
from infra.repo import BINANCE_LIQUIDATIONS
from listener.feeds import binance, bybit, okx

BINANCE = wire.WIRES["binance"]
BYBIT = wire.WIRES["bybit"]
OKX = wire.WIRES["okx"]
ALL = wire.WIRES["all"]
ROWS = 1426  # data/README.md
USDT_ROWS = 1400  # the rest are USDC contracts, which Bybit names otherwise (BTCPERP)


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


# ---------------------------------------------------------------- Bybit and OKX: the same liquidations
def _liquidation_facts(liquidations: list[Any]) -> list[tuple[str, bool, int, float]]:
    return [(liq.symbol, liq.is_long, liq.time_ms, round(liq.usd, 6)) for liq in liquidations]


def _recording_liquidations(keep: Any = lambda contract: True) -> list[tuple[str, bool, int, float]]:
    frames = [f for f in recording_frames(BINANCE_LIQUIDATIONS) if keep(json.loads(f)["o"]["s"])]
    return _liquidation_facts([binance.parse(f) for f in frames])


def test_bybit_frames_are_the_recordings_usdt_liquidations_to_the_listeners_parser() -> None:
    frames = BYBIT.frames(USDT_ROWS, 0)
    parsed = [bybit.parse(text) for text, _ in frames]
    assert all(p.op is None and not p.errors and len(p.liquidations) == 1 for p in parsed)
    got = _liquidation_facts([p.liquidations[0] for p in parsed])
    assert got == _recording_liquidations(lambda contract: contract.endswith("USDT"))
    assert [contract for _, contract in frames] == [json.loads(t)["data"][0]["s"] for t, _ in frames]
    # One round later the same contracts come again, a recording's span later: new liquidations.
    again = bybit.parse(BYBIT.frames(USDT_ROWS + 1, 0)[-1][0]).liquidations[0]
    assert again.time_ms == parsed[0].liquidations[0].time_ms + 20 * 60_000
    assert wire.expected(BYBIT, frames).repeats == 32


def test_okx_frames_in_contracts_are_the_recordings_liquidations_with_the_served_sizes() -> None:
    frames = OKX.frames(ROWS, 0)
    sizes = okx.parse_swap_instruments(OKX.rest("/api/v5/public/instruments?instType=SWAP", frames))
    assert (sizes["BTC-USDT-SWAP"], sizes["ETH-USDC-SWAP"], sizes["1000PEPE-USDT-SWAP"]) == (0.01, 0.1, 1.0)
    parsed = [okx.parse(text, sizes) for text, _ in frames]
    assert all(p.event is None and not p.errors and not p.unknown for p in parsed)
    assert _liquidation_facts([p.liquidations[0] for p in parsed]) == _recording_liquidations()
    # `sz` in contracts of 0.01 BTC, exactly the recording's quantity in coins.
    btc = next(json.loads(t)["data"][0]["details"][0] for t, inst in frames if inst == "BTC-USDT-SWAP")
    btc_row = next(json.loads(f)["o"] for f in recording_frames(BINANCE_LIQUIDATIONS) if '"s":"BTCUSDT"' in f)
    assert Decimal(btc["sz"]) * Decimal("0.01") == Decimal(btc_row["z"]) and btc["bkPx"] == btc_row["ap"]
    assert math.isclose(
        wire.expected(OKX, frames).notional_usd, wire.expected(BINANCE, BINANCE.frames(ROWS, 0)).notional_usd
    )


def test_bybit_answers_subscriptions_and_pings_as_bybit_does() -> None:
    subscription = BYBIT.accept("/v5/public/linear")
    assert subscription is not None and subscription.keys == frozenset()
    subscribed, replies = BYBIT.on_message(
        subscription, '{"req_id":"7","op":"subscribe","args":["allLiquidation.BTCUSDT","allLiquidation.ETHUSDT"]}'
    )
    ack = bybit.parse(replies[0])
    assert (ack.op, ack.success, ack.req_id) == ("subscribe", True, "7")
    assert subscribed.keys == {"BTCUSDT", "ETHUSDT"}
    unchanged, replies = BYBIT.on_message(subscribed, '{"op":"ping"}')
    pong = json.loads(replies[0])
    assert unchanged is subscribed and (pong["op"], pong["ret_msg"], pong["req_id"]) == ("ping", "pong", "")
    same, replies = BYBIT.on_message(
        subscribed, '{"req_id":"8","op":"subscribe","args":["allLiquidation.SOLUSDT","allLiquidation.NOPEUSDT"]}'
    )
    refused = bybit.parse(replies[0])
    assert same is subscribed and not refused.success  # refused whole, naming the topic
    assert bybit.refused_topics(refused.ret_msg) == ["allLiquidation.NOPEUSDT"]
    less, _ = BYBIT.on_message(subscribed, '{"req_id":"9","op":"unsubscribe","args":["allLiquidation.ETHUSDT"]}')
    assert less.keys == {"BTCUSDT"}
    assert BYBIT.accept("/v5/public/spot") is None


def test_bybit_sends_each_subscriber_its_topics_in_their_format() -> None:
    frames = BYBIT.frames(USDT_ROWS, 0)
    subscription, _ = BYBIT.on_message(
        wire.NOTHING, '{"op":"subscribe","args":["allLiquidation.BTCUSDT","liquidation.ETHUSDT"]}'
    )
    sent = [(out, contract) for text, contract in frames if (out := subscription.transform(text, contract))]
    assert {contract for _, contract in sent} == {"BTCUSDT", "ETHUSDT"}
    assert len(sent) == sum(1 for _, c in frames if c in ("BTCUSDT", "ETHUSDT"))  # what `keys` counts
    btc = next(json.loads(out) for out, c in sent if c == "BTCUSDT")
    assert btc["topic"] == "allLiquidation.BTCUSDT" and isinstance(btc["data"], list)
    eth = next(text for text, contract in frames if contract == "ETHUSDT")
    legacy, source = json.loads(subscription.transform(eth, "ETHUSDT") or ""), json.loads(eth)["data"][0]
    assert legacy["topic"] == "liquidation.ETHUSDT"  # the deprecated topic cryptofeed 2.4.1 reads
    assert legacy["data"] == {"updatedTime": source["T"], "symbol": "ETHUSDT", "side": source["S"],
                              "size": source["v"], "price": source["p"]}  # fmt: skip


def test_okx_answers_its_one_subscription_and_text_pings_as_okx_does() -> None:
    subscription = OKX.accept("/ws/v5/public")
    assert subscription is not None and subscription.keys == frozenset()
    assert OKX.on_message(subscription, "ping") == (subscription, ["pong"])
    subscribed, replies = OKX.on_message(subscription, okx.SUBSCRIBE)
    ack = okx.parse(replies[0], {})
    assert ack.event == {"id": "1", "event": "subscribe", "arg": okx_arg(), "connId": "bench"}
    text, inst = OKX.frames(1, 0)[0]
    assert subscribed.transform(text, inst) == text
    wrong, replies = OKX.on_message(subscription, '{"id":"2","op":"subscribe","args":[{"channel":"trades"}]}')
    error = okx.parse(replies[0], {}).event
    assert wrong is subscription and error is not None and (error["event"], error["code"]) == ("error", "60018")


def okx_arg() -> dict[str, str]:
    return {"channel": "liquidation-orders", "instType": "SWAP"}


def test_instrument_documents_read_by_the_listeners_own_readers() -> None:
    page = BYBIT.rest("/v5/market/instruments-info?category=linear&limit=1000", BYBIT.frames(USDT_ROWS, 0))
    perpetuals, cursor = bybit.parse_instruments_page(page)
    assert cursor == "" and "1000PEPEUSDT" in perpetuals and "BTCUSDC" not in perpetuals
    assert len(perpetuals) == len({c for _, c in BYBIT.frames(USDT_ROWS, 0)})
    assert BYBIT.rest("/v5/market/instruments-info?category=spot", [])["result"]["list"] == []  # cryptofeed asks
    assert BYBIT.rest("/v5/market/instruments-info?category=inverse", [])["retCode"] == 10001
    one = OKX.rest("/api/v5/public/instruments?instType=SWAP&instId=ETH-USDT-SWAP", OKX.frames(ROWS, 0))
    assert okx.parse_swap_instruments(one) == {"ETH-USDT-SWAP": 0.1}
    assert OKX.rest("/api/v5/public/instruments?instType=SWAP&instId=NOPE-USDT-SWAP", [])["code"] == "51001"
    assert OKX.rest("/api/v5/public/instruments?instType=OPTION&uly=BTC-USD", [])["data"] == []  # cryptofeed asks


def test_the_server_counts_a_subscription_by_its_keys_as_its_transform_would() -> None:
    phases = wire.Phases.build(BYBIT, 3000, warmup=100)
    server = BenchServer(BYBIT, phases, tls=None)
    topics = ["allLiquidation.BTCUSDT", "liquidation.ETHUSDT", "allLiquidation.4USDT"]
    subscription, _ = BYBIT.on_message(wire.NOTHING, json.dumps({"op": "subscribe", "args": topics}))
    by_transform = sum(1 for t, k in phases.timed if subscription.transform(t, k) is not None)
    assert server._count(subscription, "timed") == by_transform > 0
    assert server._count(wire.NOTHING, "timed") == 0


# ---------------------------------------------------------------- the three at once
def test_all_wires_interleave_the_three_and_route_each_connection_to_its_own() -> None:
    frames = ALL.frames(9, 0)
    assert [key.split(" ")[0] for _, key in frames] == ["binance", "bybit", "okx"] * 3
    assert [t for t, k in frames if k.startswith("bybit ")] == [t for t, _ in BYBIT.frames(3, 0)]
    paths = {"binance": "/market/ws/!forceOrder@arr", "bybit": "/v5/public/linear", "okx": "/ws/v5/public"}
    every = {name: ALL.accept(path) for name, path in paths.items()}
    assert ALL.accept("/nowhere") is None
    okx_sub, replies = ALL.on_message(every["okx"], okx.SUBSCRIBE)  # type: ignore[arg-type]
    assert json.loads(replies[0])["event"] == "subscribe"
    binance_sub = every["binance"]
    assert binance_sub is not None
    assert [k for t, k in frames if binance_sub.transform(t, k)] == [k for _, k in frames if k.startswith("binance")]
    assert [k for t, k in frames if okx_sub.transform(t, k)] == [k for _, k in frames if k.startswith("okx")]
    assert ALL.on_message(okx_sub, "ping") == (okx_sub, ["pong"])
    assert ALL.listener_env("wss://h:1") == {
        "BINANCE_FUTURES_WS_URL": "wss://h:1/market/ws/!forceOrder@arr",
        "BYBIT_WS_URL": "wss://h:1/v5/public/linear",
        "BYBIT_REST_URL": "https://h:1",
        "OKX_WS_URL": "wss://h:1/ws/v5/public",
        "OKX_REST_URL": "https://h:1",
    }
    assert {s["symbol"] for s in ALL.rest("/fapi/v1/exchangeInfo", frames)["symbols"]} == {
        k.split(" ")[1] for _, k in frames if k.startswith("binance")
    }
    each = sum(wire.expected(w, w.frames(3, 0)).notional_usd for w in (BINANCE, BYBIT, OKX))
    assert math.isclose(wire.expected(ALL, frames).notional_usd, each)


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


def test_a_consumer_without_a_stream_on_the_wire_is_left_out_with_the_reason() -> None:
    okx_only = bench.unavailable("cryptofeed", OKX, plain=False)
    assert okx_only is not None and "polls REST" in okx_only
    assert bench.unavailable("cryptofeed", ALL, plain=False) is None  # its Binance and Bybit feeds
    assert bench.unavailable("cryptofeed", BINANCE, plain=True) is not None  # wss:// only
    assert bench.unavailable("null", BYBIT, plain=False) is not None  # it subscribes to nothing
    assert [bench.unavailable(c, w, plain=False) for c in ("listener", "bare") for w in (OKX, ALL)] == [None] * 4


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
