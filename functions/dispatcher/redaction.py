"""Keeps the bot token out of every log line, exception text and metric (architecture.md §2.2).

The token is part of every Bot API URL, and both httpx (INFO: "HTTP Request: POST <url>") and
python-telegram-bot (DEBUG: "Set Bot API URL: <url>") log that URL. Two layers:

- the chatty HTTP loggers are raised to WARNING, so they say nothing in normal operation; among
  them botocore.parsers, whose DEBUG "Response body" would print the decrypted SSM parameter
  before its value is known here (so `quiet()` runs before the token is first fetched);
- a log-record factory rewrites any record whose message, arguments or exception text contain a
  protected secret, before any handler or filter sees it. A factory rather than a
  filter, because filters attach to one logger or handler and miss records from child loggers
  (httpcore.http11, telegram._bot) or handlers added later (a test's capture, a debugging session).
  (`extra=` fields are set after the factory runs; the dispatcher never puts the token in one.)
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

MASK = "***"
QUIET_LOGGERS = ("httpx", "httpcore", "telegram", "hpack", "botocore.parsers")

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def protect(secret: str) -> None:
    """Never let `secret` reach a log record from now on (idempotent)."""
    global _installed
    if not secret:
        return
    with _lock:
        _secrets.add(secret)
        if not _installed:
            quiet()
            _install()
            _installed = True


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def quiet() -> None:
    """Raise the loggers that print URLs or response bodies to WARNING."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET (0) included
            logger.setLevel(logging.WARNING)


def _install() -> None:
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(factory)


def _scrub(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is logging's problem, not ours; leave it
        message = str(record.msg)
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        clean_text = redact(text)
        if clean_text != text:
            # Formatters format exc_info themselves; hand them the cleaned text instead.
            record.msg = f"{record.msg}\n{clean_text.rstrip()}"
            record.exc_info, record.exc_text = None, None
