"""forceOrder frames -> Liquidation: the documented example, the real recording, malformed frames."""

from __future__ import annotations

import csv
import json
import math

import pytest

from infra.fakes.binance_ws import frame, recording_frames
from infra.repo import BINANCE_LIQUIDATIONS
from listener.feeds.binance import parse
from listener.parse import MAX_FRAME_CHARS, FrameError

# Binance's documented example (USD-M "Liquidation Order Streams"), verbatim.
DOCUMENTED = (
    '{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC",'
    '"q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}'
)


def test_documented_example() -> None:
    liq = parse(DOCUMENTED)
    assert liq.symbol == "BTC"
    assert liq.is_long  # a SELL liquidation order closes a long
    assert liq.usd == pytest.approx(9910 * 0.014)
    assert liq.time_ms == 1568014460893
    assert liq.identity == ("BTCUSDT", 1568014460893, "SELL", "0.014", "9910")


def test_combined_stream_envelope_and_unknown_fields() -> None:
    doc = json.loads(DOCUMENTED)
    doc["o"]["ps"] = "BTCUSDT"  # fields Binance may add are ignored
    doc["extra"] = {"nested": [1, 2]}
    wrapped = json.dumps({"stream": "!forceOrder@arr", "data": doc})
    assert parse(wrapped) == parse(DOCUMENTED)


def test_notional_uses_average_price_and_filled_quantity() -> None:
    doc = json.loads(DOCUMENTED)
    doc["o"].update({"q": "5", "p": "1", "ap": "2.5", "l": "1", "z": "3"})
    assert parse(json.dumps(doc)).usd == pytest.approx(7.5)


def test_buy_closes_a_short() -> None:
    assert not parse(frame("ETHUSDT", "BUY", "4000", "1", 1)).is_long


def test_every_recorded_row_rebuilt_as_a_frame() -> None:
    path = BINANCE_LIQUIDATIONS
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    frames = recording_frames(path)
    assert len(frames) == len(rows) == 1426
    symbols = set()
    for row, message in zip(rows, frames, strict=True):
        liq = parse(message)
        assert math.isclose(liq.usd, float(row["usd_value"]), rel_tol=1e-9)
        assert liq.is_long == (row["side"] == "SELL")
        symbols.add(liq.symbol)
    # The recording's quirks: multiplier prefixes, USDC quotes, non-ASCII names.
    assert {"PEPE", "BOB", "BONK", "XRP", "币安人生", "4"} <= symbols
    assert not any(s.startswith("1000") for s in symbols)


def test_wrapped_recording_parses_the_same() -> None:
    plain = recording_frames(BINANCE_LIQUIDATIONS)[:50]
    wrapped = recording_frames(BINANCE_LIQUIDATIONS, wrap=True)[:50]
    assert [parse(m) for m in plain] == [parse(m) for m in wrapped]


def test_json_numbers_are_accepted_where_binance_sends_strings() -> None:
    doc = json.loads(DOCUMENTED)
    doc["o"]["ap"], doc["o"]["z"] = 9910, 0.5
    assert parse(json.dumps(doc)).usd == pytest.approx(4955)


def _with(**changes: object) -> str:
    doc = json.loads(DOCUMENTED)
    for key, value in changes.items():
        if value is _DELETE:
            del doc["o"][key]
        else:
            doc["o"][key] = value
    return json.dumps(doc)


def _top(**changes: object) -> str:
    doc = json.loads(DOCUMENTED)
    for key, value in changes.items():
        if value is _DELETE:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc)


_DELETE = object()


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (b'{"e":"forceOrder"}', "binary"),
        (DOCUMENTED.encode(), "binary"),
        ("", "not_json"),
        ("not json at all", "not_json"),
        (DOCUMENTED[:-3], "not_json"),
        ("[" * 50_000 + "]" * 50_000, "too_large"),
        ("[" * 30_000 + "]" * 30_000, "not_json"),  # nesting beyond the decoder's recursion limit
        ("x" * (MAX_FRAME_CHARS + 1), "too_large"),
        ("[1, 2, 3]", "not_object"),
        ('"forceOrder"', "not_object"),
        ("null", "not_object"),
        ('{"stream": "!forceOrder@arr", "data": [1]}', "not_object"),
        ('{"result": null, "id": 1}', "missing_field"),
        (_top(e="aggTrade"), "other_event"),
        (_top(e=None), "missing_field"),
        (_top(o=_DELETE), "missing_field"),
        (_top(o="BTCUSDT"), "wrong_type"),
        (_with(s=_DELETE), "missing_field"),
        (_with(s=42), "wrong_type"),
        (_with(s=""), "bad_value"),
        (_with(S="HOLD"), "bad_value"),
        (_with(S=None), "missing_field"),
        (_with(ap=_DELETE), "missing_field"),
        (_with(ap="abc"), "bad_value"),
        (_with(ap="NaN"), "bad_value"),
        (_with(ap="inf"), "bad_value"),
        (_with(ap="-1"), "bad_value"),
        (_with(ap=True), "wrong_type"),
        (_with(ap=["1"]), "wrong_type"),
        (_with(z={"v": 1}), "wrong_type"),
        (_with(z="1e300"), "bad_value"),
        (_with(T=_DELETE), "missing_field"),
        (_with(T="1568014460893"), "wrong_type"),
        (_with(T=1568014460893.5), "wrong_type"),
        (_with(T=True), "wrong_type"),
        (_with(T=-5), "bad_value"),
        (_with(T=10**20), "bad_value"),
        (_with(s="BTCUSD_PERP"), "unsupported_symbol"),
        (_with(s="ETHBTC"), "unsupported_symbol"),
    ],
)
def test_malformed_frames_raise_frame_error(message: str | bytes, kind: str) -> None:
    with pytest.raises(FrameError) as info:
        parse(message)
    assert info.value.kind == kind
