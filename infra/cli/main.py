"""`crypto-alerts`: the operator's command line (architecture.md §2.8).

    crypto-alerts thresholds show | set PATH VALUE | edit | validate FILE
    crypto-alerts telegram setup --chat-id ID
    crypto-alerts history [--limit N]
    crypto-alerts status [--listener-url URL]
    crypto-alerts backtest --liquidations CSV --oi CSV [--thresholds FILE]
    crypto-alerts calibrate [--symbols BTC ...] [--days 30] [--target-per-day 1] [--apply] [--json] [--plot]

Works against AWS and the local stack alike: boto3 honours AWS_ENDPOINT_URL, resource names come
from flags, the environment of architecture.md §2.2, or the CloudFormation stack's outputs. A problem the
operator can fix is one line on stderr and exit status 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from cryptoalerts.config import ConfigError
from cryptoalerts.thresholds import InvalidThresholds
from infra.cli import backtest, calibrate, history, status, telegram, thresholds
from infra.cli.context import CliError, add_common_arguments, describe


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_common_arguments(common)
    parser = argparse.ArgumentParser(
        prog="crypto-alerts",
        description="Operate crypto-alerts: thresholds, Telegram, history, health, backtests, calibration.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    thresholds.add_parser(subparsers, common)
    telegram.add_parser(subparsers, common)
    history.add_parser(subparsers, common)
    status.add_parser(subparsers, common)
    backtest.add_parser(subparsers)
    calibrate.add_parser(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except InvalidThresholds as exc:
        _error(f"invalid thresholds: {exc.field}: {exc.reason}; nothing written")
    except (CliError, ConfigError) as exc:
        _error(str(exc))
    except (ClientError, BotoCoreError) as exc:
        _error(f"AWS: {describe(exc)}")
    except KeyboardInterrupt:
        _error("interrupted")
    return 1


def _error(message: str) -> None:
    print(f"crypto-alerts: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
