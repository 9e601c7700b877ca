"""Sends one message with python-telegram-bot and sorts every failure into what the caller does next.

- `RateLimited` (429): retry after `retry_after` seconds;
- `Rejected` (400 bad request / chat not found, 403 bot blocked, chat migrated): retrying cannot help;
- `Unavailable` (5xx, network, timeouts, a refused token): retry later, dead-letter queue in the end.

Error texts pass through `redaction.redact`, so the token cannot leak through an exception.
PTB is asyncio-based and the handler is not: each thread keeps one event loop and one Bot, so warm
invocations reuse the connection (Lambda runs one invocation at a time; tests run several threads).
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from cryptoalerts.telegram_format import PARSE_MODE
from dispatcher.redaction import protect, redact

# Per-request timeouts (seconds). A batch of 10 must fit the function's 30 s even when Telegram is
# slow; a request that times out is retried through the queue rather than waited for.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 3.0
POOL_TIMEOUT_S = 1.0


class SendError(Exception):
    """A send that did not deliver; the message is already redacted."""


class RateLimited(SendError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Telegram rate limit: retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Rejected(SendError):
    """Telegram refused the message for good (bad chat, blocked bot, malformed request)."""


class Unavailable(SendError):
    """Telegram or the network failed; the same request may well succeed later."""


@dataclass(frozen=True)
class Sent:
    message_id: int
    latency_ms: float


class TelegramSender:
    def __init__(self, api_url: str) -> None:
        # PTB appends the token to base_url unless it holds a `{token}` placeholder, giving
        # <api_url>/bot<token>/<method> as the Bot API expects.
        self.base_url = f"{api_url.rstrip('/')}/bot"
        self._local = threading.local()

    def send(self, token: str, chat_id: str, text: str, reply_to: int | None = None) -> Sent:
        """Send `text` (HTML) to `chat_id`, as a reply to message `reply_to` when given (still sent
        if that message is gone: a command's answer matters more than the thread)."""
        protect(token)
        loop, bot = self._bot(token)
        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        started = time.perf_counter()
        try:
            message = loop.run_until_complete(
                bot.send_message(chat_id=chat_id, text=text, parse_mode=PARSE_MODE, reply_parameters=reply)
            )
        except RetryAfter as exc:
            raise RateLimited(_seconds(exc)) from None
        except (BadRequest, Forbidden, ChatMigrated) as exc:
            raise Rejected(_describe(exc)) from None
        except TelegramError as exc:
            raise Unavailable(_describe(exc)) from None
        except Exception as exc:  # anything PTB did not wrap is a transport problem too
            raise Unavailable(_describe(exc)) from None
        return Sent(message_id=message.message_id, latency_ms=(time.perf_counter() - started) * 1000)

    def username(self, token: str) -> str | None:
        """The bot's @username (getMe), None when Telegram cannot say."""
        protect(token)
        loop, bot = self._bot(token)
        try:
            me = loop.run_until_complete(bot.get_me())
        except Exception:  # any failure means "unknown": the caller then accepts any @mention
            return None
        return me.username

    def close(self) -> None:
        """Release this thread's connection (tests; Lambda simply freezes the process)."""
        held = getattr(self._local, "held", None)
        if held is not None:
            loop, bot, _ = held
            loop.run_until_complete(bot.shutdown())
            loop.close()
            self._local.held = None

    def _bot(self, token: str) -> tuple[asyncio.AbstractEventLoop, Bot]:
        held = getattr(self._local, "held", None)
        if held is not None and held[2] == token:
            return held[0], held[1]
        self.close()  # a rotated token: start over
        loop = asyncio.new_event_loop()
        request = HTTPXRequest(
            connection_pool_size=1,
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            write_timeout=WRITE_TIMEOUT_S,
            pool_timeout=POOL_TIMEOUT_S,
        )
        # Bot.initialize() is never called: it costs a getMe round trip and, on a refused token,
        # raises an error whose text contains the token.
        bot = Bot(token, base_url=self.base_url, request=request)
        self._local.held = (loop, bot, token)
        return loop, bot


def _seconds(exc: RetryAfter) -> int:
    with warnings.catch_warnings():  # PTB 22 deprecates the int form; either form is fine here
        warnings.simplefilter("ignore")
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return max(1, int(seconds + 0.999))


def _describe(exc: Exception) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:300]
