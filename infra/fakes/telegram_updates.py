"""The incoming side of the fake Telegram: what users write to the bot, delivered as the Bot API
delivers updates, either to a webhook or through getUpdates, never both.

- `setWebhook` (url, secret_token, allowed_updates, drop_pending_updates, max_connections): each
  update is POSTed to the URL as JSON with the secret in `X-Telegram-Bot-Api-Secret-Token`, one at
  a time; anything but a 2xx answer (or no answer) is retried, and `getWebhookInfo` reports the
  pending count and the last error as Telegram words it. Real Telegram accepts only HTTPS URLs on
  ports 443, 80, 88 or 8443; the fake does too, and plain HTTP on loopback besides (a local stack
  has no certificate). `deleteWebhook` stops it.
- `getUpdates` (offset, limit, timeout, allowed_updates): long polling; an offset confirms every
  update below it. While a webhook is set it answers 409 Conflict, as Telegram does.
- `setMyCommands` / `getMyCommands`: the command menu, validated as Telegram validates it.
- Users: `user_says(text)` in process, or `POST /_control/update` with `{"text", "chat_id"?,
  "chat_type"?}` (or `{"update": {...}}` for any raw update, e.g. an edited message or the same
  update twice): each becomes an update with the next `update_id`, and a text message gets the
  chat's next `message_id`, so the bot can reply to it.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
WEBHOOK_PORTS = (443, 80, 88, 8443)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DELIVERY_TIMEOUT_S = 30.0
# Telegram retries a failed delivery for a long while; the fake gives up sooner (tests wait on it).
RETRIES = (0.2, 0.5, 1.0)
MAX_POLL_S = 50.0
USER = {"id": 1, "is_bot": False, "first_name": "You", "username": "you"}


class Host(Protocol):
    """What the updates need of the fake Telegram that holds them."""

    print_messages: bool
    out: IO[str] | None

    def next_message_id(self, chat_id: str) -> int: ...


@dataclass
class Webhook:
    url: str
    secret: str | None
    allowed_updates: list[str] | None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass(frozen=True)
class Delivery:
    update_id: int
    status: int  # the webhook's HTTP status; 0 when it could not be reached


class Updates:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.commands: list[dict[str, str]] = []
        self.deliveries: list[Delivery] = []
        self.webhook: Webhook | None = None
        self._lock = threading.Condition()
        self._pending: deque[dict[str, Any]] = deque()  # for getUpdates
        self._outbox: queue.Queue[dict[str, Any] | None] = queue.Queue()  # for the webhook
        self._in_flight = 0
        self._next_update = 100_000_001
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        self._worker = threading.Thread(target=self._deliver_forever, name="fake-telegram-webhook", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._outbox.put(None)
            self._worker.join(timeout=5)
            self._worker = None

    # ------------------------------------------------------------------ users
    def user_says(self, text: str, chat_id: int = 1, chat_type: str = "private") -> dict[str, Any]:
        """A user's text message, as the update Telegram would deliver; returned as delivered."""
        message_id = self.host.next_message_id(str(chat_id))
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        chat.update({"first_name": "You"} if chat_type == "private" else {"title": "Trading desk"})
        message = {"message_id": message_id, "from": USER, "chat": chat, "date": int(time.time()), "text": text}
        entities = _command_entity(text)
        if entities:
            message["entities"] = entities
        if self.host.print_messages:
            print(f"  you → {text}", file=self.host.out, flush=True)
        return self.push({"message": message})

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver `update` (given an `update_id` unless it has one: a redelivery keeps its id)."""
        with self._lock:
            if "update_id" not in update:
                update = {"update_id": self._next_update, **update}
                self._next_update += 1
            webhook = self.webhook
            if webhook is not None:
                if _wanted(update, webhook.allowed_updates):
                    self._in_flight += 1
                    self._outbox.put(update)
            else:
                self._pending.append(update)
                self._lock.notify_all()
        return update

    def wait_delivered(self, timeout_s: float = 10.0) -> bool:
        """Block until every update handed to the webhook has been delivered (or given up on)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return self._in_flight == 0

    # ------------------------------------------------------------------ the Bot API methods
    def call(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The answer to an update-related Bot API method; None for any other method."""
        handlers = {
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._webhook_info,
            "getUpdates": self._get_updates,
            "setMyCommands": self._set_commands,
            "getMyCommands": lambda p: _ok(list(self.commands)),
            "deleteMyCommands": self._delete_commands,
        }
        handler = handlers.get(method)
        return handler(params) if handler is not None else None

    def _set_webhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        url = str(params.get("url", ""))
        if not url:
            return self._delete_webhook(params)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK
        if parts.scheme != "https" and not loopback:
            return _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if parts.scheme == "https" and port not in WEBHOOK_PORTS:
            return _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(str(secret)):
            return _bad("secret token contains unallowed characters")
        allowed = _list(params.get("allowed_updates"))
        with self._lock:
            if _truthy(params.get("drop_pending_updates")):
                self._pending.clear()
            self.webhook = Webhook(
                url, str(secret) if secret else None, allowed, int(params.get("max_connections") or 40)
            )
            waiting, self._pending = list(self._pending), deque()
        for update in waiting:  # what getUpdates had not taken goes to the webhook now
            self.push(update)
        return _ok(True, description="Webhook was set")

    def _delete_webhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            was_set = self.webhook is not None
            self.webhook = None
            if _truthy(params.get("drop_pending_updates")):
                self._pending.clear()
        return _ok(True, description="Webhook was deleted" if was_set else "Webhook is already deleted")

    def _webhook_info(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            hook = self.webhook
            pending = self._in_flight if hook is not None else len(self._pending)
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": pending,
        }
        if hook is not None:
            info.update({"max_connections": hook.max_connections, "ip_address": "127.0.0.1"})
            if hook.allowed_updates is not None:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date is not None:
                info.update({"last_error_date": hook.last_error_date, "last_error_message": hook.last_error_message})
        return _ok(info)

    def _get_updates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = min(100, max(1, int(params.get("limit") or 100)))
        wait_s = min(MAX_POLL_S, float(params.get("timeout") or 0))
        allowed = _list(params.get("allowed_updates"))
        deadline = time.monotonic() + wait_s
        with self._lock:
            if self.webhook is not None:
                return 409, {
                    "ok": False,
                    "error_code": 409,
                    "description": "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                }
            while True:
                while self._pending and offset and self._pending[0]["update_id"] < offset:
                    self._pending.popleft()  # confirmed by the offset
                found = [u for u in self._pending if u["update_id"] >= offset and _wanted(u, allowed)][:limit]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return _ok(found)
                self._lock.wait(left)

    def _set_commands(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        commands = _list(params.get("commands")) or []
        for entry in commands:
            if not isinstance(entry, dict) or not _COMMAND.match(str(entry.get("command", ""))):
                return _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(entry.get("description", ""))) <= 256:
                return _bad("command description must be 1-256 characters")
        self.commands = [{"command": e["command"], "description": e["description"]} for e in commands]
        return _ok(True)

    def _delete_commands(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.commands = []
        return _ok(True)

    # ------------------------------------------------------------------ webhook delivery
    def _deliver_forever(self) -> None:
        while (update := self._outbox.get()) is not None:
            try:
                self._deliver(update)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._lock.notify_all()

    def _deliver(self, update: dict[str, Any]) -> None:
        for pause in (0.0, *RETRIES):
            time.sleep(pause)
            hook = self.webhook
            if hook is None:  # deleted meanwhile: the update waits for getUpdates
                with self._lock:
                    self._pending.append(update)
                return
            status, error = _post(hook, update)
            self.deliveries.append(Delivery(update["update_id"], status))
            if 200 <= status < 300:
                return
            hook.last_error_date, hook.last_error_message = int(time.time()), error


def _post(hook: Webhook, update: dict[str, Any]) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if hook.secret:
        headers[SECRET_HEADER] = hook.secret
    request = urllib.request.Request(hook.url, data=json.dumps(update).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S) as answer:
            answer.read()
            return int(answer.status), ""
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(OSError):
            exc.read()
        return exc.code, f"Wrong response from the webhook: {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 0, f"Connection refused ({reason})" if "refused" in str(reason).lower() else f"{reason}"


def _wanted(update: dict[str, Any], allowed: list[str] | None) -> bool:
    """An update whose kind is not in `allowed_updates` is not delivered (None or []: the default kinds)."""
    if not allowed:
        return True
    return any(kind in update for kind in allowed)


def _command_entity(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    length = len(text.split(maxsplit=1)[0]) if text.split() else 0
    return [{"offset": 0, "length": length, "type": "bot_command"}] if length > 1 else []


def _list(value: Any) -> list[Any] | None:
    """A list parameter: JSON text in a form body, a list in a JSON body."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _ok(result: Any, description: str | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return 200, body


def _bad(description: str) -> tuple[int, dict[str, Any]]:
    return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}
