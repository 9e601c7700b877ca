"""One alert's way to Telegram, in order: dedup claim -> budget unit -> format -> send -> history.

Claims are held only by delivered alerts. Whatever stops an alert after it claimed (rate limit,
a refused or failed send, a missing token) gives its dedup claim and budget unit back before the
outcome is recorded or the error propagates, so a retry is neither a "duplicate" of itself nor
charged twice, and a repeat of a condition that was never sent is not suppressed.
Exactly-once per alert id is the caller's job (Powertools Idempotency around `deliver`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from cryptoalerts.alert import Alert
from cryptoalerts.telegram_format import format_alert
from cryptoalerts.thresholds import DispatchRule
from dispatcher import budget
from dispatcher.claims import StateStore
from dispatcher.history import HistoryWriter, Outcome, Status, fields_of
from dispatcher.redaction import redact
from dispatcher.telegram_send import RateLimited, Rejected, SendError, Sent

logger = Logger(child=True)


class Sender(Protocol):
    def send(self, token: str, chat_id: str, text: str) -> Sent: ...


class CredentialSource(Protocol):
    def token(self) -> str: ...

    def chat_id(self) -> str: ...


class Observer(Protocol):
    """Where outcomes are counted (metrics)."""

    def outcome(self, status: str) -> None: ...

    def telegram_error(self, reason: str) -> None: ...

    def telegram_latency(self, ms: float) -> None: ...

    def history_failed(self) -> None: ...


class Delivery:
    def __init__(
        self,
        state: StateStore,
        history: HistoryWriter,
        sender: Sender,
        credentials: CredentialSource,
        rule: Callable[[], DispatchRule],
        clock: Callable[[], datetime],
        observer: Observer,
    ) -> None:
        self._state = state
        self._history = history
        self._sender = sender
        self._credentials = credentials
        self._rule = rule
        self._clock = clock
        self._observer = observer

    def deliver(self, alert: Alert) -> dict[str, Any]:
        """Deliver `alert` or record why not. Returns the outcome (stored by idempotency).

        Raises `RateLimited` / `SendError` / anything unexpected when the alert should be retried.
        """
        now = self._clock()
        rule = self._rule()
        if rule.dedup_window_s > 0:
            holder = self._state.claim_dedup(alert.dedup_key, alert.id, now, rule.dedup_window_s)
            if holder is not None:
                return self._finish(alert, "duplicate", now, error=f"duplicate of {holder}")
        bucket = budget.bucket(now)
        cap = budget.cap(rule, alert.priority)
        if not self._state.charge(bucket, cap, budget.counter_expiry(now)):
            self._release_dedup(alert, rule)
            reason = f"hourly budget: {alert.priority} may use {cap} of {rule.rate_limit_per_hour} units"
            return self._finish(alert, "rate_limited", now, error=reason)
        try:
            text = format_alert(alert)
            sent = self._sender.send(self._credentials.token(), self._credentials.chat_id(), text)
        except Rejected as exc:
            self._give_back(alert, rule, bucket)
            self._observer.telegram_error("rejected")
            return self._finish(alert, "failed", now, error=str(exc))
        except BaseException as exc:
            self._give_back(alert, rule, bucket)
            self._on_retryable(alert, now, exc)
            raise
        self._observer.telegram_latency(sent.latency_ms)
        return self._finish(alert, "delivered", now, message_id=sent.message_id)

    def record_invalid(self, body: str, message_id: str, error: str) -> None:
        """A message that is not a schema-1 alert: recorded as failed, counted as `invalid`."""
        try:
            obj = json.loads(body)
        except ValueError:
            obj = None
        alert_id = obj["id"] if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"] else None
        outcome = Outcome(
            status="failed",
            alert_id=alert_id or f"sqs:{message_id}",
            body=body,
            fields=fields_of(obj),
            error=f"invalid alert: {error}",
        )
        logger.error(
            "invalid alert message sent to the dead-letter queue", extra={"sqs_message_id": message_id, "error": error}
        )
        self._observer.outcome("invalid")
        self._write(outcome, self._clock())

    def _finish(
        self, alert: Alert, status: Status, now: datetime, message_id: int | None = None, error: str | None = None
    ) -> dict[str, Any]:
        outcome = Outcome(status, alert.id, alert.encode(), _fields(alert), message_id, error)
        log = logger.warning if status == "failed" else logger.info
        log(
            f"alert {status}",
            extra={"alert_id": alert.id, "status": status, "telegram_message_id": message_id, "error": error},
        )
        self._observer.outcome(status)
        self._write(outcome, now)
        return {"status": status, "telegram_message_id": message_id, "error": error}

    def _on_retryable(self, alert: Alert, now: datetime, exc: BaseException) -> None:
        reason = "rate_limited" if isinstance(exc, RateLimited) else "unavailable"
        error = str(exc) if isinstance(exc, SendError) else redact(f"{type(exc).__name__}: {exc}")[:300]
        if isinstance(exc, SendError):
            self._observer.telegram_error(reason)
        logger.warning("alert not delivered; will be retried", extra={"alert_id": alert.id, "error": error})
        # The trail for operators: the attempt failed and the message goes back to the queue.
        self._write(Outcome("failed", alert.id, alert.encode(), _fields(alert), error=f"retrying: {error}"), now)

    def _give_back(self, alert: Alert, rule: DispatchRule, bucket: str) -> None:
        self._state.refund(bucket)
        self._release_dedup(alert, rule)

    def _release_dedup(self, alert: Alert, rule: DispatchRule) -> None:
        if rule.dedup_window_s > 0:
            self._state.release_dedup(alert.dedup_key, alert.id)

    def _write(self, outcome: Outcome, now: datetime) -> None:
        # History is the record, not the delivery: failing to write it must not fail (and so
        # re-send) an alert that already reached Telegram.
        try:
            self._history.record(outcome, now)
        except Exception as exc:
            logger.error("history write failed", extra={"alert_id": outcome.alert_id, "error": repr(exc)})
            self._observer.history_failed()


def _fields(alert: Alert) -> dict[str, str]:
    return {
        "kind": alert.kind,
        "symbol": alert.symbol,
        "priority": alert.priority,
        "dedup_key": alert.dedup_key,
        "detected_at": alert.detected_at,
    }
