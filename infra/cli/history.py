"""`crypto-alerts history`: recent alerts with their delivery status, from AlertHistoryTable.

The table is partitioned by UTC day (`day` = YYYY-MM-DD) and sorted by `<recorded_at>#<id>`, so the
newest alerts are one descending query per day, walking back day by day.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from dispatcher import history
from infra.cli.context import CliError, Context, describe

COLUMNS = ("recorded_at", "status", "kind", "symbol", "priority", "telegram_message_id", "id")


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("history", parents=[common], help="recent alerts with their status")
    parser.add_argument("--limit", type=_positive, default=20, help="how many alerts (default %(default)s)")
    parser.add_argument(
        "--days", type=_positive, default=7, help="how many UTC days back to look (default %(default)s)"
    )
    parser.add_argument("--status", help="only alerts with this status (delivered, duplicate, rate_limited, failed)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line, every attribute")
    parser.add_argument("--table", help="history table (default: $HISTORY_TABLE or the stack's output)")
    parser.set_defaults(handler=history_command)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def recent(
    ctx: Context, table: str, limit: int, days: int, today: date, status: str | None = None
) -> list[dict[str, Any]]:
    """Newest first: at most `limit` items from `today` back over `days` UTC days."""
    try:
        return history.recent(ctx.client("dynamodb"), table, limit, days, today, status)
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot read alert history from {table}: {describe(exc)}") from None


def format_table(items: list[dict[str, Any]]) -> str:
    rows = [[str(item.get(c, "") if item.get(c) is not None else "") for c in COLUMNS] for item in items]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    for row, item in zip(rows, items, strict=True):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if item.get("error"):
            lines.append(f"    error: {item['error']}")
    return "\n".join(lines)


def history_command(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    table = ctx.history_table(args.table)
    items = recent(ctx, table, args.limit, args.days, datetime.now(tz=UTC).date(), args.status)
    if args.json:
        for item in items:
            print(json.dumps(item, ensure_ascii=False, sort_keys=True))
    elif not items:
        print(f"no alerts in the last {args.days} day(s) in {table}")
    else:
        print(format_table(items))
    return 0
