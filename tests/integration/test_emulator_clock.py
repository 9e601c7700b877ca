"""The local stack's moto server reads SQS's clock through `infra.local.moto_entry`: same time, same
semantics (delays, visibility timeouts), only cheaper per stored message."""

from __future__ import annotations

import time

import boto3
from moto.core import utils

from infra.local import moto_entry
from infra.local.moto_server import MotoServer


def test_moto_still_reads_sqs_time_through_the_names_patched() -> None:
    assert moto_entry.patch()  # False would mean moto changed: the patch would silently do nothing


def test_the_cheap_clock_tells_moto_s_own_time() -> None:
    assert abs(moto_entry.unix_time_millis() - utils.unix_time_millis()) < 50
    moment = utils.utcnow()
    assert moto_entry.unix_time(moment) == utils.unix_time(moment)


def test_delays_and_visibility_timeouts_still_hold(aws_env: MotoServer) -> None:
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="clock", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="late", DelaySeconds=1)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)  # still delayed
    time.sleep(1.2)
    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)["Messages"]
    assert message["Body"] == "late"
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)  # in flight
    time.sleep(1.2)
    [again] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)["Messages"]
    assert again["MessageId"] == message["MessageId"]  # visible again after its timeout
