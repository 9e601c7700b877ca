"""Alert schema 1 (architecture.md §2.4): the one message format between producers and the dispatcher."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cryptoalerts.timeutil import iso_ms, parse_iso

SCHEMA = 1
LIQUIDATION_CASCADE: Final = "liquidation_cascade"
OI_EXPLOSION: Final = "oi_explosion"
KINDS = (LIQUIDATION_CASCADE, OI_EXPLOSION)
PRIORITIES = ("LOW", "MEDIUM", "HIGH")

Kind = Literal["liquidation_cascade", "oi_explosion"]
Priority = Literal["LOW", "MEDIUM", "HIGH"]

# Required `data` fields per kind, with the JSON types they must have.
_NUMBER = (int, float)
_DATA_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    LIQUIDATION_CASCADE: {
        "exchange": (str,),
        "window_s": _NUMBER,
        "count": (int,),
        "total_usd": _NUMBER,
        "long_count": (int,),
        "short_count": (int,),
        "long_usd": _NUMBER,
        "short_usd": _NUMBER,
        "largest_usd": _NUMBER,
        "first_at": (str,),
        "last_at": (str,),
    },
    OI_EXPLOSION: {
        "window_min": (int,),
        "change_pct": _NUMBER,
        "before_usd": _NUMBER,
        "after_usd": _NUMBER,
        "confirming": (int,),
        "exchanges_total": (int,),
        "per_exchange": (dict,),
    },
}
_PER_EXCHANGE_FIELDS = ("before", "after", "change_pct", "before_usd", "after_usd")
# A cascade's per-exchange figures (additive fields: checked when present, never required).
_CASCADE_EXCHANGE_FIELDS: dict[str, tuple[type, ...]] = {
    "count": (int,),
    "usd": _NUMBER,
    "long_usd": _NUMBER,
    "short_usd": _NUMBER,
}


class AlertFormatError(ValueError):
    """A message that is not a valid schema-1 alert; never worth retrying."""


@dataclass(frozen=True)
class Alert:
    id: str
    kind: Kind
    symbol: str
    priority: Priority
    dedup_key: str
    detected_at: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "kind": self.kind,
            "symbol": self.symbol,
            "priority": self.priority,
            "dedup_key": self.dedup_key,
            "detected_at": self.detected_at,
            "data": dict(self.data),
        }

    def encode(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def priority_for(ratio: float) -> Priority:
    """How far the measured figure exceeds its threshold decides the priority.

    HIGH at 3x the threshold or more, MEDIUM at 1.5x, LOW otherwise. For a cascade the figure is
    its total USD against `cascade_count x min_usd`; for an OI explosion, the aggregate change
    against `change_pct`. A LOW alert is the first to give way when the hourly budget runs short.
    """
    if ratio >= 3:
        return "HIGH"
    if ratio >= 1.5:
        return "MEDIUM"
    return "LOW"


def liquidation_cascade(symbol: str, fired_at_ms: int, side: str, priority: Priority, data: Mapping[str, Any]) -> Alert:
    """A cascade alert. The id is the symbol and the event time of the liquidation that fired it,
    so a producer retry or a replay of the same stream yields the same id."""
    return _build(LIQUIDATION_CASCADE, symbol, fired_at_ms, f"{LIQUIDATION_CASCADE}:{symbol}:{side}", priority, data)


def oi_explosion(symbol: str, minute_ms: int, priority: Priority, data: Mapping[str, Any]) -> Alert:
    """An OI explosion alert; the id is the symbol and the evaluated minute."""
    return _build(OI_EXPLOSION, symbol, minute_ms, f"{OI_EXPLOSION}:{symbol}", priority, data)


def _build(kind: Kind, symbol: str, at_ms: int, dedup_key: str, priority: Priority, data: Mapping[str, Any]) -> Alert:
    alert = Alert(
        id=f"{kind}:{symbol}:{at_ms}",
        kind=kind,
        symbol=symbol,
        priority=priority,
        dedup_key=dedup_key,
        detected_at=iso_ms(at_ms),
        data=dict(data),
    )
    validate(alert.to_dict())
    return alert


def decode(body: str | bytes) -> Alert:
    """Parse and validate an SQS message body. Raises AlertFormatError naming what is wrong."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AlertFormatError(f"body is not JSON: {exc}") from None
    validate(obj)
    return Alert(
        id=obj["id"],
        kind=obj["kind"],
        symbol=obj["symbol"],
        priority=obj["priority"],
        dedup_key=obj["dedup_key"],
        detected_at=obj["detected_at"],
        data=obj["data"],
    )


def validate(obj: Any) -> None:
    if not isinstance(obj, Mapping):
        raise AlertFormatError("alert must be a JSON object")
    if obj.get("schema") != SCHEMA or isinstance(obj.get("schema"), bool):
        raise AlertFormatError(f"unknown schema {obj.get('schema')!r} (expected {SCHEMA})")
    for name in ("id", "kind", "symbol", "priority", "dedup_key", "detected_at"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise AlertFormatError(f"{name} must be a non-empty string")
    if obj["kind"] not in KINDS:
        raise AlertFormatError(f"kind {obj['kind']!r} is not one of {', '.join(KINDS)}")
    if obj["priority"] not in PRIORITIES:
        raise AlertFormatError(f"priority {obj['priority']!r} is not one of {', '.join(PRIORITIES)}")
    try:
        parse_iso(obj["detected_at"])
    except ValueError:
        raise AlertFormatError(f"detected_at {obj['detected_at']!r} is not an ISO-8601 time") from None
    data = obj.get("data")
    if not isinstance(data, Mapping):
        raise AlertFormatError("data must be an object")
    for name, types in _DATA_FIELDS[obj["kind"]].items():
        _check_value(data.get(name), types, f"data.{name}")
    if obj["kind"] == OI_EXPLOSION:
        _check_per_exchange(data["per_exchange"], dict.fromkeys(_PER_EXCHANGE_FIELDS, _NUMBER))
    elif "per_exchange" in data or "sampled" in data:
        _check_value(data.get("per_exchange"), (dict,), "data.per_exchange")
        _check_per_exchange(data["per_exchange"], _CASCADE_EXCHANGE_FIELDS)
        sampled = data.get("sampled")
        if not isinstance(sampled, list) or not all(isinstance(name, str) for name in sampled):
            raise AlertFormatError("data.sampled must be a list of exchange names")


def _check_per_exchange(per_exchange: Mapping[str, Any], fields: Mapping[str, tuple[type, ...]]) -> None:
    for exchange, figures in per_exchange.items():
        if not isinstance(figures, Mapping):
            raise AlertFormatError(f"data.per_exchange.{exchange} must be an object")
        for name, types in fields.items():
            _check_value(figures.get(name), types, f"data.per_exchange.{exchange}.{name}")


def _check_value(value: Any, types: tuple[type, ...], path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, types):
        raise AlertFormatError(f"{path} is missing or of the wrong type")
    if isinstance(value, float) and not math.isfinite(value):
        raise AlertFormatError(f"{path} must be finite")
