"""From a parsed command to the reply's text: fetch what the command needs (every exchange at
once, the pipeline's tables in threads beside them), then hand it to the pure reply module."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from commands import market_data
from commands.market_data import Market
from commands.pipeline_reads import TOLERANCE_MIN, Pipeline, StoredSeries
from commands.replies import cvd, guide, open_interest, pipeline, price, profile, volume
from commands.replies.open_interest import HISTORY, PIPELINE, Changes
from cryptoalerts import oi_changes
from cryptoalerts.command_parser import Command
from cryptoalerts.exchanges import MarketSource
from cryptoalerts.exchanges.fetch import ExchangeError
from cryptoalerts.exchanges.market import INTERVAL_MS, Contract, OpenInterest, PerExchange
from cryptoalerts.relative_volume import BASELINE_DAYS, DAY_MS
from cryptoalerts.thresholds import Thresholds
from cryptoalerts.timeutil import MINUTE_MS

logger = Logger(child=True)

ALERTS_SHOWN = 5
ALERTS_DAYS = 7
# The exchanges' open-interest history: 5-minute points for the short horizons, hourly for a day.
SHORT_PERIOD, LONG_PERIOD = "5m", "1h"
SHORT_HORIZON_MAX_MIN = 240


@dataclass
class Context:
    market: Market
    pipeline: Pipeline
    thresholds: Thresholds
    now_ms: int


async def answer(command: Command, ctx: Context) -> str:
    name, symbol = command.name, command.symbol or ""
    if name == "start":
        return guide.start()
    if name == "help":
        return guide.help_text()
    if name == "alerts":
        return await _alerts(ctx)
    if name == "status":
        return await _status(ctx)
    if name == "price":
        quotes = await market_data.quotes(ctx.market, symbol)
        return _unknown(name, symbol, quotes, ctx) or price.reply(symbol, quotes, ctx.market.names, ctx.now_ms)
    if name == "volume":
        return await _volume(symbol, command.interval or "15m", ctx)
    if name == "cvd":
        return await _cvd(symbol, command.interval or "1h", ctx)
    if name == "profile":
        return await _profile(symbol, ctx)
    if name == "oi":
        return await _open_interest(symbol, ctx)
    raise ValueError(f"no answer for command {name!r}")


def _unknown(name: str, symbol: str, result: PerExchange[Any], ctx: Context) -> str | None:
    return (
        guide.unknown_symbol(name, symbol, result, ctx.market.names)
        if market_data.not_listed_anywhere(result)
        else None
    )


async def _volume(symbol: str, interval: str, ctx: Context) -> str:
    step = INTERVAL_MS[interval]
    current = ctx.now_ms - ctx.now_ms % step
    start = current - step - BASELINE_DAYS * DAY_MS  # the last closed bar's baseline, a week back
    data = await market_data.candles(ctx.market, symbol, interval, start, current + step, current - step)
    return _unknown("volume", symbol, data, ctx) or volume.reply(
        symbol, interval, data, ctx.market.names, step, ctx.now_ms
    )


async def _cvd(symbol: str, interval: str, ctx: Context) -> str:
    start, end = market_data.periods(interval, cvd.BARS, ctx.now_ms)
    data = await market_data.candles(ctx.market, symbol, interval, start, end, start)
    return _unknown("cvd", symbol, data, ctx) or cvd.reply(symbol, interval, data, ctx.market.names, ctx.now_ms)


async def _profile(symbol: str, ctx: Context) -> str:
    today = ctx.now_ms - ctx.now_ms % DAY_MS
    step = INTERVAL_MS[profile.BAR_INTERVAL]
    end = ctx.now_ms - ctx.now_ms % step + step
    data = await market_data.bars(ctx.market, symbol, profile.BAR_INTERVAL, today - DAY_MS, end)
    return _unknown("profile", symbol, data, ctx) or profile.reply(symbol, data, ctx.market.names, ctx.now_ms)


async def _open_interest(symbol: str, ctx: Context) -> str:
    rule = ctx.thresholds.oi(symbol)
    horizons = sorted({*oi_changes.HORIZONS_MIN, rule.window_min})
    names = ctx.market.names
    # Only a watched symbol has stored minutes; read them while the exchanges are asked.
    stored_job = (
        asyncio.ensure_future(asyncio.to_thread(ctx.pipeline.stored_series, symbol, names, horizons, ctx.now_ms))
        if ctx.thresholds.watches(symbol)
        else None
    )
    changes = Changes()

    async def call(src: MarketSource, url: str, contract: Contract) -> OpenInterest:
        live = asyncio.ensure_future(src.open_interest(ctx.market.client, url, contract, ctx.market.log))
        stored = await _stored(stored_job)
        if stored.newest_ms is not None:
            changes.pipeline_minute_ms = stored.newest_ms
        found = _changes(stored.coins.get(src.name, {}), stored.newest_ms, horizons, TOLERANCE_MIN)
        for minutes in found:
            changes.sources[(src.name, minutes)] = PIPELINE
        missing = [h for h in horizons if h not in found]
        if missing:
            for minutes, change in (await _from_history(ctx, src, contract, missing, changes.history_failures)).items():
                found[minutes] = change
                changes.sources[(src.name, minutes)] = HISTORY
        changes.by_exchange[src.name] = dict(found)
        return await live

    live = await ctx.market.each(symbol, call)
    if stored_job is not None and not stored_job.done():
        stored_job.cancel()
    return _unknown("oi", symbol, live, ctx) or open_interest.reply(symbol, live, changes, rule, names, ctx.now_ms)


async def _stored(job: asyncio.Future[StoredSeries] | None) -> StoredSeries:
    if job is None:
        return StoredSeries(None, {})
    try:
        return await asyncio.shield(job)
    except Exception as exc:  # the table unreadable: the exchanges' history stands in
        logger.warning("stored OI minutes unreadable; using the exchanges' history", extra={"error": repr(exc)})
        return StoredSeries(None, {})


def _changes(
    series: dict[int, float], anchor_ms: int | None, horizons: list[int], tolerance_min: int
) -> dict[int, oi_changes.Change]:
    if anchor_ms is None or not series:
        return {}
    tolerance = tolerance_min * MINUTE_MS
    found = {h: oi_changes.change(series, anchor_ms, h, tolerance) for h in horizons}
    return {h: c for h, c in found.items() if c is not None}


async def _from_history(
    ctx: Context, src: MarketSource, contract: Contract, horizons: list[int], failures: dict[str, str]
) -> dict[int, oi_changes.Change]:
    """The missing horizons from the exchange's own history: 5-minute points up to 4 h back,
    hourly ones beyond. A history that fails leaves its horizons unmeasured, nothing more."""
    plan = [
        (period, wanted)
        for period, wanted in (
            (SHORT_PERIOD, [h for h in horizons if h <= SHORT_HORIZON_MAX_MIN]),
            (LONG_PERIOD, [h for h in horizons if h > SHORT_HORIZON_MAX_MIN]),
        )
        if wanted
    ]

    async def history(period: str, wanted: list[int]) -> list[OpenInterest]:
        start = ctx.now_ms - max(wanted) * MINUTE_MS - 2 * INTERVAL_MS[period]
        return await market_data.open_interest_history(ctx.market, src, contract, period, start, ctx.now_ms)

    results = await asyncio.gather(*(history(period, wanted) for period, wanted in plan), return_exceptions=True)
    # One series of both periods, every horizon ending at its newest point: the newest hourly point
    # can be an hour old, and a 24 h change ending there would miss the last hour's move.
    coins: dict[int, float] = {}
    answered = []
    for (period, wanted), points in zip(plan, results, strict=True):
        if isinstance(points, BaseException):
            failures[src.name] = points.reason if isinstance(points, ExchangeError) else type(points).__name__
            continue
        coins.update({p.time_ms: p.coins for p in points})
        answered.append((period, wanted))
    found: dict[int, oi_changes.Change] = {}
    for period, wanted in answered:
        found.update(_changes(coins, max(coins, default=None), wanted, INTERVAL_MS[period] // MINUTE_MS))
    return found


async def _alerts(ctx: Context) -> str:
    today = datetime.fromtimestamp(ctx.now_ms / 1000, tz=UTC).date()
    items = await asyncio.to_thread(ctx.pipeline.recent_alerts, ALERTS_SHOWN, ALERTS_DAYS, today)
    return pipeline.alerts_reply(items, ALERTS_DAYS, ctx.now_ms)


async def _status(ctx: Context) -> str:
    names = ctx.market.names
    watched = ctx.thresholds.symbols
    today = datetime.fromtimestamp(ctx.now_ms / 1000, tz=UTC).date()
    minutes, alerts, queues = await asyncio.gather(
        asyncio.to_thread(ctx.pipeline.newest_minutes, watched[:3], names, ctx.now_ms),
        asyncio.to_thread(ctx.pipeline.recent_alerts, 1, ALERTS_DAYS, today),
        asyncio.to_thread(ctx.pipeline.queue_depths),
        return_exceptions=True,
    )
    status = pipeline.Status(watching=watched)
    if isinstance(minutes, BaseException):
        status.snapshots_error = _reason(minutes)
    else:
        status.newest_minutes = minutes
    if isinstance(alerts, BaseException):
        status.alerts_error = _reason(alerts)
    else:
        status.newest_alert = alerts[0] if alerts else None
    if isinstance(queues, BaseException):
        status.queue_error = _reason(queues)
    else:
        status.queue, status.dead_letters = queues[:2], queues[2]
    return pipeline.status_reply(status, names, ctx.now_ms)


def _reason(exc: BaseException) -> str:
    """A few words for the reader (the AWS error code, else the kind of failure)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "AWS error")
    return type(exc).__name__
