"""Time in alerts and events (architecture.md §2.6): ISO-8601 UTC with milliseconds and `Z`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

MINUTE_MS = 60_000


def iso_ms(epoch_ms: int) -> str:
    """`1761125893270` -> `2025-10-22T09:38:13.270Z`."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time; a time without a zone is taken as UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def floor_minute(epoch_ms: int) -> int:
    return epoch_ms - epoch_ms % MINUTE_MS


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


def event_time(event: Mapping[str, Any] | None, clock: Callable[[], datetime] = utc_now) -> datetime:
    """The moment a scheduled handler works for: the event's `time`, else the clock (architecture.md §2.6).

    Accepts EventBridge scheduled events, the Scheduler `Input` `{"time": ...}` and a Lambda
    destination record, whose `responsePayload` / `requestPayload` carry the same field.
    """
    if isinstance(event, Mapping):
        for candidate in (event, event.get("responsePayload"), event.get("requestPayload")):
            if isinstance(candidate, Mapping) and isinstance(candidate.get("time"), str):
                return parse_iso(candidate["time"])
    return clock()


def minute_iso(epoch_ms: int) -> str:
    """The minute containing `epoch_ms`, as `2026-06-07T04:40:00.000Z`."""
    return iso_ms(floor_minute(epoch_ms))
