"""DispatcherFunction: AlertQueue (SQS batches, partial failures) -> Telegram, exactly once per alert id.

Per record: decode schema 1 -> (idempotent on the alert `id`) dedup -> hourly budget -> format ->
send -> history. The outcome of each record:

- delivered, duplicate, rate_limited, or refused by Telegram (400/403): done, the message is deleted;
  the outcome is stored by Powertools Idempotency, so a redelivery of the same id only repeats it;
- not a valid schema-1 alert: recorded, then sent to AlertDeadLetterQueue by the handler itself and
  deleted (retrying cannot fix it; the dead-letter alarm reports it at once);
- Telegram 429: failed, back in the queue after `retry_after` (its visibility is changed);
- Telegram 5xx / network / anything unexpected: failed, back after a backoff; redrive moves it to
  the dead-letter queue after maxReceiveCount receives.
An item that raises is not stored as completed by Idempotency, so its retry runs again.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from cryptoalerts import config
from cryptoalerts.alert import Alert, AlertFormatError, decode
from cryptoalerts.metrics import (
    ALERTS,
    HISTORY_WRITE_FAILURES,
    NAMESPACE,
    TELEGRAM_ERRORS,
    TELEGRAM_LATENCY,
)
from cryptoalerts.thresholds_source import ThresholdsSource
from cryptoalerts.timeutil import utc_now
from cryptoalerts.warm import Warm
from dispatcher import retry_policy
from dispatcher.claims import StateStore
from dispatcher.credentials import Credentials
from dispatcher.delivery import Delivery
from dispatcher.history import HistoryWriter
from dispatcher.redaction import redact
from dispatcher.telegram_send import RateLimited, TelegramSender

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
# httpx is deliberately not patched: its X-Ray subsegments would record the Bot API URL, token included.
tracer = Tracer(patch_modules=("boto3", "botocore"))

# A batch of duplicates only has dimensioned counts (single_metric); that is not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# "Now" for dedup windows, budget hours and history; tests replace it instead of sleeping.
clock: Callable[[], datetime] = utc_now

# Exactly-once per alert id for as long as a message can live in AlertQueue (its retention, 4 days):
# a redelivery or producer retry within that time only repeats the stored outcome.
IDEMPOTENCY_EXPIRY_S = 4 * 24 * 3600
# Stop taking records when less than this is left of the invocation: the worst single send
# (connect + write + read timeouts) plus the DynamoDB writes around it.
RESERVE_MS = 13_000


class OutOfTime(RuntimeError):
    """The invocation is about to time out; the record is left for the next one."""


def _now() -> datetime:
    return clock()


class _MetricsObserver:
    def outcome(self, status: str) -> None:
        _count(ALERTS, "status", status)

    def telegram_error(self, reason: str) -> None:
        _count(TELEGRAM_ERRORS, "reason", reason)

    def telegram_latency(self, ms: float) -> None:
        metrics.add_metric(name=TELEGRAM_LATENCY, unit=MetricUnit.Milliseconds, value=ms)

    def history_failed(self) -> None:
        metrics.add_metric(name=HISTORY_WRITE_FAILURES, unit=MetricUnit.Count, value=1)


def _count(name: str, dimension: str, value: str) -> None:
    # One EMF document per count: the dimension differs per outcome within one invocation.
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name=dimension, value=value)


class Runtime:
    """Clients and configuration, built on the first invocation (not at import: cold start, and
    tests set the environment first) and reused while the execution environment is warm."""

    def __init__(self) -> None:
        session = boto3.session.Session()
        ddb = session.client("dynamodb")
        self.sqs = session.client("sqs")
        self.queue_url = config.get(config.ALERT_QUEUE_URL)
        self.dead_letter_url = config.get(config.ALERT_DEAD_LETTER_QUEUE_URL)
        self.thresholds = ThresholdsSource(metrics=metrics)
        self.sender = TelegramSender(config.get(config.TELEGRAM_API_URL))
        self.delivery = Delivery(
            state=StateStore(ddb, config.get(config.STATE_TABLE)),
            history=HistoryWriter(ddb, config.get(config.HISTORY_TABLE)),
            sender=self.sender,
            credentials=Credentials(),
            rule=lambda: self.thresholds.get().dispatch,
            clock=_now,
            observer=_MetricsObserver(),
        )
        self.idempotency = IdempotencyConfig(
            event_key_jmespath="id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_EXPIRY_S,
        )
        persistence = DynamoDBPersistenceLayer(table_name=config.get(config.IDEMPOTENCY_TABLE), boto3_client=ddb)
        self.deliver = idempotent_function(
            data_keyword_argument="alert",
            persistence_store=persistence,
            config=self.idempotency,
            key_prefix="dispatcher.deliver",
        )(self._deliver)

    def _deliver(self, alert: dict[str, Any], parsed: Alert) -> dict[str, Any]:
        return self.delivery.deliver(parsed)

    def handle_record(self, record: SQSRecord, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
        if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < RESERVE_MS:
            self._defer(record, 1)
            raise OutOfTime("too little time left in this invocation; left for the next one")
        try:
            parsed = decode(record.body)
        except AlertFormatError as exc:
            return self._dead_letter(record, str(exc))
        try:
            return self.deliver(alert=parsed.to_dict(), parsed=parsed)
        except RateLimited as exc:
            self._defer(record, retry_policy.rate_limited_s(exc.retry_after_s))
            raise
        except Exception:
            self._defer(record, retry_policy.backoff_s(_receive_count(record)))
            raise

    def _dead_letter(self, record: SQSRecord, error: str) -> dict[str, Any]:
        self.delivery.record_invalid(record.body, record.message_id, error)
        # Raises if the dead-letter queue cannot be reached: the item then fails and the queue's
        # own redrive still takes it there after maxReceiveCount receives.
        self.sqs.send_message(
            QueueUrl=self.dead_letter_url,
            MessageBody=record.body,
            MessageAttributes={
                "error": {"DataType": "String", "StringValue": redact(error)[:1000]},
                "source_message_id": {"DataType": "String", "StringValue": record.message_id},
            },
        )
        return {"status": "invalid", "error": error}

    def _defer(self, record: SQSRecord, seconds: int) -> None:
        """Make a failed message visible again in `seconds` instead of the queue's visibility timeout."""
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
            )
        except Exception as exc:  # it then returns after the visibility timeout: later, never lost
            logger.warning("could not change message visibility", extra={"error": repr(exc)})

    def close(self) -> None:
        self.sender.close()


def _receive_count(record: SQSRecord) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError):
        return 1


_warm = Warm(Runtime)
runtime = _warm.get
reset = _warm.reset  # tests: a fresh emulator or fake Telegram


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    rt = runtime()
    rt.idempotency.register_lambda_context(context)
    # A new processor per invocation: it holds the batch's state.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=rt.handle_record, processor=processor, context=context)
