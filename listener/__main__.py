"""`python -m listener [--record DIR]`: run until SIGTERM/SIGINT, then flush the outbox and exit 0.

`--record DIR` (or LISTENER_RECORD_DIR) also writes every raw frame to DIR (listener/record.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from collections.abc import Callable

from cryptoalerts.config import ConfigError
from listener.log import logger
from listener.service import serve
from listener.settings import Settings


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _request_stop, stop, signum)
    await serve(settings, stop)


def _request_stop(stop: asyncio.Event, signum: int) -> None:
    logger.info("stop requested", extra={"signal": signal.Signals(signum).name})
    stop.set()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (the image has it): its loop and transports cost less per frame."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _record_dir(argv: list[str]) -> str | None:
    """`--record DIR` from the command line. argparse (0.3 MB resident with the gettext it pulls
    in) is imported only when there are arguments: the service itself runs without any."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m listener", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--record", metavar="DIR", help="write every raw frame, compressed, one file per hour")
    record: str | None = parser.parse_args(argv).record
    return record


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    record = _record_dir(args) if args else None
    # EMF lines are printed; without a TTY stdout is block-buffered and CloudWatch would see them late.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        logger.error("configuration error; not starting", extra={"error": str(exc)})
        return 2
    if record:
        settings = dataclasses.replace(settings, record_dir=record)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_main(settings))
    logger.info("listener stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
