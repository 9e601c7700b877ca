"""A Lambda Function URL on loopback: HTTP requests in, payload-2.0 events to the function, its
`{"statusCode", "headers", "body"}` back as the HTTP response, as AWS does for CommandsFunction.

Header names reach the function in lower case, the body as text (base64 with `isBase64Encoded`
when it is not UTF-8), the method and source in `requestContext.http`. A function error is a 502,
which is what Telegram would see (and retry) from the real URL.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Invoke = Callable[[dict[str, Any]], Any]
DOMAIN = "local.lambda-url.us-east-1.on.aws"


def event(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    query: str = "",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The event Lambda hands a function for one request to its Function URL (payload version 2.0)."""
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": DOMAIN,
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


class FunctionUrl:
    def __init__(self, invoke: Invoke, host: str = "127.0.0.1", port: int = 0) -> None:
        self._invoke = invoke
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> FunctionUrl:
        self._thread = threading.Thread(target=self._server.serve_forever, name="function-url", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def respond(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        try:
            result = self._invoke(request)
        except Exception:  # the function failed: Lambda answers the caller 502
            return 502, {"Content-Type": "application/json"}, b'{"Message":"Internal Server Error"}'
        if not isinstance(result, dict) or "statusCode" not in result:
            # Lambda treats any other result as a 200 with that JSON as the body.
            return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return int(result["statusCode"]), {str(k): str(v) for k, v in (result.get("headers") or {}).items()}, data


def _handler_for(url: FunctionUrl) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = event(
                method, parts.path or "/", dict(self.headers.items()), body, parts.query, self.client_address[0]
            )
            status, headers, data = url.respond(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the function logs what matters

    return Handler
