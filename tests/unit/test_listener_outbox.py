"""The bounded outbox: non-blocking put, in-order sends, retry with backoff, drop-oldest, flush."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from listener.outbox import Outbox


class FlakySend:
    """Blocking send (as boto3's is) that fails its first `failures` calls."""

    def __init__(self, failures: int = 0, block: threading.Event | None = None) -> None:
        self.failures = failures
        self.block = block
        self.bodies: list[str] = []
        self.calls = 0

    def __call__(self, body: str) -> None:
        self.calls += 1
        if self.block is not None:
            self.block.wait(5)
        if self.calls <= self.failures:
            raise ConnectionError("endpoint unreachable")
        self.bodies.append(body)


async def wait_until(condition, timeout: float = 5) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def test_sends_in_order_without_blocking_the_caller() -> None:
    gate = threading.Event()
    send = FlakySend(block=gate)
    outbox = Outbox(send)
    runner = asyncio.create_task(outbox.run())
    started = time.perf_counter()
    for i in range(3):
        outbox.put(f"id{i}", f"body{i}")
    assert time.perf_counter() - started < 0.01  # put never waits for SQS
    await asyncio.sleep(0.05)
    assert send.bodies == [] and outbox.depth == 3  # the first send is stuck in its thread
    gate.set()
    await wait_until(lambda: outbox.sent == 3)
    assert send.bodies == ["body0", "body1", "body2"]
    outbox.close()
    await asyncio.wait_for(runner, 1)


async def test_failed_sends_are_retried_with_backoff_until_they_succeed() -> None:
    send = FlakySend(failures=3)
    outbox = Outbox(send, retry_base_s=0.02, retry_cap_s=0.05, rand=lambda: 1.0)
    runner = asyncio.create_task(outbox.run())
    outbox.put("a", "A")
    outbox.put("b", "B")
    await wait_until(lambda: outbox.sent == 2)
    assert send.bodies == ["A", "B"]  # order kept across retries
    assert outbox.send_failures == 3 and outbox.dropped == 0
    outbox.close()
    await asyncio.wait_for(runner, 1)


def test_backoff_doubles_and_is_capped() -> None:
    outbox = Outbox(FlakySend(), retry_base_s=0.2, retry_cap_s=1.0, rand=lambda: 1.0)
    assert [outbox._retry_delay(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]


async def test_a_full_outbox_drops_the_oldest_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(FlakySend(), capacity=2)
    for i in range(3):
        outbox.put(f"id{i}", f"body{i}")
    assert outbox.dropped == 1
    assert [p.alert_id for p in outbox.pending()] == ["id1", "id2"]
    assert "outbox full" in caplog.text  # logged, never silent


async def test_close_flushes_what_is_pending_with_short_retries() -> None:
    send = FlakySend(failures=2)
    # A 60 s backoff cap would outlast any stop timeout: closing cuts the waits short.
    outbox = Outbox(send, retry_base_s=30, retry_cap_s=60, rand=lambda: 1.0)
    runner = asyncio.create_task(outbox.run())
    outbox.put("a", "A")
    await wait_until(lambda: send.calls == 1)
    started = time.monotonic()
    outbox.close()
    await asyncio.wait_for(runner, 3)
    assert send.bodies == ["A"]
    assert time.monotonic() - started < 2
