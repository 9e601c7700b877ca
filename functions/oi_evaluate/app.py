"""OiEvaluateFunction handler: reads the minutes an evaluation needs, runs the pure evaluator per
symbol, records the episode with a conditional write and queues schema-1 alerts.

Accepts `{"time": ...}` and the on-success destination record of OiSnapshotFunction (whose
`responsePayload.time` names the minute just stored).
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from cryptoalerts import alert, config, oi
from cryptoalerts.metrics import ALERTS_PRODUCED, NAMESPACE, OI_EVALUATIONS
from cryptoalerts.oi_store import EpisodeStore, SnapshotStore
from cryptoalerts.thresholds import OI_EXCHANGE_COUNT
from cryptoalerts.thresholds_source import ThresholdsSource
from cryptoalerts.timeutil import event_time, floor_minute, minute_iso, to_epoch_ms

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)

_dynamodb = boto3.resource("dynamodb")
_snapshots = SnapshotStore(_dynamodb.Table(config.get(config.OI_TABLE)))
_episodes = EpisodeStore(_dynamodb.Table(config.get(config.STATE_TABLE)))
_sqs = boto3.client("sqs")
_queue_url = config.get(config.ALERT_QUEUE_URL)
_thresholds = ThresholdsSource(metrics=metrics)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any] | None, context: LambdaContext | None) -> dict[str, Any]:
    minute_ms = floor_minute(to_epoch_ms(event_time(event)))
    now_s = int(time.time())
    current = _thresholds.get()
    rules = {symbol: current.oi(symbol) for symbol in current.symbols}
    needed = oi.minutes_needed(minute_ms, {rule.window_min for rule in rules.values()})
    snapshots = _snapshots.read(needed, now_s)
    sent: list[str] = []
    for symbol, rule in rules.items():
        verdict = oi.evaluate(symbol, minute_ms, rule, snapshots.get(symbol, {}), OI_EXCHANGE_COUNT)
        queued = _conclude(verdict, now_s)
        if queued is not None:
            sent.append(queued)
    metrics.add_metric(name=OI_EVALUATIONS, unit=MetricUnit.Count, value=len(rules))
    return {"time": minute_iso(minute_ms), "evaluated": len(rules), "alerts": sent}


def _conclude(verdict: oi.Evaluation, now_s: int) -> str | None:
    """Record the verdict in the symbol's episode and queue an alert if it starts one."""
    symbol, minute_ms = verdict.symbol, verdict.minute_ms
    episode = _episodes.record(symbol, minute_ms, verdict.exploded, now_s)
    if not episode.recorded:
        logger.info(
            "minute already evaluated; staying silent", extra={"symbol": symbol, "minute": minute_iso(minute_ms)}
        )
        return None
    if not oi.should_alert(verdict.exploded, episode.was_active):
        return None
    message = alert.oi_explosion(symbol, minute_ms, verdict.priority, verdict.alert_data())
    try:
        _sqs.send_message(QueueUrl=_queue_url, MessageBody=message.encode())
    except Exception:
        # Let the retry of this invocation send it: take the episode's start back first.
        _episodes.undo(symbol, minute_ms, episode)
        raise
    logger.info("oi explosion queued", extra={"alert_id": message.id, "priority": message.priority})
    with single_metric(name=ALERTS_PRODUCED, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as one:
        one.add_dimension(name="kind", value=alert.OI_EXPLOSION)
    return message.id
