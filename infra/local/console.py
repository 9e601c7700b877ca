"""Commands typed into the console of `make run` / `make demo`, sent to the bot as a user would.

Without a real bot the local stack's fake Telegram stands in for the chat: each line typed becomes
a message from the user in the alert chat, delivered to CommandsFunction through the webhook like
any update, and the reply is printed like the alerts are.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import IO

from infra.fakes.telegram import FakeTelegram

HINT = "type a command and Enter, e.g. /price BTC, /oi ETH, /cvd SOL 4h, /help: the reply is printed like the alerts"


def read_commands(stream: IO[str], say: Callable[[str], object]) -> None:
    """Each non-empty line of `stream` said to the bot, until the stream ends."""
    for line in stream:
        text = line.strip()
        if text:
            say(text)


def start(fake: FakeTelegram, chat_id: str, stream: IO[str] | None = None) -> threading.Thread:
    """Read `stream` (the console) in the background; the thread ends with it."""

    def say(text: str) -> object:
        return fake.updates.user_says(text, chat_id=int(chat_id))

    thread = threading.Thread(target=read_commands, args=(stream or sys.stdin, say), name="console", daemon=True)
    thread.start()
    return thread
