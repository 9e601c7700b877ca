"""DispatcherFunction: warm per-alert handling time (moto server + fake Telegram) and init time.

Run: `make bench` or `.venv/bin/pytest -q -s tests/benchmarks/test_dispatcher_bench.py`.
Bars: the per-alert time must leave the end-to-end budget (architecture.md §4: frame to Telegram p50 under
300 ms, p99 under 1 s) most of its room; init is reported (architecture.md §4 "cold start") and kept sane.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from dispatcher_harness import Harness, cascade, open_harness

from infra.local.aws_resources import Stack

ALERTS = 200
P50_BAR_MS = 100
P99_BAR_MS = 250
INIT_BAR_S = 3.0


@pytest.fixture
def h(stack: Stack, function_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with open_harness(stack, function_env, monkeypatch) as harness:
        # One hour, 200 distinct alerts: lift the budget so every one takes the full path to Telegram.
        boto3.client("ssm").put_parameter(
            Name=harness.env["THRESHOLDS_PARAMETER"],
            Value=json.dumps({"dispatch": {"rate_limit_per_hour": 100_000}}),
            Type="String",
            Overwrite=True,
        )
        yield harness


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def received(h: Harness, count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < count:
        got = h.receive()
        assert got, "queue ran dry"
        messages += got
    return messages


def test_warm_per_alert_handling_time(h: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    from dispatcher import app

    level = app.logger.log_level
    app.logger.setLevel("WARNING")  # a log line per alert is not what is measured here
    try:
        single, per_alert_in_batch = measure(h)
    finally:
        app.logger.setLevel(level)
    p50, p99 = percentile(single, 0.5), percentile(single, 0.99)
    with capsys.disabled():  # the EMF metric lines went to stdout; show only the figures
        print(
            f"\ndispatcher warm, one alert per invocation ({ALERTS}): p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {max(single):.1f} ms; in batches of 10: {statistics.mean(per_alert_in_batch):.1f} ms per alert"
        )
    assert p50 < P50_BAR_MS
    assert p99 < P99_BAR_MS


def measure(h: Harness) -> tuple[list[float], list[float]]:
    h.send(cascade(-1, symbol="WARM"))
    h.run()  # the first invocation builds clients and connections: that is init, not warm
    h.send(*(cascade(i, symbol=f"S{i}") for i in range(ALERTS)))
    single: list[float] = []
    for message in received(h, ALERTS):
        event = h.event([message])
        started = time.perf_counter()
        response = h.invoke(event)
        single.append((time.perf_counter() - started) * 1000)
        assert response == {"batchItemFailures": []}
    assert len(h.fake.messages) == ALERTS + 1

    h.send(*(cascade(1000 + i, symbol=f"B{i}") for i in range(ALERTS)))
    messages = received(h, ALERTS)
    batches = [messages[i : i + 10] for i in range(0, len(messages), 10)]
    per_alert_in_batch: list[float] = []
    for batch in batches:
        started = time.perf_counter()
        assert h.invoke(h.event(batch)) == {"batchItemFailures": []}
        per_alert_in_batch.append((time.perf_counter() - started) * 1000 / len(batch))
    assert len(h.fake.messages) == 2 * ALERTS + 1

    return single, per_alert_in_batch


def test_init_time_in_a_fresh_process(stack: Stack, function_env: Any) -> None:
    env = {**os.environ, **function_env("DispatcherFunction")}
    code = (
        "import time, sys; t = time.perf_counter(); import dispatcher.app; "
        "print(time.perf_counter() - t, len(sys.modules))"
    )
    runs = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=stack.code_dir("DispatcherFunction"),
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        runs.append((float(out[0]), int(out[1])))
    seconds = statistics.median(r[0] for r in runs)
    print(
        f"\ndispatcher init (import dispatcher.app, fresh process): median {seconds * 1000:.0f} ms "
        f"over {len(runs)} runs, {runs[0][1]} modules loaded"
    )
    assert seconds < INIT_BAR_S
