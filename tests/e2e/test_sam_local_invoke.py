"""Every function invoked the way `sam local invoke -e events/<Function>.json` does it: handler,
CodeUri and environment read from template.yaml, a fresh process per function, moto server behind
(the local fakes stand in for the exchanges and Telegram)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.fakes.exchanges_rest import FakeExchanges
from infra.fakes.telegram import FakeTelegram
from infra.local import template as tpl
from infra.local.aws_resources import Stack
from infra.local.lambda_runtime import FunctionProcess
from infra.local.moto_server import MotoServer

EVENTS = tpl.REPO_ROOT / "events"
FUNCTIONS = sorted(tpl.resources(tpl.default(), "AWS::Serverless::Function"))


def event(logical_id: str) -> Any:
    return json.loads((EVENTS / f"{logical_id}.json").read_text(encoding="utf-8"))


@pytest.fixture
def exchanges() -> Iterator[FakeExchanges]:
    with FakeExchanges() as fake:
        fake.seed_calm_market()
        yield fake


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def invoke(stack: Stack, aws_env: MotoServer) -> Iterator[Any]:
    started: list[FunctionProcess] = []

    def run(logical_id: str, overrides: dict[str, str], payload: Any) -> Any:
        function = FunctionProcess(stack, logical_id, aws_env.env(), overrides).start()
        started.append(function)
        return function.invoke(payload)

    yield run
    for function in started:
        function.stop()


def test_every_function_has_an_event() -> None:
    assert FUNCTIONS == ["CommandsFunction", "DispatcherFunction", "OiEvaluateFunction", "OiSnapshotFunction"]
    for logical_id in FUNCTIONS:
        assert (EVENTS / f"{logical_id}.json").is_file(), logical_id


def test_oi_snapshot_event(invoke: Any, stack: Stack, exchanges: FakeExchanges) -> None:
    result = invoke("OiSnapshotFunction", exchanges.env(), event("OiSnapshotFunction"))
    assert result["time"] == "2026-06-07T04:40:00.000Z"
    assert result["failed"] == []
    items = boto3.resource("dynamodb").Table(stack.refs["OiSnapshotTable"]).scan()["Items"]
    assert {(i["symbol"], i["exchange"]) for i in items} == {
        (s, e) for s in ("BTC", "ETH", "SOL") for e in ("binance", "bybit", "okx")
    }


def test_oi_evaluate_event(invoke: Any) -> None:
    # The destination record names minute 04:40; with no history stored nothing can fire.
    result = invoke("OiEvaluateFunction", {}, event("OiEvaluateFunction"))
    assert result["time"] == "2026-06-07T04:40:00.000Z"
    assert result["evaluated"] == 3
    assert result["alerts"] == []


def test_dispatcher_event(invoke: Any, telegram: FakeTelegram, stack: Stack) -> None:
    overrides = {"TELEGRAM_API_URL": telegram.api_url, "TELEGRAM_BOT_TOKEN": "123:fake", "TELEGRAM_CHAT_ID": "42"}
    result = invoke("DispatcherFunction", overrides, event("DispatcherFunction"))
    assert result == {"batchItemFailures": []}
    [message] = telegram.messages
    assert message.chat_id == "42"
    assert message.rendered.splitlines()[0] == "🚨 BTC LIQUIDATION CASCADE"


def test_commands_event(invoke: Any, telegram: FakeTelegram, exchanges: FakeExchanges) -> None:
    """The Function URL event of a `/price BTC` update from Telegram, secret header included."""
    payload = event("CommandsFunction")
    secret = payload["headers"]["x-telegram-bot-api-secret-token"]
    update = json.loads(payload["body"])
    chat = str(update["message"]["chat"]["id"])
    overrides = {
        **exchanges.env(),
        "TELEGRAM_API_URL": telegram.api_url,
        "TELEGRAM_BOT_TOKEN": "123:fake",
        "TELEGRAM_CHAT_ID": chat,
        "TELEGRAM_WEBHOOK_SECRET": secret,
    }
    result = invoke("CommandsFunction", overrides, payload)
    assert result["statusCode"] == 200
    [reply] = telegram.messages
    assert reply.chat_id == chat and reply.parse_mode == "HTML"
    assert reply.reply_to == update["message"]["message_id"]
    assert reply.rendered.splitlines()[0].startswith("💵 BTC perpetuals (USDT)")
    assert "Spread" in reply.rendered
