"""Wiring: feeds -> size floor -> history + one cascade detector -> outbox -> SQS.

The imperative shell around the pure core (feed parsers, cascade, history): it owns the clock, the
threads and the sockets. Each feed in the thresholds' `feeds.liquidations` runs on its own (a feed
down never stops the others) and is started or stopped within one thresholds refresh of an edit.
`Listener.run(stop)` serves until `stop` is set, then flushes the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics, MetricUnit, single_metric

from cryptoalerts import metrics as names
from cryptoalerts.alert import LIQUIDATION_CASCADE
from cryptoalerts.cascade import CascadeDetector, Liquidation, to_alert
from cryptoalerts.feeds import LIQUIDATION_FEEDS
from cryptoalerts.thresholds import Thresholds
from cryptoalerts.timeutil import iso_ms
from listener import prometheus
from listener.feed import Feed, connection_status
from listener.feeds import FEEDS
from listener.health import HealthServer
from listener.history import History
from listener.log import SERVICE, logger
from listener.outbox import Outbox, Pending, SendBatch
from listener.record import Recorder
from listener.settings import Settings
from listener.stream import Stream

# Floors cached per symbol between thresholds edits; beyond this many symbols they are looked up.
_MAX_CACHED_FLOORS = 10_000


class ThresholdsFetcher(Protocol):
    @property
    def current(self) -> Thresholds: ...

    def get(self) -> Thresholds: ...


class Listener:
    def __init__(
        self,
        settings: Settings,
        thresholds: ThresholdsFetcher,
        send_batch: SendBatch,
        metrics: Metrics | None = None,
        on_send_issued: Callable[[Pending, float], None] | None = None,
        feeds: Mapping[str, type[Feed]] = FEEDS,
    ) -> None:
        self.settings = settings
        self._thresholds = thresholds
        self.metrics = metrics or Metrics(namespace=names.NAMESPACE, service=SERVICE)
        self.detector = CascadeDetector(thresholds.current)
        self.history = History(capacity=settings.history_capacity)
        self.outbox = Outbox(
            send_batch,
            capacity=settings.outbox_capacity,
            retry_cap_s=settings.send_retry_cap_s,
            batch=settings.send_batch,
            in_flight=settings.sends_in_flight,
            on_send_issued=on_send_issued,
        )
        self.recorder = Recorder(settings.record_dir) if settings.record_dir else None
        self.feeds: dict[str, Feed] = {name: kind(settings, self.accept, self.recorder) for name, kind in feeds.items()}
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._stopping: asyncio.Task[None] | None = None
        self.stream = AllFeeds(self)
        self.health = HealthServer(
            settings.health_host,
            settings.health_port,
            self.stream.fresh,
            self.status,
            lambda: prometheus.render(self.status()),
        )
        self._floors: dict[str, float] = {}
        self.qualifying = 0
        self.qualifying_by_feed: Counter[str] = Counter()
        self.cascades = 0
        self.started_at = time.time()
        self._reported: dict[tuple[str, str], int] = {}

    # ---------------------------------------------------------------- the hot path
    def accept(self, liq: Liquidation, received_at: float) -> None:
        """A feed's new liquidation: the size floor, then history and the cascade detector."""
        floor = self._floors.get(liq.symbol)
        if floor is None:
            floor = self.detector.thresholds.liquidation(liq.symbol).min_usd
            if len(self._floors) < _MAX_CACHED_FLOORS:
                self._floors[liq.symbol] = floor
        if liq.usd < floor:
            return
        self.qualifying += 1
        self.qualifying_by_feed[liq.exchange] += 1
        self.history.add(liq)
        cascade = self.detector.observe(liq)
        if cascade is None:
            return
        self.cascades += 1
        alert = to_alert(cascade)
        logger.info(
            "liquidation cascade detected",
            extra={
                "alert_id": alert.id,
                "symbol": alert.symbol,
                "priority": alert.priority,
                "count": cascade.count,
                "total_usd": round(cascade.total_usd, 2),
                "side": cascade.side,
                "exchange": cascade.exchange,
                "per_exchange": {name: f.count for name, f in cascade.per_exchange.items()},
            },
        )
        self.outbox.put(alert.id, alert.encode(), received_at)

    # ---------------------------------------------------------------- the shell
    async def run(self, stop: asyncio.Event) -> None:
        await self.health.start()
        await self._refresh_thresholds()
        sender = asyncio.create_task(self.outbox.run(), name="outbox")
        background = [
            asyncio.create_task(
                self._every(self.settings.thresholds_refresh_s, self._refresh_thresholds), name="thresholds"
            ),
            asyncio.create_task(self._every(self.settings.metrics_interval_s, self._emit_metrics), name="metrics"),
        ]
        recording = asyncio.Event()
        recorder = asyncio.create_task(self.recorder.run(recording)) if self.recorder is not None else None
        try:
            await stop.wait()
        finally:
            logger.info("stopping: closing the feeds, flushing the outbox", extra={"outbox_depth": self.outbox.depth})
            for task in background:
                task.cancel()
            await self._stop_feeds(list(self._running))
            recording.set()
            if recorder is not None:
                await recorder
            await self._flush(sender)
            self._emit_metrics()
            await self.health.stop()

    def enabled(self) -> tuple[str, ...]:
        """The feeds the thresholds enable that this listener holds."""
        return tuple(name for name in self.detector.thresholds.feeds if name in self.feeds)

    def _apply_feeds(self) -> None:
        wanted = set(self.enabled())
        for name in wanted - set(self._running):
            stop = asyncio.Event()
            task = asyncio.create_task(self._run_feed(self.feeds[name], stop), name=f"feed-{name}")
            self._running[name] = (task, stop)
            logger.info("feed started", extra={"feed": name})
        gone = set(self._running) - wanted
        if gone:
            self._stopping = asyncio.create_task(self._stop_feeds(sorted(gone)), name="feeds-stop")

    async def _run_feed(self, feed: Feed, stop: asyncio.Event) -> None:
        try:
            await feed.run(stop)
        except Exception:  # a feed's bug must not take the others (or the listener) down
            logger.exception("feed failed; it stays down until the next thresholds refresh", extra={"feed": feed.name})
            self._running.pop(feed.name, None)

    async def _stop_feeds(self, feed_names: list[str]) -> None:
        stopping = [self._running.pop(name) for name in feed_names if name in self._running]
        for _task, stop in stopping:
            stop.set()
        for task, _stop in stopping:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        for name in feed_names:
            logger.info("feed stopped", extra={"feed": name})

    async def _flush(self, sender: asyncio.Task[None]) -> None:
        self.outbox.close()
        try:
            await asyncio.wait_for(sender, self.settings.flush_timeout_s)
        except TimeoutError:
            for item in self.outbox.pending():
                # Logged with the body, so an operator can re-send it by hand.
                logger.error(
                    "alert not delivered before shutdown", extra={"alert_id": item.alert_id, "body": item.body}
                )
        else:
            logger.info("outbox flushed", extra={"sent": self.outbox.sent})

    async def _every(self, interval_s: float, action: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                result = action()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                logger.exception("periodic task failed", extra={"task": getattr(action, "__name__", "?")})

    async def _refresh_thresholds(self) -> None:
        # ThresholdsSource is a blocking SSM call: keep it off the event loop. It keeps the last valid
        # document on a fetch failure or an invalid edit (logged and counted there).
        try:
            document = await asyncio.to_thread(self._thresholds.get)
        except Exception:
            logger.exception("thresholds refresh failed; keeping the document in force")
        else:
            if document != self.detector.thresholds:
                self.detector.thresholds = document
                self._floors = {}
        self._apply_feeds()

    # ---------------------------------------------------------------- metrics
    def _emit_metrics(self) -> None:
        m = self.metrics
        feeds = list(self.feeds.values())
        counters = {
            names.FRAMES: sum(f.frames for f in feeds),
            names.MALFORMED_FRAMES: sum(sum(f.malformed.values()) for f in feeds),
            names.DUPLICATE_FRAMES: sum(f.duplicates for f in feeds),
            names.QUALIFYING_LIQUIDATIONS: self.qualifying,
            names.CASCADES: self.cascades,
            names.RECONNECTS: sum(s.reconnects for f in feeds for s in f.streams),
            names.OUTBOX_DROPPED: self.outbox.dropped,
            names.ALERT_SEND_FAILURES: self.outbox.send_failures,
        }
        for name, total in counters.items():
            m.add_metric(name=name, unit=MetricUnit.Count, value=self._delta("", name, total))
        age = self.last_frame_age_s()
        if age is not None:
            m.add_metric(name=names.SECONDS_SINCE_LAST_FRAME, unit=MetricUnit.Seconds, value=age)
        m.add_metric(name=names.LISTENER_CONNECTED, unit=MetricUnit.Count, value=int(self.stream.connected))
        m.add_metric(name=names.OUTBOX_DEPTH, unit=MetricUnit.Count, value=self.outbox.depth)
        m.flush_metrics()
        enabled = set(self.enabled())
        for name in LIQUIDATION_FEEDS:
            feed = self.feeds.get(name)
            if feed is not None:
                self._emit_feed_metrics(feed, name in enabled)
        produced = self._delta("", names.ALERTS_PRODUCED, self.cascades)
        if produced:
            with single_metric(
                name=names.ALERTS_PRODUCED, unit=MetricUnit.Count, value=produced, namespace=names.NAMESPACE
            ) as metric:
                metric.add_dimension(name="kind", value=LIQUIDATION_CASCADE)

    def _emit_feed_metrics(self, feed: Feed, enabled: bool) -> None:
        """The same figures per exchange (dimension `exchange`), and whether an enabled feed is down."""
        m = EphemeralMetrics(namespace=names.NAMESPACE, service=SERVICE)
        m.add_dimension(name="exchange", value=feed.name)
        counters = {
            names.FRAMES: feed.frames,
            names.MALFORMED_FRAMES: sum(feed.malformed.values()),
            names.QUALIFYING_LIQUIDATIONS: self.qualifying_by_feed[feed.name],
            names.RECONNECTS: sum(s.reconnects for s in feed.streams),
        }
        for name, total in counters.items():
            m.add_metric(name=name, unit=MetricUnit.Count, value=self._delta(feed.name, name, total))
        age = feed.last_frame_age_s()
        if enabled and age is not None:
            m.add_metric(name=names.SECONDS_SINCE_LAST_FRAME, unit=MetricUnit.Seconds, value=age)
        m.add_metric(name=names.FEED_DOWN, unit=MetricUnit.Count, value=int(enabled and not feed.fresh()))
        m.flush_metrics()

    def _delta(self, feed: str, name: str, total: int) -> int:
        delta = total - self._reported.get((feed, name), 0)
        self._reported[(feed, name)] = total
        return delta

    # ---------------------------------------------------------------- status
    def last_frame_age_s(self) -> float | None:
        ages = [age for f in self.feeds.values() if (age := f.last_frame_age_s()) is not None]
        return min(ages) if ages else None

    def status(self) -> dict[str, Any]:
        stream = self.stream
        enabled = self.enabled()
        feeds = self.feeds.values()
        return {
            "service": SERVICE,
            "healthy": stream.fresh(),
            "started_at": iso_ms(int(self.started_at * 1000)),
            # The enabled feeds seen as one: connected while any of them is.
            "connection": connection_status(stream),
            "feeds": {
                f.name: {"enabled": f.name in enabled, **f.status(), "qualifying": self.qualifying_by_feed[f.name]}
                for f in feeds
            },
            "last_frame_age_s": self.last_frame_age_s(),
            "frames": sum(f.frames for f in feeds),
            "malformed": dict(sum((f.malformed for f in feeds), Counter())),
            "duplicates": sum(f.duplicates for f in feeds),
            "qualifying": self.qualifying,
            "cascades": self.cascades,
            "outbox": {
                "depth": self.outbox.depth,
                "capacity": self.outbox.capacity,
                "sent": self.outbox.sent,
                "dropped": self.outbox.dropped,
                "send_failures": self.outbox.send_failures,
                "last_send_latency_ms": self.outbox.last_send_latency_ms,
            },
            "watched_symbols": list(self.detector.thresholds.symbols),
            "recording": self.recorder.status() if self.recorder is not None else None,
            "history": {
                "as_of": iso_ms(self.history.newest_ms) if self.history.newest_ms else None,
                "retained": self.history.retained(),
                "bytes": self.history.nbytes(),
                "symbols": self.history.stats(),
            },
        }


class AllFeeds:
    """The enabled feeds seen as one stream: `/health`, the listener-wide metrics, `/status` `connection`."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener

    def _feeds(self) -> list[Feed]:
        listener = self._listener
        return [listener.feeds[name] for name in listener.enabled()]

    def _streams(self) -> list[Stream]:
        return [s for f in self._feeds() for s in f.streams]

    @property
    def connected(self) -> bool:
        return any(f.connected for f in self._feeds())

    def fresh(self) -> bool:
        """At least one enabled feed is fresh (architecture.md §3)."""
        return any(f.fresh() for f in self._feeds())

    @property
    def state(self) -> str:
        states = {s.state for s in self._streams()}
        return next((s for s in ("connected", "connecting", "waiting", "stopped") if s in states), "starting")

    @property
    def state_since(self) -> float:
        same = [s.state_since for s in self._streams() if s.state == self.state]
        return min(same) if same else self._listener.started_at

    @property
    def url(self) -> str:
        return " ".join(s.url for s in self._streams())

    @property
    def connections_opened(self) -> int:
        return sum(s.connections_opened for s in self._streams())

    @property
    def reconnects(self) -> int:
        return sum(s.reconnects for s in self._streams())

    @property
    def rotations(self) -> int:
        return sum(s.rotations for s in self._streams())

    @property
    def silences(self) -> int:
        return sum(s.silences for s in self._streams())

    @property
    def connect_failures(self) -> int:
        return sum(s.connect_failures for s in self._streams())

    @property
    def backoff_attempt(self) -> int:
        return max((s.backoff_attempt for s in self._streams()), default=0)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """The production wiring: SSM thresholds, SQS sender, Powertools metrics."""
    # Imported here: botocore is heavy and the pure parts of the package do not need it.
    import botocore.session

    from listener import sdk_models

    sdk_models.use()  # before the session: botocore then loads only the operations we call

    from listener.sqs import batch_sender
    from listener.thresholds import source

    # One session for both clients: each session loads botocore's endpoint and model data (~7 MB).
    session = botocore.session.get_session()
    metrics = Metrics(namespace=names.NAMESPACE, service=SERVICE)
    listener = Listener(
        settings, source(settings, metrics, session), batch_sender(settings.queue_url, session), metrics=metrics
    )
    with contextlib.suppress(asyncio.CancelledError):
        await listener.run(stop)
