"""The thresholds document (architecture.md §2.3): built-in defaults, deep merge, strict validation.

Pure: no I/O. `thresholds_source` fetches the stored document from SSM and keeps the last valid one.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptoalerts.alert import PRIORITIES
from cryptoalerts.feeds import LIQUIDATION_FEEDS
from cryptoalerts.symbols import is_valid_symbol

# The seed's figures. The only place a threshold default is written down.
DEFAULTS: dict[str, Any] = {
    "symbols": ["BTC", "ETH", "SOL"],
    "liquidation": {
        "default": {"min_usd": 25000, "cascade_count": 5, "window_s": 30},
        "BTC": {"min_usd": 100000},
        "ETH": {"min_usd": 50000},
        "SOL": {"min_usd": 25000},
    },
    "oi": {
        "default": {"change_pct": 20, "window_min": 15, "min_exchanges": 2},
        "BTC": {"change_pct": 15},
        "ETH": {"change_pct": 18},
        "SOL": {"change_pct": 25},
    },
    "dispatch": {
        "rate_limit_per_hour": 10,
        "dedup_window_s": 300,
        "priority_share": {"LOW": 0.5, "MEDIUM": 0.8, "HIGH": 1.0},
    },
    # Chats besides the alert chat that may use the reactive commands (architecture.md §2.9).
    "commands": {"allowed_chat_ids": []},
    "feeds": {"liquidations": list(LIQUIDATION_FEEDS)},
}

# Number of exchanges the OI pipeline watches; `min_exchanges` cannot exceed it.
OI_EXCHANGE_COUNT = 3


class InvalidThresholds(ValueError):
    """A thresholds document that must not take effect. `field` is the dotted path at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class _Field:
    integer: bool
    low: float  # inclusive
    high: float  # inclusive
    low_exclusive: bool = False


# Bounds reject values that are negative or absurd; they are generous on purpose so that
# operators can tune freely within what the pipeline can actually honour.
_LIQUIDATION_FIELDS = {
    "min_usd": _Field(integer=False, low=0, high=1e11, low_exclusive=True),
    "cascade_count": _Field(integer=True, low=1, high=10_000),
    "window_s": _Field(integer=False, low=0, high=3600, low_exclusive=True),
}
_OI_FIELDS = {
    "change_pct": _Field(integer=False, low=0, high=10_000, low_exclusive=True),
    # Snapshots are kept for 2 days (see store TTL); a window longer than a day is absurd.
    "window_min": _Field(integer=True, low=1, high=1440),
    "min_exchanges": _Field(integer=True, low=1, high=OI_EXCHANGE_COUNT),
}
_DISPATCH_FIELDS = {
    "rate_limit_per_hour": _Field(integer=True, low=1, high=100_000),
    "dedup_window_s": _Field(integer=True, low=0, high=7 * 86400),
}
_SHARE = _Field(integer=False, low=0, high=1, low_exclusive=True)
# Telegram chat ids: users positive, groups negative (supergroups -100...), within 52 bits.
_CHAT_ID = _Field(integer=True, low=-(2**52), high=2**52)


@dataclass(frozen=True)
class LiquidationRule:
    min_usd: float
    cascade_count: int
    window_s: float


@dataclass(frozen=True)
class OiRule:
    change_pct: float
    window_min: int
    min_exchanges: int


@dataclass(frozen=True)
class DispatchRule:
    rate_limit_per_hour: int
    dedup_window_s: int
    priority_share: Mapping[str, float]


class Thresholds:
    """A validated, effective thresholds document with per-symbol look-ups."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document: dict[str, Any] = copy.deepcopy(dict(document))
        self.symbols: tuple[str, ...] = tuple(self.document["symbols"])
        self._watched = frozenset(self.symbols)
        d = self.document["dispatch"]
        self.dispatch = DispatchRule(
            rate_limit_per_hour=d["rate_limit_per_hour"],
            dedup_window_s=d["dedup_window_s"],
            priority_share=dict(d["priority_share"]),
        )
        self.allowed_chat_ids: frozenset[int] = frozenset(self.document["commands"]["allowed_chat_ids"])
        # The liquidation feeds that count, in the order alerts list them (architecture.md §2.4).
        chosen = set(self.document["feeds"]["liquidations"])
        self.feeds: tuple[str, ...] = tuple(name for name in LIQUIDATION_FEEDS if name in chosen)
        self._liq: dict[str, LiquidationRule] = {}
        self._oi: dict[str, OiRule] = {}

    def watches(self, symbol: str) -> bool:
        return symbol in self._watched

    def liquidation(self, symbol: str) -> LiquidationRule:
        rule = self._liq.get(symbol)
        if rule is None:
            rule = self._liq[symbol] = LiquidationRule(**_symbol_fields(self.document["liquidation"], symbol))
        return rule

    def oi(self, symbol: str) -> OiRule:
        rule = self._oi.get(symbol)
        if rule is None:
            rule = self._oi[symbol] = OiRule(**_symbol_fields(self.document["oi"], symbol))
        return rule

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thresholds) and other.document == self.document

    def __hash__(self) -> int:
        return hash(json.dumps(self.document, sort_keys=True))

    def __repr__(self) -> str:
        return f"Thresholds({json.dumps(self.document, ensure_ascii=False, sort_keys=True)})"


def _symbol_fields(section: Mapping[str, Any], symbol: str) -> dict[str, Any]:
    return {**section["default"], **section.get(symbol, {})}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Keys of `override` replace those of `base`; nested objects merge; lists are replaced whole."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse(text: str | bytes | None) -> Thresholds:
    """Parse a stored document (JSON text; empty means none) into effective thresholds."""
    if text is None or not str(text if isinstance(text, str) else text.decode()).strip():
        return effective({})
    try:
        stored = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidThresholds("(document)", f"not valid JSON: {exc}") from None
    return effective(stored)


def effective(stored: Any) -> Thresholds:
    """Validate a stored (possibly partial) document and merge it over the defaults."""
    if not isinstance(stored, Mapping):
        raise InvalidThresholds("(document)", f"must be a JSON object, got {_type_name(stored)}")
    _check_keys(stored, {"symbols", "liquidation", "oi", "dispatch", "commands", "feeds"}, "")
    for section in ("liquidation", "oi", "dispatch", "commands", "feeds"):
        if section in stored and not isinstance(stored[section], Mapping):
            raise InvalidThresholds(section, f"must be an object, got {_type_name(stored[section])}")
    merged = deep_merge(DEFAULTS, stored)
    _validate(merged)
    return Thresholds(merged)


def defaults() -> Thresholds:
    return Thresholds(DEFAULTS)


def _validate(doc: Mapping[str, Any]) -> None:
    symbols = doc["symbols"]
    if not isinstance(symbols, list) or not symbols:
        raise InvalidThresholds("symbols", "must be a non-empty list of base-asset names")
    for i, symbol in enumerate(symbols):
        if not is_valid_symbol(symbol):
            raise InvalidThresholds(f"symbols[{i}]", f"{symbol!r} is not a name of Unicode letters and digits")
    if len(set(symbols)) != len(symbols):
        raise InvalidThresholds("symbols", "lists a symbol twice")

    _validate_per_symbol(doc["liquidation"], "liquidation", _LIQUIDATION_FIELDS)
    _validate_per_symbol(doc["oi"], "oi", _OI_FIELDS)

    dispatch = doc["dispatch"]
    _check_keys(dispatch, {*_DISPATCH_FIELDS, "priority_share"}, "dispatch")
    for name, spec in _DISPATCH_FIELDS.items():
        _check_number(dispatch[name], spec, f"dispatch.{name}")
    shares = dispatch["priority_share"]
    if not isinstance(shares, Mapping):
        raise InvalidThresholds("dispatch.priority_share", "must be an object")
    _check_keys(shares, set(PRIORITIES), "dispatch.priority_share")
    for priority in PRIORITIES:
        if priority not in shares:
            raise InvalidThresholds(f"dispatch.priority_share.{priority}", "is missing")
        _check_number(shares[priority], _SHARE, f"dispatch.priority_share.{priority}")

    commands = doc["commands"]
    _check_keys(commands, {"allowed_chat_ids"}, "commands")
    chats = commands.get("allowed_chat_ids")
    if not isinstance(chats, list):
        raise InvalidThresholds("commands.allowed_chat_ids", f"must be a list of chat ids, got {_type_name(chats)}")
    for i, chat in enumerate(chats):
        _check_number(chat, _CHAT_ID, f"commands.allowed_chat_ids[{i}]")

    feeds = doc["feeds"]
    _check_keys(feeds, {"liquidations"}, "feeds")
    chosen = feeds["liquidations"]
    known = ", ".join(LIQUIDATION_FEEDS)
    if not isinstance(chosen, list) or not chosen:
        raise InvalidThresholds("feeds.liquidations", f"must be a non-empty list of {known}")
    for i, name in enumerate(chosen):
        if name not in LIQUIDATION_FEEDS:
            raise InvalidThresholds(f"feeds.liquidations[{i}]", f"{name!r} is not one of {known}")
    if len(set(chosen)) != len(chosen):
        raise InvalidThresholds("feeds.liquidations", "lists a feed twice")


def _validate_per_symbol(section: Mapping[str, Any], name: str, fields: Mapping[str, _Field]) -> None:
    default = section.get("default")
    if not isinstance(default, Mapping):
        raise InvalidThresholds(f"{name}.default", "must be an object")
    for key, entry in section.items():
        path = f"{name}.{key}"
        if key != "default" and not is_valid_symbol(key):
            raise InvalidThresholds(path, "is neither 'default' nor a symbol name")
        if not isinstance(entry, Mapping):
            raise InvalidThresholds(path, f"must be an object, got {_type_name(entry)}")
        _check_keys(entry, set(fields), path)
        for field, value in entry.items():
            _check_number(value, fields[field], f"{path}.{field}")
    for field in fields:
        if field not in default:
            raise InvalidThresholds(f"{name}.default.{field}", "is missing")


def _check_keys(obj: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise InvalidThresholds(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _check_number(value: Any, spec: _Field, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidThresholds(path, f"must be a number, got {_type_name(value)}")
    if not math.isfinite(value):
        raise InvalidThresholds(path, "must be finite")
    if spec.integer and value != int(value):
        raise InvalidThresholds(path, f"must be a whole number, got {value}")
    too_low = value <= spec.low if spec.low_exclusive else value < spec.low
    if too_low or value > spec.high:
        low = f"> {spec.low:g}" if spec.low_exclusive else f">= {spec.low:g}"
        raise InvalidThresholds(path, f"{value} is out of range (must be {low} and <= {spec.high:g})")


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def set_path(stored: Mapping[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of `stored` with the dotted path (e.g. `oi.BTC.change_pct`) set to `value`."""
    parts = dotted.split(".")
    if not dotted or any(not p for p in parts):
        raise InvalidThresholds(dotted or "(path)", "is not a dotted path such as oi.BTC.change_pct")
    result = copy.deepcopy(dict(stored))
    node = result
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise InvalidThresholds(dotted, f"{part!r} is not an object")
        node = child
    node[parts[-1]] = value
    return result
