"""Binance USD-M `!forceOrder@arr`: the all-market liquidation stream (architecture.md §2.7).

A frame is `{"e":"forceOrder","E":ms,"o":{"s":"BTCUSDT","S":"SELL","ap":"...","z":"...","T":ms,...}}`,
plain (raw stream) or wrapped as `{"stream": ..., "data": <frame>}` (combined stream); unknown fields
are ignored. The stream also carries COIN-M contracts, marked `"st":2` (`BTCUSD_PERP`): they are not
USD-margined and are skipped (`coin_margined`). Binance sends at most one liquidation per symbol per
second, and cuts every connection at 24 h, so the stream moves to a new one an hour before.

Decoding: msgspec into typed structs (the fastest sound decoder measured on the real recording,
docs/benchmarks.md) for frames of exactly the documented shape; anything else (the combined-stream
envelope, a number where Binance sends a string, garbage) is read again by the standard library and
judged field by field, so every frame gets the same verdict and the same error kind either way.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cryptoalerts.cascade import Liquidation
from cryptoalerts.feeds import BINANCE
from cryptoalerts.symbols import normalise
from listener.feed import Feed
from listener.parse import (
    MAX_FRAME_CHARS,
    MAX_NOTIONAL_USD,
    MAX_TIME_MS,
    FrameError,
    check_size,
    decode_object,
    event_time,
    missing_or_wrong,
    notional,
    number,
    text_field,
)

EVENT = "forceOrder"
_SIDES = {"SELL": True, "BUY": False}  # SELL closes a long (a long was liquidated)
_INF = float("inf")
USD_MARGINED, COIN_MARGINED = 1, 2  # `st`; frames without it are USD-M (the stream before COIN-M joined)


class _Order(msgspec.Struct, gc=False):
    s: str
    S: str
    ap: str
    z: str
    T: int


class _Frame(msgspec.Struct, gc=False):
    e: str
    o: _Order
    st: int = USD_MARGINED
    # Declared only to notice a combined-stream envelope around a plain frame (the envelope wins).
    stream: msgspec.Raw | None = None
    data: msgspec.Raw | None = None


_decode = msgspec.json.Decoder(_Frame).decode


def parse(message: str | bytes) -> Liquidation:
    """One WebSocket message (str: a text frame, bytes: a binary one) to a Liquidation, or FrameError."""
    if not isinstance(message, str):
        raise FrameError("binary", f"{len(message)} bytes")
    return parse_text(message)


def parse_text(payload: str | bytes) -> Liquidation:
    """A text frame's payload (str, or its UTF-8 bytes off the wire) to a Liquidation, or FrameError.

    The hot path of the busiest feed: checks are written out here rather than called, and on any
    doubt the exact helpers run again to raise the same error they always raise.
    """
    if len(payload) > MAX_FRAME_CHARS:
        check_size(payload)
    try:
        frame = _decode(payload)
    except msgspec.MsgspecError:  # not exactly the documented shape: the exact, slower reading
        return _parse_object(decode_object(payload))
    if frame.data is not None and frame.stream is not None:
        return _parse_object(decode_object(payload))
    if frame.e != EVENT:
        raise FrameError("other_event", frame.e[:40])
    o = frame.o
    contract, side, ap_raw, z_raw, time_ms = o.s, o.S, o.ap, o.z, o.T
    if frame.st != USD_MARGINED:
        raise FrameError("coin_margined", contract[:40]) if frame.st == COIN_MARGINED else FrameError("bad_value", "st")
    if not contract:
        raise FrameError("bad_value", "s")
    is_long = _SIDES.get(side)
    if is_long is None:
        raise FrameError("bad_value", "S")
    try:
        price = float(ap_raw)
        qty = float(z_raw)
    except ValueError:
        price = qty = -1.0
    if not (0.0 <= price < _INF and 0.0 <= qty < _INF):
        number(ap_raw, "ap")  # raises bad_value for the first of the two that is not a usable number
        number(z_raw, "z")
    if not 0 < time_ms < MAX_TIME_MS:
        raise FrameError("bad_value", "T")
    usd = price * qty
    if usd > MAX_NOTIONAL_USD:
        raise FrameError("bad_value", "ap x z")
    symbol = normalise(contract)
    if symbol is None:
        raise FrameError("unsupported_symbol", contract[:40])
    return Liquidation(symbol, is_long, usd, time_ms, (contract, time_ms, side, z_raw, ap_raw), BINANCE)


def _parse_object(frame: dict[str, Any]) -> Liquidation:
    if "data" in frame and "stream" in frame:
        frame = frame["data"]
        if type(frame) is not dict:
            raise FrameError("not_object", "stream envelope without an object in data")
    event = frame.get("e")
    if event != EVENT:
        raise FrameError("missing_field", "e") if event is None else FrameError("other_event", str(event)[:40])
    st = frame.get("st", USD_MARGINED)
    if type(st) is not int:
        raise missing_or_wrong(st, "st")
    order = frame.get("o")
    if type(order) is not dict:
        raise missing_or_wrong(order, "o")
    if st != USD_MARGINED:
        raise (
            FrameError("coin_margined", str(order.get("s"))[:40])
            if st == COIN_MARGINED
            else FrameError("bad_value", "st")
        )
    contract = text_field(order, "s")
    side = text_field(order, "S")
    is_long = _SIDES.get(side)
    if is_long is None:
        raise FrameError("bad_value", "S")
    ap_raw = order.get("ap")
    z_raw = order.get("z")
    usd = number(ap_raw, "ap") * number(z_raw, "z")
    time_ms = event_time(order.get("T"), "T")
    return _liquidation(contract, is_long, notional(usd, "ap x z"), time_ms, side, z_raw, ap_raw)


def _liquidation(
    contract: str, is_long: bool, usd: float, time_ms: int, side: str, z_raw: Any, ap_raw: Any
) -> Liquidation:
    symbol = normalise(contract)
    if symbol is None:
        raise FrameError("unsupported_symbol", contract[:40])
    return Liquidation(symbol, is_long, usd, time_ms, (contract, time_ms, side, z_raw, ap_raw), BINANCE)


class BinanceFeed(Feed):
    name = BINANCE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream(self.settings.ws_url, self.on_frame, rotate_after_s=self.settings.rotate_after_s)

    def on_frame(self, payload: bytes, text: bool, received_at: float) -> bool:
        """The hot path: every Binance message is a data frame."""
        self.frames += 1
        try:
            liq = parse_text(payload) if text else parse(payload)
        except FrameError as exc:
            self.malformed_frame(exc, payload)
            return True
        self.deliver(liq, received_at)
        return True
