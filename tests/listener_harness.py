"""Runs the listener against the fake Binance WebSocket server and moto server's SQS and SSM.

Everything goes over real loopback sockets: the fake speaks Binance's wire format, moto speaks
AWS's. Time is compressed through the listener's settings (silence, 24 h rotation, backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import boto3

from infra.fakes import binance_ws, bybit_ws, okx_ws
from infra.fakes.binance_ws import FakeBinanceWS
from infra.fakes.bybit_ws import FakeBybitWS
from infra.fakes.exchanges_rest import FakeExchanges
from infra.fakes.okx_ws import FakeOkxWS
from infra.local.aws_resources import Stack
from listener.service import Listener
from listener.settings import Settings
from listener.sqs import batch_sender
from listener.thresholds import source

# The start of the real recording (2025-10-22T09:36:42Z): scripted cascades use nearby times.
T0 = 1_761_125_802_000
# Where a feed the test does not serve is pointed: a closed local port, refused at once (no test
# reaches a real exchange).
NOWHERE_WS = "ws://127.0.0.1:9/"
NOWHERE_HTTP = "http://127.0.0.1:9"

FAST = {
    "health_host": "127.0.0.1",
    "health_port": 0,
    "silence_s": 600.0,
    "rotate_after_s": 3600.0,
    "overlap_s": 0.3,
    "backoff_base_s": 0.05,
    "backoff_cap_s": 0.4,
    "ping_interval_s": 5.0,
    "thresholds_refresh_s": 0.5,
    "metrics_interval_s": 3600.0,
    "send_retry_cap_s": 0.5,
    "flush_timeout_s": 5.0,
}


def settings_for(stack: Stack, ws_url: str, **overrides: Any) -> Settings:
    base = Settings(
        ws_url=ws_url,
        queue_url=stack.refs["AlertQueue"],
        thresholds_parameter=stack.refs["ThresholdsParameter"],
        bybit_ws_url=NOWHERE_WS,
        okx_ws_url=NOWHERE_WS,
        bybit_rest_url=NOWHERE_HTTP,
        okx_rest_url=NOWHERE_HTTP,
    )
    return replace(base, **{**FAST, **overrides})


def set_thresholds(stack: Stack, document: dict[str, Any]) -> None:
    boto3.client("ssm").put_parameter(
        Name=stack.refs["ThresholdsParameter"], Value=json.dumps(document), Type="String", Overwrite=True
    )


@dataclass
class Running:
    listener: Listener
    task: asyncio.Task[None]
    stop: asyncio.Event

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.health.port}"


@contextlib.asynccontextmanager
async def running_listener(settings: Settings) -> AsyncIterator[Running]:
    listener = Listener(settings, source(settings), batch_sender(settings.queue_url))
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        async with asyncio.timeout(10):
            while listener.health._server is None:
                await asyncio.sleep(0.01)
        yield Running(listener, task, stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def fake_binance(**kwargs: Any) -> AsyncIterator[FakeBinanceWS]:
    server = await FakeBinanceWS(**kwargs).start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class Exchanges:
    """All three fake feeds at once, and the REST fake serving their instrument lists."""

    binance: FakeBinanceWS
    bybit: FakeBybitWS
    okx: FakeOkxWS
    rest: FakeExchanges

    def settings(self, stack: Stack, **overrides: Any) -> Settings:
        urls = {
            "bybit_ws_url": self.bybit.url,
            "okx_ws_url": self.okx.url,
            "bybit_rest_url": self.rest.url,
            "okx_rest_url": self.rest.url,
        }
        overrides = {**urls, **overrides}
        return settings_for(stack, overrides.pop("ws_url", self.binance.url), **overrides)


# What the fakes list: Bybit's linear perpetuals, OKX's swaps with their contract sizes.
BYBIT_LISTED = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "1000PEPEUSDT"]
OKX_SIZES = {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1, "SOL-USDT-SWAP": 1.0, "DOGE-USDT-SWAP": 1000.0}


@contextlib.asynccontextmanager
async def fake_exchanges(**okx_options: Any) -> AsyncIterator[Exchanges]:
    rest = FakeExchanges().start()
    rest.set_bybit_linear(BYBIT_LISTED)
    rest.set_okx_swaps(OKX_SIZES)
    servers = [FakeBinanceWS(), FakeBybitWS(symbols=BYBIT_LISTED), FakeOkxWS(**okx_options)]
    for server in servers:
        await server.start()
    try:
        yield Exchanges(servers[0], servers[1], servers[2], rest)  # type: ignore[arg-type]
    finally:
        for server in servers:
            await server.stop()
        rest.stop()


async def receive_alerts(queue_url: str, expected: int, settle_s: float = 1.0, timeout: float = 30) -> list[dict]:
    """Every message on the queue once `expected` have arrived and `settle_s` passed with no more."""

    def receive() -> list[dict]:
        sqs = boto3.client("sqs")
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        for m in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    bodies: list[dict] = []
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        batch = await asyncio.to_thread(receive)
        bodies.extend(batch)
        if batch:
            quiet_since = None
        elif len(bodies) >= expected:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle_s:
                return bodies
        await asyncio.sleep(0.05)
    return bodies


async def eventually(condition: Any, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.02)


class TcpGate:
    """A TCP forwarder to a target port that can refuse connections and let them through again.

    Stands between the listener and moto's SQS to make the queue unreachable for a while.
    """

    def __init__(self, target_port: int, port: int) -> None:
        self.target_port = target_port
        self.port = port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port, reuse_address=True)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._pipes):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pipes.difference_update((writer, up_writer))


FEEDS = ("binance", "bybit", "okx")


def ready(run: Any, feeds: tuple[str, ...] = FEEDS) -> bool:
    listener = run.listener
    checks = {
        "binance": lambda: listener.feeds["binance"].connected,
        "bybit": lambda: "allLiquidation.BTCUSDT" in listener.feeds["bybit"].confirmed,
        "okx": lambda: listener.feeds["okx"].subscribed and bool(listener.feeds["okx"].sizes),
    }
    return all(checks[name]() for name in feeds)


def btc(exchange: str, count: int, start_ms: int, spacing_ms: int = 1000) -> list[Any]:
    """`count` long liquidations of $150k on BTC (the default floor is $100k), in that exchange's format."""
    if exchange == "binance":
        return binance_ws.cascade_frames("BTCUSDT", "SELL", count, 150_000, start_ms, spacing_ms)
    if exchange == "bybit":
        return bybit_ws.cascade_frames("BTCUSDT", "Buy", count, 150_000, start_ms, spacing_ms)
    return okx_ws.cascade_frames("BTC-USDT-SWAP", "sell", count, 150_000, start_ms, 0.01, spacing_ms)
