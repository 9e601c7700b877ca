"""Alert schema 1 (architecture.md §2.4): constructors, encode/decode and validation of what arrives on SQS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cryptoalerts import alert
from cryptoalerts.alert import AlertFormatError, decode, priority_for

CASCADE_DATA = {
    "exchange": "binance",
    "window_s": 30,
    "count": 7,
    "total_usd": 1_234_567.5,
    "long_count": 5,
    "short_count": 2,
    "long_usd": 1_000_000.0,
    "short_usd": 234_567.5,
    "largest_usd": 400_000.0,
    "first_at": "2025-10-22T09:37:50.100Z",
    "last_at": "2025-10-22T09:38:13.270Z",
}
OI_DATA = {
    "window_min": 15,
    "change_pct": 18.2,
    "before_usd": 2.1e9,
    "after_usd": 2.5e9,
    "confirming": 3,
    "exchanges_total": 3,
    "per_exchange": {
        "binance": {"before": 30000.0, "after": 35500.0, "change_pct": 18.3, "before_usd": 1.9e9, "after_usd": 2.3e9}
    },
}


def cascade() -> alert.Alert:
    return alert.liquidation_cascade("BTC", 1761125893270, "long", "HIGH", CASCADE_DATA)


def test_a_cascade_alert_has_the_documented_id_dedup_key_and_time() -> None:
    a = cascade()
    assert a.id == "liquidation_cascade:BTC:1761125893270"
    assert a.dedup_key == "liquidation_cascade:BTC:long"
    assert a.detected_at == "2025-10-22T09:38:13.270Z"
    assert a.kind == "liquidation_cascade" and a.priority == "HIGH"


def test_an_oi_alert_is_identified_by_symbol_and_minute() -> None:
    a = alert.oi_explosion("ETH", 1780807200000, "MEDIUM", OI_DATA)
    assert (a.id, a.dedup_key, a.detected_at) == (
        "oi_explosion:ETH:1780807200000",
        "oi_explosion:ETH",
        "2026-06-07T04:40:00.000Z",
    )


def test_encode_is_schema_1_json_and_decode_gives_the_same_alert_back() -> None:
    a = cascade()
    body = json.loads(a.encode())
    assert body["schema"] == 1 and set(body) == {
        "schema", "id", "kind", "symbol", "priority", "dedup_key", "detected_at", "data"
    }  # fmt: skip
    assert decode(a.encode()) == a
    assert decode(a.encode().encode()) == a  # SQS bodies may arrive as bytes


def test_non_ascii_symbols_travel_unescaped() -> None:
    a = alert.liquidation_cascade("币安人生", 1, "short", "LOW", CASCADE_DATA)
    assert "币安人生" in a.encode()
    assert decode(a.encode()).symbol == "币安人生"


def test_the_constructors_refuse_incomplete_data() -> None:
    with pytest.raises(AlertFormatError, match=r"data\.count"):
        alert.liquidation_cascade("BTC", 1, "long", "HIGH", {**CASCADE_DATA, "count": None})
    with pytest.raises(AlertFormatError, match=r"data\.per_exchange"):
        alert.oi_explosion("BTC", 1, "LOW", {k: v for k, v in OI_DATA.items() if k != "per_exchange"})


def body(**changes: Any) -> str:
    obj = json.loads(cascade().encode())
    for key, value in changes.items():
        if value is ...:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj)


def oi_body(**data_changes: Any) -> str:
    obj = json.loads(alert.oi_explosion("BTC", 1, "LOW", OI_DATA).encode())
    obj["data"].update(data_changes)
    return json.dumps(obj)


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        ("[1, 2]", "JSON object"),
        (body(schema=2), "unknown schema 2"),
        (body(schema=...), "unknown schema None"),
        (body(schema=True), "unknown schema True"),
        (body(schema="1"), "unknown schema '1'"),
        (body(id=...), "id must be"),
        (body(symbol=""), "symbol must be"),
        (body(dedup_key=7), "dedup_key must be"),
        (body(kind="price_spike"), "kind 'price_spike'"),
        (body(priority="URGENT"), "priority 'URGENT'"),
        (body(detected_at="yesterday"), "detected_at 'yesterday'"),
        (body(data=[]), "data must be an object"),
        (body(data={**CASCADE_DATA, "count": "7"}), "data.count"),
        (body(data={**CASCADE_DATA, "count": True}), "data.count"),
        (body(data={**CASCADE_DATA, "count": 7.0}), "data.count"),
        (body(data={k: v for k, v in CASCADE_DATA.items() if k != "last_at"}), "data.last_at"),
        (body(data={**CASCADE_DATA, "total_usd": float("nan")}), "data.total_usd must be finite"),
        (oi_body(per_exchange={"okx": 5}), "data.per_exchange.okx must be an object"),
        (oi_body(per_exchange={"okx": {"before": 1}}), "data.per_exchange.okx.after"),
        (oi_body(confirming=2.5), "data.confirming"),
        # a cascade's additive per-exchange fields, when present, are checked too
        (body(data={**CASCADE_DATA, "per_exchange": []}), "data.per_exchange is missing"),
        (body(data={**CASCADE_DATA, "sampled": []}), "data.per_exchange is missing"),
        (body(data={**CASCADE_DATA, "per_exchange": {"bybit": {"count": 1}}, "sampled": []}), "per_exchange.bybit.usd"),
        (body(data={**CASCADE_DATA, "per_exchange": {}, "sampled": "okx"}), "data.sampled"),
    ],
)
def test_decode_rejects_what_is_not_a_valid_schema_1_alert(raw: str | bytes, complaint: str) -> None:
    with pytest.raises(AlertFormatError) as caught:
        decode(raw)
    assert complaint in str(caught.value)


@pytest.mark.parametrize(
    ("ratio", "priority"),
    [(0, "LOW"), (1.0, "LOW"), (1.49, "LOW"), (1.5, "MEDIUM"), (2.99, "MEDIUM"), (3, "HIGH"), (40, "HIGH")],
)
def test_priority_grows_with_how_far_the_figure_exceeds_its_threshold(ratio: float, priority: str) -> None:
    assert priority_for(ratio) == priority
