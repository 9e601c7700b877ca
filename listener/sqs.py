"""Sends alerts to the alert queue with SendMessageBatch (blocking botocore; the outbox calls it on its threads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import botocore.session
from botocore.config import Config

from listener.outbox import Pending, SendBatch

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# One attempt per call with short timeouts: the outbox owns retry and backoff, so a dead endpoint
# costs seconds, not botocore's own retry sequence on top of ours. A connection per call in flight.
_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5, max_pool_connections=16)


def batch_sender(queue_url: str, session: botocore.session.Session | None = None) -> SendBatch:
    client = cast("SQSClient", (session or botocore.session.get_session()).create_client("sqs", config=_CONFIG))

    def send_batch(items: Sequence[Pending]) -> list[tuple[Pending, str]]:
        # Entry ids only need to be unique within the call (alert ids contain ':', which SQS refuses).
        entries = [{"Id": str(i), "MessageBody": item.body} for i, item in enumerate(items)]
        answer = client.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        return [
            (items[int(failed["Id"])], f"{failed.get('Code', '?')}: {failed.get('Message', '')}")
            for failed in answer.get("Failed", [])
        ]

    return send_batch
