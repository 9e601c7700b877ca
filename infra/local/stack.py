"""The whole pipeline on one machine (architecture.md §5): the embedded default.

moto server on loopback holds the template's tables, queues and thresholds parameter; the
listener runs as its own process with the environment of `ListenerTaskDefinition`; the functions
run as warm Lambda-like processes with their template environment; a scheduler invokes
OiSnapshotFunction every minute and hands its result to OiEvaluateFunction as the on-success
destination does; an SQS poller feeds DispatcherFunction as the event source mapping does.
CommandsFunction sits behind a local Function URL: a fake Telegram delivers updates to it as a
webhook (set with its secret, as `crypto-alerts telegram webhook` does), and with a real bot a
poller hands it what getUpdates returns.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import boto3
import httpx

from cryptoalerts import config
from cryptoalerts.exchanges import ADAPTERS
from cryptoalerts.telegram_format import EXCHANGE_NAMES
from cryptoalerts.timeutil import iso_ms, to_epoch_ms, utc_now
from infra.cli.context import CliError
from infra.cli.telegram import set_webhook
from infra.local import aws_resources
from infra.local.event_source import SqsEventSource
from infra.local.function_url import FunctionUrl
from infra.local.lambda_runtime import FunctionProcess, InvocationError
from infra.local.moto_server import MotoServer, free_port
from infra.local.updates_poller import UpdatesPoller
from infra.processes import terminate
from infra.repo import REPO_ROOT

logger = logging.getLogger("local-stack")

SNAPSHOT = "OiSnapshotFunction"
EVALUATE = "OiEvaluateFunction"
DISPATCHER = "DispatcherFunction"
COMMANDS = "CommandsFunction"
LISTENER_TASK = "ListenerTaskDefinition"
LOCAL_STAGE = "local"
EXCHANGES = tuple(adapter.name for adapter in ADAPTERS)


@dataclass(frozen=True)
class Markets:
    """Where the parts find the markets: the live exchanges by default, or local fakes."""

    binance_ws: str
    binance_rest: str
    bybit_rest: str
    okx_rest: str
    bybit_ws: str
    okx_ws: str

    @classmethod
    def live(cls) -> Markets:
        return cls(
            binance_ws=config.get(config.BINANCE_FUTURES_WS_URL),
            binance_rest=config.get(config.BINANCE_FUTURES_REST_URL),
            bybit_rest=config.get(config.BYBIT_REST_URL),
            okx_rest=config.get(config.OKX_REST_URL),
            bybit_ws=config.get(config.BYBIT_WS_URL),
            okx_ws=config.get(config.OKX_WS_URL),
        )

    def listener_env(self) -> dict[str, str]:
        """The three liquidation streams, and the REST lists the listener reads (Bybit's symbols, OKX's sizes)."""
        return {
            config.BINANCE_FUTURES_WS_URL: self.binance_ws,
            config.BYBIT_WS_URL: self.bybit_ws,
            config.OKX_WS_URL: self.okx_ws,
            config.BYBIT_REST_URL: self.bybit_rest,
            config.OKX_REST_URL: self.okx_rest,
        }

    def rest_env(self) -> dict[str, str]:
        return {
            config.BINANCE_FUTURES_REST_URL: self.binance_rest,
            config.BYBIT_REST_URL: self.bybit_rest,
            config.OKX_REST_URL: self.okx_rest,
        }


@dataclass(frozen=True)
class Telegram:
    """The Bot API the dispatcher and the commands talk to: the real one (`poll_updates`: its
    updates are fetched with getUpdates), or a local fake (updates come by webhook)."""

    api_url: str
    token: str
    chat_id: str
    poll_updates: bool = False

    def env(self) -> dict[str, str]:
        return {
            config.TELEGRAM_API_URL: self.api_url,
            config.TELEGRAM_BOT_TOKEN: self.token,
            config.TELEGRAM_CHAT_ID: self.chat_id,
        }


@dataclass
class Clock:
    """Minutes for the scheduler. Live: wall-clock minutes. Compressed (demo): simulated minutes
    starting at `start`, one every `minute_s` wall seconds."""

    minute_s: float = 60.0
    start: datetime | None = None

    def minutes(self, stop: threading.Event) -> Iterator[datetime]:
        if self.start is None:
            while not stop.is_set():
                now = utc_now()
                boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
                if stop.wait((boundary - now).total_seconds()):
                    return
                yield boundary
        else:
            minute = self.start
            next_at = time.monotonic()
            while not stop.is_set():
                yield minute
                minute += timedelta(minutes=1)
                next_at += self.minute_s
                if stop.wait(max(0.0, next_at - time.monotonic())):
                    return


@dataclass
class Counters:
    snapshots: Counter[str] = field(default_factory=Counter)  # "<exchange> ok|failed"
    evaluations: int = 0
    function_errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalStack:
    def __init__(
        self,
        markets: Markets,
        telegram: Telegram,
        clock: Clock | None = None,
        log_dir: Path = REPO_ROOT / ".local" / "logs",
        listener_overrides: dict[str, str] | None = None,
        run_scheduler: bool = True,
        thresholds: dict[str, Any] | None = None,
    ) -> None:
        self.markets = markets
        self.telegram = telegram
        self.clock = clock or Clock()
        self.log_dir = log_dir
        self.listener_overrides = listener_overrides or {}
        self.run_scheduler = run_scheduler
        self.thresholds = thresholds
        self.counters = Counters()
        self.moto = MotoServer()
        self.health_port = free_port()
        self.stack: aws_resources.Stack | None = None
        self.functions: dict[str, FunctionProcess] = {}
        self.listener: subprocess.Popen[bytes] | None = None
        self.poller: SqsEventSource | None = None
        self.webhook_secret = secrets.token_urlsafe(24)
        self.commands_url: FunctionUrl | None = None
        self.updates_poller: UpdatesPoller | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._logs: list[IO[str]] = []
        self.before_tick: Callable[[datetime], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalStack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.moto.start()
        os.environ.update(self.moto.env())  # this process's own boto3 clients (poller, status)
        self.stack = aws_resources.deploy(self.moto.endpoint_url, stage=LOCAL_STAGE)
        if self.thresholds is not None:  # as an operator's edit would, before anything reads it
            boto3.client("ssm").put_parameter(
                Name=self.stack.refs["ThresholdsParameter"], Value=json.dumps(self.thresholds), Overwrite=True
            )
        base_env = self.moto.env()
        function_overrides = {
            SNAPSHOT: self.markets.rest_env(),
            EVALUATE: {},
            DISPATCHER: self.telegram.env(),
            COMMANDS: {
                **self.markets.rest_env(),
                **self.telegram.env(),
                config.TELEGRAM_WEBHOOK_SECRET: self.webhook_secret,
            },
        }
        for logical_id, overrides in function_overrides.items():
            self.functions[logical_id] = FunctionProcess(
                self.stack, logical_id, base_env, overrides, log_to=self._log_file(logical_id)
            ).start()
        self._connect_commands()
        self.start_listener()
        sqs = boto3.client("sqs")
        self.poller = SqsEventSource.from_template(self.stack, DISPATCHER, sqs, self.functions[DISPATCHER].invoke)
        self._spawn(self.poller.run, "sqs-poller")
        if self.run_scheduler:
            self._spawn(self._schedule, "scheduler")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.poller is not None:
            self.poller.stop()
        if self.updates_poller is not None:
            self.updates_poller.stop()
        if self.commands_url is not None:
            self.commands_url.stop()
        self.stop_listener()
        for thread in self._threads:
            thread.join(timeout=10)
        for function in self.functions.values():
            function.stop()
        self.moto.stop()
        for fh in self._logs:
            fh.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ commands
    def _connect_commands(self) -> None:
        """CommandsFunction behind its URL, and Telegram's updates routed to it."""
        self.commands_url = FunctionUrl(self.functions[COMMANDS].invoke).start()
        tg = self.telegram
        if tg.poll_updates:
            self.updates_poller = UpdatesPoller(tg.api_url, tg.token, self.commands_url.url, self.webhook_secret)
            self._spawn(self.updates_poller.run, "telegram-updates")
            return
        try:
            set_webhook(tg.api_url, tg.token, self.commands_url.url, self.webhook_secret)
        except CliError as exc:  # no Telegram to talk to: the rest of the stack still runs
            logger.warning("commands are not connected: %s", exc)

    # ------------------------------------------------------------------ listener
    def listener_env(self) -> dict[str, str]:
        """The container environment of ListenerTaskDefinition, resolved against the local stack."""
        assert self.stack is not None
        env = self.stack.container_environment(LISTENER_TASK)
        env.update(
            {
                config.ALERT_QUEUE_URL: self.stack.refs["AlertQueue"],
                config.THRESHOLDS_PARAMETER: self.stack.refs["ThresholdsParameter"],
                **self.markets.listener_env(),
                config.HEALTH_PORT: str(self.health_port),
            }
        )
        return {**env, **self.listener_overrides}

    def start_listener(self) -> None:
        env = {**os.environ, **self.moto.env(), **self.listener_env(), "PYTHONUNBUFFERED": "1"}
        self.listener = subprocess.Popen(
            [sys.executable, "-m", "listener"],
            env=env,
            cwd=REPO_ROOT,
            stdout=self._log_file("listener"),
            stderr=subprocess.STDOUT,
        )

    def stop_listener(self, timeout_s: float = 30) -> int | None:
        """SIGTERM, as ECS stops a task; the listener flushes its outbox and exits."""
        if self.listener is None:
            return None
        proc, self.listener = self.listener, None
        return terminate(proc, timeout_s)

    def listener_status(self) -> dict[str, Any] | None:
        try:
            reply = httpx.get(f"http://127.0.0.1:{self.health_port}/status", timeout=2)
            status: dict[str, Any] = reply.json()
            return status
        except (httpx.HTTPError, ValueError):
            return None

    # ------------------------------------------------------------------ OI schedule
    def _schedule(self) -> None:
        for minute in self.clock.minutes(self._stop):
            if self.before_tick is not None:
                self.before_tick(minute)
            self.tick(minute)

    def tick(self, minute: datetime) -> Any:
        """One scheduled minute: the snapshot, then (on success) the evaluation, as the
        EventBridge Scheduler target and its on-success destination do on AWS."""
        event = {"time": iso_ms(to_epoch_ms(minute)).replace(".000Z", "Z")}
        result = self._invoke(SNAPSHOT, event, event["time"])
        if result is None:
            return None
        self._count_snapshot(result)
        record = {
            "version": "1.0",
            "timestamp": iso_ms(to_epoch_ms(utc_now())),
            "requestContext": {"condition": "Success", "approximateInvokeCount": 1},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "responsePayload": result,
        }
        evaluation = self._invoke(EVALUATE, record, event["time"])
        if evaluation is not None:
            with self.counters.lock:
                self.counters.evaluations += 1
        return evaluation

    def _invoke(self, logical_id: str, event: Any, minute: str) -> Any:
        """The function's result, or None after a logged and counted function error."""
        try:
            return self.functions[logical_id].invoke(event)
        except (InvocationError, RuntimeError) as exc:
            with self.counters.lock:
                self.counters.function_errors[logical_id] += 1
            logger.warning("%s failed for %s: %s", logical_id, minute, exc)
            return None

    def _count_snapshot(self, result: Any) -> None:
        if not isinstance(result, dict):
            return
        reasons: dict[str, str] = result.get("reasons") or {}
        with self.counters.lock:
            for exchange in EXCHANGES:
                self.counters.snapshots[f"{exchange} {'failed' if exchange in reasons else 'ok'}"] += 1
        for exchange, reason in reasons.items():
            logger.warning("cannot reach %s this minute: %s (retrying every minute)", exchange, reason)

    # ------------------------------------------------------------------ status
    def history(self) -> list[dict[str, Any]]:
        """Alert history items (the dispatcher's record of every outcome), oldest first."""
        assert self.stack is not None
        table = boto3.resource("dynamodb").Table(self.stack.refs["AlertHistoryTable"])
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda i: str(i.get("sk", "")))

    def queue_depths(self) -> tuple[int, int]:
        assert self.stack is not None
        sqs = boto3.client("sqs")

        def depth(logical: str) -> int:
            attrs = sqs.get_queue_attributes(
                QueueUrl=self.stack.refs[logical],  # type: ignore[union-attr]
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

        return depth("AlertQueue"), depth("AlertDeadLetterQueue")

    def status_line(self) -> str:
        listener = self.listener_status()
        if listener is None:
            conn = "listener: starting" if self.listener and self.listener.poll() is None else "listener: DOWN"
        else:
            feeds = " · ".join(
                _feed_state(EXCHANGE_NAMES.get(name, name), feed)
                for name, feed in (listener.get("feeds") or {}).items()
                if feed.get("enabled")
            )
            conn = (
                f"listener: {feeds} | frames {listener.get('frames', 0)} "
                f"qualifying {listener.get('qualifying', 0)} cascades {listener.get('cascades', 0)}"
            )
        with self.counters.lock:
            snaps = " ".join(f"{k} {v}" for k, v in sorted(self.counters.snapshots.items())) or "none yet"
            evaluations = self.counters.evaluations
            errors = " ".join(f"{k} {v}" for k, v in sorted(self.counters.function_errors.items()))
        try:
            statuses = Counter(str(i.get("status")) for i in self.history())
            queue, dlq = self.queue_depths()
            alerts = " ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "none"
            tail = f"alerts: {alerts} | queue {queue} dlq {dlq}"
        except Exception as exc:  # the emulator busy: say so, never crash the status line
            tail = f"alerts: unavailable ({type(exc).__name__})"
        errors = f" | function errors: {errors} (see {self.log_dir})" if errors else ""
        return f"{conn} | snapshots: {snaps} | evaluations {evaluations} | {tail}{errors}"

    # ------------------------------------------------------------------ helpers
    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _log_file(self, name: str) -> IO[str]:
        fh = open(self.log_dir / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._logs.append(fh)
        return fh


def _feed_state(name: str, feed: dict[str, Any]) -> str:
    """`Bybit connected 1,204 frames`, or what it cannot reach and how often it tried."""
    connections = feed.get("connections") or []
    instruments = feed.get("instruments") or {}
    if feed.get("state") == "connected":
        return f"{name} connected {feed.get('frames', 0):,} frames"
    if instruments.get("error") and not connections:
        return f"{name}: cannot read its instrument list, retrying ({instruments['error'][:60]})"
    if any(c.get("connect_failures") for c in connections):
        attempt = max(c.get("backoff_attempt", 0) for c in connections)
        return f"cannot reach {name} stream, retrying (attempt {attempt})"
    return f"{name} {feed.get('state', '?')}"
