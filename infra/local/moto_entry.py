"""moto server's entry point for the local stack and the tests, with SQS's clock read cheaply.

moto's SQS asks the wall clock (`unix_time_millis`, built from `datetime.utcnow()` arithmetic, about
10 µs a call) once per stored message, three times over, on every message it accepts: a queue of
500 alerts costs a send 15 ms and a storm of 500 alerts 5 s, where SQS answers in tens of
milliseconds whatever is queued. Reading the same clock with `time.time()` keeps moto's behaviour
and makes its cost per stored message about a hundred times smaller, so a storm measures the
listener, not the emulator. If moto ever stops reading time through these two names, the patch
does nothing and moto is only slower: `tests/integration/test_emulator_clock.py` says so.
"""

from __future__ import annotations

import datetime
import time

import moto.sqs.models as sqs_models
from moto.core import utils
from moto.server import main


def unix_time(dt: datetime.datetime | None = None) -> float:
    return time.time() if dt is None else utils.unix_time(dt)


def unix_time_millis(dt: datetime.datetime | None = None) -> float:
    return unix_time(dt) * 1000.0


def patch() -> bool:
    """Whether moto's SQS still reads the clock through the names this replaces (and now ours)."""
    if not (hasattr(sqs_models, "unix_time") and hasattr(sqs_models, "unix_time_millis")):
        return False
    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = unix_time_millis
    return True


if __name__ == "__main__":
    patch()
    main()
