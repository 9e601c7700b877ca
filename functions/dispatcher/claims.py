"""Dedup claims and hourly budget counters in StateTable: atomic conditional writes.

Keys (StateTable pk): `dedup#<dedup_key>` holds the alert id that owns the condition for
`dedup_window_s`; `budget#<YYYY-MM-DDTHH>` counts the units used in that UTC hour.

DynamoDB TTL deletes lazily (often days late), so a dedup claim is live only while its stored
`expires_at` is later than now, and every conditional write compares the two itself. A claim owned
by the same alert id is not a duplicate: a retry of an alert whose send failed may claim again.
Budget counters need no such care: their key names the hour, so a late-deleted counter is never
read again.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

DEDUP_PREFIX = "dedup#"
BUDGET_PREFIX = "budget#"


class StateStore:
    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client
        self._table = table
        self._conditional_failed = client.exceptions.ConditionalCheckFailedException

    def claim_dedup(self, dedup_key: str, alert_id: str, now: datetime, window_s: int) -> str | None:
        """Claim `dedup_key` for `window_s` from `now`. None if claimed (or already ours), otherwise
        the id of the alert holding a live claim (this alert is then a duplicate)."""
        now_s = int(now.timestamp())
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": DEDUP_PREFIX + dedup_key},
                    "owner": {"S": alert_id},
                    "expires_at": {"N": str(now_s + window_s)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now OR #owner = :id",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now_s)}, ":id": {"S": alert_id}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._conditional_failed as exc:
            holder = (exc.response.get("Item") or {}).get("owner", {}).get("S")
            return holder or "another alert"
        return None

    def release_dedup(self, dedup_key: str, alert_id: str) -> None:
        """Give the claim back, if this alert still holds it."""
        with contextlib.suppress(self._conditional_failed):  # someone else's claim by now
            self._ddb.delete_item(
                TableName=self._table,
                Key={"pk": {"S": DEDUP_PREFIX + dedup_key}},
                ConditionExpression="#owner = :id",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":id": {"S": alert_id}},
            )

    def charge(self, bucket: str, cap: int, expires_at: int) -> bool:
        """Use one unit of `bucket` if fewer than `cap` are used; atomic across concurrent callers."""
        if cap <= 0:
            return False
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": BUDGET_PREFIX + bucket}},
                UpdateExpression="ADD used :one SET expires_at = :exp",
                ConditionExpression="attribute_not_exists(used) OR used < :cap",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(cap)},
                    ":exp": {"N": str(expires_at)},
                },
            )
        except self._conditional_failed:
            return False
        return True

    def refund(self, bucket: str) -> None:
        """Give one unit of `bucket` back (an alert that was charged but not delivered)."""
        with contextlib.suppress(self._conditional_failed):  # never below zero
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": BUDGET_PREFIX + bucket}},
                UpdateExpression="ADD used :minus_one",
                ConditionExpression="used > :zero",
                ExpressionAttributeValues={":minus_one": {"N": "-1"}, ":zero": {"N": "0"}},
            )

    def used(self, bucket: str) -> int:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": BUDGET_PREFIX + bucket}}, ConsistentRead=True
        ).get("Item")
        return int(item["used"]["N"]) if item and "used" in item else 0
