"""What every exchange adapter shares: the reading it produces, its errors, one JSON GET, and the
rate-limit gate that keeps a banned or throttled exchange from being hammered.

No exchange quirk lives here; those stay in the exchange's own module.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from cryptoalerts.symbols import multiplier, normalise

# Without a Retry-After header, stay away this long after a 429/418 (Binance bans start at 2 min).
DEFAULT_BACKOFF_S = 120.0
# A Retry-After beyond a day is not believable; cap it so a typo cannot silence an exchange for good.
MAX_BACKOFF_S = 86_400.0


@dataclass(frozen=True)
class OiReading:
    """Open interest of one symbol's USDT-margined perpetual on one exchange.

    `oi` is in coins of the base asset (positions, not price), `mark_price` in USD per coin,
    `oi_usd` in USD as the exchange reports it (or oi x mark where it reports none).
    """

    exchange: str
    symbol: str
    contract: str
    oi: Decimal
    mark_price: Decimal
    oi_usd: Decimal


class ExchangeError(Exception):
    """The exchange could not be read this minute (timeout, HTTP error, malformed answer).

    The message is for the operator's log; `reason` says the same in a few words a trader may read
    in a reply ("timed out", "error 500"): never a URL, a path or an answer's text.
    """

    def __init__(self, message: str, reason: str = "bad answer") -> None:
        super().__init__(message)
        self.reason = reason


class RateLimited(ExchangeError):
    """HTTP 429 or 418: the exchange asks us to stop for `retry_after_s` seconds (`stated` when it said
    how long in a Retry-After header; else the default wait)."""

    def __init__(self, message: str, retry_after_s: float, stated: bool = True) -> None:
        super().__init__(message, reason="rate limited")
        self.retry_after_s = retry_after_s
        self.stated = stated


@dataclass
class ExchangeResult:
    """One exchange's answer for the watched symbols: readings, and why each absent symbol is absent."""

    readings: dict[str, OiReading] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def add(self, reading: OiReading) -> None:
        """Keep one contract per symbol; where an exchange lists both `PEPEUSDT` and `1000PEPEUSDT`
        the plain one wins (its figures need no conversion)."""
        held = self.readings.get(reading.symbol)
        if held is None or (_prefixed(held.contract) and not _prefixed(reading.contract)):
            self.readings[reading.symbol] = reading

    def note_absent(self, watched: frozenset[str], reason: str) -> None:
        """Close the answer: a symbol read from one contract is not missing for another's fault,
        and a watched symbol with no reading at all is missing for `reason`."""
        for symbol in self.readings:
            self.missing.pop(symbol, None)
        for symbol in watched:
            if symbol not in self.readings:
                self.missing.setdefault(symbol, reason)


def watched_entries(
    entries: Iterable[Any], id_field: str, suffix: str, wanted: frozenset[str]
) -> Iterator[tuple[Mapping[str, Any], str, str]]:
    """(entry, contract, symbol) for each entry naming a contract that ends in `suffix` (the
    USDT perpetuals: other contracts hold other positions) of a watched symbol."""
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get(id_field), str):
            continue
        contract = entry[id_field]
        if not contract.endswith(suffix):
            continue
        symbol = normalise(contract)
        if symbol in wanted:
            yield entry, contract, symbol


def _prefixed(contract: str) -> bool:
    return multiplier(contract) != 1


@dataclass
class RequestLog:
    """Requests issued per exchange: the benchmark reports them, the tests assert on them."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, exchange: str) -> None:
        self.counts[exchange] += 1


class RateLimitGate:
    """Remembers, per exchange, until when it asked us to back off (monotonic seconds).

    Lives as long as the Lambda container, so the next minutes' invocations honour a Retry-After
    instead of earning a longer ban.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def blocked_for(self, exchange: str, now: float) -> float:
        """Seconds this exchange remains off limits (0 when it may be called)."""
        return max(0.0, self._until.get(exchange, 0.0) - now)

    def back_off(self, exchange: str, seconds: float, now: float) -> None:
        self._until[exchange] = max(self._until.get(exchange, 0.0), now + seconds)


def retry_after_s(headers: Mapping[str, str]) -> float:
    """The Retry-After header in seconds (the exchanges send delta-seconds), else the default."""
    raw = headers.get("retry-after")
    try:
        value = float(raw) if raw is not None else DEFAULT_BACKOFF_S
    except ValueError:
        value = DEFAULT_BACKOFF_S
    if not math.isfinite(value) or value <= 0:
        value = DEFAULT_BACKOFF_S
    return min(value, MAX_BACKOFF_S)


async def get_json(
    client: httpx.AsyncClient,
    exchange: str,
    url: str,
    params: Mapping[str, str],
    log: RequestLog,
) -> Any:
    """GET `url` and decode its JSON body; every failure becomes an ExchangeError naming why."""
    log.add(exchange)
    try:
        response = await client.get(url, params=dict(params))
    except httpx.TimeoutException:
        raise ExchangeError(f"timeout on {_path(url)}", reason="timed out") from None
    except httpx.HTTPError as exc:
        raise ExchangeError(f"{type(exc).__name__} on {_path(url)}", reason="unreachable") from None
    if response.status_code in (418, 429):
        wait = retry_after_s(response.headers)
        stated = "retry-after" in response.headers
        raise RateLimited(f"HTTP {response.status_code} on {_path(url)}; retry after {wait:g} s", wait, stated)
    if response.status_code != 200:
        status = response.status_code
        raise ExchangeError(f"HTTP {status} on {_path(url)}: {response.text[:200]!r}", reason=f"error {status}")
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise ExchangeError(f"malformed JSON on {_path(url)}: {response.text[:80]!r}") from None


def _path(url: str) -> str:
    return httpx.URL(url).path


def decimal_field(
    entry: Mapping[str, Any], name: str, *, positive: bool = False, signed: bool = False
) -> Decimal | None:
    """A numeric field as exchanges send it (a string, sometimes a number); None if unusable.
    Negative values are unusable unless `signed` (a funding rate, a price change)."""
    return decimal_value(entry.get(name), positive=positive, signed=signed)


def decimal_value(raw: Any, *, positive: bool = False, signed: bool = False) -> Decimal | None:
    """`decimal_field` for a value already taken out of its object (or array, as klines are)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or (value < 0 and not signed) or (positive and value <= 0):
        return None
    return value


def number_fields(row: Sequence[Any], indices: Sequence[int], what: str) -> list[float]:
    """Fields of an array row (a kline, a candle) as floats; ExchangeError when one is unusable."""
    values = []
    for i in indices:
        value = decimal_value(row[i], signed=True) if i < len(row) else None
        if value is None:
            raise ExchangeError(f"{what}: unusable field {i} in {str(row)[:100]}")
        values.append(float(value))
    return values


def as_float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def epoch_ms(value: Any) -> int | None:
    """A time in epoch milliseconds as exchanges send it: a number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def in_coins(
    exchange: str, symbol: str, contract: str, unit: str, oi: Decimal, mark_price: Decimal, oi_usd: Decimal
) -> OiReading:
    """A reading whose figures are quoted per `unit` (e.g. `1000PEPE`), converted to coins of the base asset:
    1,000 PEPE per unit, so OI x 1000 and the mark price / 1000. The USD value does not change."""
    factor = multiplier(unit)
    return OiReading(exchange, symbol, contract, oi * factor, mark_price / factor, oi_usd)
