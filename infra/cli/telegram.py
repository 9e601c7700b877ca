"""`crypto-alerts telegram setup`: check the bot token and chat with a test message, then store them.
`crypto-alerts telegram webhook [--info | --delete]`: connect the bot's commands to CommandsFunction.

The token is a SecureString (CloudFormation cannot create one, architecture.md §2.2); the chat id a String.
The token is read from $TELEGRAM_BOT_TOKEN, stdin or a prompt, never from a flag (shell history,
`ps`), and never printed: every message that could carry it (the Bot API URL contains it) is redacted.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from commands.replies import guide
from cryptoalerts import config
from infra.cli.context import (
    CHAT_ID_PARAMETER_NAME,
    TOKEN_PARAMETER_NAME,
    WEBHOOK_SECRET_PARAMETER_NAME,
    CliError,
    Context,
    describe,
)

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
    add_webhook_parser(commands, common)


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


# ---------------------------------------------------------------- the commands' webhook (architecture.md §2.9)
# Telegram sends only what the bot answers: messages. Edits, reactions, joins never reach the function.
ALLOWED_UPDATES = ["message"]
# Updates Telegram may deliver at once; Lambda scales to them, and a chat rarely sends more.
MAX_CONNECTIONS = 10


def add_webhook_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    webhook = commands.add_parser(
        "webhook",
        parents=[common],
        help="point the bot at CommandsFunction's URL with a new secret, and set the command menu",
        description=(
            "Without options: generate a secret token, store it as the SecureString the function reads, "
            "then setWebhook to the stack's CommandsWebhookUrl and setMyCommands. --info shows Telegram's "
            "getWebhookInfo; --delete removes the webhook (the commands stop; alerts are not affected)."
        ),
    )
    action = webhook.add_mutually_exclusive_group()
    action.add_argument("--info", action="store_true", help="show the webhook as Telegram sees it")
    action.add_argument("--delete", action="store_true", help="remove the webhook")
    webhook.add_argument("--url", help="the webhook URL (default: the stack's output CommandsWebhookUrl)")
    webhook.add_argument("--drop-pending", action="store_true", help="discard updates Telegram still holds")
    webhook.add_argument(
        "--token-parameter", help="SecureString of the bot token (default: /crypto-alerts/<stage>/telegram/bot-token)"
    )
    webhook.add_argument(
        "--secret-parameter",
        help="SecureString for the secret (default: /crypto-alerts/<stage>/telegram/webhook-secret)",
    )
    webhook.add_argument(
        "--api-url",
        default=config.optional(config.TELEGRAM_API_URL),
        help="Bot API base URL (default: $TELEGRAM_API_URL or %(default)s)",
    )
    webhook.set_defaults(handler=webhook_command)


def webhook_command(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    token = _stored_token(ctx, args.token_parameter)
    if args.info:
        for line in describe_webhook(args.api_url, token):
            print(line)
        return 0
    if args.delete:
        bot_api(args.api_url, token, "deleteWebhook", {"drop_pending_updates": args.drop_pending})
        print("webhook deleted: Telegram keeps updates for the bot until getUpdates takes them (24 h at most)")
        return 0
    url = ctx.commands_webhook_url(args.url)
    secret_name = args.secret_parameter or WEBHOOK_SECRET_PARAMETER_NAME.format(stage=ctx.stage)
    secret = secrets.token_urlsafe(32)  # 43 characters of A-Z a-z 0-9 _ -, as Telegram allows
    try:
        # First the secret, then the webhook: a request signed with the new secret finds it stored
        # (the function re-reads the parameter on a mismatch), never the other way round.
        ctx.client("ssm").put_parameter(
            Name=secret_name,
            Value=secret,
            Type="SecureString",
            Overwrite=True,
            Description="crypto-alerts webhook secret token (X-Telegram-Bot-Api-Secret-Token)",
        )
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot store the webhook secret in {secret_name}: {describe(exc)}") from None
    set_webhook(args.api_url, token, url, secret, drop_pending=args.drop_pending)
    print(f"webhook set to {url}; its secret token is stored in {secret_name} (SecureString)")
    print("command menu: " + " ".join(f"/{c}" for c in guide.MENU))
    for line in describe_webhook(args.api_url, token):
        print(line)
    return 0


def set_webhook(api_url: str, token: str, url: str, secret: str, drop_pending: bool = False) -> None:
    """setWebhook with the secret and the allowed updates, then setMyCommands (the local stack uses it too)."""
    bot_api(
        api_url,
        token,
        "setWebhook",
        {
            "url": url,
            "secret_token": secret,
            "allowed_updates": ALLOWED_UPDATES,
            "max_connections": MAX_CONNECTIONS,
            "drop_pending_updates": drop_pending,
        },
    )
    menu = [{"command": command, "description": text} for command, text in guide.MENU.items()]
    bot_api(api_url, token, "setMyCommands", {"commands": menu})


def describe_webhook(api_url: str, token: str) -> list[str]:
    info = bot_api(api_url, token, "getWebhookInfo", {})
    if not isinstance(info, dict) or not info.get("url"):
        return ["no webhook set: Telegram holds the bot's updates for getUpdates"]
    lines = [
        f"url: {info['url']}",
        f"pending updates: {info.get('pending_update_count', 0)}",
        f"allowed updates: {', '.join(info.get('allowed_updates') or ['(Telegram default)'])}",
        f"max connections: {info.get('max_connections', '?')}",
    ]
    if info.get("last_error_date"):
        when = datetime.fromtimestamp(int(info["last_error_date"]), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"last error: {when}: {info.get('last_error_message', '')}")
    else:
        lines.append("last error: none")
    return lines


def bot_api(api_url: str, token: str, method: str, params: dict[str, Any]) -> Any:
    """One Bot API call; its `result`, or a CliError naming Telegram's description (never the token)."""
    url = f"{api_url.rstrip('/')}/bot{token}/{method}"
    try:
        response = httpx.post(url, json=params, timeout=TIMEOUT_S)
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
        raise CliError(f"Telegram refused {method}: HTTP {response.status_code} {_redact(str(description), token)}")
    return body.get("result")


def _stored_token(ctx: Context, parameter: str | None) -> str:
    token = os.environ.get(config.TELEGRAM_BOT_TOKEN, "").strip()
    if token:
        return token
    name = parameter or TOKEN_PARAMETER_NAME.format(stage=ctx.stage)
    try:
        value = ctx.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except (ClientError, BotoCoreError) as exc:
        raise CliError(
            f"cannot read the bot token from {name} ({describe(exc)}); run `crypto-alerts telegram setup` first"
        ) from None
    return str(value).strip()
