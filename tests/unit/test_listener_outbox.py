"""The bounded outbox: non-blocking put, in-order sends, retry with backoff, drop-oldest, flush,
batches of up to 10 with several calls in flight, partial batch failures retried."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from listener.outbox import Outbox, Pending, SendBatch


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


def one_call_per_alert(send: FlakySend) -> SendBatch:
    """SendMessageBatch's contract over a one-message send, in order: a failure refuses the rest."""

    def send_batch(items):  # type: ignore[no-untyped-def]
        for i, item in enumerate(items):
            try:
                send(item.body)
            except ConnectionError as exc:
                if i == 0:
                    raise
                return [(rest, str(exc)) for rest in items[i:]]
        return []

    return send_batch


async def wait_until(condition, timeout: float = 5) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def test_sends_in_order_without_blocking_the_caller() -> None:
    gate = threading.Event()
    send = FlakySend(block=gate)
    outbox = Outbox(one_call_per_alert(send))
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
    outbox = Outbox(one_call_per_alert(send), retry_base_s=0.02, retry_cap_s=0.05, rand=lambda: 1.0)
    runner = asyncio.create_task(outbox.run())
    outbox.put("a", "A")
    outbox.put("b", "B")
    await wait_until(lambda: outbox.sent == 2)
    assert send.bodies == ["A", "B"]  # order kept across retries
    assert outbox.send_failures == 3 and outbox.dropped == 0
    outbox.close()
    await asyncio.wait_for(runner, 1)


def test_backoff_doubles_and_is_capped() -> None:
    outbox = Outbox(one_call_per_alert(FlakySend()), retry_base_s=0.2, retry_cap_s=1.0, rand=lambda: 1.0)
    assert [outbox._retry_delay(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]


async def test_a_full_outbox_drops_the_oldest_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(one_call_per_alert(FlakySend()), capacity=2)
    for i in range(3):
        outbox.put(f"id{i}", f"body{i}")
    assert outbox.dropped == 1
    assert [p.alert_id for p in outbox.pending()] == ["id1", "id2"]
    assert "outbox full" in caplog.text  # logged, never silent


async def test_close_flushes_what_is_pending_with_short_retries() -> None:
    send = FlakySend(failures=2)
    # A 60 s backoff cap would outlast any stop timeout: closing cuts the waits short.
    outbox = Outbox(one_call_per_alert(send), retry_base_s=30, retry_cap_s=60, rand=lambda: 1.0)
    runner = asyncio.create_task(outbox.run())
    outbox.put("a", "A")
    await wait_until(lambda: send.calls == 1)
    started = time.monotonic()
    outbox.close()
    await asyncio.wait_for(runner, 3)
    assert send.bodies == ["A"]
    assert time.monotonic() - started < 2


class BatchSQS:
    """SendMessageBatch as SQS answers it: up to 10 entries, some of which may be refused."""

    def __init__(self, refuse_first: set[str] | None = None, latency_s: float = 0.0) -> None:
        self.refuse_first = set(refuse_first or ())
        self.latency_s = latency_s
        self.calls: list[list[str]] = []
        self.delivered: list[str] = []
        self.lock = threading.Lock()
        self.concurrent = self.peak_concurrent = 0

    def __call__(self, items: list[Pending]) -> list[tuple[Pending, str]]:
        assert 1 <= len(items) <= 10
        with self.lock:
            self.calls.append([i.alert_id for i in items])
            self.concurrent += 1
            self.peak_concurrent = max(self.peak_concurrent, self.concurrent)
        time.sleep(self.latency_s)
        refused = []
        with self.lock:
            self.concurrent -= 1
            for item in items:
                if item.alert_id in self.refuse_first:
                    self.refuse_first.discard(item.alert_id)
                    refused.append((item, "InternalError: try again"))
                else:
                    self.delivered.append(item.alert_id)
        return refused


async def test_a_burst_goes_out_in_batches_of_ten_with_several_calls_in_flight() -> None:
    sqs = BatchSQS(latency_s=0.05)
    outbox = Outbox(sqs, batch=10, in_flight=4)
    runner = asyncio.create_task(outbox.run())
    outbox.put("first", "body")
    await asyncio.sleep(0)  # the first alert leaves alone, at once
    for i in range(99):
        outbox.put(f"a{i}", "body")
    await wait_until(lambda: outbox.sent == 100)
    assert sqs.calls[0] == ["first"]
    # Free call slots take alerts at once (one each); once all 4 are busy, alerts gather in tens.
    assert all(len(call) <= 10 for call in sqs.calls) and len(sqs.calls) <= 4 + 10
    assert sqs.peak_concurrent > 1  # calls overlapped instead of queueing behind each other
    assert sorted(sqs.delivered) == sorted(["first", *(f"a{i}" for i in range(99))])  # each exactly once
    outbox.close()
    await asyncio.wait_for(runner, 1)


async def test_entries_sqs_refuses_in_a_batch_are_retried_alone_and_the_rest_not_resent() -> None:
    sqs = BatchSQS(refuse_first={"b", "d"})
    outbox = Outbox(sqs, retry_base_s=0.01, retry_cap_s=0.02)
    for name in "abcde":
        outbox.put(name, name.upper())
    runner = asyncio.create_task(outbox.run())
    await wait_until(lambda: outbox.sent == 5)
    assert sqs.calls[0] == ["a", "b", "c", "d", "e"]
    assert sqs.calls[1] == ["b", "d"]  # only the refused ones, in their order
    assert sorted(sqs.delivered) == ["a", "b", "c", "d", "e"]
    assert outbox.send_failures == 1 and outbox.dropped == 0
    outbox.close()
    await asyncio.wait_for(runner, 1)


async def test_a_failed_call_holds_new_calls_back_until_the_backoff_passes() -> None:
    send = FlakySend(failures=1)
    outbox = Outbox(one_call_per_alert(send), retry_base_s=0.2, retry_cap_s=0.2, rand=lambda: 1.0)
    runner = asyncio.create_task(outbox.run())
    outbox.put("a", "A")
    await wait_until(lambda: outbox.send_failures == 1)
    outbox.put("b", "B")
    await asyncio.sleep(0.1)
    assert send.calls == 1  # SQS just failed: nothing new goes out during the backoff
    await wait_until(lambda: outbox.sent == 2)
    assert send.bodies == ["A", "B"]
    outbox.close()
    await asyncio.wait_for(runner, 1)
