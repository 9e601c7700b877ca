"""Live thresholds from SSM (architecture.md §2.3): cached at most 60 s, last known good on an invalid edit."""

from __future__ import annotations

from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit

from cryptoalerts import config, thresholds
from cryptoalerts.metrics import INVALID_THRESHOLDS
from cryptoalerts.thresholds import InvalidThresholds, Thresholds

# An edit must take effect within 60 s everywhere.
MAX_AGE_S = 60

logger = Logger(child=True)


class ParameterReader(Protocol):
    """What fetches the parameter's value: Powertools' SSMProvider (cached for `max_age` seconds),
    or a reader that asks SSM on every call."""

    def get(self, name: str, max_age: int | None = None) -> Any: ...


class ThresholdsSource:
    """Effective thresholds from the SSM parameter named by THRESHOLDS_PARAMETER.

    The first valid document seen stays in force until a newer valid one arrives; until then the
    built-in defaults apply. A rejected edit is logged once (naming the field) and counted on every
    fetch that still sees it, so the `InvalidThresholds` alarm stays up until someone fixes it.
    """

    def __init__(
        self,
        name: str | None = None,
        metrics: Metrics | None = None,
        provider: ParameterReader | None = None,
    ) -> None:
        self.name = name or config.get(config.THRESHOLDS_PARAMETER)
        self._metrics = metrics
        if provider is None:
            # Imported only here: Powertools' providers import boto3, which a caller bringing its
            # own reader (the listener, for its memory) never loads.
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            provider = SSMProvider()
        self._provider = provider
        self._current: Thresholds = thresholds.defaults()
        self._last_raw: Any = None
        self._rejected_raw: Any = None

    @property
    def current(self) -> Thresholds:
        """The document in force, without fetching."""
        return self._current

    def get(self) -> Thresholds:
        try:
            raw = self._provider.get(self.name, max_age=MAX_AGE_S)
        except Exception as exc:  # SSM unreachable or throttled: keep what is in force
            logger.warning(
                "thresholds fetch failed; keeping the document in force",
                extra={"parameter": self.name, "error": f"{type(exc).__name__}: {exc}"},
            )
            return self._current
        if raw == self._last_raw:
            return self._current
        if raw == self._rejected_raw:
            self._count_invalid()
            return self._current
        try:
            parsed = thresholds.parse(raw if isinstance(raw, str | bytes) else None)
        except InvalidThresholds as exc:
            self._rejected_raw = raw
            logger.error(
                f"invalid thresholds edit rejected: {exc.field}: {exc.reason}; the last valid document stays in force",
                extra={"parameter": self.name, "field": exc.field},
            )
            self._count_invalid()
            return self._current
        if self._last_raw is not None:
            logger.info("thresholds updated", extra={"parameter": self.name})
        self._last_raw, self._rejected_raw, self._current = raw, None, parsed
        return parsed

    def _count_invalid(self) -> None:
        if self._metrics is not None:
            self._metrics.add_metric(name=INVALID_THRESHOLDS, unit=MetricUnit.Count, value=1)
