"""DynamoDB for the OI pipeline: minute snapshots (OiSnapshotTable) and OI episodes (StateTable).

Snapshot items: partition `minute` (`2026-06-07T04:40:00.000Z`), sort `key` = `<symbol>#<exchange>`,
so one evaluation reads a handful of minute partitions whatever the watchlist. Episode items:
`pk` = `oi_episode#<symbol>`, written with a condition so that two evaluations of one minute
cannot both alert, and a late evaluation of an older minute cannot rewrite a newer verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from botocore.exceptions import ClientError

from cryptoalerts.oi import Point
from cryptoalerts.timeutil import iso_ms, minute_iso, parse_iso, to_epoch_ms

# Snapshots and episodes are kept 2 days: the longest window (1 day) plus slack.
RETENTION_S = 2 * 86_400
EPISODE_PREFIX = "oi_episode#"
BATCH_GET_KEYS = 100  # DynamoDB's most per BatchGetItem
BATCH_GET_ROUNDS = 3


class Reading(Protocol):
    """What a snapshot item is made of (the exchanges' OiReading has these)."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def contract(self) -> str: ...
    @property
    def oi(self) -> Decimal: ...
    @property
    def mark_price(self) -> Decimal: ...
    @property
    def oi_usd(self) -> Decimal: ...


# symbol -> exchange -> minute (epoch ms) -> snapshot
Snapshots = dict[str, dict[str, dict[int, Point]]]


class SnapshotStore:
    def __init__(self, table: Any) -> None:
        self._table = table  # a boto3 DynamoDB Table resource

    def put(self, minute_ms: int, readings: Iterable[Reading], fetched_at_ms: int) -> int:
        minute = minute_iso(minute_ms)
        fetched_at = iso_ms(fetched_at_ms)
        expires_at = fetched_at_ms // 1000 + RETENTION_S
        count = 0
        with self._table.batch_writer(overwrite_by_pkeys=["minute", "key"]) as batch:
            for r in readings:
                batch.put_item(
                    Item={
                        "minute": minute,
                        "key": f"{r.symbol}#{r.exchange}",
                        "symbol": r.symbol,
                        "exchange": r.exchange,
                        "contract": r.contract,
                        "oi": r.oi,
                        "oi_usd": r.oi_usd,
                        "mark_price": r.mark_price,
                        "fetched_at": fetched_at,
                        "expires_at": expires_at,
                    }
                )
                count += 1
        return count

    def read(self, minutes: Iterable[int], now_s: int) -> Snapshots:
        """Every unexpired snapshot of the given minutes (TTL deletes lazily: expiry is checked here)."""
        found: Snapshots = {}
        for minute_ms in minutes:
            for item in self._query(minute_iso(minute_ms)):
                point = _point(item, now_s)
                if point is not None:
                    found.setdefault(item["symbol"], {}).setdefault(item["exchange"], {})[minute_ms] = point
        return found

    def points(self, symbols: Iterable[str], exchanges: Iterable[str], minutes: Iterable[int], now_s: int) -> Snapshots:
        """The unexpired snapshots of the given symbols, exchanges and minutes, read by key
        (BatchGetItem, 100 keys a call) rather than whole minute partitions: for the commands."""
        keys = [
            {"minute": minute_iso(m), "key": f"{symbol}#{exchange}"}
            for m in sorted(set(minutes))
            for symbol in symbols
            for exchange in exchanges
        ]
        found: Snapshots = {}
        client, name = self._table.meta.client, self._table.name
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: dict[str, Any] = {name: {"Keys": keys[start : start + BATCH_GET_KEYS]}}
            for _ in range(BATCH_GET_ROUNDS):  # DynamoDB may leave keys unprocessed under load
                answer = client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(name, []):
                    point = _point(item, now_s)
                    if point is not None:
                        minute_ms = to_epoch_ms(parse_iso(item["minute"]))
                        found.setdefault(item["symbol"], {}).setdefault(item["exchange"], {})[minute_ms] = point
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def _query(self, minute: str) -> Iterable[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "#m = :m",
            "ExpressionAttributeNames": {"#m": "minute"},
            "ExpressionAttributeValues": {":m": minute},
        }
        while True:
            page = self._table.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _point(item: dict[str, Any], now_s: int) -> Point | None:
    try:
        if int(item["expires_at"]) < now_s:
            return None
        return Point(oi=float(item["oi"]), mark_price=float(item["mark_price"]))
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class EpisodeVerdict:
    """What recording one evaluation did: `was_active` before it; `recorded` False when a newer
    (or the same) minute had already been recorded, in which case this evaluation must stay silent."""

    recorded: bool
    was_active: bool
    previous: dict[str, Any] | None


class EpisodeStore:
    def __init__(self, table: Any) -> None:
        self._table = table  # a boto3 DynamoDB Table resource (StateTable)

    def record(self, symbol: str, minute_ms: int, exploded: bool, now_s: int) -> EpisodeVerdict:
        try:
            answer = self._table.update_item(
                Key={"pk": EPISODE_PREFIX + symbol},
                UpdateExpression="SET active = :a, last_minute = :m, expires_at = :x",
                ConditionExpression="attribute_not_exists(pk) OR last_minute < :m",
                ExpressionAttributeValues={":a": exploded, ":m": minute_ms, ":x": now_s + RETENTION_S},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return EpisodeVerdict(recorded=False, was_active=False, previous=None)
            raise
        old = answer.get("Attributes")
        # An expired episode is over even if DynamoDB has not deleted it yet.
        was_active = bool(old and old.get("active") and int(old.get("expires_at", 0)) >= now_s)
        return EpisodeVerdict(recorded=True, was_active=was_active, previous=old)

    def undo(self, symbol: str, minute_ms: int, verdict: EpisodeVerdict) -> None:
        """Take back a recorded explosion whose alert could not be queued, so a retry can send it."""
        old = verdict.previous or {}
        self._table.update_item(
            Key={"pk": EPISODE_PREFIX + symbol},
            UpdateExpression="SET active = :a, last_minute = :old",
            ConditionExpression="last_minute = :m",
            ExpressionAttributeValues={
                ":a": bool(old.get("active", False)),
                ":old": int(old.get("last_minute", 0)),
                ":m": minute_ms,
            },
        )
