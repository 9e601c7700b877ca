"""Open-interest history from the exchanges for `crypto-alerts calibrate`: 5-minute points over the
last N days, page by page within each exchange's rate limit, from the disk cache where it has them.

Every exchange quirk (paths, field names, units, page sizes, limits, how far back it serves) lives in
the exchange's module (`cryptoalerts.exchanges`, `MarketSource`); this layer only cuts the span into
pages on a fixed grid (so the pages of one run are the pages of the next, and the cache answers
them), paces each exchange's requests, asks a page again after a timeout or a 5xx, shows progress,
and turns the points into the snapshots the backtest engine reads (`oi.Point`: coins and price).

Where an exchange gives open interest without its USD value (Bybit's history is in coins only), the
price comes from the closes of the same exchange's 5-minute bars. An exchange that fails (not
reachable, an error after the retries, a rate limit telling us to stay away) is named with the reason
and how far it got; the others are used.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

import httpx

from cryptoalerts import config, oi
from cryptoalerts.exchanges import MARKETS, MarketSource, market, tls_context
from cryptoalerts.exchanges.fetch import ExchangeError, RateLimited, RequestLog
from cryptoalerts.timeutil import iso_ms
from infra.cli.calibration import Coverage
from infra.cli.history_cache import HistoryCache, PageKey, Row
from infra.cli.pacing import Pace
from infra.cli.progress import Progress

PERIOD = "5m"
PERIOD_MS = market.INTERVAL_MS[PERIOD]
DAY_MS = 86_400_000
REQUEST_TIMEOUT_S = 10.0
# A page is asked up to this many times after a timeout, a network error or a 5xx.
ATTEMPTS = 3
RETRY_PAUSE_S = 1.0
# A Retry-After longer than this fails the exchange rather than stall the whole run.
LONGEST_WAIT_S = 60.0
# Binance refuses a startTime beyond its 30 days, and that horizon moves on while a run waits for
# the rate limit (a hundred symbols take about twelve minutes): start this far inside it.
HORIZON_ALLOWANCE_MS = 3_600_000


@dataclass
class History:
    series: dict[str, dict[str, dict[int, oi.Point]]] = field(default_factory=dict)  # symbol -> exchange -> minute
    coverage: dict[str, dict[str, Coverage]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # exchange -> why, naming the symbols
    requests: Counter[str] = field(default_factory=Counter)


class _Stopped(Exception):
    """The exchange failed on another page: ask it nothing more."""


def pages(start_ms: int, end_ms: int, per_page: int, period_ms: int = PERIOD_MS) -> list[tuple[int, int]]:
    """[start, end) cut at the multiples of `per_page` periods since the epoch, oldest first: every run
    asks the same pages but the first and the newest, so the cache answers all the others."""
    span = per_page * period_ms
    found = []
    page_start = start_ms
    while page_start < end_ms:
        page_end = min(end_ms, (page_start // span + 1) * span)
        found.append((page_start, page_end))
        page_start = page_end
    return found


def window(until_ms: int, days: int) -> tuple[int, int]:
    """The periods to ask for: the `days` up to and including the period holding `until_ms`."""
    end = market.align(until_ms, PERIOD_MS) + PERIOD_MS
    return end - days * DAY_MS, end


def fetch_history(
    symbols: Iterable[str],
    days: int,
    until_ms: int,
    cache: HistoryCache,
    *,
    urls: Mapping[str, str] | None = None,
    sources: Iterable[MarketSource] = MARKETS,
    progress_stream: TextIO | None = None,
    clock: Callable[[], float] = time.time,
) -> History:
    """The 5-minute open interest of `symbols` on every exchange over `days` up to `until_ms`."""
    chosen = tuple(sources)
    urls = dict(urls) if urls is not None else {s.name: config.get(s.url_variable) for s in chosen}
    return asyncio.run(
        _fetch(tuple(dict.fromkeys(symbols)), days, until_ms, cache, urls, chosen, progress_stream, clock)
    )


async def _fetch(
    symbols: tuple[str, ...],
    days: int,
    until_ms: int,
    cache: HistoryCache,
    urls: Mapping[str, str],
    sources: tuple[MarketSource, ...],
    progress_stream: TextIO | None,
    clock: Callable[[], float],
) -> History:
    history = History()
    log = RequestLog(history.requests)
    now_ms = int(clock() * 1000)
    start, end = window(until_ms, days)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, verify=tls_context()) as client:
        exchanges = [_Exchange(s, urls[s.name].rstrip("/"), client, cache, log) for s in sources]
        listed = await asyncio.gather(*(ex.contracts(symbols) for ex in exchanges))
        plans: dict[str, dict[str, list[tuple[int, int]]]] = {}
        for ex, (found, why) in zip(exchanges, listed, strict=True):
            if why is not None:
                history.failures[ex.name] = why
                continue
            paging = ex.source.open_interest_history_paging
            first = max(start, _oldest(paging, now_ms))
            if first >= end:
                served = iso_ms(first)[:16].replace("T", " ")
                history.failures[ex.name] = f"not used: it serves history from {served} UTC on, after the span asked"
                continue
            plans[ex.name] = {symbol: pages(first, end, paging.per_page) for symbol in found}
            missing = [s for s in symbols if s not in found]
            if missing:
                ex.notes.append(f"{', '.join(missing)}: not listed")
        totals = {name: sum(len(p) for p in plan.values()) for name, plan in plans.items()}
        progress = Progress("history", totals, stream=progress_stream)
        await asyncio.gather(*(ex.run(plans[ex.name], progress) for ex in exchanges if ex.name in plans))
        progress.close()
    for ex in exchanges:
        reasons = [ex.failure] if ex.failure else []
        if ex.stopped:
            reasons.append(f"{', '.join(sorted(ex.stopped))} not used: not asked further")
        reasons += ex.notes
        if reasons:
            history.failures[ex.name] = "; ".join(reasons)
        for symbol, rows in ex.rows.items():
            points = _points(rows, ex.closes.get(symbol, {}))
            if not points:
                continue
            history.series.setdefault(symbol, {})[ex.name] = points
            newest = rows[-1]
            usd = newest[2] if newest[2] is not None else points[newest[0]].usd
            history.coverage.setdefault(symbol, {})[ex.name] = Coverage(len(points), min(points), max(points), usd)
    return history


def _oldest(paging: market.HistoryPaging, now_ms: int) -> int:
    """The oldest period start worth asking: inside a horizon counted in time (which the exchange
    enforces) by the allowance, inside one counted in periods (which only answers less) as is."""
    oldest = paging.oldest_ms(now_ms, PERIOD_MS)
    if oldest is None:
        return 0
    if paging.kept_ms is not None:
        oldest = max(oldest, now_ms - paging.kept_ms + HORIZON_ALLOWANCE_MS)
    return market.align(oldest, PERIOD_MS) + PERIOD_MS


def _points(rows: list[Row], closes: Mapping[int, float]) -> dict[int, oi.Point]:
    """Snapshots in coins with a price: the exchange's USD / coins, else the close of the bar ending
    at that time (or the latest close before it)."""
    times = sorted(closes)
    points: dict[int, oi.Point] = {}
    for time_ms, coins, usd in rows:
        if coins <= 0:
            continue
        if usd is not None and usd > 0:
            points[time_ms] = oi.Point(coins, usd / coins)
            continue
        at = bisect_right(times, time_ms - PERIOD_MS)  # bars are keyed by their open: the one closing at time_ms
        if at:
            points[time_ms] = oi.Point(coins, closes[times[at - 1]])
    return points


class _Exchange:
    """One exchange's part of the fetch: its pacing, its pages, its failure."""

    def __init__(
        self, source: MarketSource, base: str, client: httpx.AsyncClient, cache: HistoryCache, log: RequestLog
    ) -> None:
        self.source = source
        self.name = source.name
        # Pages are kept per server: the fakes' history (or a testnet's) must never answer for the exchange's.
        self.cached_as = f"{source.name}@{httpx.URL(base).netloc.decode()}"
        self.base = base
        self.client = client
        self.cache = cache
        self.log = log
        self.rows: dict[str, list[Row]] = {}
        self.closes: dict[str, dict[int, float]] = {}
        self.failure: str | None = None
        self.stopped: list[str] = []  # symbols left unfinished once the exchange failed
        self.notes: list[str] = []
        self._paces: dict[tuple[str, str], Pace] = {}
        self._contracts: dict[str, market.Contract] = {}

    def pace(self, limit: market.RateLimit, contract: market.Contract) -> Pace:
        key = (limit.name, contract.name if limit.per_instrument else "")
        if key not in self._paces:
            self._paces[key] = Pace(limit.requests, limit.per_s)
        return self._paces[key]

    async def contracts(self, symbols: Iterable[str]) -> tuple[dict[str, market.Contract], str | None]:
        """The contract of each symbol listed here (from the cache for a day), or why none could be read."""
        cached = self.cache.contracts(self.cached_as)
        if cached is not None:
            listing = {s: market.Contract(self.name, s, c[0], int(c[1])) for s, c in cached.items()}
        else:
            try:
                listing = await self.source.contracts(self.client, self.base, self.log)
            except ExchangeError as exc:
                return {}, f"not used: cannot list its contracts: {exc}"
            except Exception as exc:  # a parsing bug for one exchange must not cost the others
                return {}, f"not used: cannot list its contracts: unexpected {type(exc).__name__}: {exc}"
            self.cache.put_contracts(self.cached_as, {s: [c.name, c.multiplier] for s, c in listing.items()})
        self._contracts = {s: listing[s] for s in symbols if s in listing}
        return self._contracts, None

    async def run(self, plan: Mapping[str, list[tuple[int, int]]], progress: Progress) -> None:
        paging = self.source.open_interest_history_paging
        in_flight = asyncio.Semaphore(paging.in_flight)
        done: Counter[str] = Counter()

        async def one(symbol: str, first: int, stop: int) -> list[Row]:
            contract = self._contracts[symbol]

            async def fetch() -> list[Row]:
                found = await self.source.open_interest_history(
                    self.client, self.base, contract, PERIOD, first, stop, self.log
                )
                return [(p.time_ms, p.coins, p.usd) for p in found]

            async with in_flight:
                rows, cached = await self._page(
                    PageKey(self.cached_as, contract.name, PERIOD, first, stop), paging, contract, fetch
                )
            done[symbol] += 1
            progress.advance(self.name, cached=cached)
            return rows

        async def symbol_rows(symbol: str, spans: list[tuple[int, int]]) -> None:
            try:
                found = await _all_or_none(one(symbol, a, b) for a, b in spans)
            except _Stopped:
                self.stopped.append(symbol)
                return
            except ExchangeError as exc:
                self._fail(f"{symbol} not used: {exc} (after {done[symbol]} of {len(spans)} pages)")
                return
            except Exception as exc:  # a parsing bug for one exchange must not cost the others
                self._fail(f"{symbol} not used: unexpected {type(exc).__name__}: {exc}")
                return
            rows = sorted({r[0]: r for page in found for r in page if spans[0][0] <= r[0] < spans[-1][1]}.values())
            if rows and any(usd is None for _, _, usd in rows):
                try:
                    self.closes[symbol] = await self._closes(symbol, rows[0][0], rows[-1][0] + PERIOD_MS, progress)
                except _Stopped:
                    self.stopped.append(symbol)
                    return
                except ExchangeError as exc:
                    self._fail(f"{symbol} not used: no prices from its bars: {exc}")
                    return
            self.rows[symbol] = rows

        await asyncio.gather(*(symbol_rows(s, spans) for s, spans in plan.items()))
        if self.failure is not None:
            progress.skip(self.name)

    async def _closes(self, symbol: str, start: int, end: int, progress: Progress) -> dict[int, float]:
        """Bar closes by bar open, for the span of the open interest (one bar earlier, whose close is
        the price at the first point)."""
        contract = self._contracts[symbol]
        paging = self.source.bars_paging
        spans = pages(start - PERIOD_MS, end, paging.per_page)
        progress.add(self.name, len(spans))

        async def one(first: int, stop: int) -> list[Row]:
            async def fetch() -> list[Row]:
                bars = await self.source.bars(self.client, self.base, contract, PERIOD, first, stop, self.log)
                return [(b.open_ms, b.close, None) for b in bars]

            key = PageKey(self.cached_as, contract.name, f"bars-{PERIOD}", first, stop)
            rows, cached = await self._page(key, paging, contract, fetch)
            progress.advance(self.name, cached=cached)
            return rows

        found = await _all_or_none(one(a, b) for a, b in spans)
        return {t: close for page in found for t, close, _ in page}

    async def _page(
        self,
        key: PageKey,
        paging: market.HistoryPaging,
        contract: market.Contract,
        fetch: Callable[[], Awaitable[list[Row]]],
    ) -> tuple[list[Row], bool]:
        """One page, from the cache or the exchange: (rows, whether from the cache)."""
        cached = self.cache.page(key, PERIOD_MS)
        if cached is not None:
            return cached, True
        pace = self.pace(paging.limit, contract)
        for attempt in range(1, ATTEMPTS + 1):
            if self.failure is not None:
                raise _Stopped
            try:
                async with pace:
                    rows = await fetch()
            except RateLimited as exc:
                # Told how long: wait that long if it is short. Not told (OKX says only "Too Many
                # Requests"): the limit's own window has passed by then.
                wait = exc.retry_after_s if exc.stated else paging.limit.per_s
                if wait > LONGEST_WAIT_S or attempt == ATTEMPTS:
                    raise
                pace.hold(wait)
                continue
            except ExchangeError as exc:
                if attempt == ATTEMPTS or not _transient(exc):
                    raise
                await asyncio.sleep(RETRY_PAUSE_S * attempt)
                continue
            self.cache.put_page(key, rows)
            return rows, False
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _fail(self, why: str) -> None:
        if self.failure is None:
            self.failure = why


async def _all_or_none(jobs: Iterable[Awaitable[list[Row]]]) -> list[list[Row]]:
    """Every page, or the first failure with the pages still in flight cancelled (none outlives the run)."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _transient(exc: ExchangeError) -> bool:
    """Worth asking again: a timeout, a network error, a 5xx; not a 4xx or an answer we cannot read."""
    return exc.reason in ("timed out", "unreachable") or exc.reason.startswith("error 5")
