"""`crypto-alerts telegram setup`: check the bot token and chat with a test message, then store them.

The token is a SecureString (CloudFormation cannot create one, architecture.md §2.2); the chat id a String.
The token is read from $TELEGRAM_BOT_TOKEN, stdin or a prompt, never from a flag (shell history,
`ps`), and never printed: every message that could carry it (the Bot API URL contains it) is redacted.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from cryptoalerts import config
from infra.cli.context import CHAT_ID_PARAMETER_NAME, TOKEN_PARAMETER_NAME, CliError, Context, describe

TEST_MESSAGE = "✅ crypto-alerts is connected to this chat (stage {stage}). Alerts will arrive here."
TIMEOUT_S = 10.0


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("telegram", help="Telegram bot settings")
    commands = parser.add_subparsers(dest="telegram_command", required=True, metavar="COMMAND")
    setup = commands.add_parser(
        "setup", parents=[common], help="send a test message, then store the bot token and chat id in SSM"
    )
    setup.add_argument(
        "--chat-id",
        default=os.environ.get(config.TELEGRAM_CHAT_ID),
        help="chat id to alert (default: $TELEGRAM_CHAT_ID)",
    )
    setup.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the bot token from stdin (default: $TELEGRAM_BOT_TOKEN, else a prompt)",
    )
    setup.add_argument(
        "--token-parameter", help="SecureString name (default: /crypto-alerts/<stage>/telegram/bot-token)"
    )
    setup.add_argument("--chat-id-parameter", help="String name (default: /crypto-alerts/<stage>/telegram/chat-id)")
    setup.add_argument(
        "--api-url",
        default=config.optional(config.TELEGRAM_API_URL),
        help="Bot API base URL (default: $TELEGRAM_API_URL or %(default)s)",
    )
    setup.add_argument("--skip-test", action="store_true", help="store without sending the test message")
    setup.set_defaults(handler=setup_command)


def setup_command(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    if not args.chat_id:
        raise CliError("give the chat id with --chat-id or $TELEGRAM_CHAT_ID")
    token = _read_token(args.token_stdin)
    token_name = args.token_parameter or TOKEN_PARAMETER_NAME.format(stage=ctx.stage)
    chat_name = args.chat_id_parameter or CHAT_ID_PARAMETER_NAME.format(stage=ctx.stage)

    if not args.skip_test:
        message_id = send_test_message(args.api_url, token, args.chat_id, TEST_MESSAGE.format(stage=ctx.stage))
        print(f"test message sent to chat {args.chat_id} (message id {message_id})")

    ssm = ctx.client("ssm")
    try:
        ssm.put_parameter(
            Name=token_name,
            Value=token,
            Type="SecureString",
            Overwrite=True,
            Description="crypto-alerts Telegram bot token",
        )
        ssm.put_parameter(
            Name=chat_name,
            Value=str(args.chat_id),
            Type="String",
            Overwrite=True,
            Description="crypto-alerts Telegram chat id",
        )
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot store the Telegram settings: {_redact(describe(exc), token)}") from None
    print(f"stored the bot token in {token_name} (SecureString) and the chat id in {chat_name}")
    return 0


def _read_token(from_stdin: bool) -> str:
    if from_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = os.environ.get(config.TELEGRAM_BOT_TOKEN, "").strip()
        if not token and sys.stdin.isatty():
            token = getpass.getpass("Bot token (from @BotFather): ").strip()
    if not token:
        raise CliError("no bot token: set $TELEGRAM_BOT_TOKEN, pipe it with --token-stdin, or run in a terminal")
    if any(c.isspace() or c == "/" for c in token):
        raise CliError("the bot token looks malformed (it contains spaces or '/')")
    return token


def send_test_message(api_url: str, token: str, chat_id: str, text: str) -> int:
    """sendMessage through the Bot API; returns the message id. Errors never carry the token."""
    url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
    try:
        response = httpx.post(url, json={"chat_id": chat_id, "text": text}, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise CliError(
            f"Telegram is unreachable at {api_url}: {_redact(f'{type(exc).__name__}: {exc}', token)}"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("ok"):
        description = body.get("description") if isinstance(body, dict) else None
        hint = {
            401: " (is the token right?)",
            400: " (is the chat id right?)",
            403: " (has the bot been added to the chat / not blocked?)",
        }.get(response.status_code, "")
        raise CliError(
            f"Telegram refused the test message: HTTP {response.status_code} "
            f"{_redact(str(description or response.reason_phrase), token)}{hint}; nothing stored"
        )
    return int(body.get("result", {}).get("message_id", 0))


def _redact(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text
