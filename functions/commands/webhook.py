"""The Function URL side of the webhook (architecture.md §2.9): request in, response out.

Lambda hands a Function URL request over as a payload-2.0 event (`headers` with lower-case names,
`body`, `isBase64Encoded`, `requestContext.http.method`) and takes `{"statusCode", "body"}` back.
Telegram sends the secret given to setWebhook in `X-Telegram-Bot-Api-Secret-Token`; the URL is
public (AuthType NONE), so this header is the whole authentication: compared in constant time,
before anything else is read.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any, Literal

from cryptoalerts import config
from dispatcher.credentials import Credentials
from dispatcher.redaction import protect

SECRET_HEADER = "x-telegram-bot-api-secret-token"

Verdict = Literal["ok", "missing", "wrong"]


class Secrets(Credentials):
    """The bot's token and chat id, and the webhook's secret token: a SecureString named by
    TELEGRAM_WEBHOOK_SECRET_PARAMETER (`crypto-alerts telegram webhook` writes it), or
    TELEGRAM_WEBHOOK_SECRET locally. Never logged, like the token."""

    def webhook_secret(self, refresh: bool = False) -> str:
        """`refresh` skips the cache: the operator may just have rotated it."""
        value = os.environ.get(config.TELEGRAM_WEBHOOK_SECRET) or self._parameter(
            config.TELEGRAM_WEBHOOK_SECRET_PARAMETER, decrypt=True, refresh=refresh
        )
        protect(value)
        return value


def authenticate(event: Mapping[str, Any], secret: str) -> Verdict:
    headers = event.get("headers")
    given = headers.get(SECRET_HEADER) if isinstance(headers, Mapping) else None
    if not isinstance(given, str) or not given:
        return "missing"
    return "ok" if hmac.compare_digest(given.encode(), secret.encode()) else "wrong"


def method(event: Mapping[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or "").upper()


def body_json(event: Mapping[str, Any]) -> Any:
    """The request body decoded as JSON; None when there is none or it is not JSON."""
    body = event.get("body")
    if not isinstance(body, str) or not body:
        return None
    try:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        return json.loads(raw)
    except (ValueError, TypeError):
        return None


def response(status: int, text: str = "") -> dict[str, Any]:
    """Telegram reads nothing from the answer but its status; the body is for a person testing."""
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": text}


UNAUTHORIZED = 401  # no secret header: not Telegram, or a webhook set without a secret
FORBIDDEN = 403  # a secret, but the wrong one (an old one after a rotation, or a guess)
