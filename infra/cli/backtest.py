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
    parser.add_argument(
        "--oi",
        type=Path,
        action="append",
        default=[],
        help="open-interest CSV (repeatable): snapshots or a CoinGlass single-series export",
    )
    parser.add_argument("--oi-symbol", default="BTC", help="symbol of a single-series OI export (default %(default)s)")
    parser.add_argument(
        "--oi-exchange", default="binance", help="exchange of a single-series OI export (default %(default)s)"
    )
    parser.add_argument(
        "--thresholds", type=Path, help="thresholds document (partial is fine; default: the built-in defaults)"
    )
    parser.add_argument("--json", action="store_true", help="print each alert as schema-1 JSON, one per line")
    parser.set_defaults(handler=backtest_command)


def backtest_command(args: argparse.Namespace) -> int:
    if args.liquidations is None and not args.oi:
        raise CliError("give --liquidations CSV and/or --oi CSV")
    rules = _thresholds(args.thresholds)
    try:
        liquidations = _liquidations(args.liquidations, rules) if args.liquidations else None
        snapshots = [s for path in args.oi for s in replay.oi_snapshots(path, args.oi_symbol, args.oi_exchange)]
    except replay.DataError as exc:
        raise CliError(str(exc)) from None
    open_interest = replay.replay_oi(snapshots, rules) if args.oi else None
    if args.json:
        alerts = [*(liquidations.alerts if liquidations else []), *(open_interest.alerts if open_interest else [])]
        for line in replay.alerts_json(alerts):
            print(line)
    else:
        print(replay.report(liquidations, open_interest))
    return 0


def _liquidations(path: Path, rules: thresholds.Thresholds) -> replay.LiquidationReplay:
    if path.suffix.lower() == ".csv":
        return replay.replay_liquidations(replay.liquidation_frames(path), rules)
    return replay.replay_recording(replay.recording_records(replay.recording_files(path)), rules)


def _thresholds(path: Path | None) -> thresholds.Thresholds:
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
