"""OiSnapshotFunction over real sockets: moto server for DynamoDB/SSM and the fake exchanges'
REST server speaking Binance, Bybit and OKX, with faults injected one exchange at a time."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3
import pytest
from handlers import fresh

from cryptoalerts import exchanges
from cryptoalerts.exchanges import fetch
from infra.fakes.exchanges_rest import FakeExchanges
from infra.local.aws_resources import Stack
from infra.local.lambda_runtime import LambdaContext

EVENT = {"time": "2026-06-07T04:40:13Z"}  # EventBridge Scheduler's Input: the scheduled time
MINUTE = "2026-06-07T04:40:00.000Z"


CONTEXT = LambdaContext.for_function("OiSnapshotFunction")


@pytest.fixture
def fake() -> Iterator[FakeExchanges]:
    with FakeExchanges(hang_s=5.0) as server:
        server.seed_calm_market()
        yield server


@pytest.fixture
def snapshot_app(
    stack: Stack, function_env: Callable[[str], dict[str, str]], fake: FakeExchanges, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    function_env("OiSnapshotFunction")
    for name, url in fake.env().items():  # as the local stack does: the exchanges are local fakes
        monkeypatch.setenv(name, url)
    # Two seconds: a timeout fault stays cheap, and a healthy fake still answers on a loaded CI machine
    # (with half a second all three once timed out under load).
    monkeypatch.setattr(exchanges, "REQUEST_TIMEOUT_S", 2.0)
    return fresh("oi_snapshot.app")


def stored_items(stack: Stack) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(stack.refs["OiSnapshotTable"])
    return sorted(table.scan()["Items"], key=lambda i: i["key"])


def emitted_metrics(out: str) -> list[dict[str, Any]]:
    """The EMF documents Powertools printed: one JSON object per line with an `_aws` member."""
    docs = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


def test_snapshot_stores_one_item_per_symbol_and_exchange(snapshot_app: ModuleType, stack: Stack) -> None:
    before = int(time.time())
    result = snapshot_app.handler(EVENT, CONTEXT)
    assert result["time"] == MINUTE and result["stored"] == 9 and result["failed"] == []
    # Binance: premiumIndex once + openInterest per symbol; Bybit and OKX: one bulk request each.
    assert result["requests"] == {"binance": 4, "bybit": 1, "okx": 1}
    items = stored_items(stack)
    assert [i["key"] for i in items] == [f"{s}#{e}" for s in ("BTC", "ETH", "SOL") for e in ("binance", "bybit", "okx")]
    btc = items[0]
    assert btc["minute"] == MINUTE and btc["symbol"] == "BTC" and btc["exchange"] == "binance"
    assert (btc["oi"], btc["mark_price"], btc["oi_usd"]) == (Decimal(80000), Decimal(65000), Decimal(5_200_000_000))
    assert before + 2 * 86400 <= btc["expires_at"] <= int(time.time()) + 2 * 86400
    assert all(i["oi"] == Decimal(1_500_000) for i in items if i["symbol"] == "ETH")  # OKX contracts -> coins


@pytest.mark.parametrize("exchange", ["binance", "bybit", "okx"])
@pytest.mark.parametrize("kind", ["timeout", "500", "429", "418", "malformed", "empty"])
def test_a_failing_exchange_is_counted_and_the_others_are_stored(
    snapshot_app: ModuleType,
    stack: Stack,
    fake: FakeExchanges,
    exchange: str,
    kind: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.set_fault(exchange, kind)
    result = snapshot_app.handler(EVENT, CONTEXT)
    assert result["failed"] == [exchange] and result["stored"] == 6
    assert list(result["reasons"]) == [exchange] and result["reasons"][exchange]  # says why, for the console
    assert {i["exchange"] for i in stored_items(stack)} == {"binance", "bybit", "okx"} - {exchange}
    failed = [m for m in emitted_metrics(capsys.readouterr().out) if "OiSnapshotFailed" in m]
    assert [m["exchange"] for m in failed] == [exchange]


def test_a_symbol_missing_from_one_exchange_leaves_the_rest_stored(
    snapshot_app: ModuleType, stack: Stack, fake: FakeExchanges
) -> None:
    fake.set_fault("okx", "missing", symbol="ETH")
    fake.set_fault("binance", "500", symbol="SOL")  # only SOL's openInterest request fails
    result = snapshot_app.handler(EVENT, CONTEXT)
    assert result["failed"] == [] and result["stored"] == 7
    keys = {i["key"] for i in stored_items(stack)}
    assert "ETH#okx" not in keys and "SOL#binance" not in keys and "ETH#binance" in keys


def test_all_exchanges_failing_stores_nothing_and_does_not_crash(snapshot_app: ModuleType, fake: FakeExchanges) -> None:
    for name, kind in (("binance", "418"), ("bybit", "malformed"), ("okx", "timeout")):
        fake.set_fault(name, kind)
    result = snapshot_app.handler(EVENT, CONTEXT)
    assert result["stored"] == 0 and result["failed"] == ["binance", "bybit", "okx"]
    assert result["time"] == MINUTE  # the evaluation still runs (and works with the gaps)


def test_a_rate_limited_exchange_is_left_alone_in_the_next_minutes(
    snapshot_app: ModuleType, fake: FakeExchanges
) -> None:
    fake.set_fault("binance", "429", retry_after_s=90)
    snapshot_app.handler(EVENT, CONTEXT)
    fake.clear_faults()
    hits = fake.requests["binance"]
    result = snapshot_app.handler({"time": "2026-06-07T04:41:00Z"}, CONTEXT)  # next minute, same container
    assert result["failed"] == ["binance"] and fake.requests["binance"] == hits
    assert result["stored"] == 6  # the other exchanges are unaffected


def test_binance_stops_issuing_requests_once_rate_limited(fake: FakeExchanges) -> None:
    import asyncio

    symbols = [f"C{i}" for i in range(60)]
    for s in symbols:
        fake.set_oi("binance", s, 100, 1)
    fake.set_fault("binance", "429", symbol="C0")  # the first openInterest request is answered 429
    urls = {a.name: fake.url for a in exchanges.ADAPTERS}
    snapshot = asyncio.run(exchanges.fetch_all(symbols, urls, fetch.RateLimitGate()))
    assert "429" in snapshot.failures["binance"]
    # premiumIndex + those already in flight or starting as the 429 arrived; the rest were never sent.
    assert fake.requests["binance"] <= 1 + 2 * exchanges.binance.MAX_IN_FLIGHT < 1 + len(symbols)


def test_the_destination_payload_names_the_minute_for_the_evaluator(snapshot_app: ModuleType) -> None:
    from cryptoalerts.timeutil import event_time, iso_ms, to_epoch_ms

    result = snapshot_app.handler(EVENT, CONTEXT)
    record = {"requestPayload": EVENT, "responsePayload": result}  # Lambda's on-success destination record
    assert iso_ms(to_epoch_ms(event_time(record))) == MINUTE
