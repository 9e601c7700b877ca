"""Live thresholds for the listener: the shared ThresholdsSource, reading SSM on every poll.

The listener polls every `thresholds_refresh_s` (30 s by default), so an edit arrives within one
poll, as architecture.md §2.3 asks. Powertools' SSMProvider would cache the value for up to 60 s,
which the listener would have to cap at one poll, i.e. not use; and it brings boto3, 2.8 MB of the
listener's resident memory over botocore alone (docs/benchmarks.md, listener memory). So the listener
asks SSM itself, once a poll, with the botocore client it already has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import botocore.session
from aws_lambda_powertools.metrics import Metrics

from cryptoalerts.thresholds_source import ThresholdsSource
from listener.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


class SsmReader:
    """`GetParameter` on every call: the poll interval is the cache."""

    def __init__(self, session: botocore.session.Session) -> None:
        self._client = cast("SSMClient", session.create_client("ssm"))

    def get(self, name: str, max_age: int | None = None) -> Any:
        return self._client.get_parameter(Name=name)["Parameter"]["Value"]


def source(
    settings: Settings, metrics: Metrics | None = None, session: botocore.session.Session | None = None
) -> ThresholdsSource:
    reader = SsmReader(session or botocore.session.get_session())
    return ThresholdsSource(settings.thresholds_parameter, metrics=metrics, provider=reader)
