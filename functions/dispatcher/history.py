"""Alert history (AlertHistoryTable): one item per outcome, read by the operator CLI and `/alerts`.

Item schema (keep exactly; `crypto-alerts history` reads it):
pk `day` = UTC date of `recorded_at` (`YYYY-MM-DD`), sk = `<recorded_at ISO>#<alert id>`;
`id`, `kind`, `symbol`, `priority`, `dedup_key`, `detected_at`, `status` (delivered | duplicate |
rate_limited | failed), `telegram_message_id` (N, when delivered), `recorded_at`, `error`
(optional short reason), `alert` (the body JSON), `expires_at` (N, 90 days on).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer

from cryptoalerts.timeutil import iso_ms, to_epoch_ms

Status = Literal["delivered", "duplicate", "rate_limited", "failed"]
RETENTION = timedelta(days=90)
# Bounds what one item may hold: a malformed body can be up to SQS's 256 KiB.
MAX_BODY_CHARS = 8000
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Outcome:
    """What happened to one alert (or to a message that was not a valid alert)."""

    status: Status
    alert_id: str
    body: str
    fields: Mapping[str, str]  # kind, symbol, priority, dedup_key, detected_at ("" when unknown)
    telegram_message_id: int | None = None
    error: str | None = None


FIELDS = ("kind", "symbol", "priority", "dedup_key", "detected_at")


def item(outcome: Outcome, now: datetime) -> dict[str, dict[str, str]]:
    """The DynamoDB item (low-level attribute values) for `outcome` recorded at `now`."""
    recorded_at = iso_ms(to_epoch_ms(now))
    attrs: dict[str, dict[str, str]] = {
        "day": {"S": recorded_at[:10]},
        "sk": {"S": f"{recorded_at}#{outcome.alert_id}"},
        "id": {"S": outcome.alert_id},
        "status": {"S": outcome.status},
        "recorded_at": {"S": recorded_at},
        "alert": {"S": outcome.body[:MAX_BODY_CHARS]},
        "expires_at": {"N": str(int((now + RETENTION).timestamp()))},
    }
    for name in FIELDS:
        attrs[name] = {"S": str(outcome.fields.get(name, ""))}
    if outcome.telegram_message_id is not None:
        attrs["telegram_message_id"] = {"N": str(outcome.telegram_message_id)}
    if outcome.error:
        attrs["error"] = {"S": outcome.error[:MAX_ERROR_CHARS]}
    return attrs


def fields_of(obj: Any) -> dict[str, str]:
    """The history fields a (possibly malformed) decoded body offers; "" where it has none."""
    source = obj if isinstance(obj, Mapping) else {}
    return {name: source[name] if isinstance(source.get(name), str) else "" for name in FIELDS}


class HistoryWriter:
    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client
        self._table = table

    def record(self, outcome: Outcome, now: datetime) -> None:
        self._ddb.put_item(TableName=self._table, Item=item(outcome, now))


def recent(
    client: Any, table: str, limit: int, days: int, today: date, status: str | None = None
) -> list[dict[str, Any]]:
    """Newest first: at most `limit` items from `today` back over `days` UTC days, optionally of one
    `status`. The table is partitioned by day and sorted by time: one descending query per day."""
    items: list[dict[str, Any]] = []
    for n in range(days):
        for item in _query_day(client, table, (today - timedelta(days=n)).isoformat()):
            if status is None or item.get("status") == status:
                items.append(item)
                if len(items) >= limit:
                    return items
    return items


def _query_day(client: Any, table: str, day: str) -> Iterator[dict[str, Any]]:
    deserializer = TypeDeserializer()
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#d = :d",
        "ExpressionAttributeNames": {"#d": "day"},
        "ExpressionAttributeValues": {":d": {"S": day}},
        "ScanIndexForward": False,
    }
    while True:
        page = client.query(**kwargs)
        for raw in page.get("Items", []):
            yield {k: plain(deserializer.deserialize(v)) for k, v in raw.items()}
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def plain(value: Any) -> Any:
    """DynamoDB numbers arrive as Decimal; give them back as the ints/floats they were written as."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
