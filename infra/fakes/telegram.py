"""A local fake of the Telegram Bot API over real HTTP, answering as the real one does.

`POST /bot<token>/sendMessage` (form, JSON or query parameters) returns
`{"ok": true, "result": {message_id, from, chat, date, text}}`; errors use Telegram's own shape
`{"ok": false, "error_code": N, "description": "..."}` (plus `parameters.retry_after` for 429).
Faults are scripted per request (`script(...)`): 429, 400 chat not found, 403 bot blocked, 500,
slow replies, a dropped connection. Every request is recorded; accepted messages too, with the
text as the reader would see it (HTML parsed, entities unescaped). With `print_messages=True` each
accepted message is printed that way, which is how the local stack shows alerts without a bot.

    with FakeTelegram() as fake:                       # or fake = FakeTelegram().start(); fake.stop()
        os.environ["TELEGRAM_API_URL"] = fake.api_url
        fake.script(Fault.too_many_requests(retry_after=1))
        ...
        assert [m.rendered for m in fake.messages] == [...]

Updates (what users write to the bot) are `infra.fakes.telegram_updates`: a webhook or getUpdates,
`POST /_control/update` or `fake.updates.user_says(...)`; a reply (`reply_parameters` or
`reply_to_message_id`) must name a message of that chat, as Telegram insists.

`python -m infra.fakes.telegram --port 8081` runs it alone and prints what it receives.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from infra.fakes.telegram_updates import Updates

# Tags Telegram's HTML parse mode accepts (https://core.telegram.org/bots/api#html-style).
_ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "blockquote",
    }
)
_NAMED_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
MAX_TEXT = 4096
BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "crypto-alerts (fake)", "username": "fake_alerts_bot"}


@dataclass(frozen=True)
class Fault:
    """One scripted answer. `status` None means answer normally (after `delay_s`)."""

    status: int | None = None
    description: str = ""
    retry_after: int | None = None
    delay_s: float = 0.0
    disconnect: bool = False

    @classmethod
    def too_many_requests(cls, retry_after: int = 1) -> Fault:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def chat_not_found(cls) -> Fault:
        return cls(400, "Bad Request: chat not found")

    @classmethod
    def blocked(cls) -> Fault:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def server_error(cls) -> Fault:
        return cls(500, "Internal Server Error")

    @classmethod
    def bad_gateway(cls) -> Fault:
        return cls(502, "Bad Gateway")

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Answers normally, late."""
        return cls(None, delay_s=delay_s)

    @classmethod
    def drop(cls) -> Fault:
        """Closes the connection without handling the request or answering, as a network failure looks."""
        return cls(None, disconnect=True)


@dataclass(frozen=True)
class Request:
    method: str  # the Bot API method, e.g. sendMessage
    token: str
    params: dict[str, Any]
    status: int
    received_at: float


@dataclass(frozen=True)
class Message:
    message_id: int
    chat_id: str
    text: str  # as sent (HTML)
    parse_mode: str | None
    rendered: str  # as the reader sees it
    date: int
    params: dict[str, Any] = field(default_factory=dict)
    reply_to: int | None = None  # the message it answers


class FakeTelegram:
    def __init__(
        self,
        token: str | None = None,
        chats: set[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        print_messages: bool = False,
        out: IO[str] | None = None,
    ) -> None:
        """`token`: the only token accepted (401 otherwise); None accepts any.
        `chats`: the chats that exist (400 "chat not found" otherwise); None: every chat exists."""
        self.token = token
        self.chats = chats
        self.print_messages = print_messages
        self.out = out
        self.delay_s = 0.0  # added to every answer, as a slow network would
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._messages: list[Message] = []
        self._requests: list[Request] = []
        self._next_id: dict[str, int] = {}
        self._user_messages: dict[str, set[int]] = {}
        self._new_message = threading.Condition(self._lock)
        self.updates = Updates(self)
        self._server = _Server((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    @property
    def api_url(self) -> str:
        """The value for TELEGRAM_API_URL (the bot URL is `<api_url>/bot<token>/<method>`)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeTelegram:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-telegram", daemon=True)
        self._thread.start()
        self.updates.start()
        return self

    def stop(self) -> None:
        self.updates.stop()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- scripting and inspection
    def script(self, *faults: Fault) -> None:
        """Queue answers for the next requests, in order; after them, normal answers resume."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._requests.clear()
            self._faults.clear()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Message]:
        """Block until at least `count` messages arrived (or the timeout passed); returns them."""
        deadline = time.monotonic() + timeout_s
        with self._new_message:
            while len(self._messages) < count and (left := deadline - time.monotonic()) > 0:
                self._new_message.wait(left)
            return list(self._messages)

    def next_message_id(self, chat_id: str) -> int:
        """The id of a user's new message in `chat_id` (bot and user messages share the sequence)."""
        with self._lock:
            message_id = self._next_id.get(chat_id, 0) + 1
            self._next_id[chat_id] = message_id
            self._user_messages.setdefault(chat_id, set()).add(message_id)
            return message_id

    # -------------------------------------------------------------- the API
    def answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], Fault | None]:
        """The status and JSON body for one request; the fault (if any) so the caller can delay/drop."""
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        status, body = self._answer(token, method, params, fault)
        with self._lock:
            self._requests.append(Request(method, token, params, status, time.time()))
        return status, body, fault

    def _answer(self, token: str, method: str, params: dict[str, Any], fault: Fault | None) -> tuple[int, dict]:
        if fault is not None and fault.disconnect:
            return 0, {}  # the connection goes down before the request is handled
        if self.token is not None and token != self.token:
            return _error(401, "Unauthorized")
        if fault is not None and fault.status is not None:
            extra = {"parameters": {"retry_after": fault.retry_after}} if fault.retry_after is not None else {}
            return _error(fault.status, fault.description, **extra)
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}
        handled = self.updates.call(method, params)
        if handled is not None:
            return handled
        if method != "sendMessage":
            return _error(404, "Not Found")
        return self._send_message(params)

    def _send_message(self, params: dict[str, Any]) -> tuple[int, dict]:
        chat_id = str(params.get("chat_id", "")).strip()
        text = str(params.get("text", ""))
        parse_mode = params.get("parse_mode")
        if not chat_id:
            return _error(400, "Bad Request: chat_id is empty")
        if self.chats is not None and chat_id not in self.chats:
            return _error(400, "Bad Request: chat not found")
        if parse_mode is not None and str(parse_mode).lower() not in ("html", "markdown", "markdownv2"):
            return _error(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        rendered = text
        if parse_mode is not None and str(parse_mode).lower() == "html":
            try:
                rendered = render_html(text)
            except ValueError as exc:
                return _error(400, f"Bad Request: can't parse entities: {exc}")
        if not rendered.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(rendered.encode("utf-16-le")) // 2 > MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        reply_to, tolerant = _reply_target(params)
        now = int(time.time())
        with self._lock:
            if reply_to is not None and reply_to not in self._user_messages.get(chat_id, set()) and not tolerant:
                return _error(400, "Bad Request: message to be replied not found")
            message_id = self._next_id.get(chat_id, 0) + 1
            self._next_id[chat_id] = message_id
            message = Message(message_id, chat_id, text, parse_mode, rendered, now, dict(params), reply_to)
            self._messages.append(message)
            self._new_message.notify_all()
        if self.print_messages:
            self._print(message)
        chat: dict[str, Any] = {"id": _chat_id_value(chat_id), "type": "private", "first_name": "You"}
        result = {"message_id": message_id, "from": BOT_USER, "chat": chat, "date": now, "text": rendered}
        return 200, {"ok": True, "result": result}

    def _print(self, message: Message) -> None:
        out = self.out or sys.stdout
        stamp = time.strftime("%H:%M:%S", time.gmtime(message.date))
        rule = "─" * 48
        answering = f", reply to message {message.reply_to}" if message.reply_to is not None else ""
        print(f"┌{rule}\n│ Telegram → chat {message.chat_id} at {stamp} UTC{answering}", file=out)
        for line in message.rendered.splitlines():
            print(f"│ {line}", file=out)
        print(f"└{rule}", file=out, flush=True)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer closes its end; that is the test, not a failure.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def render_html(text: str) -> str:
    """The text a reader sees for an HTML-mode message; ValueError where Telegram would refuse it."""
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.open_tags:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{parser.open_tags[-1]}"')
    return "".join(parser.parts)


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.parts: list[str] = []
        self.open_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            raise ValueError(f'Unsupported start tag "{tag}"')
        self.open_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open_tags or self.open_tags[-1] != tag:
            raise ValueError(f'Unexpected end tag "{tag}"')
        self.open_tags.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise ValueError("Unsupported start tag or unescaped angle bracket")
        if "&" in data:
            raise ValueError("Character entity expected")
        self.parts.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _NAMED_ENTITIES:
            raise ValueError(f'Unsupported entity "&{name};"')
        self.parts.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.parts.append(html.unescape(f"&#{name};"))

    def unknown_decl(self, data: str) -> None:
        raise ValueError("Unsupported declaration")


def _reply_target(params: dict[str, Any]) -> tuple[int | None, bool]:
    """The message a sendMessage answers and whether it may be sent should that message be gone:
    `reply_parameters` (an object, JSON text in a form body) or the older `reply_to_message_id`."""
    raw = params.get("reply_parameters")
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    if isinstance(raw, dict) and raw.get("message_id") is not None:
        return int(raw["message_id"]), bool(raw.get("allow_sending_without_reply"))
    if params.get("reply_to_message_id") not in (None, ""):
        tolerant = str(params.get("allow_sending_without_reply", "")).lower() in ("true", "1")
        return int(params["reply_to_message_id"]), tolerant
    return None, False


def _error(code: int, description: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return code, {"ok": False, "error_code": code, "description": description, **extra}


def _chat_id_value(chat_id: str) -> int | str:
    with contextlib.suppress(ValueError):
        return int(chat_id)
    return chat_id


def _handler_for(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as api.telegram.org does
        # Headers and body go out as two writes; without this, Nagle + delayed ACK add ~40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            segments = parts.path.strip("/").split("/")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if parts.path == "/_control/update":
                self._reply(*_control_update(fake, raw))
                return
            if len(segments) != 2 or not segments[0].startswith("bot"):
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            params = dict(parse_qsl(parts.query))
            try:
                params.update(_body_params(self.headers.get("Content-Type", ""), raw))
            except ValueError:
                self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid body"})
                return
            status, body, fault = fake.answer(segments[0][3:], segments[1], params)
            delay = fake.delay_s + (fault.delay_s if fault else 0.0)
            if delay:
                time.sleep(delay)
            if fault is not None and fault.disconnect:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            self._reply(status, body)

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            # The request line holds the bot token: never print it.
            pass

    return Handler


def _control_update(fake: FakeTelegram, raw: bytes) -> tuple[int, dict[str, Any]]:
    """`{"text", "chat_id"?, "chat_type"?}`: a user writes to the bot; `{"update": {...}}`: any update."""
    try:
        body = json.loads(raw or b"{}")
        if isinstance(body.get("update"), dict):
            update = fake.updates.push(body["update"])
        else:
            update = fake.updates.user_says(
                str(body["text"]), int(body.get("chat_id", 1)), str(body.get("chat_type", "private"))
            )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return _error(400, f"Bad Request: {type(exc).__name__}: {exc}")
    message_id = update.get("message", {}).get("message_id") if isinstance(update.get("message"), dict) else None
    return 200, {"ok": True, "result": {"update_id": update["update_id"], "message_id": message_id}}


def _body_params(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        obj = json.loads(raw)
        if not isinstance(obj, dict):
            raise ValueError("JSON body must be an object")
        return obj
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))
    if content_type.startswith("multipart/form-data"):
        return _multipart(content_type, raw)
    raise ValueError(f"unsupported content type {content_type!r}")


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            params[name] = payload.decode() if isinstance(payload, bytes) else ""
    return params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local fake of the Telegram Bot API that prints each message.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    fake = FakeTelegram(host=args.host, port=args.port, print_messages=True).start()
    print(f"fake Telegram at {fake.api_url} (TELEGRAM_API_URL); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
