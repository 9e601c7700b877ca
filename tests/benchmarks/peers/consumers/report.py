"""How a reference consumer tells the orchestrator where it is: one JSON line per checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def arguments(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="where to connect (the benchmark server)")
    parser.add_argument("--exchange", default="binance")
    parser.add_argument("--checkpoints", required=True, help="counts to report at, comma-separated, ascending")
    parser.add_argument("--log", default=None, help="a file for the consumer's own log, if it writes one")
    args = parser.parse_args()
    args.checkpoints = [int(c) for c in args.checkpoints.split(",")]
    return args


def checkpoint(count: int, **extra: Any) -> None:
    """The moment `count` frames (or bytes) were handled: `time.monotonic()`, the orchestrator's clock too."""
    sys.stdout.write(json.dumps({"count": count, "t": time.monotonic(), **extra}) + "\n")
    sys.stdout.flush()
