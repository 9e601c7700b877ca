"""The token never survives into a log record, whatever logger or handler sees it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from dispatcher import redaction

SECRET = "123456:unit-test-secret-token"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    redaction.protect(SECRET)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger = logging.getLogger("some.library.deep.child")  # a logger nobody configured
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)


def test_message_and_arguments_are_masked(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = capture
    logger.debug("Set Bot API URL: %s", f"https://api.telegram.org/bot{SECRET}")
    logger.info(f"HTTP Request: POST https://api.telegram.org/bot{SECRET}/sendMessage")
    text = buffer.getvalue()
    assert SECRET not in text
    assert "https://api.telegram.org/bot***/sendMessage" in text
    assert "Set Bot API URL: https://api.telegram.org/bot***" in text


def test_exception_text_is_masked(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = capture
    try:
        raise RuntimeError(f"The token `{SECRET}` was rejected by the server.")
    except RuntimeError:
        logger.exception("send failed")
    text = buffer.getvalue()
    assert SECRET not in text
    assert "The token `***` was rejected" in text and "Traceback" in text


def test_other_records_are_untouched(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = capture
    logger.info("price %s", 42)
    assert buffer.getvalue() == "price 42\n"


def test_redact_and_quiet_loggers() -> None:
    redaction.protect(SECRET)
    assert redaction.redact(f"a {SECRET} b {SECRET}") == "a *** b ***"
    for name in redaction.QUIET_LOGGERS:
        assert logging.getLogger(name).level >= logging.WARNING
