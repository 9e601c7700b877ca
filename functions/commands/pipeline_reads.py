"""What the commands read from the pipeline itself: stored OI snapshots (OiSnapshotTable), the alert
history (AlertHistoryTable) and the depth of the alert queues. Blocking boto3 calls: the commands
run them in threads beside the exchange requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptoalerts.oi_store import SnapshotStore
from cryptoalerts.timeutil import MINUTE_MS
from dispatcher import history

# The newest minute the OI pipeline stored is looked for this far back: it stores one a minute,
# so a longer silence means it is not running and the exchanges' own history is used instead.
NEWEST_LOOKBACK_MIN = 5
STATUS_LOOKBACK_MIN = 15
# A stored minute may stand in for one this close to it (architecture.md §2.7's ±1 minute).
TOLERANCE_MIN = 1


@dataclass(frozen=True)
class StoredSeries:
    """One symbol's stored open interest in coins, by exchange and minute, ending at `newest_ms`."""

    newest_ms: int | None
    coins: dict[str, dict[int, float]]


class Pipeline:
    def __init__(
        self,
        snapshots: SnapshotStore,
        dynamodb: Any,
        history_table: str,
        sqs: Any,
        queue_url: str,
        dead_letter_url: str,
    ) -> None:
        self.snapshots = snapshots
        self._ddb = dynamodb  # low-level client
        self._history_table = history_table
        self._sqs = sqs
        self._queue_url = queue_url
        self._dead_letter_url = dead_letter_url

    def stored_series(
        self, symbol: str, exchanges: Sequence[str], horizons_min: Iterable[int], now_ms: int
    ) -> StoredSeries:
        """The newest stored minute (within NEWEST_LOOKBACK_MIN) and the minutes around each horizon
        before it: two BatchGetItem calls, however long the horizons."""
        now_minute = now_ms - now_ms % MINUTE_MS
        recent = [now_minute - k * MINUTE_MS for k in range(NEWEST_LOOKBACK_MIN + 1)]
        found = self.snapshots.points([symbol], exchanges, recent, now_ms // 1000).get(symbol, {})
        minutes_seen = [m for series in found.values() for m in series]
        if not minutes_seen:
            return StoredSeries(None, {})
        newest = max(minutes_seen)
        wanted = {newest - (h + k) * MINUTE_MS for h in horizons_min for k in range(-TOLERANCE_MIN, TOLERANCE_MIN + 1)}
        older = self.snapshots.points([symbol], exchanges, wanted, now_ms // 1000).get(symbol, {})
        coins: dict[str, dict[int, float]] = {}
        for series in (found, older):
            for exchange, points in series.items():
                coins.setdefault(exchange, {}).update({m: p.oi for m, p in points.items()})
        return StoredSeries(newest, coins)

    def newest_minutes(self, symbols: Sequence[str], exchanges: Sequence[str], now_ms: int) -> dict[str, int | None]:
        """Per exchange, the newest minute stored for any of `symbols` in the last STATUS_LOOKBACK_MIN."""
        now_minute = now_ms - now_ms % MINUTE_MS
        minutes = [now_minute - k * MINUTE_MS for k in range(STATUS_LOOKBACK_MIN + 1)]
        found = self.snapshots.points(symbols, exchanges, minutes, now_ms // 1000)
        newest: dict[str, int | None] = dict.fromkeys(exchanges)
        for by_exchange in found.values():
            for exchange, points in by_exchange.items():
                latest = max(points)
                held = newest.get(exchange)
                newest[exchange] = latest if held is None else max(held, latest)
        return newest

    def recent_alerts(self, limit: int, days: int, today: date) -> list[dict[str, Any]]:
        return history.recent(self._ddb, self._history_table, limit, days, today)

    def queue_depths(self) -> tuple[int, int, int]:
        """Messages waiting and in flight on AlertQueue, and waiting on the dead-letter queue."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        queue = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=names)["Attributes"]
        dead = self._sqs.get_queue_attributes(QueueUrl=self._dead_letter_url, AttributeNames=names[:1])["Attributes"]
        return int(queue[names[0]]), int(queue[names[1]]), int(dead[names[0]])
