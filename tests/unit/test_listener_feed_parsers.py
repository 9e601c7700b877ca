"""Bybit and OKX frames to liquidations (documented examples, batches, every field wrong in turn,
replies), Binance's COIN-M frames, and the decoders' fast and exact paths agreeing on every frame."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cryptoalerts.cascade import DuplicateFilter
from infra.fakes.binance_ws import frame, recording_frames
from infra.repo import BINANCE_LIQUIDATIONS
from listener.feeds import binance, bybit, okx
from listener.parse import FrameError

# ---------------------------------------------------------------- Bybit
# Bybit's documented example (v5 "All Liquidation"), verbatim.
BYBIT_DOC = (
    '{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,'
    '"data":[{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}'
)
BYBIT_PONG = (
    '{"success":true,"ret_msg":"pong","conn_id":"465772b1-7630-4fdc-a492-e003e6f0f260","req_id":"","op":"ping"}'
)
BYBIT_ACK = (
    '{"success":true,"ret_msg":"","conn_id":"3cd84cb1-4d06-4a05-930a-2efe5fc70f0f","req_id":"7","op":"subscribe"}'
)
BYBIT_REFUSED = (
    '{"success":false,"ret_msg":"error:handler not found,topic:allLiquidation.NOPEUSDT",'
    '"conn_id":"x","req_id":"8","op":"subscribe"}'
)


def bybit_frame(*entries: dict[str, Any]) -> str:
    return json.dumps({"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": 1, "data": list(entries)})


def bybit_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"T": 1739502302929, "s": "BTCUSDT", "S": "Buy", "v": "0.5", "p": "64000"}
    for key, value in changes.items():
        if value is DELETE:
            del entry[key]
        else:
            entry[key] = value
    return entry


DELETE = object()


def test_bybit_documented_example() -> None:
    parsed = bybit.parse(BYBIT_DOC)
    (liq,) = parsed.liquidations
    assert (liq.symbol, liq.exchange, liq.time_ms) == ("ROSE", "bybit", 1739502302929)
    assert not liq.is_long  # Bybit's S is the position's side: Sell = a short was liquidated
    assert liq.usd == pytest.approx(0.04499 * 20000)  # p x v
    assert parsed.errors == [] and parsed.op is None


def test_bybit_buy_means_a_long_was_liquidated_the_opposite_of_binance() -> None:
    (liq,) = bybit.parse(bybit_frame(bybit_entry(S="Buy"))).liquidations
    assert liq.is_long
    assert binance.parse(frame("BTCUSDT", "BUY", "64000", "0.5", 1)).is_long is False


def test_bybit_every_element_of_a_batch_counts_and_identical_ones_stay_two() -> None:
    same = bybit_entry()
    parsed = bybit.parse(bybit_frame(same, bybit_entry(S="Sell", v="2"), same, bybit_entry(s="1000PEPEUSDT", p="0.01")))
    assert [(x.symbol, x.is_long) for x in parsed.liquidations] == [
        ("BTC", True),
        ("BTC", False),
        ("BTC", True),
        ("PEPE", True),
    ]
    # Two identical liquidations in one batch are two; the same frame delivered twice is dropped.
    dedup = DuplicateFilter()
    assert [dedup.is_duplicate(x.identity) for x in parsed.liquidations] == [False, False, False, False]
    again = bybit.parse(bybit_frame(same, bybit_entry(S="Sell", v="2"), same, bybit_entry(s="1000PEPEUSDT", p="0.01")))
    assert all(dedup.is_duplicate(x.identity) for x in again.liquidations)


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"T": DELETE}, "missing_field"),
        ({"T": "1739502302929"}, "wrong_type"),
        ({"T": 1.5}, "wrong_type"),
        ({"T": True}, "wrong_type"),
        ({"T": -1}, "bad_value"),
        ({"s": DELETE}, "missing_field"),
        ({"s": 5}, "wrong_type"),
        ({"s": ""}, "bad_value"),
        ({"s": "BTCUSD"}, "unsupported_symbol"),  # an inverse contract
        ({"S": DELETE}, "missing_field"),
        ({"S": "buy"}, "bad_value"),
        ({"S": None}, "missing_field"),
        ({"v": DELETE}, "missing_field"),
        ({"v": "abc"}, "bad_value"),
        ({"v": "-1"}, "bad_value"),
        ({"v": [1]}, "wrong_type"),
        ({"p": "NaN"}, "bad_value"),
        ({"p": True}, "wrong_type"),
        ({"p": "1e300"}, "bad_value"),
        ({"p": "-2", "v": "-3"}, "bad_value"),  # two negatives make no positive notional
        ({"p": "inf", "v": "0"}, "bad_value"),
    ],
)
def test_bybit_each_field_wrong_in_turn_skips_that_element_only(changes: dict[str, Any], kind: str) -> None:
    parsed = bybit.parse(bybit_frame(bybit_entry(**changes), bybit_entry(v="1")))
    assert [e.kind for e in parsed.errors] == [kind]
    assert len(parsed.liquidations) == 1  # the good element still counts


def test_bybit_numbers_as_json_numbers_are_accepted() -> None:
    (liq,) = bybit.parse(bybit_frame(bybit_entry(v=2, p=10.5))).liquidations
    assert liq.usd == 21


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("not json", "not_json"),
        ("[]", "not_object"),
        ('{"topic":"publicTrade.BTCUSDT","data":[]}', "other_event"),
        ('{"topic":"allLiquidation.BTCUSDT","data":{"T":1}}', "wrong_type"),
        ('{"topic":"allLiquidation.BTCUSDT"}', "missing_field"),
        ('{"type":"snapshot","data":[]}', "missing_field"),
        ('{"op":5}', "wrong_type"),
        ("x" * 70_000, "too_large"),
    ],
)
def test_bybit_unusable_frames(message: str, kind: str) -> None:
    with pytest.raises(FrameError) as info:
        bybit.parse(message)
    assert info.value.kind == kind


def test_bybit_replies_are_told_apart_from_data() -> None:
    pong = bybit.parse(BYBIT_PONG)
    assert (pong.op, pong.success, pong.ret_msg) == ("ping", True, "pong")
    ack = bybit.parse(BYBIT_ACK)
    assert (ack.op, ack.success, ack.req_id) == ("subscribe", True, "7")
    refused = bybit.parse(BYBIT_REFUSED)
    assert (refused.op, refused.success) == ("subscribe", False)
    assert bybit.refused_topics(refused.ret_msg) == ["allLiquidation.NOPEUSDT"]
    assert bybit.refused_topics("args size >10") == []
    assert bybit.parse('{"op":"pong","args":["1675418560633"],"conn_id":"x"}').op == "pong"


# ---------------------------------------------------------------- OKX
# OKX's documented push (v5 "Liquidation orders channel"), verbatim.
OKX_DOC = (
    '{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0",'
    '"bkPx":"0.007831","ccy":"","posSide":"short","side":"buy","sz":"13","ts":"1692266434010"}],'
    '"instFamily":"IOST-USDT","instId":"IOST-USDT-SWAP","instType":"SWAP","uly":"IOST-USDT"}]}'
)
SIZES = {"IOST-USDT-SWAP": 1000.0, "BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1}


def okx_frame(*items: tuple[str, list[dict[str, Any]]]) -> str:
    data = [{"details": details, "instId": inst, "instType": "SWAP", "uly": inst[:-5]} for inst, details in items]
    return json.dumps({"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": data})


def okx_detail(**changes: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {"bkLoss": "0", "bkPx": "64000", "ccy": "", "posSide": "long", "side": "sell",
                              "sz": "12", "ts": "1692266434010"}  # fmt: skip
    for key, value in changes.items():
        if value is DELETE:
            del detail[key]
        else:
            detail[key] = value
    return detail


def test_okx_documented_example_converts_contracts_with_ct_val() -> None:
    (liq,) = okx.parse(OKX_DOC, SIZES).liquidations
    assert (liq.symbol, liq.exchange, liq.time_ms) == ("IOST", "okx", 1692266434010)
    assert not liq.is_long  # a buy order closes a short
    assert liq.usd == pytest.approx(0.007831 * 13 * 1000)  # bkPx x sz x ctVal x ctMult


def test_okx_every_element_of_every_details_counts() -> None:
    parsed = okx.parse(
        okx_frame(
            ("BTC-USDT-SWAP", [okx_detail(), okx_detail(side="buy", sz="3"), okx_detail()]),
            ("ETH-USDT-SWAP", [okx_detail(bkPx="3000", sz="5")]),
        ),
        SIZES,
    )
    assert [(x.symbol, x.is_long, round(x.usd, 2)) for x in parsed.liquidations] == [
        ("BTC", True, 7680.0),
        ("BTC", False, 1920.0),
        ("BTC", True, 7680.0),
        ("ETH", True, 1500.0),
    ]
    dedup = DuplicateFilter()
    assert not any(dedup.is_duplicate(x.identity) for x in parsed.liquidations)  # identical twins stay two


def test_okx_unknown_instrument_waits_and_inverse_swaps_are_not_usd() -> None:
    parsed = okx.parse(okx_frame(("NEW-USDT-SWAP", [okx_detail()]), ("BTC-USD-SWAP", [okx_detail()])), SIZES)
    assert parsed.liquidations == []
    assert [d.inst_id for d in parsed.unknown] == ["NEW-USDT-SWAP"]  # never guessed
    assert [e.kind for e in parsed.errors] == ["unsupported_symbol"]


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"side": DELETE}, "missing_field"),
        ({"side": "SELL"}, "bad_value"),
        ({"side": 1}, "wrong_type"),
        ({"sz": DELETE}, "missing_field"),
        ({"sz": "x"}, "bad_value"),
        ({"bkPx": "-3"}, "bad_value"),
        ({"bkPx": None}, "missing_field"),
        ({"ts": DELETE}, "missing_field"),
        ({"ts": "12:00"}, "bad_value"),
        ({"ts": 1.5}, "wrong_type"),
        ({"ts": "0"}, "bad_value"),
    ],
)
def test_okx_each_field_wrong_in_turn_skips_that_element_only(changes: dict[str, Any], kind: str) -> None:
    parsed = okx.parse(okx_frame(("BTC-USDT-SWAP", [okx_detail(**changes), okx_detail(sz="1")])), SIZES)
    assert [e.kind for e in parsed.errors] == [kind]
    assert len(parsed.liquidations) == 1


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("not json", "not_json"),
        ('{"arg":{"channel":"trades"},"data":[]}', "other_event"),
        ('{"arg":{"channel":"liquidation-orders"},"data":{}}', "wrong_type"),
        ('{"data":[]}', "missing_field"),
        ("[1]", "not_object"),
    ],
)
def test_okx_unusable_frames(message: str, kind: str) -> None:
    with pytest.raises(FrameError) as info:
        okx.parse(message, SIZES)
    assert info.value.kind == kind


def test_okx_events_are_replies_not_data() -> None:
    ack = okx.parse('{"id":"1","event":"subscribe","arg":{"channel":"liquidation-orders","instType":"SWAP"}}', SIZES)
    assert ack.event is not None and ack.event["event"] == "subscribe"
    error = okx.parse('{"id":"1","event":"error","code":"60012","msg":"Invalid request","connId":"a"}', SIZES)
    assert error.event is not None and error.event["code"] == "60012"
    notice = okx.parse('{"event":"notice","code":"64008","msg":"upgrade","connId":"a"}', SIZES)
    assert notice.event is not None and notice.event["code"] == okx.UPGRADE_NOTICE
    bad_element = okx.parse(okx_frame(("BTC-USDT-SWAP", "nope")), SIZES)  # type: ignore[arg-type]
    assert [e.kind for e in bad_element.errors] == ["wrong_type"]


# ---------------------------------------------------------------- Binance COIN-M, both decoders
def test_binance_coin_m_frames_are_skipped_and_counted_never_usd() -> None:
    doc = json.loads(frame("BTCUSD_PERP", "SELL", "64000", "10", 1_700_000_000_000))
    with pytest.raises(FrameError) as info:
        binance.parse(json.dumps({**doc, "st": 2}))
    assert info.value.kind == "coin_margined"
    # Even a contract named like a USD-M one: `st` decides.
    with pytest.raises(FrameError) as info:
        binance.parse(json.dumps({**json.loads(frame("BTCUSDT", "SELL", "1", "1", 1)), "st": 2}))
    assert info.value.kind == "coin_margined"
    assert binance.parse(json.dumps({**json.loads(frame("BTCUSDT", "SELL", "1", "1", 1)), "st": 1})).symbol == "BTC"
    for st, kind in (("2", "wrong_type"), (3, "bad_value"), (None, "missing_field")):
        with pytest.raises(FrameError) as info:
            binance.parse(json.dumps({**doc, "st": st}))
        assert info.value.kind == kind


def _variants(message: str) -> list[str]:
    """The frame, and versions of it that leave the documented shape in one way each."""
    doc = json.loads(message)
    out = [message]
    for key, value in (("ap", 1.5), ("z", 2), ("T", "1"), ("T", 1.0), ("s", ""), ("S", "HOLD"), ("ap", "inf")):
        bent = copy.deepcopy(doc)
        bent["o"][key] = value
        out.append(json.dumps(bent))
    out.append(json.dumps({"stream": "!forceOrder@arr", "data": doc}))
    out.append(json.dumps({**doc, "stream": "!forceOrder@arr", "data": {"e": "other"}}))
    out.append(json.dumps({**doc, "e": "aggTrade"}))
    return out


def _verdict(parse: Any, message: str | bytes) -> Any:
    try:
        liq = parse(message)
    except FrameError as exc:
        return exc.kind
    return (liq.symbol, liq.is_long, liq.usd, liq.time_ms, liq.identity)


def test_binance_fast_and_exact_paths_give_every_frame_the_same_verdict() -> None:
    frames = recording_frames(BINANCE_LIQUIDATIONS)
    for message in frames[:300:7]:
        for variant in _variants(message):
            exact = _verdict(lambda m: binance._parse_object(json.loads(m)), variant)
            assert _verdict(binance.parse, variant) == exact, variant
            assert _verdict(binance.parse_text, variant.encode()) == exact, variant
