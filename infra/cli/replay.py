"""Backtest: replay recorded liquidations and open interest through the pipeline's own pure core.

Liquidations go the listener's way, from either of two sources:
- the Binance CSV in data/: each row is rebuilt as the `forceOrder` frame Binance sent
  (data/README.md), parsed by the Binance feed's parser, de-duplicated and fed to
  `cryptoalerts.cascade.CascadeDetector`, as the live stream would;
- the listener's own recordings (`python -m listener --record DIR`, listener/record.py) of all three
  feeds: every frame goes through the same feed objects the listener runs (parser, duplicate filter,
  OKX's contract sizes as recorded), then the size floor and the one detector, in the order received. Open interest
goes the evaluator's way: every recorded minute is judged by `cryptoalerts.oi.evaluate`, one alert
per episode (`oi.should_alert`). Nothing here detects anything itself; it only feeds and counts.

Open-interest CSVs come in two shapes, told apart by their header:
- snapshots: `timestamp,exchange,symbol,oi,mark_price` (`oi` in coins, as OiSnapshotTable keeps them);
- a CoinGlass export (`timestamp` in ms, `price_close`, `oi_close` in USD) of one symbol on one
  exchange, named on the command line; its bars (e.g. 5 minutes) become snapshots at their start.
"""

from __future__ import annotations

import base64
import csv
import gzip
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptoalerts import alert, oi
from cryptoalerts.cascade import CascadeDetector, DuplicateFilter, Liquidation, to_alert
from cryptoalerts.thresholds import OI_EXCHANGE_COUNT, OiRule, Thresholds
from cryptoalerts.timeutil import MINUTE_MS, floor_minute, iso_ms, parse_iso, to_epoch_ms
from listener.feeds import FEEDS
from listener.feeds.binance import parse
from listener.feeds.okx import OkxFeed
from listener.parse import FrameError
from listener.record import FILE_PATTERN
from listener.settings import Settings

LIQUIDATION_COLUMNS = ("timestamp", "symbol", "side", "avg_price", "filled_qty")
SNAPSHOT_COLUMNS = ("timestamp", "exchange", "symbol", "oi", "mark_price")
COINGLASS_COLUMNS = ("timestamp", "price_close", "oi_close")


class DataError(ValueError):
    """A recording that cannot be read: names the file and line."""


# ---------------------------------------------------------------- reading recordings
def _rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
            for row in reader:
                yield reader.line_num, row
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None


def liquidation_frames(path: Path) -> Iterator[str]:
    """The recording as the WebSocket messages Binance sent (numbers as strings, T in ms)."""
    for line, row in _rows(path, LIQUIDATION_COLUMNS):
        try:
            t = to_epoch_ms(parse_iso(row["timestamp"]))
        except ValueError:
            raise DataError(f"{path}:{line}: timestamp {row['timestamp']!r} is not an ISO-8601 time") from None
        order = {
            "s": row["symbol"],
            "S": row["side"],
            "o": "LIMIT",
            "f": "IOC",
            "q": row["filled_qty"],
            "p": row["avg_price"],
            "ap": row["avg_price"],
            "X": "FILLED",
            "l": row["filled_qty"],
            "z": row["filled_qty"],
            "T": t,
        }
        yield json.dumps({"e": "forceOrder", "E": t, "o": order}, ensure_ascii=False)


@dataclass(frozen=True)
class Snapshot:
    minute_ms: int
    exchange: str
    symbol: str
    point: oi.Point


def oi_snapshots(path: Path, symbol: str | None = None, exchange: str | None = None) -> list[Snapshot]:
    """Snapshots from either CSV shape; `symbol` and `exchange` name a CoinGlass export's series."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None
    if all(c in header for c in SNAPSHOT_COLUMNS):
        return [_snapshot_row(path, line, row) for line, row in _rows(path, SNAPSHOT_COLUMNS)]
    if all(c in header for c in COINGLASS_COLUMNS):
        if not symbol or not exchange:
            raise DataError(f"{path} is a single-series export: name its symbol and exchange")
        return [_coinglass_row(path, line, row, symbol, exchange) for line, row in _rows(path, COINGLASS_COLUMNS)]
    raise DataError(
        f"{path}: unknown open-interest CSV; expected columns {','.join(SNAPSHOT_COLUMNS)} "
        f"or a CoinGlass export with {','.join(COINGLASS_COLUMNS)}"
    )


def _snapshot_row(path: Path, line: int, row: dict[str, str]) -> Snapshot:
    try:
        minute = floor_minute(_time_ms(row["timestamp"]))
        point = oi.Point(oi=float(row["oi"]), mark_price=float(row["mark_price"]))
    except ValueError as exc:
        raise DataError(f"{path}:{line}: {exc}") from None
    return Snapshot(minute, row["exchange"], row["symbol"], point)


def _coinglass_row(path: Path, line: int, row: dict[str, str], symbol: str, exchange: str) -> Snapshot:
    try:
        minute = floor_minute(_time_ms(row["timestamp"]))
        price = float(row["price_close"])
        oi_usd = float(row["oi_close"])
    except ValueError as exc:
        raise DataError(f"{path}:{line}: {exc}") from None
    if price <= 0:
        raise DataError(f"{path}:{line}: price_close must be positive")
    # The export gives USD; the rule works in coins (positions, not price): coins = USD / price.
    return Snapshot(minute, exchange, symbol, oi.Point(oi=oi_usd / price, mark_price=price))


def _time_ms(text: str) -> int:
    """Epoch milliseconds, or an ISO-8601 time (UTC when it has no zone)."""
    return int(text) if text.strip().isdigit() else to_epoch_ms(parse_iso(text))


# ---------------------------------------------------------------- replay
@dataclass
class LiquidationReplay:
    alerts: list[alert.Alert] = field(default_factory=list)
    liquidations: list[Liquidation] = field(default_factory=list)  # parsed, repeats dropped, as received
    frames: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # FrameError kinds
    first_ms: int | None = None
    last_ms: int | None = None


def replay_liquidations(frames: Iterable[str], thresholds: Thresholds) -> LiquidationReplay:
    """The listener's hot path without the I/O: parse, drop exact repeats, detect."""
    result = read_liquidations(frames)
    result.alerts = detect_cascades(result.liquidations, thresholds)
    return result


def read_liquidations(frames: Iterable[str]) -> LiquidationReplay:
    """Parse the frames and drop exact repeats, as the listener does; detects nothing yet, so one
    reading can be judged under many thresholds (`detect_cascades`)."""
    result = LiquidationReplay()
    dedup = DuplicateFilter()
    for message in frames:
        result.frames += 1
        try:
            liq = parse(message)
        except FrameError as exc:
            result.skipped[exc.kind] += 1
            continue
        if dedup.is_duplicate(liq.identity):
            result.duplicates += 1
            continue
        result.first_ms = liq.time_ms if result.first_ms is None else min(result.first_ms, liq.time_ms)
        result.last_ms = liq.time_ms if result.last_ms is None else max(result.last_ms, liq.time_ms)
        result.liquidations.append(liq)
    return result


def detect_cascades(liquidations: Iterable[Liquidation], thresholds: Thresholds) -> list[alert.Alert]:
    """The cascades the listener's detector fires on these liquidations, in arrival order."""
    detector = CascadeDetector(thresholds)
    fired = (detector.observe(liq) for liq in liquidations)
    return [to_alert(cascade) for cascade in fired if cascade is not None]


def recording_files(path: Path) -> list[Path]:
    """A recording file, or every hourly file of a recording directory in time order."""
    if path.is_dir():
        files = sorted(path.glob(FILE_PATTERN))
        if not files:
            raise DataError(f"{path}: no recording ({FILE_PATTERN}) in it")
        return files
    if not path.is_file():
        raise DataError(f"cannot read {path}: no such file or directory")
    return [path]


def recording_records(files: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for file in files:
        try:
            with gzip.open(file, "rt", encoding="utf-8", errors="surrogateescape") as fh:
                for number, line in enumerate(fh, 1):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        raise DataError(f"{file}:{number}: not a JSON line") from None
                    if not isinstance(record, dict) or not isinstance(record.get("feed"), str):
                        raise DataError(f"{file}:{number}: not a recorded frame")
                    yield record
        except (OSError, EOFError) as exc:
            raise DataError(f"cannot read {file}: {exc}") from None


def replay_recording(records: Iterable[dict[str, Any]], thresholds: Thresholds) -> LiquidationReplay:
    """The listener's feeds, floor and detector over recorded frames (architecture.md §2.6: event
    times decide, so the replay fires what the live listener fired)."""
    result = read_recording(records)
    result.alerts = detect_cascades(result.liquidations, thresholds)
    return result


def read_recording(records: Iterable[dict[str, Any]]) -> LiquidationReplay:
    """The liquidations the listener's own feeds read from recorded frames, in the order received;
    detects nothing yet, so one reading can be judged under many thresholds (`detect_cascades`)."""
    result = LiquidationReplay()

    def sink(liq: Liquidation, _received_at: float) -> None:
        result.first_ms = liq.time_ms if result.first_ms is None else min(result.first_ms, liq.time_ms)
        result.last_ms = liq.time_ms if result.last_ms is None else max(result.last_ms, liq.time_ms)
        result.liquidations.append(liq)

    settings = Settings(ws_url="", queue_url="", thresholds_parameter="")
    feeds = {name: kind(settings, sink) for name, kind in FEEDS.items()}
    for record in records:
        feed = feeds.get(record["feed"])
        if feed is None:
            result.skipped["unknown_feed"] += 1
            continue
        received_at = float(record.get("t", 0)) / 1000
        if "contracts" in record and isinstance(feed, OkxFeed):
            feed.learn(record["contracts"])
        elif isinstance(record.get("text"), str):
            feed.on_frame(record["text"].encode("utf-8", "surrogateescape"), True, received_at)
        elif isinstance(record.get("binary"), str):
            feed.on_frame(base64.b64decode(record["binary"]), False, received_at)
    for feed in feeds.values():
        result.frames += feed.frames
        result.duplicates += feed.duplicates
        result.skipped.update(feed.malformed)
        if isinstance(feed, OkxFeed):  # no contract size was ever recorded for these
            result.skipped["unknown_instrument"] += sum(len(waiting) for waiting in feed.parked.values())
    result.skipped = +result.skipped
    return result


def read_any_liquidations(path: Path) -> LiquidationReplay:
    """A liquidation recording of either kind, read but not judged: a Binance CSV, or the listener's
    own recording (a directory of hourly files or one file)."""
    if path.suffix.lower() == ".csv":
        return read_liquidations(liquidation_frames(path))
    return read_recording(recording_records(recording_files(path)))


@dataclass
class OiReplay:
    alerts: list[alert.Alert] = field(default_factory=list)
    evaluations: int = 0
    series: dict[tuple[str, str], int] = field(default_factory=dict)  # (symbol, exchange) -> snapshots
    first_ms: int | None = None
    last_ms: int | None = None


def replay_oi(snapshots: Iterable[Snapshot], thresholds: Thresholds) -> OiReplay:
    """Evaluate every recorded minute of every watched symbol, as OiEvaluateFunction would have."""
    by_symbol = series_by_symbol(snapshots)
    result = OiReplay()
    for symbol in thresholds.symbols:
        series = by_symbol.get(symbol)
        if not series:
            continue
        evaluations = evaluate_every_minute(symbol, series, thresholds.oi(symbol))
        result.series.update({(symbol, ex): len(s) for ex, s in series.items()})
        first, last = evaluations[0].minute_ms, evaluations[-1].minute_ms
        result.first_ms = first if result.first_ms is None else min(result.first_ms, first)
        result.last_ms = last if result.last_ms is None else max(result.last_ms, last)
        result.evaluations += len(evaluations)
        for verdict in episode_starts(evaluations):
            result.alerts.append(alert.oi_explosion(symbol, verdict.minute_ms, verdict.priority, verdict.alert_data()))
    return result


def series_by_symbol(snapshots: Iterable[Snapshot]) -> dict[str, dict[str, dict[int, oi.Point]]]:
    """symbol -> exchange -> minute -> snapshot."""
    by_symbol: dict[str, dict[str, dict[int, oi.Point]]] = defaultdict(lambda: defaultdict(dict))
    for snap in snapshots:
        by_symbol[snap.symbol][snap.exchange][snap.minute_ms] = snap.point
    return {symbol: dict(series) for symbol, series in by_symbol.items()}


def evaluate_every_minute(symbol: str, series: Mapping[str, oi.Series], rule: OiRule) -> list[oi.Evaluation]:
    """The evaluator's verdict for every minute any exchange recorded, oldest first."""
    minutes = sorted({m for s in series.values() for m in s})
    return [oi.evaluate(symbol, minute, rule, series, OI_EXCHANGE_COUNT) for minute in minutes]


def episode_starts(evaluations: Iterable[oi.Evaluation], change_pct: float | None = None) -> list[oi.Evaluation]:
    """The evaluations that alert, one per episode, with the rule's own `change_pct` or another one."""
    verdicts = list(evaluations)
    exploded = (v.exploded if change_pct is None else v.explodes_at(change_pct) for v in verdicts)
    return [verdicts[i] for i in first_of_each_episode(exploded)]


def first_of_each_episode(exploded: Iterable[bool]) -> list[int]:
    """Positions, in a run of consecutive verdicts, that alert: one per episode (`oi.should_alert`)."""
    starts = []
    episode_active = False
    for position, now in enumerate(exploded):
        if oi.should_alert(now, episode_active):
            starts.append(position)
        episode_active = now
    return starts


# ---------------------------------------------------------------- report
def per_day(alerts: Iterable[alert.Alert]) -> dict[str, Counter[str]]:
    """UTC day -> count per kind."""
    days: dict[str, Counter[str]] = defaultdict(Counter)
    for a in alerts:
        days[a.detected_at[:10]][a.kind] += 1
    return dict(sorted(days.items()))


def describe_alert(a: alert.Alert) -> str:
    d = a.data
    if a.kind == alert.LIQUIDATION_CASCADE:
        detail = (
            f"{d['count']} liquidations in {d['window_s']} s, {_usd(d['total_usd'])} "
            f"({d['long_count']} longs, {d['short_count']} shorts)"
        )
    else:
        detail = (
            f"{d['change_pct']:+.2f}% in {d['window_min']} min, {_usd(d['before_usd'])} -> {_usd(d['after_usd'])}, "
            f"{d['confirming']}/{d['exchanges_total']} exchanges"
        )
    return f"{a.detected_at}  {a.kind:<19}  {a.symbol:<8}  {a.priority:<6}  {detail}"


def _usd(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"${value / size:.1f}{unit}"
    return f"${value:.0f}"


def _span(first_ms: int | None, last_ms: int | None) -> str:
    if first_ms is None or last_ms is None:
        return "no data"
    hours = (last_ms - first_ms) / 3_600_000
    return f"{iso_ms(first_ms)} to {iso_ms(last_ms)} ({hours:.2f} h)"


def report(liquidations: LiquidationReplay | None, open_interest: OiReplay | None) -> str:
    lines = []
    if liquidations is not None:
        skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(liquidations.skipped.items())) or "none"
        lines += [
            f"liquidations: {liquidations.frames} frames, {_span(liquidations.first_ms, liquidations.last_ms)}; "
            f"{liquidations.duplicates} exact repeats dropped; skipped: {skipped}",
        ]
    if open_interest is not None:
        series = ", ".join(f"{s}@{ex} ({n})" for (s, ex), n in sorted(open_interest.series.items())) or "none watched"
        lines += [
            f"open interest: {open_interest.evaluations} evaluations of {series}, "
            f"{_span(open_interest.first_ms, open_interest.last_ms)}",
        ]
    alerts = sorted(
        [*(liquidations.alerts if liquidations else []), *(open_interest.alerts if open_interest else [])],
        key=lambda a: (a.detected_at, a.id),
    )
    lines.append(f"would have fired: {len(alerts)} alert(s)")
    lines += [f"  {describe_alert(a)}" for a in alerts]
    if alerts:
        lines.append("per UTC day:")
        for day, kinds in per_day(alerts).items():
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
            lines.append(f"  {day}  {sum(kinds.values())} ({counts})")
    for name, replay in (("liquidations", liquidations), ("open interest", open_interest)):
        if replay is not None and replay.first_ms is not None and replay.last_ms is not None:
            days = max(replay.last_ms - replay.first_ms, MINUTE_MS) / 86_400_000
            lines.append(f"rate over the {name} recording: {len(replay.alerts) / days:.1f} alert(s) per day")
    return "\n".join(lines)


def alerts_json(alerts: Iterable[alert.Alert]) -> Iterator[str]:
    for a in sorted(alerts, key=lambda a: (a.detected_at, a.id)):
        yield json.dumps(a.to_dict(), ensure_ascii=False, sort_keys=True)
