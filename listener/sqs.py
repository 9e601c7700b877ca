"""Sends alert bodies to the alert queue (blocking boto3; the outbox calls it on its own thread)."""

from __future__ import annotations

from collections.abc import Callable

import boto3
from botocore.config import Config

# One attempt per call with short timeouts: the outbox owns retry and backoff, so a dead endpoint
# costs seconds, not botocore's own retry sequence on top of ours.
_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)


def sender(queue_url: str, session: boto3.session.Session | None = None) -> Callable[[str], object]:
    client = (session or boto3.session.Session()).client("sqs", config=_CONFIG)

    def send(body: str) -> object:
        return client.send_message(QueueUrl=queue_url, MessageBody=body)

    return send
