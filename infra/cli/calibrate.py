"""`crypto-alerts calibrate`: per-symbol thresholds that fire at a chosen rate, measured on history.

    crypto-alerts calibrate [--symbols BTC ETH] [--days 30] [--target-per-day 1] [--apply] [--json]
                            [--plot [DIR]] [--oi CSV ...] [--liquidations FILE] [--thresholds FILE]

Open interest comes from the exchanges' own 5-minute history (or from recordings given with `--oi`);
liquidations from a recording (`--liquidations`). For each symbol the table shows the threshold in
force, how often it would have fired, the proposal for the target rate, how often that would have
fired, and the largest move seen (architecture.md §2.7 rules, judged by the backtest engine).
`--apply` writes the proposals through the same validated path as `thresholds set`: every value is
checked as one document, and on any error nothing is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from cryptoalerts import thresholds
from cryptoalerts.symbols import is_valid_symbol
from cryptoalerts.thresholds import InvalidThresholds, Thresholds
from cryptoalerts.timeutil import MINUTE_MS, parse_iso, to_epoch_ms
from infra.cli import backtest, calibration, calibration_report, history_cache, oi_history, replay
from infra.cli.calibration import DAY_MS, Coverage, LiquidationCalibration, OiCalibration
from infra.cli.calibration_report import Sources
from infra.cli.context import CliError, Context
from infra.cli.thresholds import Store

DEFAULT_DAYS = 30
DEFAULT_TARGET_PER_DAY = 1.0


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        parents=[common],
        help="propose per-symbol thresholds from the exchanges' history for a target alert rate",
        description=__doc__.split("\n\n")[2] if __doc__ else None,
    )
    parser.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="symbols to calibrate (default: the watched)")
    parser.add_argument(
        "--days", type=_positive_int, default=DEFAULT_DAYS, help="days of history to fetch (default %(default)s)"
    )
    parser.add_argument(
        "--target-per-day",
        type=_positive_float,
        default=DEFAULT_TARGET_PER_DAY,
        help="open-interest alerts per symbol per day at most (default %(default)g)",
    )
    parser.add_argument(
        "--cascade-target-per-day",
        type=_positive_float,
        help="liquidation cascades per symbol per day at most (default: --target-per-day)",
    )
    parser.add_argument("--step", type=_positive_float, help="grid step of candidate change_pct (default: automatic)")
    backtest.add_oi_recording_arguments(
        parser, "calibrate on open-interest recordings instead of the exchanges' history (repeatable; as backtest)"
    )
    parser.add_argument(
        "--until", type=_time, help="history up to this time (ISO-8601 or epoch ms; default: now)", metavar="TIME"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=history_cache.default_directory(),
        help="where fetched history pages are kept (default %(default)s)",
    )
    parser.add_argument("--no-cache", action="store_true", help="fetch everything again and keep nothing")
    parser.add_argument(
        "--liquidations",
        type=Path,
        help="for the cascade rows: the listener's recording (`python -m listener --record DIR`: the directory "
        "or one file) or a Binance liquidations CSV",
    )
    parser.add_argument(
        "--thresholds", type=Path, help="thresholds document to compare with (default: the stored one in SSM)"
    )
    parser.add_argument(
        "--parameter", help="SSM parameter name (default: $THRESHOLDS_PARAMETER or /crypto-alerts/<stage>/thresholds)"
    )
    parser.add_argument("--plot", nargs="?", const=".", metavar="DIR", help="write a PNG per symbol into DIR (.)")
    parser.add_argument("--apply", action="store_true", help="write the proposals to the stored thresholds")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    parser.set_defaults(handler=calibrate_command)


def calibrate_command(args: argparse.Namespace) -> int:
    if args.apply and args.thresholds is not None:
        raise CliError("--apply changes the stored thresholds, so it compares with them too: drop --thresholds")
    store, rules = _thresholds_in_force(args)
    symbols = _symbols(args.symbols, rules)
    target = args.target_per_day
    cascade_target = args.cascade_target_per_day or target

    sources, series = _open_interest(args, symbols)
    oi_rows = [_calibrate_oi(symbol, series.get(symbol, {}), rules, target, args.step) for symbol in symbols]
    liquidation_rows = _liquidations(args.liquidations, symbols, rules, cascade_target, sources)

    applied: dict[str, Any] | None = None
    failure: Exception | None = None
    if args.apply:
        assert store is not None
        try:
            applied = apply(store, oi_rows, liquidation_rows)
        except (InvalidThresholds, CliError) as exc:
            failure = exc
    if args.plot is not None:
        from infra.cli import calibration_plot  # matplotlib is needed for --plot only

        for path in calibration_plot.write(Path(args.plot), oi_rows):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        report = calibration_report.document(sources, oi_rows, liquidation_rows, target, cascade_target, applied)
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(calibration_report.table(sources, oi_rows, liquidation_rows, target, cascade_target))
        if applied is not None:
            print(_applied_lines(store, applied))
    if failure is not None:
        raise failure
    return 0


def _calibrate_oi(
    symbol: str, series: dict[str, Any], rules: Thresholds, target: float, step: float | None
) -> OiCalibration:
    try:
        return calibration.calibrate_oi(symbol, series, rules.oi(symbol), target, step)
    except ValueError as exc:
        raise CliError(f"{symbol}: {exc}") from None


def _thresholds_in_force(args: argparse.Namespace) -> tuple[Store | None, Thresholds]:
    if args.thresholds is not None:
        return None, backtest.read_thresholds(args.thresholds)
    ctx = Context.from_args(args)
    store = Store(ctx, ctx.thresholds_parameter(args.parameter))
    raw = store.read_raw()
    try:
        return store, thresholds.parse(raw)
    except InvalidThresholds as exc:
        raise CliError(
            f"the stored document in {store.name} is invalid ({exc.field}: {exc.reason}); fix it with "
            "`crypto-alerts thresholds edit` before calibrating"
        ) from None


def _symbols(given: list[str] | None, rules: Thresholds) -> list[str]:
    if not given:
        return list(rules.symbols)
    symbols = [s for part in given for s in part.replace(",", " ").split()]
    for symbol in symbols:
        if not is_valid_symbol(symbol):
            raise CliError(f"{symbol!r} is not a symbol: a base asset of letters and digits, such as BTC")
    return list(dict.fromkeys(symbols))


def _open_interest(args: argparse.Namespace, symbols: list[str]) -> tuple[Sources, dict[str, dict[str, Any]]]:
    """The history per symbol and exchange, and what it covers: from the recordings given, else
    from the exchanges."""
    if not args.oi:
        cache = history_cache.HistoryCache(None if args.no_cache else args.cache_dir)
        until = args.until if args.until is not None else int(time.time() * 1000)
        history = oi_history.fetch_history(symbols, args.days, until, cache)
        if cache.write_error:
            print(f"crypto-alerts: warning: history cache: {cache.write_error}", file=sys.stderr)
        sources = Sources(oi=f"5-minute history of {args.days} days from the exchanges", failures=history.failures)
        sources.coverage = history.coverage
        return sources, history.series
    series = replay.series_by_symbol(backtest.oi_recordings(args))
    sources = Sources(oi=", ".join(str(p) for p in args.oi))
    sources.coverage = _coverage(series, symbols)
    return sources, series


def _coverage(series: dict[str, dict[str, Any]], symbols: list[str]) -> dict[str, dict[str, Coverage]]:
    return {
        symbol: {ex: Coverage(len(points), min(points), max(points)) for ex, points in series[symbol].items() if points}
        for symbol in symbols
        if symbol in series
    }


def _liquidations(
    path: Path | None, symbols: list[str], rules: Thresholds, target: float, sources: Sources
) -> list[LiquidationCalibration]:
    if path is None:
        return []
    try:
        recording = replay.read_any_liquidations(path)
    except replay.DataError as exc:
        raise CliError(str(exc)) from None
    sources.liquidations = str(path)
    sources.liquidation_count = len(recording.liquidations)
    if recording.first_ms is None or recording.last_ms is None:
        return []
    sources.liquidation_span = (recording.first_ms, recording.last_ms)
    # The backtest's own measure of a recording's length, so both report the same rate.
    days = max(recording.last_ms - recording.first_ms, MINUTE_MS) / DAY_MS
    return [
        calibration.calibrate_liquidations(symbol, recording.liquidations, rules, days, target) for symbol in symbols
    ]


# ---------------------------------------------------------------- --apply
def proposals(oi_rows: list[OiCalibration], liquidation_rows: list[LiquidationCalibration]) -> dict[str, Any]:
    """The dotted paths and values the proposals set (a symbol without a proposal keeps its own)."""
    values: dict[str, Any] = {}
    for row in oi_rows:
        if row.proposed is not None:
            values[f"oi.{row.symbol}.change_pct"] = _plain(row.proposed.change_pct)
    for liq in liquidation_rows:
        if liq.proposed is not None:
            values[f"liquidation.{liq.symbol}.min_usd"] = _plain(liq.proposed.min_usd)
            values[f"liquidation.{liq.symbol}.cascade_count"] = liq.proposed.cascade_count
    return values


def apply(store: Store, oi_rows: list[OiCalibration], liquidation_rows: list[LiquidationCalibration]) -> dict[str, Any]:
    """Write every proposal in one validated document (`Store.set`, as `thresholds set` does)."""
    values = proposals(oi_rows, liquidation_rows)
    if not values:
        raise CliError("no proposal to apply (see the notes); nothing written")
    store.set(values)
    return values


def _applied_lines(store: Store | None, applied: dict[str, Any]) -> str:
    lines = ["", f"applied to {store.name if store else 'the thresholds'} (in force everywhere within 60 s):"]
    lines += [f"  {path} = {json.dumps(value)}" for path, value in applied.items()]
    return "\n".join(lines)


def _plain(value: float) -> int | float:
    """12.0 -> 12, so the stored document reads as an operator would write it."""
    return int(value) if float(value).is_integer() else value


def _time(text: str) -> int:
    try:
        return int(text) if text.strip().isdigit() else to_epoch_ms(parse_iso(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an ISO-8601 time nor epoch milliseconds") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value
