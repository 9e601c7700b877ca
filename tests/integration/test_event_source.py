"""The local SQS event source behaves like Lambda's: batches, partial failures, redrive to the DLQ."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from infra.local.aws_resources import Stack
from infra.local.event_source import SqsEventSource


def _source(stack: Stack, invoke: Any) -> SqsEventSource:
    sqs = boto3.client("sqs")
    source = SqsEventSource.from_template(stack, "DispatcherFunction", sqs, invoke)
    # Redelivery after a failure waits for the visibility timeout; shorten it for the test.
    sqs.set_queue_attributes(QueueUrl=source.queue_url, Attributes={"VisibilityTimeout": "1"})
    return source


def test_configured_from_the_template(stack: Stack) -> None:
    source = SqsEventSource.from_template(stack, "DispatcherFunction", boto3.client("sqs"), lambda e: None)
    assert source.queue_url == stack.refs["AlertQueue"]
    assert source.batch_size == 10
    assert source.window_s <= 1
    assert source.report_batch_item_failures


def test_batch_has_lambda_shape_and_successes_are_deleted(stack: Stack) -> None:
    sqs = boto3.client("sqs")
    for i in range(3):
        sqs.send_message(QueueUrl=stack.refs["AlertQueue"], MessageBody=json.dumps({"n": i}))
    seen: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        seen.extend(event["Records"])
        return {"batchItemFailures": []}

    source = _source(stack, invoke)
    while source.poll_once():
        pass
    assert sorted(json.loads(r["body"])["n"] for r in seen) == [0, 1, 2]
    record = seen[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack.attributes[("AlertQueue", "Arn")]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "md5OfBody", "awsRegion"} <= record.keys()
    attrs = sqs.get_queue_attributes(QueueUrl=source.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_reported_failure_is_redelivered_then_dead_lettered(stack: Stack) -> None:
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=stack.refs["AlertQueue"], MessageBody="good")
    sqs.send_message(QueueUrl=stack.refs["AlertQueue"], MessageBody="poison")
    delivered: list[str] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        failures = []
        for r in event["Records"]:
            delivered.append(r["body"])
            if r["body"] == "poison":
                failures.append({"itemIdentifier": r["messageId"]})
        return {"batchItemFailures": failures}

    source = _source(stack, invoke)
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=source.queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    dlq_url = stack.refs["AlertDeadLetterQueue"]
    dead: list[dict[str, Any]] = []
    for _ in range(3 * redrive["maxReceiveCount"]):  # bounded: redrive must happen well within this
        source.poll_once()
        dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        if dead:
            break
        time.sleep(1.1)  # the failed item becomes visible again after its visibility timeout
    assert [m["Body"] for m in dead] == ["poison"]
    assert delivered.count("good") == 1
    assert delivered.count("poison") == redrive["maxReceiveCount"]


def test_function_error_returns_the_whole_batch(stack: Stack) -> None:
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=stack.refs["AlertQueue"], MessageBody="x")
    calls = 0

    def invoke(event: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("handler crashed")

    source = _source(stack, invoke)
    source.poll_once()
    assert source.errors == 1
    time.sleep(1.1)
    source.poll_once()
    assert calls == 2
    assert source.poll_once() == 0
