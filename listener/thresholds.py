"""Live thresholds for the listener: the shared ThresholdsSource with a cache no older than one poll.

ThresholdsSource caches the SSM parameter for up to 60 s; polled every 30 s on top of that, an
edit could take 90 s to arrive. Capping the cache at the poll interval keeps it within one or two
intervals (about 30 to 60 s by default), as architecture.md §2.3 asks.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.metrics import Metrics
from aws_lambda_powertools.utilities.parameters import SSMProvider

from cryptoalerts.thresholds_source import ThresholdsSource
from listener.settings import Settings


class CappedCacheSSMProvider(SSMProvider):
    def __init__(self, max_age_s: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_age_s = max_age_s

    def get(self, name: str, max_age: int | None = None, *args: Any, **kwargs: Any) -> Any:
        cap = self.max_age_s
        return super().get(name, cap if max_age is None else min(max_age, cap), *args, **kwargs)


def source(
    settings: Settings, metrics: Metrics | None = None, session: boto3.session.Session | None = None
) -> ThresholdsSource:
    max_age = max(1, int(settings.thresholds_refresh_s))
    provider = CappedCacheSSMProvider(max_age, boto3_session=session)
    return ThresholdsSource(settings.thresholds_parameter, metrics=metrics, provider=provider)
