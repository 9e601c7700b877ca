"""Drives DispatcherFunction against moto server and the fake Telegram, as Lambda would.

Messages are sent to and received from the emulated AlertQueue, so receipt handles, receive
counts and redrive are real; batches are handed to `dispatcher.app.handler` in Lambda's event
shape and successes deleted (infra.local.event_source). "Now" is `harness.now`, patched into the app.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from sample_alerts import cascade_data

from cryptoalerts.alert import Alert, liquidation_cascade
from infra.fakes.telegram import FakeTelegram
from infra.local.aws_resources import Stack
from infra.local.event_source import SqsEventSource
from infra.local.lambda_runtime import LambdaContext

TOKEN = "7000000001:fake-token-for-tests"
CHAT_ID = "424242"
START = datetime(2025, 10, 22, 9, 38, 13, 270000, tzinfo=UTC)


def cascade(n: int, priority: str = "HIGH", symbol: str = "BTC", side: str = "long") -> Alert:
    """A valid cascade alert; `n` makes the id (and, with `symbol`/`side`, the dedup key) distinct."""
    return liquidation_cascade(symbol, 1761125893270 + n, side, priority, cascade_data())  # type: ignore[arg-type]


@dataclass
class Harness:
    stack: Stack
    env: dict[str, str]
    fake: FakeTelegram
    now: datetime = START
    sqs: Any = field(default_factory=lambda: boto3.client("sqs"))
    ddb: Any = field(default_factory=lambda: boto3.client("dynamodb"))
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def queue_url(self) -> str:
        return self.env["ALERT_QUEUE_URL"]

    @property
    def dead_letter_url(self) -> str:
        return self.env["ALERT_DEAD_LETTER_QUEUE_URL"]

    def send(self, *bodies: Alert | str) -> None:
        for body in bodies:
            text = body.encode() if isinstance(body, Alert) else body
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        from dispatcher import app

        response: dict[str, Any] = app.handler(event, LambdaContext.for_function("DispatcherFunction"))
        self.responses.append(response)
        return response

    def source(self) -> SqsEventSource:
        source = SqsEventSource.from_template(self.stack, "DispatcherFunction", self.sqs, self.invoke)
        source.poll_wait_s = 0  # an empty queue ends the run at once
        source.window_s = 0  # each receive is one batch
        return source

    def run(self) -> int:
        """Deliver what is visible in the queue, batch after batch, as the event source would."""
        source, total = self.source(), 0
        while got := source.poll_once():
            total += got
        return total

    def receive(self, at_most: int = 10, wait_s: int = 0) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=at_most,
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return self.source().to_event(messages)

    def make_visible(self, messages: list[dict[str, Any]]) -> None:
        """As if the message's visibility timeout had passed."""
        for m in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])

    def queue_counts(self) -> tuple[int, int]:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def history(self) -> list[dict[str, Any]]:
        items = self.ddb.scan(TableName=self.env["HISTORY_TABLE"])["Items"]
        return sorted(items, key=lambda i: i["sk"]["S"])

    def statuses(self) -> list[str]:
        return [i["status"]["S"] for i in self.history()]

    def budget_used(self) -> int:
        item = self.ddb.get_item(
            TableName=self.env["STATE_TABLE"], Key={"pk": {"S": f"budget#{self.now:%Y-%m-%dT%H}"}}
        ).get("Item")
        return int(item["used"]["N"]) if item else 0


@contextlib.contextmanager
def open_harness(stack: Stack, function_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """For a test module's fixture: `with open_harness(stack, function_env, monkeypatch) as h: yield h`."""
    from dispatcher import app

    env = function_env("DispatcherFunction")
    with FakeTelegram(token=TOKEN, chats={CHAT_ID}) as fake:
        monkeypatch.setenv("TELEGRAM_API_URL", fake.api_url)
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_CHAT_ID", CHAT_ID)
        h = Harness(stack=stack, env={**env, "TELEGRAM_API_URL": fake.api_url}, fake=fake)
        monkeypatch.setattr(app, "clock", lambda: h.now)
        app.reset()
        try:
            yield h
        finally:
            app.reset()
