"""`make run` / `make demo` (`python -m infra.local [--demo]`): the whole pipeline on this machine.

make run   live markets; the real Telegram bot when TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are
           set (commands fetched with getUpdates), otherwise a local fake that prints every
           message as it would look and takes commands typed into this console.
make demo  offline: local fake exchanges replay data/ plus a scripted cascade and an OI
           surge, time compressed so both alert kinds appear within a minute; then one reply
           of each command; ends with a summary.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from cryptoalerts import config
from infra.fakes.telegram import FakeTelegram
from infra.local import console
from infra.local.stack import LocalStack, Markets, Telegram

STATUS_EVERY_S = 5.0
FAKE_TOKEN = "local-fake-token"  # the fake accepts any token; a real one never goes to the fake
FAKE_CHAT = "1"


def telegram_target(fake_out: FakeTelegram | None) -> Telegram:
    token, chat = os.environ.get(config.TELEGRAM_BOT_TOKEN), os.environ.get(config.TELEGRAM_CHAT_ID)
    if token and chat:
        return Telegram(api_url=config.get(config.TELEGRAM_API_URL), token=token, chat_id=chat, poll_updates=True)
    assert fake_out is not None
    return Telegram(api_url=fake_out.api_url, token=FAKE_TOKEN, chat_id=FAKE_CHAT)


def run_live() -> int:
    real = bool(os.environ.get(config.TELEGRAM_BOT_TOKEN) and os.environ.get(config.TELEGRAM_CHAT_ID))
    fake = None if real else FakeTelegram(print_messages=True).start()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(
        "crypto-alerts local stack: live markets, AWS emulated by moto server, Telegram "
        + ("(real bot)" if real else "printed here (set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID for the real bot)"),
        flush=True,
    )
    stack = LocalStack(Markets.live(), telegram_target(fake))
    try:
        stack.start()
        print(
            f"logs: {stack.log_dir}   listener: http://127.0.0.1:{stack.health_port}/status   Ctrl-C stops", flush=True
        )
        if fake is not None:
            console.start(fake, FAKE_CHAT)
            print(f"commands: {console.HINT}", flush=True)
        else:
            print("commands: write to your bot in Telegram; this stack fetches them with getUpdates", flush=True)
        while not stop.wait(STATUS_EVERY_S):
            print(time.strftime("[%H:%M:%S] ") + stack.status_line(), flush=True)
    finally:
        print("stopping...", flush=True)
        stack.stop()
        if fake is not None:
            fake.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="offline scenario with fake exchanges; ends by itself")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "botocore", "urllib3"):  # request-level chatter; the status line says what matters
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.demo:
        from infra.local.demo import run_demo

        return run_demo()
    return run_live()


if __name__ == "__main__":
    sys.exit(main())
