"""CommandsFunction end to end in process: Function URL events in, replies at the fake Telegram,
the fake exchanges in their own process speaking the real wire formats, moto server behind.

Covers architecture.md §2.9 and the command rows of §3: the secret token (401/403, nothing
processed), at most one reply per update_id, only allowed chats, each command's reply, an
exchange failing in every way a real one does (named in the reply, the others shown), and the
updates that carry no command."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from commands_harness import CHAT_ID, SECRET, TOKEN, Harness, open_harness

from cryptoalerts.exchanges.fetch import OiReading
from cryptoalerts.oi_store import SnapshotStore
from cryptoalerts.timeutil import MINUTE_MS, to_epoch_ms
from infra.fakes.exchanges_rest import CALM_MARKET, FakeExchangesProcess
from infra.local.aws_resources import Stack


@pytest.fixture(scope="module")
def exchanges() -> Iterator[FakeExchangesProcess]:
    with FakeExchangesProcess() as server:
        yield server


@pytest.fixture
def h(
    stack: Stack, function_env: Any, monkeypatch: pytest.MonkeyPatch, exchanges: FakeExchangesProcess
) -> Iterator[Harness]:
    with open_harness(stack, function_env, monkeypatch, exchanges) as harness:
        yield harness


def lines(text: str) -> list[str]:
    return text.splitlines()


# ---------------------------------------------------------------- each command
def test_price(h: Harness) -> None:
    reply = h.ask("/price btc")
    assert reply.parse_mode == "HTML" and reply.chat_id == str(CHAT_ID)
    seen = reply.rendered
    assert lines(seen)[0].startswith("💵 BTC perpetuals (USDT) · ") and lines(seen)[0].endswith(" UTC")
    for exchange in ("Binance", "Bybit", "OKX"):
        assert f"{exchange} $" in seen
    assert seen.count("Funding +") + seen.count("Funding -") == 3 and "a year) · next in" in seen
    assert seen.count("Open interest 80K BTC ($5.2B)") == 3  # the calm market the fake serves
    assert "Spread " in seen and " bp: " in seen


@pytest.mark.parametrize(("text", "bar"), [("/volume BTC", "15m"), ("/volume ETH 1h", "1h"), ("/volume sol 1d", "1d")])
def test_volume(h: Harness, text: str, bar: str) -> None:
    seen = h.ask(text).rendered
    assert f"volume · {bar} bars" in lines(seen)[0]
    rows = {line.split()[0] for line in lines(seen) if line.split()}
    assert {"Binance", "Bybit", "OKX", "All"} <= rows
    assert "x " in seen or "x\n" in seen  # relative volume figures
    assert "Taker buys: Bybit publishes none." in seen


def test_open_interest_from_the_exchanges_history_when_the_pipeline_stored_nothing(h: Harness) -> None:
    seen = h.ask("/oi ETH").rendered
    assert lines(seen)[0].startswith("📈 ETH open interest")
    assert "15m    1h    4h   24h" in seen or "15m   1h   4h  24h" in seen
    assert "From the open-interest history of Binance, Bybit, OKX." in seen
    assert "🎯 Alert at +18% in 15m on 2 of 3 exchanges" in seen  # ETH's own threshold


def test_open_interest_from_the_pipeline_snapshots_where_it_stored_them(h: Harness) -> None:
    now = to_epoch_ms(datetime.now(tz=UTC))
    newest = now - now % MINUTE_MS - MINUTE_MS
    store = SnapshotStore(boto3.resource("dynamodb").Table(h.env["OI_TABLE"]))

    def reading(exchange: str, coins: str) -> OiReading:
        return OiReading(exchange, "BTC", "BTCUSDT", Decimal(coins), Decimal(65000), Decimal(coins) * 65000)

    store.put(newest - 15 * MINUTE_MS, [reading("binance", "100"), reading("bybit", "200"), reading("okx", "100")], now)
    store.put(newest, [reading("binance", "125"), reading("bybit", "240"), reading("okx", "101")], now)
    seen = h.ask("/oi BTC").rendered
    moves = [line.split() for line in lines(seen)]
    assert next(m for m in moves if m[:1] == ["Binance"] and m[1].startswith("+"))[:2] == ["Binance", "+25.0"]
    assert next(m for m in moves if m[:1] == ["Bybit"] and m[1].startswith("+"))[1] == "+20.0"
    assert "met now (2 exchanges at or above)" in seen  # BTC alerts at +15 % on 2 of 3
    assert "the pipeline's minute snapshots" in seen


def test_open_interest_history_shows_a_level_the_exchange_served_moments_ago(h: Harness) -> None:
    """The fake's history endpoints step with the open interest its snapshot endpoints serve, so
    a scripted surge (make demo's) reads the same over 15 m and 1 h as the pipeline stored it."""
    calm = float(CALM_MARKET["ETH"][0])
    h.exchanges.set_oi("binance", "ETH", calm * 1.3, 3_200)
    try:
        seen = h.ask("/oi ETH").rendered
    finally:
        h.exchanges.set_oi("binance", "ETH", calm, 3_200)
    moves = {m[0]: m[1:] for m in (line.split() for line in lines(seen)) if m and m[1][:1] in "+-"}
    assert all(29.0 < float(move) < 32.0 for move in moves["Binance"]), seen  # 15m 1h 4h 24h
    assert all(abs(float(move)) < 2.0 for move in moves["Bybit"]), seen


def test_cvd(h: Harness) -> None:
    seen = h.ask("/cvd BTC 4h").rendered
    assert "CVD · 4h bars · last 24 to " in lines(seen)[0]
    assert {"Binance", "OKX", "All", "Buys", "Price"} <= {line.split()[0] for line in lines(seen) if line.split()}
    assert "Bybit: publishes no taker volume, not counted." in seen


def test_profile(h: Harness) -> None:
    seen = h.ask("/profile SOL").rendered
    assert lines(seen)[0].startswith("📐 SOL volume profile")
    assert "Today (UTC): POC $" in seen and "Yesterday: POC $" in seen and "VWAP $" in seen
    assert "POC" in seen and "◀ price" in seen


def test_start_help_alerts_and_status(h: Harness) -> None:
    assert "/price BTC" in h.ask("/start").rendered
    assert "/profile SOL" in h.ask("/help").rendered
    assert "No alerts in the last 7 days." in h.ask("/alerts").rendered
    status = h.ask("/status").rendered
    assert "Alert queue: 0 waiting, 0 in flight · dead letters: 0" in status
    assert "Binance: ⚠️ none stored in the last 15 minutes" in status  # the pipeline stored nothing here


def test_an_unknown_symbol_gets_a_reply_saying_how_to_write_one(h: Harness) -> None:
    seen = h.ask("/price NOSUCHCOIN").rendered
    assert seen.startswith("No USDT perpetual for NOSUCHCOIN on Binance, Bybit or OKX.")
    assert "e.g. /price BTC" in seen


def test_a_malformed_command_gets_a_short_answer(h: Harness) -> None:
    assert h.ask("/price " + "x" * 10_240).rendered.startswith("“xxxxxxxx")
    assert "is not a bar size" in h.ask("/volume BTC 7m").rendered


def test_requests_per_command_per_exchange(h: Harness) -> None:
    h.ask("/price BTC")  # the contract lists are read once per container
    expected = {
        "/price BTC": {"binance": 3, "bybit": 1, "okx": 4},
        "/volume BTC": {"binance": 1, "bybit": 1, "okx": 4},  # a week of 15m bars: 3 OKX candle pages
        "/cvd BTC": {"binance": 1, "bybit": 1, "okx": 2},
        "/profile BTC": {"binance": 1, "bybit": 1, "okx": 2},
        "/oi ETH": {"binance": 4, "bybit": 3, "okx": 3},  # live + 5m and 1h history each
    }
    for text, counts in expected.items():
        h.exchanges.reset_counts()
        h.ask(text)
        assert h.exchanges.requests() == counts, text


# ---------------------------------------------------------------- an exchange failing
@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        ("500", "OKX: unavailable (error 500)"),
        ("429", "OKX: unavailable (rate limited)"),
        ("malformed", "OKX: unavailable (bad answer)"),
    ],
)
@pytest.mark.parametrize("command", ["/price BTC", "/volume BTC", "/oi BTC", "/cvd BTC", "/profile BTC"])
def test_a_failing_exchange_is_named_and_the_others_shown(h: Harness, kind: str, shown: str, command: str) -> None:
    h.ask("/price BTC")  # contract lists cached before the fault
    h.exchanges.set_fault("okx", kind)
    seen = h.ask(command).rendered
    assert shown in seen
    assert "Binance" in seen and "Bybit" in seen
    assert "Traceback" not in seen and "http" not in seen and TOKEN not in seen


@pytest.mark.parametrize("command", ["/price BTC", "/volume BTC", "/oi BTC", "/cvd BTC", "/profile BTC"])
def test_an_exchange_that_does_not_answer_is_named_within_the_request_timeout(h: Harness, command: str) -> None:
    from commands.market_data import REQUEST_TIMEOUT_S

    h.ask("/price BTC")
    h.exchanges.set_fault("okx", "timeout")  # the fake holds the request for 30 s
    started = time.monotonic()
    seen = h.ask(command).rendered
    assert time.monotonic() - started < REQUEST_TIMEOUT_S + 1.5
    assert "OKX: unavailable (timed out)" in seen
    assert "Binance" in seen and "Bybit" in seen


# ---------------------------------------------------------------- who may ask, and how often
def test_a_missing_or_wrong_secret_is_refused_and_nothing_happens(
    h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    update = h.update("/price BTC")
    assert h.post(update, secret=None)["statusCode"] == 401
    assert h.post(update, secret="not-the-secret")["statusCode"] == 403
    assert h.post(update, secret=SECRET[:-1])["statusCode"] == 403
    assert h.telegram.messages == [] and h.claims() == []
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    reasons = sorted(m["reason"] for m in metrics if "WebhookRejected" in m)
    assert reasons == ["missing", "wrong", "wrong"]
    assert h.post(update)["statusCode"] == 200 and len(h.telegram.messages) == 1  # the same update, signed


def test_the_same_update_twice_gets_one_reply(h: Harness) -> None:
    update = h.update("/status")
    assert h.post(update)["statusCode"] == 200
    assert h.post(update)["statusCode"] == 200  # Telegram redelivers: acknowledged, not answered
    assert len(h.telegram.messages) == 1
    assert h.claims() == [f"update#{update['update_id']}"]


def test_a_chat_not_allowed_hears_one_short_refusal_and_nothing_of_the_market(h: Harness) -> None:
    stranger = 555_000_111
    for _ in range(3):
        assert h.post(h.update("/price BTC", chat_id=stranger))["statusCode"] == 200
    [refusal] = h.telegram.messages
    assert "only the chats its operator allowed" in refusal.rendered and str(stranger) in refusal.rendered
    assert "$" not in refusal.rendered


def test_a_chat_in_allowed_chat_ids_may_ask(h: Harness) -> None:
    boto3.client("ssm").put_parameter(
        Name=h.env["THRESHOLDS_PARAMETER"],
        Value=json.dumps({"commands": {"allowed_chat_ids": [-1001234567890]}}),
        Type="String",
        Overwrite=True,
    )
    reply = h.ask("/price@fake_alerts_bot ETH", chat_id=-1001234567890, chat_type="supergroup")
    assert lines(reply.rendered)[0].startswith("💵 ETH perpetuals")


@pytest.mark.parametrize(
    "update_of",
    [
        lambda h: {"update_id": 900_100_001, "edited_message": h.update("/price BTC")["message"]},
        lambda h: h.update(None, sticker={"file_id": "CAACAgIAAxkBAAE", "emoji": "🚀", "width": 512, "height": 512}),
        lambda h: {
            "update_id": 900_100_002,
            "callback_query": {
                "id": "4382bfdwdsb323b2d9",
                "data": "price:BTC",
                "from": {"id": CHAT_ID, "is_bot": False},
            },
        },
        lambda h: h.update(""),
        lambda h: h.update("just chatting, no command"),
        lambda h: h.update("/foo", chat_type="group"),  # perhaps another bot's command
        lambda h: h.update("/price@SomeOtherBot BTC", chat_type="group"),
        lambda h: {"update_id": 900_100_003, "my_chat_member": {"chat": {"id": CHAT_ID}}},
    ],
    ids=["edited", "sticker", "callback", "empty", "plain-text", "other-bot-command", "other-bot-mention", "member"],
)
def test_updates_without_a_command_for_this_bot_are_acknowledged_silently(h: Harness, update_of: Any) -> None:
    assert h.post(update_of(h))["statusCode"] == 200
    assert h.telegram.messages == []


def test_bodies_that_are_not_updates_are_acknowledged(h: Harness) -> None:
    assert h.post(None, raw=b"not json")["statusCode"] == 200
    assert h.post(None, raw=b'{"update_id": "x"}')["statusCode"] == 200
    assert h.post(None, raw=b"[1, 2]")["statusCode"] == 200
    assert h.telegram.messages == []


def test_an_unknown_command_in_a_private_chat_gets_a_pointer_to_help(h: Harness) -> None:
    assert h.ask("/foo").rendered == "“/foo” is not a command I know. /help lists them."


def test_the_token_never_reaches_a_reply_or_the_output(h: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    h.exchanges.set_fault("binance", "500")
    h.ask("/price BTC")
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    assert all(TOKEN not in m.text for m in h.telegram.messages)


def test_a_rotated_secret_is_picked_up_without_a_deploy(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from commands import app

    ssm = boto3.client("ssm")
    name = h.env["TELEGRAM_WEBHOOK_SECRET_PARAMETER"]
    ssm.put_parameter(Name=name, Value="first-secret", Type="SecureString")
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")  # as on AWS: from the SecureString
    monkeypatch.setattr(app, "SECRET_REFRESH_EVERY_S", 0.0)
    assert h.post(h.update("/help"), secret="first-secret")["statusCode"] == 200
    ssm.put_parameter(Name=name, Value="second-secret", Type="SecureString", Overwrite=True)
    assert h.post(h.update("/help"), secret="second-secret")["statusCode"] == 200
    assert h.post(h.update("/help"), secret="first-secret")["statusCode"] == 403
    assert len(h.telegram.messages) == 2
