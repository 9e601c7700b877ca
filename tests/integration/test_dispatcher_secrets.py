"""The bot token comes from an SSM SecureString and never shows up in logs, errors or metrics."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from dispatcher_harness import CHAT_ID, TOKEN, Harness, cascade, open_harness

from infra.fakes.telegram import Fault


@pytest.fixture
def h(stack: Any, function_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with open_harness(stack, function_env, monkeypatch) as harness:
        # As on AWS: no stand-in variables, the token from the SecureString parameter.
        monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
        monkeypatch.delenv("TELEGRAM_CHAT_ID")
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name=harness.env["TELEGRAM_TOKEN_PARAMETER"], Value=TOKEN, Type="SecureString")
        ssm.put_parameter(Name=harness.env["TELEGRAM_CHAT_ID_PARAMETER"], Value=CHAT_ID, Type="String")
        yield harness


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """Every log record of the process at DEBUG, through a handler added after the code was loaded."""
    from dispatcher import app

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    powertools = logging.getLogger(app.logger.name)  # Powertools loggers do not propagate to root
    saved = root.level, app.logger.log_level
    root.setLevel(logging.DEBUG)
    app.logger.setLevel("DEBUG")
    root.addHandler(handler)
    powertools.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        powertools.removeHandler(handler)
        root.setLevel(saved[0])
        app.logger.setLevel(saved[1])


def test_token_from_secure_string_is_never_logged_raised_or_measured(
    h: Harness, debug_logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    h.send(cascade(0, symbol="BTC"))
    h.run()
    assert len(h.fake.messages) == 1  # the fake accepts only TOKEN: it came from the parameter

    # Even if someone turns the HTTP libraries' loggers up to DEBUG, the token is masked.
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        h.fake.script(
            Fault.too_many_requests(1), Fault.server_error(), Fault.drop(), Fault.chat_not_found(), Fault.blocked()
        )
        for i, symbol in enumerate(["ETH", "SOL", "XRP", "DOGE", "ADA", "BNB"], start=1):
            h.send(cascade(i, symbol=symbol))
            batch = h.receive()
            h.invoke(h.event(batch))
            h.make_visible(batch)
        h.run()
    finally:
        for name in ("httpx", "httpcore", "telegram"):
            logging.getLogger(name).setLevel(logging.WARNING)

    logs = debug_logs.getvalue()
    out = capsys.readouterr()
    history = repr(h.history())
    responses = repr(h.responses)
    # The capture is real: the URL-bearing lines were logged, with the token masked.
    assert "HTTP Request: POST" in logs
    assert "/bot***/sendMessage" in logs
    assert '"CloudWatchMetrics"' in out.out
    for place in (logs, out.out, out.err, history, responses):
        assert TOKEN not in place
        assert TOKEN.split(":")[1] not in place  # nor its secret half alone
    assert "chat not found" in history.lower() and "blocked" in history


def test_a_rotated_token_takes_effect_without_a_deploy(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from dispatcher import credentials

    monkeypatch.setattr(credentials, "CACHE_S", 0)
    h.send(cascade(0))
    h.run()
    new_token = "7000000001:AAH-rotated-token-0000000000000000"
    h.fake.token = new_token
    boto3.client("ssm").put_parameter(
        Name=h.env["TELEGRAM_TOKEN_PARAMETER"], Value=new_token, Type="SecureString", Overwrite=True
    )
    h.send(cascade(1, symbol="ETH"))
    h.run()
    assert len(h.fake.messages) == 2
    assert {r.token for r in h.fake.requests} == {TOKEN, new_token}
