"""The few REST reads the listener makes (Bybit's instrument list, OKX's contract sizes), hourly.

The standard library's HTTP client on a worker thread: httpx (the Lambdas' client) and the
`cryptoalerts.exchanges` package that imports it would cost the listener some 5 MB of its 50 MB
budget (architecture.md §4, docs/decisions.md) for two requests an hour.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from listener import tls

TIMEOUT_S = 10.0
_MAX_BYTES = 32 * 1024 * 1024  # a listing is a few hundred KiB; anything this large is not one


class RestError(Exception):
    """The exchange could not be read (timeout, HTTP error, malformed answer): says which and why."""


async def get_json(url: str, params: Mapping[str, str]) -> Any:
    return await asyncio.to_thread(_get_json, url, params)


def _get_json(url: str, params: Mapping[str, str]) -> Any:
    target = f"{url}?{urllib.parse.urlencode(params)}" if params else url
    request = urllib.request.Request(target, headers={"Accept": "application/json", "User-Agent": "crypto-alerts"})
    path = urllib.parse.urlsplit(url).path
    try:
        context = tls.context() if target.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as answer:
            body = answer.read(_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise RestError(f"HTTP {exc.code} on {path}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RestError(f"{type(exc).__name__} on {path}: {getattr(exc, 'reason', exc)}") from None
    if len(body) > _MAX_BYTES:
        raise RestError(f"answer on {path} larger than {_MAX_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise RestError(f"malformed JSON on {path}: {body[:80]!r}") from None
