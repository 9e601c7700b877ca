"""What a Lambda handler keeps between invocations of one warm execution environment.

Clients, caches and an event loop are built on the first invocation and reused by the next ones;
tests call `reset` to start again against a fresh emulator or fake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


class Warm(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None

    def get(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def reset(self) -> None:
        """Close and forget what was built; the next `get` builds it again."""
        value, self._value = self._value, None
        if value is not None:
            value.close()
