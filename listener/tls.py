"""One TLS context for every connection the listener opens (three WebSocket feeds, their REST lists).

Each context loads the certificate store into memory (a megabyte or more); one shared context keeps
the listener inside its memory budget (architecture.md §4) however many connections it holds.
"""

from __future__ import annotations

import ssl
from functools import cache


@cache
def context() -> ssl.SSLContext:
    return ssl.create_default_context()
