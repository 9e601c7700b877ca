"""CommandsFunction: Telegram's webhook behind a Lambda Function URL (architecture.md §2.9).

Per request: the secret token first (401 without one, 403 for a wrong one, a metric, and nothing
else read) -> the update -> its first delivery only (StateTable claim on `update_id`) -> a text
message holding a command for this bot -> from the alert chat or `commands.allowed_chat_ids`
(another chat hears one short refusal a day) -> the answer -> `sendMessage` as a reply to it.
Every authenticated request is answered 200, a failed command too: Telegram redelivers anything
else, and the claim already makes a redelivery silent.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
import httpx
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from commands import webhook
from commands.answer import Context, answer
from commands.market_data import EXCHANGE_DEADLINE_S, REQUEST_TIMEOUT_S, Market
from commands.pipeline_reads import Pipeline
from commands.replies import guide
from commands.updates import Claims, Message, message_of, update_id
from cryptoalerts import config, exchanges
from cryptoalerts.command_parser import COMMANDS, Command, Invalid, parse
from cryptoalerts.metrics import (
    COMMAND_EXCHANGE_FAILURES,
    COMMAND_REPLY_TIME,
    COMMANDS_HANDLED,
    NAMESPACE,
    TELEGRAM_ERRORS,
    WEBHOOK_REJECTED,
)
from cryptoalerts.oi_store import SnapshotStore
from cryptoalerts.telegram_format import escape
from cryptoalerts.thresholds_source import ThresholdsSource
from cryptoalerts.timeutil import to_epoch_ms, utc_now
from cryptoalerts.warm import Warm
from dispatcher.telegram_send import RateLimited, SendError, TelegramSender

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
# httpx is not patched: PTB's requests go through it, and their URL holds the bot token.
tracer = Tracer(patch_modules=("boto3", "botocore"))
warnings.filterwarnings("ignore", message="No application metrics to publish")

# "Now" for claims and replies; tests replace it.
clock: Callable[[], datetime] = utc_now

# The whole answer, all exchanges included, ends within this (Telegram waits longer, a trader not).
COMMAND_DEADLINE_S = EXCHANGE_DEADLINE_S + 2.0
# A wrong secret makes the function re-read the parameter (the operator may just have rotated
# it), at most this often, so a stream of forged requests cannot turn into a stream of SSM reads.
SECRET_REFRESH_EVERY_S = 10.0
# A reply Telegram asks to delay by at most this long is retried once; longer, it is dropped.
MAX_RETRY_AFTER_S = 3


class Runtime:
    """Clients built on the first invocation and kept while the container is warm: one event loop
    and one HTTP client, so warm commands reuse the exchanges' connections."""

    def __init__(self) -> None:
        session = boto3.session.Session()
        ddb = session.client("dynamodb")
        self.claims = Claims(ddb, config.get(config.STATE_TABLE))
        self.thresholds = ThresholdsSource(metrics=metrics)
        self.credentials = webhook.Secrets()
        self.sender = TelegramSender(config.get(config.TELEGRAM_API_URL))
        self.loop = asyncio.new_event_loop()
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        self.client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits, verify=exchanges.tls_context())
        self.market = Market(self.client, {s.name: config.get(s.url_variable) for s in exchanges.MARKETS})
        self.pipeline = Pipeline(
            SnapshotStore(session.resource("dynamodb").Table(config.get(config.OI_TABLE))),
            ddb,
            config.get(config.HISTORY_TABLE),
            session.client("sqs"),
            config.get(config.ALERT_QUEUE_URL),
            config.get(config.ALERT_DEAD_LETTER_QUEUE_URL),
        )
        self._secret_read_at = time.monotonic()
        self._username: str | None = None

    def handle(self, event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        verdict = self._authenticate(event)
        if verdict != "ok":
            _count(WEBHOOK_REJECTED, "reason", verdict)
            logger.warning("webhook request rejected", extra={"reason": f"secret token {verdict}"})
            return webhook.response(webhook.UNAUTHORIZED if verdict == "missing" else webhook.FORBIDDEN)
        if webhook.method(event) != "POST":
            return webhook.response(405, "Telegram POSTs updates")
        update = webhook.body_json(event)
        uid = update_id(update)
        if uid is None:
            logger.warning("authenticated request without a Telegram update; ignored")
            return webhook.response(200)
        now = clock()
        if not self.claims.first_delivery(uid, int(now.timestamp())):
            logger.info("update already handled; redelivery ignored", extra={"update_id": uid})
            return webhook.response(200)
        message = message_of(update)
        command = self._command(message) if message is not None else None
        if message is None or command is None:
            return webhook.response(200)  # an edited message, a sticker, plain text: nothing asked
        if not self._allowed(message.chat_id):
            self._refuse(message, now)
            return webhook.response(200)
        started = time.perf_counter()
        text = self._answer(command, message, now, context)
        if self._send(message, text):
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(name=COMMAND_REPLY_TIME, unit=MetricUnit.Milliseconds, value=elapsed_ms)
        return webhook.response(200)

    # ------------------------------------------------------------------ steps
    def _authenticate(self, event: dict[str, Any]) -> webhook.Verdict:
        verdict = webhook.authenticate(event, self.credentials.webhook_secret())
        if verdict == "wrong" and time.monotonic() - self._secret_read_at > SECRET_REFRESH_EVERY_S:
            self._secret_read_at = time.monotonic()
            verdict = webhook.authenticate(event, self.credentials.webhook_secret(refresh=True))
        return verdict

    def _command(self, message: Message) -> Command | Invalid | None:
        words = message.text.split(maxsplit=1)
        mentions = bool(words) and "@" in words[0]  # `/price@SomeBot`: only if this bot is meant
        parsed = parse(message.text, self._bot_username() if mentions else None)
        # In a group `/foo` may be another bot's command: an unknown one is answered only where it
        # is plainly meant for this bot (a private chat, or `/foo@ThisBot`).
        if isinstance(parsed, Invalid) and parsed.name not in COMMANDS and not (message.private or mentions):
            return None
        return parsed

    def _bot_username(self) -> str | None:
        if self._username is None:
            self._username = self.sender.username(self.credentials.token())
        return self._username

    def _allowed(self, chat_id: int) -> bool:
        try:
            if str(chat_id) == self.credentials.chat_id().strip():
                return True
        except Exception as exc:  # no alert chat configured: only the allowed list counts
            logger.warning("alert chat id unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
        return chat_id in self.thresholds.get().allowed_chat_ids

    def _refuse(self, message: Message, now: datetime) -> None:
        logger.info("command from a chat not allowed", extra={"chat_id": message.chat_id})
        if self.claims.may_refuse(message.chat_id, int(now.timestamp())):
            self._send(message, guide.refusal(message.chat_id))

    def _answer(self, command: Command | Invalid, message: Message, now: datetime, context: Any) -> str:
        name = command.name if isinstance(command, Command) else "invalid"
        _count(COMMANDS_HANDLED, "command", name)
        if isinstance(command, Invalid):
            return escape(command.answer)
        ctx = Context(self.market, self.pipeline, self.thresholds.get(), to_epoch_ms(now))
        try:
            text = self.loop.run_until_complete(asyncio.wait_for(answer(command, ctx), COMMAND_DEADLINE_S))
        except Exception:
            reference = getattr(context, "aws_request_id", "") or f"update {message.update_id}"
            logger.exception("command failed", extra={"command": name, "symbol": command.symbol})
            text = guide.failed(name, reference)
        for exchange, reason, error in self.market.drain_failures():
            if reason != "not listed":
                _count(COMMAND_EXCHANGE_FAILURES, "exchange", exchange)
                logger.warning("exchange failed during a command", extra={"exchange": exchange, "error": error})
        return text

    def _send(self, message: Message, text: str) -> bool:
        token = self.credentials.token()
        for attempt in range(2):
            try:
                self.sender.send(token, str(message.chat_id), text, reply_to=message.message_id)
                return True
            except RateLimited as exc:
                if attempt == 0 and exc.retry_after_s <= MAX_RETRY_AFTER_S:
                    time.sleep(exc.retry_after_s)
                    continue
                _count(TELEGRAM_ERRORS, "reason", "rate_limited")
                logger.warning("reply dropped: Telegram rate limit", extra={"retry_after_s": exc.retry_after_s})
            except SendError as exc:
                _count(TELEGRAM_ERRORS, "reason", type(exc).__name__.lower())
                logger.warning("reply not delivered", extra={"error": str(exc)})
            return False
        return False

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.sender.close()


def _count(name: str, dimension: str, value: str) -> None:
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name=dimension, value=value)


_warm = Warm(Runtime)
runtime = _warm.get
reset = _warm.reset  # tests: a fresh emulator, fake exchanges or fake Telegram


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return runtime().handle(event, context)
