"""A local stand-in for Lambda's SQS event source mapping.

Behaves as the managed poller does for a standard queue: long-polls the queue, gathers up to
`BatchSize` messages within `MaximumBatchingWindowInSeconds`, invokes the function with the
Lambda SQS event shape, deletes what succeeded (with `ReportBatchItemFailures`, all but the
reported items; without it, all or nothing), and leaves failures to reappear after their
visibility timeout, so the queue's own redrive moves them to the dead-letter queue.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from infra.local import aws_resources

logger = logging.getLogger(__name__)

Invoke = Callable[[dict[str, Any]], Any]


class SqsEventSource:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        batch_size: int = 10,
        window_s: float = 0.0,
        report_batch_item_failures: bool = True,
        poll_wait_s: int = 0,
        idle_sleep_s: float = 0.02,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.invoke = invoke
        self.batch_size = batch_size
        self.window_s = window_s
        self.report_batch_item_failures = report_batch_item_failures
        # Short polls with a brief sleep when idle by default: moto's long poll can miss a wake-up
        # and hold a message for a whole second, which would swamp the end-to-end latency.
        self.poll_wait_s = poll_wait_s
        self.idle_sleep_s = idle_sleep_s
        self.invocations = 0
        self.errors = 0
        self._stop = threading.Event()

    @classmethod
    def from_template(
        cls, stack: aws_resources.Stack, function_logical_id: str, sqs: Any, invoke: Invoke
    ) -> SqsEventSource:
        """Configured from the function's SQS event in template.yaml."""
        events = stack.function(function_logical_id).get("Events", {})
        props = next(e["Properties"] for e in events.values() if e["Type"] == "SQS")
        queue_arn = stack.resolve(props["Queue"])
        queue_logical = next(k for (k, attr), v in stack.attributes.items() if attr == "Arn" and v == queue_arn)
        return cls(
            sqs=sqs,
            queue_url=stack.refs[queue_logical],
            queue_arn=queue_arn,
            invoke=invoke,
            batch_size=int(props.get("BatchSize", 10)),
            window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
        )

    def receive_batch(self) -> list[dict[str, Any]]:
        """Long-poll for a first message, then gather more until the batch or the window is full."""
        messages = self._receive(self.poll_wait_s, self.batch_size)
        deadline = time.monotonic() + self.window_s
        while messages and len(messages) < self.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            got = self._receive(1 if remaining >= 1 else 0, self.batch_size - len(messages))
            if not got:
                time.sleep(min(remaining, 0.05))
            messages.extend(got)
        return messages

    def _receive(self, wait_s: int, at_most: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, at_most),
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def to_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": aws_resources.REGION,
                }
                for m in messages
            ]
        }

    def poll_once(self) -> int:
        """Receive one batch and hand it to the function. Returns the number of messages."""
        messages = self.receive_batch()
        if not messages:
            return 0
        self.invocations += 1
        try:
            result = self.invoke(self.to_event(messages))
        except Exception as exc:
            # A function error: nothing is deleted; every message comes back after its visibility timeout.
            self.errors += 1
            logger.warning("function error; batch of %d returns to the queue: %s", len(messages), exc)
            return len(messages)
        failed: set[str] = set()
        if self.report_batch_item_failures and isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        return len(messages)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_once() and not self.poll_wait_s:
                    self._stop.wait(self.idle_sleep_s)
            except Exception as exc:  # the emulator restarting or unreachable: keep polling
                logger.warning("SQS poll failed: %s", exc)
                self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
