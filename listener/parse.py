"""Binance USD-M `forceOrder` frames to Liquidation records.

A frame is `{"e":"forceOrder","E":ms,"o":{"s":"BTCUSDT","S":"SELL","ap":"...","z":"...","T":ms,...}}`,
plain (raw stream) or wrapped as `{"stream": ..., "data": <frame>}` (combined stream). Unknown fields
are ignored. Anything else raises FrameError with a short `kind` the listener counts and logs once.
"""

from __future__ import annotations

import json
import math
from typing import Any

from cryptoalerts.cascade import Liquidation
from cryptoalerts.symbols import normalise

# A real frame is about 250 bytes; anything this large is not one and is not worth decoding.
MAX_FRAME_CHARS = 64 * 1024
EVENT = "forceOrder"
# No single liquidation comes near this; a larger product of ap and z is a corrupt frame.
MAX_NOTIONAL_USD = 1e12
# Event times are kept as uint32 seconds (history.py): good until 2106.
MAX_TIME_MS = 2**32 * 1000
_SIDES = {"SELL": True, "BUY": False}  # SELL closes a long (a long was liquidated)
_decode = json.JSONDecoder().decode


class FrameError(ValueError):
    """A frame that is not a usable liquidation. `kind` groups them for counting and logging."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def parse(message: str | bytes) -> Liquidation:
    """One WebSocket message to a Liquidation, or FrameError."""
    if not isinstance(message, str):
        raise FrameError("binary", f"{len(message)} bytes")
    if len(message) > MAX_FRAME_CHARS:
        raise FrameError("too_large", f"{len(message)} characters")
    try:
        frame = _decode(message)
    except (ValueError, RecursionError):
        raise FrameError("not_json") from None
    if type(frame) is not dict:
        raise FrameError("not_object")
    if "data" in frame and "stream" in frame:
        frame = frame["data"]
        if type(frame) is not dict:
            raise FrameError("not_object", "stream envelope without an object in data")
    event = frame.get("e")
    if event != EVENT:
        raise FrameError("missing_field", "e") if event is None else FrameError("other_event", str(event)[:40])
    order = frame.get("o")
    if type(order) is not dict:
        raise FrameError("missing_field" if order is None else "wrong_type", "o")

    contract = _field(order, "s", str)
    side = _field(order, "S", str)
    is_long = _SIDES.get(side)
    if is_long is None:
        raise FrameError("bad_value", "S")
    ap_raw = order.get("ap")
    z_raw = order.get("z")
    price = _number(ap_raw, "ap")
    qty = _number(z_raw, "z")
    time_ms = order.get("T")
    if type(time_ms) is not int:
        raise FrameError("missing_field" if time_ms is None else "wrong_type", "T")
    if not 0 < time_ms < MAX_TIME_MS:
        raise FrameError("bad_value", "T")
    usd = price * qty
    if usd > MAX_NOTIONAL_USD:
        raise FrameError("bad_value", "ap x z")
    symbol = normalise(contract)
    if symbol is None:
        raise FrameError("unsupported_symbol", contract[:40])
    return Liquidation(symbol, is_long, usd, time_ms, (contract, time_ms, side, z_raw, ap_raw))


def _field(order: dict[str, Any], name: str, kind: type) -> Any:
    value = order.get(name)
    if type(value) is not kind:
        raise FrameError("missing_field" if value is None else "wrong_type", name)
    if not value:
        raise FrameError("bad_value", name)
    return value


def _number(value: Any, name: str) -> float:
    """Binance sends numbers as strings; a JSON number is accepted too, a boolean is not."""
    if type(value) is str:
        try:
            number = float(value)
        except ValueError:
            raise FrameError("bad_value", name) from None
    elif type(value) is float or type(value) is int:
        number = float(value)
    else:
        raise FrameError("missing_field" if value is None else "wrong_type", name)
    if not math.isfinite(number) or number < 0:
        raise FrameError("bad_value", name)
    return number
