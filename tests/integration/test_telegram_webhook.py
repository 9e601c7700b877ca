"""Telegram's incoming side, over real HTTP: the fake delivers updates as the Bot API does (webhook
with its secret, retries, getWebhookInfo; getUpdates with offsets, 409 while a webhook is set),
`crypto-alerts telegram webhook` sets, shows and deletes it, and the local stack's getUpdates
poller hands updates to a Function URL exactly as Telegram would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import httpx
import pytest

from infra.cli.main import main
from infra.fakes.telegram import FakeTelegram
from infra.fakes.telegram_updates import SECRET_HEADER
from infra.local.aws_resources import Stack
from infra.local.function_url import FunctionUrl
from infra.local.updates_poller import UpdatesPoller

TOKEN = "123456:AAH-webhook-test-token"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as fake:
        yield fake


def call(fake: FakeTelegram, method: str, **params: Any) -> httpx.Response:
    return httpx.post(f"{fake.api_url}/bot{TOKEN}/{method}", json=params, timeout=60)


class Webhook:
    """A local endpoint that records what Telegram POSTs and answers with `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.append((dict(self.headers.items()), json.loads(body)))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def test_set_webhook_refuses_what_telegram_refuses(telegram: FakeTelegram) -> None:
    refused = {
        "http://example.com/hook": "An HTTPS URL must be provided",
        "https://example.com:9000/hook": "only on ports 80, 88, 443 or 8443",
    }
    for url, reason in refused.items():
        answer = call(telegram, "setWebhook", url=url)
        assert answer.status_code == 400 and reason in answer.json()["description"]
    bad_secret = call(telegram, "setWebhook", url="https://example.com/hook", secret_token="no spaces!")
    assert bad_secret.json()["description"] == "Bad Request: secret token contains unallowed characters"
    assert call(telegram, "setWebhook", url="https://example.com:8443/hook", secret_token="a-Z_9").json()["ok"]


def test_updates_reach_the_webhook_with_the_secret_in_order(telegram: FakeTelegram, webhook: Webhook) -> None:
    assert call(telegram, "setWebhook", url=webhook.url, secret_token="s3cret", allowed_updates=["message"]).json()[
        "ok"
    ]
    for text in ("/price BTC", "/oi ETH"):
        assert httpx.post(f"{telegram.api_url}/_control/update", json={"text": text, "chat_id": 7}).json()["ok"]
    telegram.updates.push({"edited_message": {"message_id": 1, "chat": {"id": 7}, "text": "/x"}})  # not allowed
    assert telegram.updates.wait_delivered()
    assert [body["message"]["text"] for _, body in webhook.received] == ["/price BTC", "/oi ETH"]
    headers, first = webhook.received[0]
    assert headers[SECRET_HEADER] == "s3cret"
    assert first["message"]["chat"] == {"id": 7, "type": "private", "first_name": "You"}
    assert first["message"]["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    assert webhook.received[1][1]["update_id"] == first["update_id"] + 1


def test_a_failing_webhook_is_retried_and_reported(telegram: FakeTelegram, webhook: Webhook) -> None:
    webhook.status = 403
    call(telegram, "setWebhook", url=webhook.url, secret_token="s3cret")
    telegram.updates.user_says("/help")
    assert telegram.updates.wait_delivered()
    assert [d.status for d in telegram.updates.deliveries] == [403] * 4  # the first try and 3 retries
    info = call(telegram, "getWebhookInfo").json()["result"]
    assert info["url"] == webhook.url and info["pending_update_count"] == 0
    assert info["last_error_message"] == "Wrong response from the webhook: 403 Forbidden"


def test_get_updates_is_refused_while_a_webhook_is_set_and_confirms_by_offset(
    telegram: FakeTelegram, webhook: Webhook
) -> None:
    call(telegram, "setWebhook", url=webhook.url)
    conflict = call(telegram, "getUpdates")
    assert conflict.status_code == 409 and conflict.json()["description"].startswith("Conflict: can't use getUpdates")
    assert call(telegram, "deleteWebhook").json()["description"] == "Webhook was deleted"
    first = telegram.updates.user_says("/price BTC")
    second = telegram.updates.user_says("/cvd BTC")
    got = call(telegram, "getUpdates").json()["result"]
    assert [u["update_id"] for u in got] == [first["update_id"], second["update_id"]]
    after = call(telegram, "getUpdates", offset=second["update_id"]).json()["result"]
    assert [u["update_id"] for u in after] == [second["update_id"]]  # the first is confirmed
    assert call(telegram, "getUpdates", offset=second["update_id"] + 1, timeout=0).json()["result"] == []


def test_a_reply_must_name_a_message_of_the_chat(telegram: FakeTelegram) -> None:
    update = telegram.updates.user_says("/price BTC", chat_id=9)
    mid = update["message"]["message_id"]
    ok = call(telegram, "sendMessage", chat_id=9, text="x", reply_parameters={"message_id": mid})
    assert ok.status_code == 200 and telegram.messages[-1].reply_to == mid
    gone = call(telegram, "sendMessage", chat_id=9, text="x", reply_parameters={"message_id": 999})
    assert gone.json()["description"] == "Bad Request: message to be replied not found"
    tolerant = {"message_id": 999, "allow_sending_without_reply": True}
    assert call(telegram, "sendMessage", chat_id=9, text="x", reply_parameters=tolerant).status_code == 200


def test_the_command_menu_is_validated(telegram: FakeTelegram) -> None:
    assert call(telegram, "setMyCommands", commands=[{"command": "Price", "description": "x"}]).status_code == 400
    assert call(telegram, "setMyCommands", commands=[{"command": "price", "description": ""}]).status_code == 400
    menu = [{"command": "price", "description": "Price of a symbol"}]
    assert call(telegram, "setMyCommands", commands=menu).json()["ok"]
    assert call(telegram, "getMyCommands").json()["result"] == menu


# ---------------------------------------------------------------- the operator's command
@pytest.fixture
def operator(stack: Stack, monkeypatch: pytest.MonkeyPatch, telegram: FakeTelegram) -> FakeTelegram:
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("TELEGRAM_API_URL", telegram.api_url)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    boto3.client("ssm").put_parameter(Name="/crypto-alerts/local/telegram/bot-token", Value=TOKEN, Type="SecureString")
    return telegram


def test_webhook_command_stores_a_new_secret_then_points_telegram_at_the_url(
    operator: FakeTelegram, webhook: Webhook, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["telegram", "webhook", "--url", webhook.url]) == 0
    stored = boto3.client("ssm").get_parameter(Name="/crypto-alerts/local/telegram/webhook-secret", WithDecryption=True)
    assert stored["Parameter"]["Type"] == "SecureString"
    secret = stored["Parameter"]["Value"]
    assert len(secret) >= 32
    hook = operator.updates.webhook
    assert hook is not None and (hook.url, hook.secret, hook.allowed_updates) == (webhook.url, secret, ["message"])
    assert [c["command"] for c in operator.updates.commands] == [
        "price", "volume", "oi", "cvd", "profile", "alerts", "status", "help"
    ]  # fmt: skip
    out = capsys.readouterr().out
    assert f"webhook set to {webhook.url}" in out and "pending updates: 0" in out
    assert secret not in out and TOKEN not in out

    assert main(["telegram", "webhook", "--url", webhook.url]) == 0  # run again: a new secret
    rotated = boto3.client("ssm").get_parameter(
        Name="/crypto-alerts/local/telegram/webhook-secret", WithDecryption=True
    )
    assert rotated["Parameter"]["Value"] not in (secret, "")
    assert operator.updates.webhook is not None and operator.updates.webhook.secret == rotated["Parameter"]["Value"]


def test_webhook_info_and_delete(operator: FakeTelegram, webhook: Webhook, capsys: pytest.CaptureFixture[str]) -> None:
    webhook.status = 500
    assert main(["telegram", "webhook", "--url", webhook.url]) == 0
    operator.updates.user_says("/help")
    assert operator.updates.wait_delivered()
    capsys.readouterr()
    assert main(["telegram", "webhook", "--info"]) == 0
    info = capsys.readouterr().out
    assert f"url: {webhook.url}" in info and "last error:" in info and "500 Internal Server Error" in info
    assert main(["telegram", "webhook", "--delete"]) == 0
    assert operator.updates.webhook is None
    assert main(["telegram", "webhook", "--info"]) == 0
    assert "no webhook set" in capsys.readouterr().out


def test_webhook_without_a_url_or_stack_says_where_to_give_one(
    operator: FakeTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["telegram", "webhook"]) == 1
    assert "give the URL with --url" in capsys.readouterr().err


# ---------------------------------------------------------------- the local stack's poller
def test_the_poller_hands_updates_to_the_function_url_as_telegram_would(telegram: FakeTelegram) -> None:
    seen: list[dict[str, Any]] = []
    url = FunctionUrl(lambda event: seen.append(event) or {"statusCode": 200, "body": ""}).start()
    try:
        poller = UpdatesPoller(telegram.api_url, TOKEN, url.url, "local-secret")
        first = telegram.updates.user_says("/price BTC")
        telegram.updates.user_says("/oi BTC")
        with httpx.Client() as client:
            assert poller.poll_once(client) == 2
            assert poller.poll_once(client) == 0  # the offset confirmed both
    finally:
        url.stop()
    assert [json.loads(e["body"])["message"]["text"] for e in seen] == ["/price BTC", "/oi BTC"]
    event = seen[0]
    assert event["headers"]["x-telegram-bot-api-secret-token"] == "local-secret"
    assert event["requestContext"]["http"]["method"] == "POST" and event["version"] == "2.0"
    assert json.loads(event["body"])["update_id"] == first["update_id"]


def test_the_poller_leaves_a_deployed_webhook_alone(telegram: FakeTelegram) -> None:
    call(telegram, "setWebhook", url="https://abc.lambda-url.us-east-1.on.aws/")
    poller = UpdatesPoller(telegram.api_url, TOKEN, "http://127.0.0.1:9/", "s")
    poller.run()  # returns at once instead of polling into a 409
    assert poller.blocked_by == "https://abc.lambda-url.us-east-1.on.aws/"
    assert call(telegram, "getWebhookInfo").json()["result"]["url"]  # still set
