"""`make bench-peers`: the listener against cryptofeed and a bare websockets + orjson client, one run.

For each repetition, every consumer in turn (the order rotates each repetition) is started as a
fresh process and connected to the one server; then, with its start-up behind it:

1. warm-up: the server sends the warm-up frames; the orchestrator waits until the consumer has
   handled all of them, so imports, connections, caches and allocations are done and it is idle;
2. timed: CPU time of the consumer is read from /proc, the server writes the timed frames as fast
   as the consumer takes them (TCP flow control), and the run ends the moment the consumer has
   handled the last one; CPU time and peak RSS are read again.

How "handled the last one" is known: the listener's `GET /status` counts frames and says how long
ago the newest arrived (polled not once while the server writes, then at the listener's own pace:
about two polls a run); the reference consumers print a checkpoint with the time. Each run is
checked: every frame counted, the notional summed to the expected total (references), no malformed
frame and exactly the recording's repeats dropped (listener). A run that fails a check is reported
and the benchmark exits non-zero: its figures are not evidence.

The listener runs as in production: `python -m listener` from the project's `.venv`, with the
container environment of ListenerTaskDefinition, SQS and SSM on moto server, the template's
thresholds. `--alerts` adds a listener-only series with thresholds low enough that cascades fire,
and reports how many of their alerts were on SQS when the last frame had been handled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import httpx

from cryptoalerts import thresholds as thresholds_doc
from infra.local import aws_resources
from infra.local.moto_server import MotoServer, free_port
from infra.processes import terminate
from infra.repo import REPO_ROOT
from peers import procfs, stats, tls
from peers.wire import WIRES, Expected, Phases, Wire, expected

HARNESS_DIR = Path(__file__).resolve().parent.parent  # tests/benchmarks: peers' import root
LISTENER_TASK = "ListenerTaskDefinition"
STAGE = "bench"
PHASE_TIMEOUT_S = 180.0
POLL_S = 0.02
# The "561 cascades" finding: the default rule (5 within 30 s) with a $100 floor on the
# three default symbols fires 561 times over the 200,000 timed frames.
STORM_THRESHOLDS: dict[str, Any] = {
    "liquidation": {"default": {"min_usd": 100}, **{s: {"min_usd": 100} for s in ("BTC", "ETH", "SOL")}}
}
LISTENER_STORM = "listener-storm"


@dataclass(frozen=True)
class Options:
    exchange: str
    frames: int
    warmup: int
    repetitions: int
    consumers: list[str]
    alerts: bool
    peers_python: str
    json_path: Path | None
    strict: bool
    plain: bool = False  # ws:// instead of wss:// (cryptofeed cannot take part)


T = TypeVar("T")


class RunFailed(Exception):
    """A run whose figures are not evidence (a frame missing, a wrong total, a stuck consumer)."""


# ---------------------------------------------------------------- the server process
class ServerProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.port = 0
        self.open: dict[int, dict[str, int]] = {}  # connection -> frames per phase it is subscribed to
        self.changed = asyncio.Event()
        self._sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, options: Options, cert: Path, key: Path, env: dict[str, str]) -> ServerProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "peers.server",
            f"--exchange={options.exchange}",
            f"--timed={options.frames}",
            f"--warmup={options.warmup}",
            f"--cert={cert}",
            f"--key={key}",
            *(["--plain"] if options.plain else []),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        server = cls(proc)
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 120))
        server.port = ready["port"]
        server._reader = asyncio.create_task(server._read_events())
        return server

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read_events(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            event = json.loads(line)
            kind = event["event"]
            if kind in ("connected", "subscribed"):
                self.open[event["connection"]] = event["frames"]
            elif kind == "closed":
                self.open.pop(event["connection"], None)
            elif kind == "sent":
                await self._sent.put(event)
            elif kind == "error":
                print(f"  server: {event}", file=sys.stderr)
            self.changed.set()

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise RunFailed(f"timed out waiting for {what}; open connections: {self.open}") from None

    def subscribed(self, phase: str) -> int:
        return sum(frames[phase] for frames in self.open.values())

    def send(self, phase: str) -> asyncio.Future[dict[str, Any]]:
        """Tell the server to send a phase; the future holds its `sent` event (times of the writes)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"send": phase}).encode() + b"\n")
        return asyncio.ensure_future(self._sent.get())

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


# ---------------------------------------------------------------- consumers
@dataclass
class Context:
    options: Options
    wire: Wire
    server: ServerProcess
    expected: Expected  # of every frame, warm-up and timed
    expected_warmup: Expected
    phases: Phases
    env: dict[str, str]  # trusts the server's certificate
    work: Path
    stack: aws_resources.Stack
    moto: MotoServer
    shares: dict[tuple[str, ...], Share] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"{'ws' if self.options.plain else 'wss'}://{tls.HOST}:{self.server.port}"

    def share(self, exchanges: tuple[str, ...]) -> Share:
        """What a consumer reading only these exchanges' streams receives (all of them: everything)."""
        if set(exchanges) >= set(self.wire.exchanges):
            return Share(self.expected_warmup, self.expected)
        if exchanges not in self.shares:
            prefixes = tuple(name + " " for name in exchanges)  # AllWires' frame keys: "<exchange> <key>"
            warmup = [f for f in self.phases.warmup if f[1].startswith(prefixes)]
            timed = [f for f in self.phases.timed if f[1].startswith(prefixes)]
            self.shares[exchanges] = Share(expected(self.wire, warmup), expected(self.wire, warmup + timed))
        return self.shares[exchanges]


@dataclass(frozen=True)
class Share:
    """The frames one consumer receives: the warm-up's, and every frame (warm-up and timed)."""

    warmup: Expected
    everything: Expected

    @property
    def timed(self) -> int:
        return self.everything.frames - self.warmup.frames


class Consumer(ABC):
    """A consumer process: started, then `handled(n)` = the monotonic time it had handled n frames."""

    name: str
    pid: int
    share: Share  # the frames it receives

    async def ready(self) -> None:  # noqa: B027 (most consumers are ready once subscribed)
        """Connected and subscribed: wait until it can handle frames (e.g. has read its instruments)."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def handled(self, count: int, sent: Awaitable[dict[str, Any]]) -> float:
        """Once `sent` (the server's report of the phase) may be awaited, if waiting for it helps."""

    async def settle(self) -> None:  # noqa: B027 (most consumers have nothing to finish)
        """After the warm-up, before the timed phase: let it finish what the warm-up started."""

    @abstractmethod
    async def finish(self) -> dict[str, Any]:
        """Stop it; what it reported beyond the timings (checked by `check`)."""

    @abstractmethod
    def check(self, extra: dict[str, Any]) -> list[str]:
        """What makes this run's figures not evidence (empty: none)."""


class Reference(Consumer):
    """A reference consumer from .venv-peers that prints checkpoints (peers/consumers/)."""

    def __init__(
        self, ctx: Context, name: str, module: str, url: str, unit_bytes: bool = False, exchanges: tuple[str, ...] = ()
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.module = module
        self.url = url
        self.share = ctx.share(exchanges or ctx.wire.exchanges)
        self.unit_bytes = unit_bytes  # the null consumer counts bytes, not frames
        self.last: dict[str, Any] = {}
        self.proc: asyncio.subprocess.Process | None = None

    def checkpoints(self) -> list[int]:
        ctx = self.ctx
        if self.unit_bytes:
            return [ctx.expected_warmup.wire_bytes, ctx.expected.wire_bytes]
        return [self.share.warmup.frames, self.share.everything.frames]

    async def start(self) -> None:
        with open(self.ctx.work / f"{self.name}.stderr", "ab") as stderr:
            self.proc = await asyncio.create_subprocess_exec(
                self.ctx.options.peers_python,
                "-m",
                f"peers.consumers.{self.module}",
                f"--url={self.url}",
                f"--exchange={self.ctx.options.exchange}",
                f"--checkpoints={','.join(map(str, self.checkpoints()))}",
                f"--log={self.ctx.work / (self.name + '.log')}",
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=self.ctx.env,
                cwd=self.ctx.work,
            )
        self.pid = self.proc.pid

    async def handled(self, count: int, sent: Awaitable[dict[str, Any]]) -> float:
        assert self.proc is not None and self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RunFailed(f"{self.name} exited (code {await self.proc.wait()}); see {self.ctx.work}/{self.name}.*")
        self.last = json.loads(line)
        return float(self.last["t"])

    async def finish(self) -> dict[str, Any]:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        return {k: v for k, v in self.last.items() if k not in ("count", "t")}

    def check(self, extra: dict[str, Any]) -> list[str]:
        if self.unit_bytes:
            return []  # it reported the exact byte count or never got here
        want = self.share.everything.notional_usd
        got = extra.get("notional_usd")
        if got is None or abs(got - want) > 1e-9 * want:
            return [f"{self.name}: notional {got} USD, expected {want} USD: not every frame was handled as sent"]
        return []


class ListenerConsumer(Consumer):
    """`python -m listener` as production runs it, its progress read from `GET /status`."""

    def __init__(self, ctx: Context, name: str, thresholds: dict[str, Any] | None) -> None:
        self.ctx = ctx
        self.name = name
        self.thresholds = thresholds
        self.share = ctx.share(ctx.wire.exchanges)
        self.health_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.status: dict[str, Any] = {}
        self.sqs = boto3.session.Session(region_name=aws_resources.REGION).client(
            "sqs", endpoint_url=ctx.moto.endpoint_url
        )
        self.queue_url = ctx.stack.refs["AlertQueue"]
        self.end_wall_ms = 0.0
        self.baseline: dict[str, int] = {"cascades": 0, "sent": 0}  # the warm-up's, left out of the figures
        self.polls = 0  # status requests in the current phase

    def environment(self) -> dict[str, str]:
        ctx = self.ctx
        return {
            **ctx.env,
            **ctx.moto.env(),
            **ctx.stack.container_environment(LISTENER_TASK),
            **ctx.wire.listener_env(ctx.base_url),
            "HEALTH_PORT": str(self.health_port),
        }

    async def start(self) -> None:
        self._store_thresholds()
        self._drain_queue()
        with open(self.ctx.work / f"{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "listener"], env=self.environment(), cwd=REPO_ROOT, stdout=log, stderr=log
            )
        self.pid = self.proc.pid

    def _store_thresholds(self) -> None:
        """The template's document, or the storm's; reading the feeds this run serves."""
        stack = self.ctx.stack
        document = json.loads(stack.resolve(stack.template["Resources"]["ThresholdsParameter"]["Properties"]["Value"]))
        if self.thresholds:
            document = thresholds_doc.deep_merge(document, self.thresholds)
        document = thresholds_doc.deep_merge(document, {"feeds": {"liquidations": list(self.ctx.wire.exchanges)}})
        ssm = boto3.session.Session(region_name=aws_resources.REGION).client(
            "ssm", endpoint_url=self.ctx.moto.endpoint_url
        )
        ssm.put_parameter(Name=self.ctx.stack.refs["ThresholdsParameter"], Value=json.dumps(document), Overwrite=True)

    async def _status(self, client: httpx.AsyncClient) -> tuple[dict[str, Any], float]:
        """The status and the monotonic time it describes (the middle of the request)."""
        before = time.monotonic()
        reply = await client.get("/status")
        return reply.json(), (before + time.monotonic()) / 2

    async def ready(self) -> None:
        """Bybit's topics acknowledged and OKX's contract sizes read: before that an OKX liquidation
        waits for its instrument (at most 1,000 of them), so a warm-up sent earlier would be refused."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.health_port}", timeout=5) as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    feeds = (await self._status(client))[0]["feeds"]
                    if all(_feed_ready(name, feeds[name]) for name in self.ctx.wire.exchanges):
                        return
                await asyncio.sleep(0.1)

    async def handled(self, count: int, sent: Awaitable[dict[str, Any]]) -> float:
        """Polls `GET /status` (about 2 ms of the listener's CPU each) as rarely as it can: not once
        while the server is still writing, then when the listener's own pace says it should be done."""
        first_write = (await sent)["first_write"]
        base = self.status.get("frames", 0)  # handled before this phase
        self.polls = 0
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.health_port}", timeout=5) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RunFailed(f"{self.name} exited with code {self.proc.returncode}; see {self.ctx.work}")
                wait = POLL_S
                with contextlib.suppress(httpx.TransportError):
                    status, at = await self._status(client)
                    self.status = status
                    self.polls += 1
                    if status["frames"] >= count:
                        # The newest frame arrived last_frame_age_s before the status was made, and was
                        # handled as it arrived (the handler runs on receipt, synchronously): the end
                        # does not depend on when the poll came.
                        end = at - status["last_frame_age_s"]
                        self.end_wall_ms = (time.time() - (time.monotonic() - end)) * 1000
                        return end
                    rate = (status["frames"] - base) / max(at - first_write, 1e-3)
                    if rate > 0:
                        wait = min(max((count - status["frames"]) / rate * 1.1, POLL_S), 1.0)
                await asyncio.sleep(wait)
        raise RunFailed(f"{self.name} handled {self.status.get('frames')} of {count} frames in time")

    async def settle(self) -> None:
        """Wait until every alert the warm-up fired is on SQS, then clear the queue: the timed phase's
        alerts are then the only ones counted."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.health_port}", timeout=5) as client:
            deadline = time.monotonic() + PHASE_TIMEOUT_S
            while True:
                status, _ = await self._status(client)
                outbox = status["outbox"]
                if outbox["depth"] == 0 and outbox["sent"] + outbox["dropped"] >= status["cascades"]:
                    break
                if time.monotonic() > deadline:
                    raise RunFailed(f"{self.name}: the warm-up's alerts never left the outbox: {outbox}")
                await asyncio.sleep(0.1)
        self.baseline = {"cascades": status["cascades"], "sent": outbox["sent"]}
        self._drain_queue()

    async def finish(self) -> dict[str, Any]:
        status = self.status
        extra: dict[str, Any] = {
            "frames": status.get("frames"),
            "malformed": status.get("malformed"),
            "duplicates": status.get("duplicates"),
            "qualifying": status.get("qualifying"),
            "cascades": status.get("cascades", 0) - self.baseline["cascades"],
            "sent_at_last_frame": (status.get("outbox") or {}).get("sent", 0) - self.baseline["sent"],
            "status_polls": self.polls,  # during the timed phase, all after the server's last write
        }
        assert self.proc is not None
        stopping = time.monotonic()
        code = await asyncio.to_thread(terminate, self.proc, 60)
        extra["exit_code"] = code
        extra["exit_s"] = round(time.monotonic() - stopping, 3)
        if self.thresholds:  # the storm: when did its alerts reach SQS?
            sent_ms = self._drain_queue()
            extra["alerts_on_sqs"] = len(sent_ms)
            extra["on_sqs_at_last_frame"] = sum(1 for t in sent_ms if t <= self.end_wall_ms)
            extra["last_alert_after_last_frame_s"] = (
                round((max(sent_ms) - self.end_wall_ms) / 1000, 3) if sent_ms else None
            )
        return extra

    def _drain_queue(self) -> list[int]:
        """Receive and delete every message on the alert queue; their SentTimestamps (epoch ms)."""
        sent: list[int] = []
        while True:
            reply = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["SentTimestamp"],
                WaitTimeSeconds=0,
            )
            messages = reply.get("Messages", [])
            if not messages:
                return sent
            sent.extend(int(m["Attributes"]["SentTimestamp"]) for m in messages)
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def check(self, extra: dict[str, Any]) -> list[str]:
        problems = []
        want = self.ctx.expected
        if extra["frames"] != want.frames:
            problems.append(f"{self.name}: counted {extra['frames']} frames, sent {want.frames}")
        if extra["malformed"]:
            problems.append(f"{self.name}: malformed frames {extra['malformed']}")
        if extra["duplicates"] != want.repeats:
            problems.append(f"{self.name}: dropped {extra['duplicates']} duplicates, the frames hold {want.repeats}")
        if self.thresholds and extra["alerts_on_sqs"] != extra["cascades"]:
            problems.append(f"{self.name}: {extra['cascades']} cascades but {extra['alerts_on_sqs']} alerts on SQS")
        return problems


def _feed_ready(name: str, feed: dict[str, Any]) -> bool:
    if name == "bybit":
        return 0 < feed["topics"]["watched"] == feed["topics"]["confirmed"]
    if name == "okx":
        return bool(feed["subscribed"]) and feed["instruments"]["swaps"] > 0
    return True


# The streams cryptofeed 2.4.1 consumes: it reads OKX's liquidations by polling REST once a minute
# (consumers/cryptofeed_feed.py), so on OKX it has no stream to be measured on.
CRYPTOFEED_STREAMS = ("binance", "bybit")


def unavailable(consumer: str, wire: Wire, plain: bool) -> str | None:
    """Why a consumer cannot take part in a run on this wire (None: it can)."""
    if consumer == stats.CRYPTOFEED and not set(wire.exchanges) & set(CRYPTOFEED_STREAMS):
        return "cryptofeed 2.4.1 never subscribes OKX's liquidation stream (it polls REST once a minute)"
    if consumer == stats.CRYPTOFEED and plain:
        return "cryptofeed connects to wss:// addresses only"
    if consumer == stats.NULL and wire.exchanges != ("binance",):
        return "the null consumer subscribes to nothing: it counts Binance's all-market stream only"
    return None


def make_consumer(ctx: Context, name: str) -> Consumer:
    if name == stats.LISTENER:
        return ListenerConsumer(ctx, name, None)
    if name == LISTENER_STORM:
        return ListenerConsumer(ctx, name, STORM_THRESHOLDS)
    if name == stats.CRYPTOFEED:
        streams = tuple(e for e in ctx.wire.exchanges if e in CRYPTOFEED_STREAMS)
        return Reference(ctx, name, "cryptofeed_feed", ctx.base_url, exchanges=streams)
    if name == stats.BARE:
        return Reference(ctx, name, "bare", ctx.base_url)
    if name == stats.NULL:
        return Reference(ctx, name, "null", ctx.base_url + ctx.wire.stream_path(), unit_bytes=True)
    raise ValueError(f"unknown consumer {name!r}")


# ---------------------------------------------------------------- one run
async def measure(ctx: Context, name: str, repetition: int) -> stats.Run:
    server = ctx.server
    await server.wait_for(lambda: not server.open, "the previous consumer to disconnect")
    consumer = make_consumer(ctx, name)
    await consumer.start()
    try:
        share = consumer.share
        await server.wait_for(
            lambda: server.subscribed("timed") >= share.timed, f"{name} to connect and subscribe", timeout=120
        )
        await _within(consumer.ready(), f"{name} to be ready (see {ctx.work})")
        warm = server.send("warmup")
        await _within(consumer.handled(share.warmup.frames, warm), f"{name} to handle the warm-up")
        await consumer.settle()
        cpu_before = procfs.cpu_seconds(consumer.pid)
        server_cpu_before = procfs.cpu_seconds(server.pid)
        timed = server.send("timed")
        end = await _within(consumer.handled(share.everything.frames, timed), f"{name} to handle the timed frames")
        cpu = procfs.cpu_seconds(consumer.pid) - cpu_before
        rss = procfs.peak_rss(consumer.pid)
        sent = await timed
        server_cpu = procfs.cpu_seconds(server.pid) - server_cpu_before
    finally:
        extra = await consumer.finish()
    if sent["errors"]:
        raise RunFailed(f"{name}: the server failed to write: {sent['errors']}")
    problems = consumer.check(extra)
    if problems:
        raise RunFailed("; ".join(problems))
    return stats.Run(
        consumer=name,
        repetition=repetition,
        frames=share.timed,
        seconds=end - sent["first_write"],
        cpu_seconds=cpu,
        peak_rss_bytes=rss,
        server_cpu_seconds=server_cpu,
        extra={**extra, "server_drained_s": round(sent["drained"] - sent["first_write"], 3)},
    )


async def _within(step: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(step, PHASE_TIMEOUT_S)
    except TimeoutError:
        raise RunFailed(f"timed out after {PHASE_TIMEOUT_S:.0f} s waiting for {what}") from None


def order_for(consumers: list[str], repetition: int) -> list[str]:
    """Each repetition starts with the next consumer, so none always runs first (or last)."""
    shift = repetition % len(consumers)
    return consumers[shift:] + consumers[:shift]


# ---------------------------------------------------------------- the whole benchmark
async def run(options: Options) -> int:
    wire = WIRES[options.exchange]
    consumers = list(options.consumers) + ([LISTENER_STORM] if options.alerts else [])
    for name in list(consumers):
        reason = unavailable(name, wire, options.plain)
        if reason:
            print(f"bench-peers: {name} left out of this run: {reason}", flush=True)
            consumers.remove(name)
    print(
        f"bench-peers: {options.frames:,} real {wire.name} frames (the recording looped) after {options.warmup:,} "
        f"warm-up frames, {options.repetitions} repetitions of {', '.join(consumers)}; load {_load()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        cert, key = tls.self_signed(work)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HARNESS_DIR), str(REPO_ROOT)]),
            "SSL_CERT_FILE": str(cert),
            "REQUESTS_CA_BUNDLE": str(cert),
            "PYTHONUNBUFFERED": "1",
        }
        moto = MotoServer().start()
        saved_env = dict(os.environ)
        os.environ.update(moto.env())  # this process's own clients (deploy, thresholds, the queue)
        server: ServerProcess | None = None
        try:
            stack = aws_resources.deploy(moto.endpoint_url, stage=STAGE)
            phases_task = asyncio.create_task(asyncio.to_thread(Phases.build, wire, options.frames, options.warmup))
            server = await ServerProcess.start(options, cert, key, env)
            phases = await phases_task
            everything = expected(wire, phases.warmup + phases.timed)
            ctx = Context(
                options, wire, server, everything, expected(wire, phases.warmup), phases, env, work, stack, moto
            )
            runs: list[stats.Run] = []
            for repetition in range(1, options.repetitions + 1):
                for name in order_for(consumers, repetition - 1):
                    result = await measure(ctx, name, repetition)
                    runs.append(result)
                    print(f"  {repetition}. {_run_line(result)}", flush=True)
        except RunFailed as exc:
            print(f"bench-peers: a run failed its checks, no figures: {exc}", file=sys.stderr)
            return 2
        finally:
            if server is not None:
                await server.stop()
            moto.stop()
            os.environ.clear()
            os.environ.update(saved_env)
    return report(options, runs, ctx.expected)


def report(options: Options, runs: list[stats.Run], want: Expected) -> int:
    order = [stats.LISTENER, stats.CRYPTOFEED, stats.BARE, LISTENER_STORM, stats.NULL]
    print()
    print(stats.table(runs, order))
    headroom = stats.server_headroom(runs, [c for c in order if c != stats.NULL])
    if headroom:
        null, fastest = headroom
        print(
            f"server alone (null consumer): {null:,.0f} frames/s, {null / fastest:.1f}× the fastest consumer"
            + ("" if null >= 1.5 * fastest else "  WARNING: the server may limit the fastest consumer")
        )
    storm = stats.runs_of(runs, LISTENER_STORM)
    if storm:
        first = storm[0].extra
        print(
            f"alert path ({first['cascades']} cascades fired in the timed frames): on SQS when the last frame "
            f"was handled: {', '.join(str(r.extra['on_sqs_at_last_frame']) for r in storm)} of "
            f"{first['alerts_on_sqs']}; the last alert reached SQS "
            f"{', '.join(str(r.extra['last_alert_after_last_frame_s']) for r in storm)} s after the last frame"
        )
    found = stats.bars(runs)
    print()
    print(stats.bar_lines(found))
    print(
        f"\nframes/s: timed frames / (consumer's last frame handled - server's first timed write); CPU: user+sys "
        f"of the consumer process over the same span; RSS: its VmHWM. Every run counted every frame it was sent "
        f"({want.frames:,} for a consumer of every stream) and their notional (${want.notional_usd:,.2f} for all); "
        f"load {_load()}."
    )
    if options.json_path:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
            "environment": _environment(options),
            "expected": asdict(want),
            "runs": [r.as_dict() for r in runs],
            "bars": [{**asdict(b), "ok": b.ok} for b in found],
        }
        options.json_path.write_text(json.dumps(document, indent=2))
        print(f"figures written to {options.json_path}")
    return 1 if options.strict and not all(b.ok for b in found) else 0


def _run_line(r: stats.Run) -> str:
    return (
        f"{r.consumer:<14} {r.frames_per_s:>10,.0f} frames/s  {r.cpu_us_per_frame:5.2f} µs CPU/frame  "
        f"{r.peak_rss_mb:5.1f} MB  (server {r.server_cpu_seconds / r.frames * 1e6:.2f} µs/frame)"
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _environment(options: Options) -> dict[str, Any]:
    versions = subprocess.run(
        [
            options.peers_python,
            "-c",
            "import importlib.metadata as m; "
            "print({p: m.version(p) for p in ('cryptofeed', 'orjson', 'websockets', 'uvloop')})",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=REPO_ROOT)
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "peers_venv": versions,
        "commit": commit.stdout.strip(),
    }


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="bench-peers", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--exchange", choices=sorted(WIRES), default="binance", help="one exchange's wire, or all three at once"
    )
    parser.add_argument("--frames", type=int, default=200_000, help="timed frames per run")
    parser.add_argument("--warmup", type=int, default=20_000, help="warm-up frames per run (not timed)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--consumers",
        default=",".join([stats.LISTENER, stats.CRYPTOFEED, stats.BARE, stats.NULL]),
        help="comma-separated, from: listener, cryptofeed, bare, null",
    )
    parser.add_argument("--alerts", action="store_true", help=f"add {LISTENER_STORM}: thresholds that fire cascades")
    parser.add_argument("--peers-python", default=str(REPO_ROOT / ".venv-peers" / "bin" / "python"))
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="also write every figure here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the listener misses a bar")
    parser.add_argument("--plain", action="store_true", help="serve ws://, no TLS (shows what TLS costs)")
    args = parser.parse_args(argv)
    if args.repetitions < 1 or args.frames < 1 or args.warmup < 1:
        parser.error("--repetitions, --frames and --warmup must be positive")
    return Options(
        exchange=args.exchange,
        frames=args.frames,
        warmup=args.warmup,
        repetitions=args.repetitions,
        consumers=[c for c in args.consumers.split(",") if c],
        alerts=args.alerts,
        # Absolute (consumers start in a scratch directory), but not resolved: the venv's own
        # python is a symlink to the base interpreter, and only through the venv's path is it the venv.
        peers_python=os.path.abspath(args.peers_python),
        json_path=args.json_path,
        strict=args.strict,
        plain=args.plain,
    )


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))
