"""With a real bot token the local stack cannot receive Telegram's webhook (it has no public HTTPS
URL), so it long-polls `getUpdates` and hands each update to CommandsFunction's local URL exactly as
Telegram would: a POST with the secret token header. Same handler, same path.

A webhook already set (a deployed stack) makes getUpdates answer 409: then the poller leaves the
bot alone and says why, rather than delete the deployment's webhook.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx

from dispatcher.redaction import protect
from infra.cli.telegram import ALLOWED_UPDATES
from infra.fakes.telegram_updates import SECRET_HEADER

logger = logging.getLogger("local-stack.updates")

POLL_TIMEOUT_S = 25  # Telegram holds the request open this long when there is nothing
RETRY_AFTER_ERROR_S = 5.0


class UpdatesPoller:
    def __init__(self, api_url: str, token: str, function_url: str, secret: str) -> None:
        protect(token)  # httpx logs request URLs, and the Bot API's URL holds the token
        self._base = f"{api_url.rstrip('/')}/bot{token}"
        self._function_url = function_url
        self._secret = secret
        self._stop = threading.Event()
        self._offset = 0
        self.handed_over = 0
        self.blocked_by: str | None = None  # the webhook URL that keeps the poller idle, if any

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        with httpx.Client(timeout=POLL_TIMEOUT_S + 10) as client:
            info = self._call(client, "getWebhookInfo", {})
            if isinstance(info, dict) and info.get("url"):
                self.blocked_by = str(info["url"])
                logger.warning(
                    "the bot has a webhook (%s), so getUpdates is refused: commands go to that deployment. "
                    "`crypto-alerts telegram webhook --delete` hands them to this local stack instead.",
                    self.blocked_by,
                )
                return
            while not self._stop.is_set():
                if self.poll_once(client, POLL_TIMEOUT_S) is None:
                    self._stop.wait(RETRY_AFTER_ERROR_S)

    def poll_once(self, client: httpx.Client, timeout_s: int = 0) -> int | None:
        """One getUpdates round: each update handed over, the offset moved past it. How many there
        were; None when Telegram could not be asked."""
        params = {"offset": self._offset, "timeout": timeout_s, "allowed_updates": ALLOWED_UPDATES}
        updates = self._call(client, "getUpdates", params)
        if updates is None:
            return None
        for update in updates:
            self._hand_over(client, update)
            self._offset = max(self._offset, int(update["update_id"]) + 1)
        return len(updates)

    def _hand_over(self, client: httpx.Client, update: dict[str, Any]) -> None:
        try:
            answer = client.post(self._function_url, json=update, headers={SECRET_HEADER: self._secret})
            self.handed_over += 1
            if answer.status_code != 200:
                logger.warning("CommandsFunction answered %s to update %s", answer.status_code, update.get("update_id"))
        except httpx.HTTPError as exc:
            logger.warning("CommandsFunction unreachable for update %s: %s", update.get("update_id"), exc)

    def _call(self, client: httpx.Client, method: str, params: dict[str, Any]) -> Any:
        try:
            answer = client.post(f"{self._base}/{method}", json=params)
            body = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("Telegram %s failed: %s", method, type(exc).__name__)
            return None
        if not body.get("ok"):
            logger.warning("Telegram refused %s: %s", method, body.get("description"))
            return None
        return body.get("result")
