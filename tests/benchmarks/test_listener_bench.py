"""Listener benchmarks (architecture.md §4). Run with `make bench` (pytest -s tests/benchmarks).

- core: parse + normalise + de-dup + history + detect, one core, >= 50,000 frames/s;
- through a real loopback WebSocket (fake server in its own process), >= 20,000 frames/s;
- frame received -> SQS send issued (real boto3 client, moto server), p99 < 5 ms;
- RSS of a real `python -m listener` process over 1,000,000 frames: < 50 MB, no growth;
- bytes per retained liquidation <= 18.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from cryptoalerts import thresholds
from cryptoalerts.cascade import Liquidation
from cryptoalerts.thresholds import Thresholds
from infra.fakes.binance_ws import frame, looped_recording_frames
from infra.local.moto_server import free_port
from infra.repo import BINANCE_LIQUIDATIONS
from listener.history import History
from listener.outbox import Pending
from listener.service import Listener
from listener.settings import Settings
from listener.sqs import sender

pytestmark = pytest.mark.benchmark


class FixedThresholds:
    def __init__(self, doc: Thresholds) -> None:
        self.current = doc

    def get(self) -> Thresholds:
        return self.current


def make_listener(send=lambda body: None, ws_url: str = "ws://127.0.0.1:1/", **overrides) -> Listener:  # type: ignore[no-untyped-def]
    settings = replace(
        Settings(ws_url=ws_url, queue_url="unused", thresholds_parameter="unused"),
        health_host="127.0.0.1",
        health_port=0,
        **overrides,
    )
    return Listener(settings, FixedThresholds(thresholds.defaults()), send)


def test_core_frames_per_second() -> None:
    frames = looped_recording_frames(BINANCE_LIQUIDATIONS, 300_000)
    listener = make_listener()
    on_message = listener.on_message
    started = time.perf_counter()
    for message in frames:
        on_message(message, 0.0)
    elapsed = time.perf_counter() - started
    rate = len(frames) / elapsed
    print(
        f"\n[listener core] {len(frames):,} real frames (recording looped) in {elapsed:.2f} s: "
        f"{rate:,.0f} frames/s on one core ({listener.qualifying:,} qualifying, {listener.duplicates:,} duplicates)"
    )
    assert listener.frames == len(frames)
    assert rate >= 50_000


@contextlib.contextmanager
def fake_server_process(*args: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.fakes.binance_ws", *args],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())["url"]
    finally:
        proc.terminate()
        proc.wait(10)


async def test_loopback_websocket_frames_per_second() -> None:
    count = 300_000
    with fake_server_process("--synthetic", str(count)) as url:
        listener = make_listener(ws_url=url)
        stop = asyncio.Event()
        first: list[float] = []
        on_message = listener.on_message

        def timed(message: str | bytes, received_at: float) -> None:
            if not first:
                first.append(time.perf_counter())
            on_message(message, received_at)
            if listener.frames == count:
                stop.set()

        listener.stream._on_message = timed
        await asyncio.wait_for(listener.stream.run(stop), 120)
        elapsed = time.perf_counter() - first[0]
    rate = count / elapsed
    print(f"\n[listener loopback ws] {count:,} frames through a real socket in {elapsed:.2f} s: {rate:,.0f} frames/s")
    assert listener.frames == count and not listener.malformed
    assert rate >= 20_000


async def test_frame_received_to_sqs_send_issued_latency(stack, tmp_path: Path) -> None:
    # 500 BTC cascades, each completed by a frame amid a steady background of other liquidations.
    frames: list[str] = []
    t = 1_761_125_800_000
    for _ in range(500):
        frames += [frame("DOGEUSDT", "SELL", "0.2", "500", t + i) for i in range(45)]
        frames += [frame("BTCUSDT", "BUY", "100000", "1.5", t + 100 + i) for i in range(5)]
        t += 60_000  # a gap longer than the window: each group is a new episode
    path = tmp_path / "frames.txt"
    path.write_text("\n".join(frames))
    real_send = sender(stack.refs["AlertQueue"])
    received: dict[str, float] = {}
    issued: dict[str, float] = {}

    def send(body: str) -> object:
        issued[json.loads(body)["id"]] = time.perf_counter()  # the moment boto3 is called
        return real_send(body)

    def on_issue(item: Pending, _at: float) -> None:
        received[item.alert_id] = item.received_at

    with fake_server_process("--frames", str(path), "--rate", "5000") as url:
        listener = make_listener(send=send, ws_url=url)
        listener.outbox._on_send_issued = on_issue
        stop = asyncio.Event()
        runner = asyncio.create_task(listener.outbox.run())
        stream = asyncio.create_task(listener.stream.run(stop))
        deadline = time.monotonic() + 60
        while listener.outbox.sent < 500 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        listener.outbox.close()
        await asyncio.gather(stream, runner)
    latencies = sorted((issued[k] - received[k]) * 1000 for k in issued)
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"\n[listener latency] frame received -> SQS send issued over {len(latencies)} alerts "
        f"(5,000 frames/s background): p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms"
    )
    assert len(latencies) == 500
    assert p99 < 5


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_listener_process_rss_over_a_million_frames(stack) -> None:
    health_port = free_port()
    total = 1_000_000
    with fake_server_process("--synthetic", "250000", "--loop") as url:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "ALERT_QUEUE_URL": stack.refs["AlertQueue"],
            "THRESHOLDS_PARAMETER": stack.refs["ThresholdsParameter"],
            "BINANCE_FUTURES_WS_URL": url,
            "HEALTH_PORT": str(health_port),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "listener"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        samples: list[tuple[int, int]] = []
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}", timeout=5) as http:
                deadline = time.monotonic() + 90
                frames = 0
                next_mark = 100_000
                while frames < total:
                    assert time.monotonic() < deadline, f"only {frames:,} frames in time"
                    with contextlib.suppress(httpx.TransportError):
                        frames = (await http.get("/status")).json()["frames"]
                        if frames >= next_mark:
                            samples.append((frames, _rss_kb(proc.pid)))
                            next_mark += 100_000
                    await asyncio.sleep(0.2)
                status = (await http.get("/status")).json()
        finally:
            proc.terminate()
            proc.wait(30)
    first_mb, last_mb = samples[0][1] / 1024, samples[-1][1] / 1024
    peak_mb = max(kb for _, kb in samples) / 1024
    print(
        f"\n[listener RSS] python -m listener over {status['frames']:,} frames: "
        f"{first_mb:.1f} MB at {samples[0][0]:,}, {last_mb:.1f} MB at {samples[-1][0]:,} (peak {peak_mb:.1f} MB); "
        f"history {status['history']['retained']:,} records in {status['history']['bytes'] / 1024:.0f} KiB"
    )
    assert status["frames"] >= total
    assert last_mb - first_mb < 2, "RSS grew"
    # The budget holds because botocore loads only the API operations the listener calls
    # (listener/sdk_models.py); with its full bundled models the same process sits at ~55 MB.
    assert peak_mb < 50


def test_bytes_per_retained_liquidation() -> None:
    history = History()
    for s in range(100):
        for i in range(history.capacity + 500):
            history.add(Liquidation(f"S{s}", i % 2 == 0, 30_000.0 + i, 1_761_125_800_000 + i * 250))
    per = history.nbytes() / history.retained()
    print(
        f"\n[listener history] {history.retained():,} retained liquidations in {history.nbytes() / 1024:.0f} KiB: "
        f"{per:.2f} bytes each (8 bytes of record + ring and array overhead)"
    )
    assert per <= 18
