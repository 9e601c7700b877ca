"""OiEvaluateFunction end to end over real sockets: the fake exchanges serve a scripted surge,
OiSnapshotFunction stores minutes into moto's DynamoDB, the evaluator reads them and puts
exactly one schema-1 alert on moto's AlertQueue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from handlers import fresh

from cryptoalerts import alert
from cryptoalerts.oi_store import EpisodeStore
from cryptoalerts.timeutil import iso_ms, parse_iso, to_epoch_ms
from infra.fakes.exchanges_rest import FakeExchanges
from infra.local.aws_resources import Stack
from infra.local.lambda_runtime import LambdaContext

M0 = "2026-06-07T04:40:00.000Z"
BTC_CALM = 80_000  # coins on each exchange


def minute(offset: int) -> str:
    return iso_ms(to_epoch_ms(parse_iso(M0)) + offset * 60_000)


CONTEXT = LambdaContext.for_function("OiEvaluateFunction")


@dataclass
class Pipeline:
    fake: FakeExchanges
    snapshot: ModuleType
    evaluate: ModuleType
    queue_url: str

    def store(self, offset: int) -> dict[str, Any]:
        """Run the snapshot for minute M0+offset and return the on-success destination record."""
        event = {"time": minute(offset)}
        return {"requestPayload": event, "responsePayload": self.snapshot.handler(event, CONTEXT)}

    def alerts(self) -> list[alert.Alert]:
        sqs = boto3.client("sqs")
        found = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not got.get("Messages"):
                return found
            for message in got["Messages"]:
                found.append(alert.decode(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def pipeline(
    stack: Stack, function_env: Callable[[str], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    with FakeExchanges() as fake:
        fake.seed_calm_market()
        fake.set_oi("*", "BTC", BTC_CALM, 65_000)
        function_env("OiSnapshotFunction")
        function_env("OiEvaluateFunction")
        for name, url in fake.env().items():
            monkeypatch.setenv(name, url)
        yield Pipeline(fake, fresh("oi_snapshot.app"), fresh("oi_evaluate.app"), stack.refs["AlertQueue"])


def surge(fake: FakeExchanges, pct: float, exchanges: tuple[str, ...] = ("binance", "bybit")) -> None:
    for name in exchanges:
        fake.set_oi(name, "BTC", BTC_CALM * (1 + pct / 100), 65_000)


def test_a_surge_on_two_of_three_exchanges_puts_exactly_one_alert_on_the_queue(pipeline: Pipeline) -> None:
    pipeline.store(0)
    surge(pipeline.fake, 20)  # BTC threshold 15 %, 2 of 3 exchanges needed; OKX stays flat
    record = pipeline.store(15)

    result = pipeline.evaluate.handler(record, CONTEXT)

    minute_ms = to_epoch_ms(parse_iso(minute(15)))
    assert result == {"time": minute(15), "evaluated": 3, "alerts": [f"oi_explosion:BTC:{minute_ms}"]}
    (sent,) = pipeline.alerts()
    assert (sent.kind, sent.symbol, sent.dedup_key, sent.detected_at) == (
        "oi_explosion",
        "BTC",
        "oi_explosion:BTC",
        minute(15),
    )
    data = sent.data
    assert (data["confirming"], data["exchanges_total"], data["window_min"]) == (2, 3, 15)
    assert set(data["per_exchange"]) == {"binance", "bybit", "okx"}
    assert data["per_exchange"]["binance"]["change_pct"] == pytest.approx(20)
    assert data["per_exchange"]["okx"]["change_pct"] == pytest.approx(0)
    assert data["change_pct"] == pytest.approx(40 / 3, abs=1e-4)  # 240k -> 272k coins over the three
    assert data["before_usd"] == pytest.approx(3 * BTC_CALM * 65_000)
    assert sent.priority == "LOW"  # 13.3 % against 15 %: below 1.5x


def test_the_episode_alerts_once_and_a_repeat_evaluation_stays_silent(pipeline: Pipeline) -> None:
    pipeline.store(0)
    pipeline.store(1)
    surge(pipeline.fake, 20)
    first = pipeline.evaluate.handler(pipeline.store(15), CONTEXT)
    again = pipeline.evaluate.handler({"time": minute(15)}, CONTEXT)  # a retry of the same minute
    still = pipeline.evaluate.handler(pipeline.store(16), CONTEXT)  # the surge persists
    assert len(first["alerts"]) == 1 and again["alerts"] == [] and still["alerts"] == []
    assert len(pipeline.alerts()) == 1


def test_a_surge_on_one_exchange_only_does_not_alert(pipeline: Pipeline) -> None:
    pipeline.store(0)
    surge(pipeline.fake, 50, ("okx",))
    assert pipeline.evaluate.handler(pipeline.store(15), CONTEXT)["alerts"] == []
    assert pipeline.alerts() == []


def test_an_exchange_failing_at_the_evaluated_minute_uses_the_minute_before(pipeline: Pipeline) -> None:
    pipeline.store(0)
    surge(pipeline.fake, 20)
    pipeline.store(14)  # the surge is already there at M-1
    pipeline.fake.set_fault("bybit", "500")
    record = pipeline.store(15)
    assert record["responsePayload"]["failed"] == ["bybit"]
    result = pipeline.evaluate.handler(record, CONTEXT)
    assert len(result["alerts"]) == 1
    (sent,) = pipeline.alerts()
    assert sent.data["confirming"] == 2


def test_a_failed_send_takes_the_episode_back_so_the_retry_alerts(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.store(0)
    surge(pipeline.fake, 20)
    record = pipeline.store(15)
    real_send = pipeline.evaluate._sqs.send_message

    def broken(**kwargs: Any) -> Any:
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(pipeline.evaluate._sqs, "send_message", broken)
    with pytest.raises(ConnectionError):
        pipeline.evaluate.handler(record, CONTEXT)
    monkeypatch.setattr(pipeline.evaluate._sqs, "send_message", real_send)
    retried = pipeline.evaluate.handler(record, CONTEXT)  # Lambda's async retry
    assert len(retried["alerts"]) == 1 and len(pipeline.alerts()) == 1


def test_two_evaluations_of_one_minute_cannot_both_start_the_episode(stack: Stack) -> None:
    table = boto3.resource("dynamodb").Table(stack.refs["StateTable"])
    a, b = EpisodeStore(table), EpisodeStore(table)
    minute_ms, now_s = to_epoch_ms(parse_iso(M0)), 1_780_807_300
    first = a.record("BTC", minute_ms, True, now_s)
    second = b.record("BTC", minute_ms, True, now_s)
    assert first.recorded and not first.was_active
    assert not second.recorded  # the conditional write refused it: no second alert
    older = b.record("BTC", minute_ms - 60_000, False, now_s)  # a late evaluation of an older minute
    assert not older.recorded
    newer = b.record("BTC", minute_ms + 60_000, True, now_s)
    assert newer.recorded and newer.was_active


def test_an_expired_episode_no_longer_counts_as_active(stack: Stack) -> None:
    table = boto3.resource("dynamodb").Table(stack.refs["StateTable"])
    store = EpisodeStore(table)
    minute_ms = to_epoch_ms(parse_iso(M0))
    store.record("ETH", minute_ms, True, now_s=1_000)
    # Three days later DynamoDB may not have deleted the item yet; the expiry is compared here.
    later = store.record("ETH", minute_ms + 60_000, True, now_s=1_000 + 3 * 86_400)
    assert later.recorded and not later.was_active
