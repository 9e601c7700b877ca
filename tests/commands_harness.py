"""Drives CommandsFunction as Lambda would behind its Function URL: Telegram's update wrapped in
the payload-2.0 event the URL produces, the handler called in process with the template's
environment, moto server behind it, the fake exchanges in their own process and the fake
Telegram receiving the replies."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from infra.fakes.exchanges_rest import FakeExchangesProcess
from infra.fakes.telegram import FakeTelegram, Message
from infra.fakes.telegram_updates import SECRET_HEADER
from infra.local import function_url
from infra.local.aws_resources import Stack
from infra.local.lambda_runtime import LambdaContext

TOKEN = "7000000001:fake-token-for-commands"
CHAT_ID = 424242
SECRET = "s3cret-token_for-tests"
_update_ids = itertools.count(900_000_001)


@dataclass
class Harness:
    stack: Stack
    env: dict[str, str]
    telegram: FakeTelegram
    exchanges: FakeExchangesProcess
    responses: list[dict[str, Any]] = field(default_factory=list)

    def update(
        self, text: str | None = "/price BTC", chat_id: int = CHAT_ID, chat_type: str = "private", **message: Any
    ) -> dict[str, Any]:
        """A text message from a user, known to the fake Telegram (so the reply can name it)."""
        message_id = self.telegram.next_message_id(str(chat_id))
        body: dict[str, Any] = {
            "message_id": message_id,
            "date": 1_780_807_260,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Trader"},
            "chat": {"id": chat_id, "type": chat_type},
            **message,
        }
        if text is not None:
            body["text"] = text
        return {"update_id": next(_update_ids), "message": body}

    def post(self, update: Any, secret: str | None = SECRET, raw: bytes | None = None) -> dict[str, Any]:
        """POST the update to the function's URL as Telegram does; the function's response."""
        from commands import app

        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        body = raw if raw is not None else json.dumps(update).encode()
        event = function_url.event("POST", "/", headers, body, source_ip="91.108.6.64")
        response: dict[str, Any] = app.handler(event, LambdaContext.for_function("CommandsFunction", timeout_s=15))
        self.responses.append(response)
        return response

    def ask(self, text: str, **kwargs: Any) -> Message:
        """Send a command; its reply (which must be a reply to it)."""
        update = self.update(text, **kwargs)
        before = len(self.telegram.messages)
        assert self.post(update)["statusCode"] == 200
        replies = self.telegram.messages[before:]
        assert len(replies) == 1, f"{len(replies)} replies to {text!r}"
        assert replies[0].reply_to == update["message"]["message_id"]
        return replies[0]

    def claims(self) -> list[str]:
        items = boto3.client("dynamodb").scan(TableName=self.env["STATE_TABLE"])["Items"]
        return sorted(i["pk"]["S"] for i in items)


@contextlib.contextmanager
def open_harness(
    stack: Stack, function_env: Any, monkeypatch: pytest.MonkeyPatch, exchanges: FakeExchangesProcess
) -> Iterator[Harness]:
    from commands import app

    env = function_env("CommandsFunction")
    with FakeTelegram(token=TOKEN) as telegram:
        overrides = {
            **exchanges.env(),
            "TELEGRAM_API_URL": telegram.api_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": str(CHAT_ID),
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        for name, value in overrides.items():
            monkeypatch.setenv(name, value)
        app.reset()
        try:
            yield Harness(stack, {**env, **overrides}, telegram, exchanges)
        finally:
            app.reset()
            exchanges.clear_faults()
