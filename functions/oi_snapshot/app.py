"""OiSnapshotFunction handler: a thin shell around `exchanges.fetch_all` and `SnapshotStore`.

Invoked by EventBridge Scheduler with `{"time": "<scheduled time>"}`; stores minute M and returns
`{"time": M, ...}`, which the on-success destination hands to OiEvaluateFunction at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from cryptoalerts import config, exchanges
from cryptoalerts.metrics import NAMESPACE, OI_SNAPSHOT_FAILED, OI_SNAPSHOT_OK
from cryptoalerts.oi_store import SnapshotStore
from cryptoalerts.thresholds_source import ThresholdsSource
from cryptoalerts.timeutil import event_time, floor_minute, minute_iso, to_epoch_ms, utc_now

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)

# Created once per container; the gate remembers Retry-After across invocations.
_store = SnapshotStore(boto3.resource("dynamodb").Table(config.get(config.OI_TABLE)))
_thresholds = ThresholdsSource(metrics=metrics)
_gate = exchanges.RateLimitGate()


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any] | None, context: LambdaContext | None) -> dict[str, Any]:
    minute_ms = floor_minute(to_epoch_ms(event_time(event)))
    symbols = _thresholds.get().symbols
    snapshot = asyncio.run(exchanges.fetch_all(symbols, exchanges.base_urls(), _gate))
    stored = _store.put(minute_ms, snapshot.readings(), to_epoch_ms(utc_now()))
    _report(minute_ms, snapshot)
    return {
        "time": minute_iso(minute_ms),
        "stored": stored,
        "failed": sorted(snapshot.failures),
        "reasons": dict(sorted(snapshot.failures.items())),  # for a person reading the result
        "requests": dict(snapshot.requests),
    }


def _report(minute_ms: int, snapshot: exchanges.Snapshot) -> None:
    minute = minute_iso(minute_ms)
    for name, reason in sorted(snapshot.failures.items()):
        logger.warning("exchange failed for this minute", extra={"exchange": name, "minute": minute, "reason": reason})
        _count(OI_SNAPSHOT_FAILED, name)
    for name, result in sorted(snapshot.results.items()):
        if result.missing:
            logger.warning(
                "symbols missing from an exchange",
                extra={"exchange": name, "minute": minute, "missing": result.missing},
            )
        _count(OI_SNAPSHOT_OK, name)


def _count(metric: str, exchange: str) -> None:
    with single_metric(name=metric, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as one:
        one.add_dimension(name="exchange", value=exchange)
