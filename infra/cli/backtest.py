"""`crypto-alerts backtest`: what would have fired on a recording, with a given thresholds document."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cryptoalerts import thresholds
from cryptoalerts.thresholds import InvalidThresholds
from infra.cli import replay
from infra.cli.context import CliError


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backtest", help="replay recorded liquidations / open interest through the detectors"
    )
    parser.add_argument(
        "--liquidations",
        type=Path,
        help="the listener's recording (a directory or a .jsonl.gz file of `python -m listener --record`) "
        "or a Binance liquidations CSV (timestamp,symbol,side,avg_price,filled_qty)",
    )
    add_oi_recording_arguments(parser, "open-interest CSV (repeatable): snapshots or a CoinGlass single-series export")
    parser.add_argument(
        "--thresholds", type=Path, help="thresholds document (partial is fine; default: the built-in defaults)"
    )
    parser.add_argument("--json", action="store_true", help="print each alert as schema-1 JSON, one per line")
    parser.set_defaults(handler=backtest_command)


def backtest_command(args: argparse.Namespace) -> int:
    if args.liquidations is None and not args.oi:
        raise CliError("give --liquidations CSV and/or --oi CSV")
    rules = read_thresholds(args.thresholds)
    try:
        liquidations = _liquidations(args.liquidations, rules) if args.liquidations else None
    except replay.DataError as exc:
        raise CliError(str(exc)) from None
    snapshots = oi_recordings(args)
    open_interest = replay.replay_oi(snapshots, rules) if args.oi else None
    if args.json:
        alerts = [*(liquidations.alerts if liquidations else []), *(open_interest.alerts if open_interest else [])]
        for line in replay.alerts_json(alerts):
            print(line)
    else:
        print(replay.report(liquidations, open_interest))
    return 0


def _liquidations(path: Path, rules: thresholds.Thresholds) -> replay.LiquidationReplay:
    recording = replay.read_any_liquidations(path)
    recording.alerts = replay.detect_cascades(recording.liquidations, rules)
    return recording


def add_oi_recording_arguments(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`--oi CSV` (repeatable) and what names a single-series export: backtest's and calibrate's."""
    parser.add_argument("--oi", type=Path, action="append", default=[], help=help_text)
    parser.add_argument("--oi-symbol", default="BTC", help="symbol of a single-series OI export (default %(default)s)")
    parser.add_argument(
        "--oi-exchange", default="binance", help="exchange of a single-series OI export (default %(default)s)"
    )


def oi_recordings(args: argparse.Namespace) -> list[replay.Snapshot]:
    """The snapshots of every `--oi` recording; a file that cannot be read is one line for the operator."""
    try:
        return [s for path in args.oi for s in replay.oi_snapshots(path, args.oi_symbol, args.oi_exchange)]
    except replay.DataError as exc:
        raise CliError(str(exc)) from None


def read_thresholds(path: Path | None) -> thresholds.Thresholds:
    """A thresholds document from a file (partial is fine), or the built-in defaults without one."""
    if path is None:
        return thresholds.defaults()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    try:
        return thresholds.parse(text)
    except InvalidThresholds as exc:
        raise CliError(f"{path}: invalid thresholds: {exc.field}: {exc.reason}") from None
