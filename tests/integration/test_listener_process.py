"""SQS unreachable for a while (no alert lost), and `python -m listener` flushing on SIGTERM and
recording every frame (`--record DIR` or LISTENER_RECORD_DIR)."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from listener_harness import (
    FAST,
    T0,
    TcpGate,
    eventually,
    fake_binance,
    receive_alerts,
    running_listener,
    settings_for,
)

from infra.fakes.binance_ws import cascade_frames
from infra.local.moto_server import free_port
from listener.settings import KNOBS, RECORD_DIR


async def test_sqs_unavailable_for_a_while_then_back_loses_nothing(stack, aws_env, monkeypatch) -> None:
    gate = TcpGate(target_port=aws_env.port, port=free_port())  # closed: connections refused
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", gate.url)
    try:
        async with fake_binance() as server, running_listener(settings_for(stack, server.url)) as run:
            server.feed(cascade_frames("BTCUSDT", "SELL", 5, 150_000, T0))
            await eventually(lambda: run.listener.outbox.send_failures >= 3, what="failed sends")
            server.feed(cascade_frames("ETHUSDT", "BUY", 5, 80_000, T0 + 60_000))
            await eventually(lambda: run.listener.outbox.depth == 2, what="second alert queued")
            assert run.listener.stream.connected  # the stream kept flowing while SQS was down
            await gate.open()
            await eventually(lambda: run.listener.outbox.sent == 2, timeout=15, what="delivered after recovery")
            bodies = await receive_alerts(stack.refs["AlertQueue"], expected=2)
            assert run.listener.outbox.dropped == 0
    finally:
        await gate.close()
    assert [b["id"] for b in bodies] == [
        f"liquidation_cascade:BTC:{T0 + 4000}",
        f"liquidation_cascade:ETH:{T0 + 64_000}",
    ]


def _listener_env(stack, ws_url: str, health_port: int, sqs_url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTENER_")}
    knobs = {field: name for name, field in KNOBS.items()}
    env.update({knobs[field]: str(value) for field, value in FAST.items() if field in knobs})
    env.update(
        {
            "ALERT_QUEUE_URL": stack.refs["AlertQueue"],
            "THRESHOLDS_PARAMETER": stack.refs["ThresholdsParameter"],
            "BINANCE_FUTURES_WS_URL": ws_url,
            "HEALTH_PORT": str(health_port),
            "AWS_ENDPOINT_URL_SQS": sqs_url,
            "LISTENER_METRICS_INTERVAL_S": "0.5",
            "LISTENER_FLUSH_TIMEOUT_S": "10",
        }
    )
    return env


@pytest.mark.parametrize("sqs_down_at_sigterm", [False, True], ids=["sqs-up", "sqs-down-then-back"])
async def test_sigterm_flushes_the_outbox_and_exits_0(
    stack, aws_env, tmp_path: Path, sqs_down_at_sigterm: bool
) -> None:
    gate = TcpGate(target_port=aws_env.port, port=free_port())
    if not sqs_down_at_sigterm:
        await gate.open()
    health_port = free_port()
    async with fake_binance() as server:
        env = _listener_env(stack, server.url, health_port, gate.url)
        # Recording asked for both ways: on the command line, or through the environment.
        record = [] if sqs_down_at_sigterm else ["--record", str(tmp_path)]
        if sqs_down_at_sigterm:
            env[RECORD_DIR] = str(tmp_path)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "listener",
            *record,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        lines: list[str] = []

        async def collect() -> None:
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                lines.append(line.decode(errors="replace"))

        collector = asyncio.create_task(collect())
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}", timeout=2) as http:

                async def status() -> dict:
                    return (await http.get("/status")).json()

                deadline = time.monotonic() + 20
                while True:
                    try:
                        if (await http.get("/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "".join(lines)
                    await asyncio.sleep(0.1)
                server.feed(cascade_frames("SOLUSDT", "SELL", 5, 30_000, T0))
                await server.drained()
                if sqs_down_at_sigterm:
                    while (s := await status())["outbox"]["send_failures"] < 1 or s["outbox"]["depth"] != 1:
                        await asyncio.sleep(0.05)
                else:
                    while (await status())["cascades"] < 1:
                        await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            if sqs_down_at_sigterm:
                await asyncio.sleep(1.0)  # still pending after SIGTERM; the flush keeps retrying
                await gate.open()
            returncode = await asyncio.wait_for(proc.wait(), 25)  # the task's stopTimeout is 30 s
            await collector
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await gate.close()
    output = "".join(lines)
    assert returncode == 0, output
    bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:SOL:{T0 + 4000}"], output
    records = [json.loads(line) for line in lines if line.startswith("{")]
    messages = [r.get("message") for r in records]
    assert "stop requested" in messages and "outbox flushed" in messages
    # EMF metrics on stdout, in the CryptoAlerts namespace.
    emf = [r for r in records if "_aws" in r]
    assert emf, output
    declared = {m["Name"] for r in emf for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Frames", "QualifyingLiquidations", "Cascades", "ListenerConnected", "OutboxDepth"} <= declared
    assert {"AlertsProduced"} <= declared
    assert all(d["Namespace"] == "CryptoAlerts" for r in emf for d in r["_aws"]["CloudWatchMetrics"])
    # Counters are deltas per flush (Powertools writes a value list); together they add up, listener-wide
    # and per exchange (the records with an `exchange` dimension).

    def frames(records: list[dict]) -> float:
        return sum(sum(r["Frames"]) if isinstance(r["Frames"], list) else r["Frames"] for r in records)

    assert frames([r for r in emf if "Frames" in r and "exchange" not in r]) == 5
    assert frames([r for r in emf if "Frames" in r and r.get("exchange") == "binance"]) == 5
    assert {r["exchange"] for r in emf if "FeedDown" in r} == {"binance", "bybit", "okx"}
    # Every frame recorded, written out before exit (one file per UTC hour).
    files = sorted(tmp_path.glob("liquidations-*.jsonl.gz"))
    recorded = [json.loads(line) for f in files for line in gzip.decompress(f.read_bytes()).splitlines()]
    assert [json.loads(r["text"])["o"]["s"] for r in recorded if r["feed"] == "binance"] == ["SOLUSDT"] * 5
