"""The history item schema the operator CLI reads (AlertHistoryTable)."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatcher.history import MAX_BODY_CHARS, Outcome, fields_of, item

NOW = datetime(2025, 10, 22, 23, 59, 59, 999000, tzinfo=UTC)
FIELDS = {
    "kind": "oi_explosion",
    "symbol": "ETH",
    "priority": "MEDIUM",
    "dedup_key": "oi_explosion:ETH",
    "detected_at": "2025-10-22T23:59:00.000Z",
}


def test_delivered_item_has_exactly_the_schema() -> None:
    got = item(Outcome("delivered", "oi_explosion:ETH:1", "{}", FIELDS, telegram_message_id=42), NOW)
    assert got == {
        "day": {"S": "2025-10-22"},
        "sk": {"S": "2025-10-22T23:59:59.999Z#oi_explosion:ETH:1"},
        "id": {"S": "oi_explosion:ETH:1"},
        "kind": {"S": "oi_explosion"},
        "symbol": {"S": "ETH"},
        "priority": {"S": "MEDIUM"},
        "dedup_key": {"S": "oi_explosion:ETH"},
        "detected_at": {"S": "2025-10-22T23:59:00.000Z"},
        "status": {"S": "delivered"},
        "telegram_message_id": {"N": "42"},
        "recorded_at": {"S": "2025-10-22T23:59:59.999Z"},
        "alert": {"S": "{}"},
        "expires_at": {"N": str(int(NOW.timestamp()) + 90 * 86400)},
    }


def test_other_outcomes_carry_a_short_error_and_no_message_id() -> None:
    got = item(Outcome("rate_limited", "x", "{}", FIELDS, error="e" * 1000), NOW)
    assert "telegram_message_id" not in got
    assert got["status"] == {"S": "rate_limited"}
    assert len(got["error"]["S"]) == 300


def test_malformed_bodies_are_bounded_and_fields_default_to_empty() -> None:
    body = "x" * 300_000
    got = item(Outcome("failed", "sqs:m-1", body, fields_of(None), error="invalid alert: not JSON"), NOW)
    assert len(got["alert"]["S"]) == MAX_BODY_CHARS
    assert {k: got[k]["S"] for k in FIELDS} == dict.fromkeys(FIELDS, "")
    assert fields_of({"symbol": "BTC", "kind": 3}) == {**dict.fromkeys(FIELDS, ""), "symbol": "BTC"}
