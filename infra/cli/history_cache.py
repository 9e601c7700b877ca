"""Pages of exchange history kept on disk, so a second calibration asks the exchanges nothing.

One JSON file per page, named by what was asked (exchange and server, contract, period,
[start, end)), holding what came back and when. A page whose end lies well before its fetch time is
final: the exchange had published all of it, and history does not change. A page reaching up to its
fetch time may still gain its newest point (exchanges publish a period a little after it closes):
it is reused only for one period after it was fetched, then asked again.

Default place: `$XDG_CACHE_HOME/crypto-alerts/history` (else `~/.cache/...`). A file that cannot be
read is a miss, never an error: the page is fetched and the file rewritten.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# How long after a period closes an exchange may still add its figure (Binance and OKX publish
# 5-minute statistics a few minutes late).
SETTLE_MS = 15 * 60_000
# The symbol -> contract answer (listings change rarely): reused for a day.
CONTRACTS_TTL_MS = 86_400_000

Row = tuple[int, float, float | None]  # time (ms), open interest in coins, in USD when the exchange gives it


@dataclass(frozen=True)
class PageKey:
    exchange: str  # and its server: `binance@fapi.binance.com`
    contract: str
    period: str
    start_ms: int
    end_ms: int  # exclusive

    def parts(self) -> tuple[str, ...]:
        return (self.exchange, self.contract, self.period, f"{self.start_ms}-{self.end_ms}.json")


def default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crypto-alerts" / "history"


class HistoryCache:
    def __init__(self, root: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.root = root  # None: nothing is kept
        self._clock = clock
        self.write_error: str | None = None  # the first write that failed, for one line to the operator

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def page(self, key: PageKey, period_ms: int) -> list[Row] | None:
        stored = self._read(key.parts())
        if stored is None:
            return None
        fetched_at = stored.get("fetched_at")
        rows = stored.get("rows")
        if not isinstance(fetched_at, int) or not isinstance(rows, list):
            return None
        final = fetched_at >= key.end_ms + SETTLE_MS
        if not final and self._now_ms() - fetched_at >= period_ms:
            return None
        try:
            return [(int(t), float(coins), None if usd is None else float(usd)) for t, coins, usd in rows]
        except (TypeError, ValueError):
            return None

    def put_page(self, key: PageKey, rows: Sequence[Row]) -> None:
        self._write(key.parts(), {"fetched_at": self._now_ms(), "rows": [list(r) for r in rows]})

    def contracts(self, exchange: str) -> dict[str, Any] | None:
        stored = self._read((exchange, "contracts.json"))
        if stored is None or not isinstance(stored.get("fetched_at"), int):
            return None
        if self._now_ms() - stored["fetched_at"] >= CONTRACTS_TTL_MS or not isinstance(stored.get("contracts"), dict):
            return None
        return dict(stored["contracts"])

    def put_contracts(self, exchange: str, contracts: dict[str, Any]) -> None:
        self._write((exchange, "contracts.json"), {"fetched_at": self._now_ms(), "contracts": contracts})

    def _path(self, parts: Sequence[str]) -> Path | None:
        if self.root is None:
            return None
        # Contract names are exchange symbols (BTCUSDT, BTC-USDT-SWAP), servers `binance@fapi.binance.com`
        # or `okx@127.0.0.1:8080`: keep them file-name safe anyway.
        return self.root.joinpath(*(p.replace("/", "_").replace(":", "_") for p in parts))

    def _read(self, parts: Sequence[str]) -> dict[str, Any] | None:
        path = self._path(parts)
        if path is None:
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return stored if isinstance(stored, dict) else None

    def _write(self, parts: Sequence[str], content: dict[str, Any]) -> None:
        path = self._path(parts)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write aside, then rename: an interrupted run never leaves half a page behind.
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as fh:
                json.dump(content, fh, separators=(",", ":"))
            os.replace(fh.name, path)
        except OSError as exc:
            # A cache that cannot be written only costs the next run its speed: say so once, go on.
            self.write_error = self.write_error or f"cannot write {path}: {exc.strerror or exc}"
