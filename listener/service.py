"""Wiring: stream -> parse -> de-dup -> history + cascade detector -> outbox -> SQS.

The imperative shell around the pure core (parse, cascade, history): it owns the clock, the
threads and the sockets. `Listener.run(stop)` serves until `stop` is set, then flushes the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.metrics import Metrics, MetricUnit, single_metric

from cryptoalerts import metrics as names
from cryptoalerts.alert import LIQUIDATION_CASCADE
from cryptoalerts.cascade import CascadeDetector, DuplicateFilter, to_alert
from cryptoalerts.thresholds import Thresholds
from cryptoalerts.timeutil import iso_ms
from listener.health import HealthServer
from listener.history import History
from listener.log import SERVICE, logger
from listener.outbox import Outbox, Pending
from listener.parse import FrameError, parse
from listener.settings import Settings
from listener.stream import Backoff, Stream


class ThresholdsFetcher(Protocol):
    @property
    def current(self) -> Thresholds: ...

    def get(self) -> Thresholds: ...


class Listener:
    def __init__(
        self,
        settings: Settings,
        thresholds: ThresholdsFetcher,
        send: Callable[[str], object],
        metrics: Metrics | None = None,
        on_send_issued: Callable[[Pending, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self._thresholds = thresholds
        self.metrics = metrics or Metrics(namespace=names.NAMESPACE, service=SERVICE)
        self.detector = CascadeDetector(thresholds.current)
        self.history = History(capacity=settings.history_capacity)
        self.dedup = DuplicateFilter()
        self.outbox = Outbox(
            send,
            capacity=settings.outbox_capacity,
            retry_cap_s=settings.send_retry_cap_s,
            on_send_issued=on_send_issued,
        )
        self.stream = Stream(
            settings.ws_url,
            self.on_message,
            backoff=Backoff(settings.backoff_base_s, settings.backoff_cap_s, settings.stable_s),
            silence_s=settings.silence_s,
            rotate_after_s=settings.rotate_after_s,
            overlap_s=settings.overlap_s,
            ping_interval_s=settings.ping_interval_s,
        )
        self.health = HealthServer(settings.health_host, settings.health_port, self.stream.fresh, self.status)
        self.frames = 0
        self.malformed: Counter[str] = Counter()
        self.duplicates = 0
        self.qualifying = 0
        self.cascades = 0
        self.started_at = time.time()
        self._reported: dict[str, int] = {}

    # ---------------------------------------------------------------- the hot path
    def on_message(self, message: str | bytes, received_at: float) -> None:
        self.frames += 1
        try:
            liq = parse(message)
        except FrameError as exc:
            self._malformed(exc)
            return
        if self.dedup.is_duplicate(liq.identity):
            self.duplicates += 1
            return
        detector = self.detector
        if liq.usd < detector.thresholds.liquidation(liq.symbol).min_usd:
            return
        self.qualifying += 1
        self.history.add(liq)
        cascade = detector.observe(liq)
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
            },
        )
        self.outbox.put(alert.id, alert.encode(), received_at)

    def _malformed(self, exc: FrameError) -> None:
        first = exc.kind not in self.malformed
        self.malformed[exc.kind] += 1
        if first:  # once per kind: a broken feed must not flood the logs
            logger.warning(
                "malformed frame skipped (logged once per kind)", extra={"kind": exc.kind, "detail": str(exc)[:200]}
            )

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
        try:
            await self.stream.run(stop)
        finally:
            logger.info("stopping: stream closed, flushing the outbox", extra={"outbox_depth": self.outbox.depth})
            for task in background:
                task.cancel()
            await self._flush(sender)
            self._emit_metrics()
            await self.health.stop()

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
        # ThresholdsSource is blocking boto3: keep it off the event loop. It keeps the last valid
        # document on a fetch failure or an invalid edit (logged and counted there).
        try:
            self.detector.thresholds = await asyncio.to_thread(self._thresholds.get)
        except Exception:
            logger.exception("thresholds refresh failed; keeping the document in force")

    def _emit_metrics(self) -> None:
        m = self.metrics
        counters = {
            names.FRAMES: self.frames,
            names.MALFORMED_FRAMES: sum(self.malformed.values()),
            names.DUPLICATE_FRAMES: self.duplicates,
            names.QUALIFYING_LIQUIDATIONS: self.qualifying,
            names.CASCADES: self.cascades,
            names.RECONNECTS: self.stream.reconnects,
            names.OUTBOX_DROPPED: self.outbox.dropped,
            names.ALERT_SEND_FAILURES: self.outbox.send_failures,
        }
        for name, total in counters.items():
            m.add_metric(name=name, unit=MetricUnit.Count, value=total - self._reported.get(name, 0))
            self._reported[name] = total
        age = self.last_frame_age_s()
        if age is not None:
            m.add_metric(name=names.SECONDS_SINCE_LAST_FRAME, unit=MetricUnit.Seconds, value=age)
        m.add_metric(name=names.LISTENER_CONNECTED, unit=MetricUnit.Count, value=int(self.stream.connected))
        m.add_metric(name=names.OUTBOX_DEPTH, unit=MetricUnit.Count, value=self.outbox.depth)
        m.flush_metrics()
        produced = self.cascades - self._reported.get(names.ALERTS_PRODUCED, 0)
        self._reported[names.ALERTS_PRODUCED] = self.cascades
        if produced:
            with single_metric(
                name=names.ALERTS_PRODUCED, unit=MetricUnit.Count, value=produced, namespace=names.NAMESPACE
            ) as metric:
                metric.add_dimension(name="kind", value=LIQUIDATION_CASCADE)

    def last_frame_age_s(self) -> float | None:
        last = self.stream.last_message_at
        return None if last is None else round(time.monotonic() - last, 3)

    def status(self) -> dict[str, Any]:
        stream = self.stream
        return {
            "service": SERVICE,
            "healthy": stream.fresh(),
            "started_at": iso_ms(int(self.started_at * 1000)),
            "connection": {
                "state": stream.state,
                "since": iso_ms(int(stream.state_since * 1000)),
                "url": stream.url,
                "connections_opened": stream.connections_opened,
                "reconnects": stream.reconnects,
                "rotations": stream.rotations,
                "silences": stream.silences,
                "connect_failures": stream.connect_failures,
                "backoff_attempt": stream.backoff.attempt,
            },
            "last_frame_age_s": self.last_frame_age_s(),
            "frames": self.frames,
            "malformed": dict(self.malformed),
            "duplicates": self.duplicates,
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
            "history": {
                "as_of": iso_ms(self.history.newest_ms) if self.history.newest_ms else None,
                "retained": self.history.retained(),
                "bytes": self.history.nbytes(),
                "symbols": self.history.stats(),
            },
        }


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """The production wiring: SSM thresholds, SQS sender, Powertools metrics."""
    # Imported here: boto3 is heavy and the pure parts of the package do not need it.
    import boto3

    from listener import sdk_models

    sdk_models.use()  # before the session: botocore then loads only the operations we call

    from listener.sqs import sender
    from listener.thresholds import source

    # One session for both clients: each session loads botocore's endpoint and model data (~7 MB).
    session = boto3.session.Session()
    metrics = Metrics(namespace=names.NAMESPACE, service=SERVICE)
    listener = Listener(
        settings, source(settings, metrics, session), sender(settings.queue_url, session), metrics=metrics
    )
    with contextlib.suppress(asyncio.CancelledError):
        await listener.run(stop)
