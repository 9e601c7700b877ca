"""`make demo`: the local stack against the offline scenario; both alert kinds, then one reply of
each command typed as a user would; ends by itself with a summary."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

from cryptoalerts.timeutil import to_epoch_ms, utc_now
from infra.local import console
from infra.local.scenario import Scenario, Surge, message_kinds
from infra.local.stack import LocalStack

DEADLINE_S = 90.0  # both kinds normally appear within about 30 s
REPLY_WAIT_S = 20.0
# One of each command, in the order a trader might ask.
TOUR = ("/start", "/help", "/price BTC", "/volume BTC", "/oi BTC", "/cvd BTC", "/profile BTC", "/alerts", "/status")
# The surge's volume: the bars around it trade this many times their usual volume.
SURGE_VOLUME = 3.2


def run_demo() -> int:
    started = time.monotonic()
    surge = Surge()
    # The scheduler's minutes start in the past and catch up with the clock, so the minutes it
    # stores (the surge among them) are "the last minutes" when /oi asks about them.
    start_minute = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=surge.minute + 4)
    scenario = Scenario(print_messages=True, surge=surge, start_minute=start_minute).start()
    stack = LocalStack(scenario.markets(), scenario.telegram_target(), clock=scenario.clock())
    stack.before_tick = scenario.before_tick
    print(
        "crypto-alerts demo (offline): fake Binance/Bybit/OKX (REST and liquidation WebSockets), Binance\n"
        "replaying data/; a BTC cascade split across Binance (4) and Bybit (3), so that only the two\n"
        "exchanges together reach the count of 5; a BTC open-interest surge on binance+bybit at scheduler\n"
        f"minute {scenario.surge.minute}; one scheduler minute every {scenario.minute_s} s; then one reply of\n"
        f"each command.\ncommands: {console.HINT}",
        flush=True,
    )
    answered: list[str] = []
    try:
        stack.start()
        console.start(scenario.telegram, scenario.telegram_target().chat_id)
        scenario.feed_recording()
        scenario.feed_cascade()
        next_status = 0.0
        kinds = message_kinds([])
        while time.monotonic() - started < DEADLINE_S:
            kinds = message_kinds([m.rendered for m in scenario.telegram.messages])
            if all(kinds.values()):
                time.sleep(2 * scenario.minute_s)  # let anything unexpected show up before the summary
                break
            if time.monotonic() >= next_status:
                print(time.strftime("[%H:%M:%S] ") + stack.status_line(), flush=True)
                next_status = time.monotonic() + 5
            time.sleep(0.2)
        print(time.strftime("[%H:%M:%S] ") + stack.status_line(), flush=True)
        answered = tour(scenario)
        scenario.telegram.updates.wait_delivered()  # commands typed meanwhile get their answers too
        statuses = Counter(str(item.get("status")) for item in stack.history())
        kinds = message_kinds([m.rendered for m in scenario.telegram.messages])
    finally:
        stack.stop()
        scenario.stop()
    elapsed = time.monotonic() - started
    ok = all(kinds.values()) and len(answered) == len(TOUR)
    print("\n=== demo summary ===")
    print(f"elapsed: {elapsed:.1f} s")
    print(f"Telegram alerts: {sum(kinds.values())} ({', '.join(f'{k}: {v}' for k, v in kinds.items())})")
    print(f"alert history: {dict(statuses) or 'empty'}")
    print(f"commands answered: {len(answered)} of {len(TOUR)} ({' '.join(answered)})")
    missing = [c for c in TOUR if c not in answered]
    if not all(kinds.values()):
        print("result: FAILED, an alert kind is missing (see .local/logs)")
    elif missing:
        print(f"result: FAILED, no reply to {' '.join(missing)} (see .local/logs/CommandsFunction.log)")
    else:
        print("result: both alert kinds delivered, every command answered")
    return 0 if ok else 1


def tour(scenario: Scenario) -> list[str]:
    """Type each command of TOUR as the user would and wait for its reply; the commands answered."""
    fake = scenario.telegram
    now_ms = to_epoch_ms(utc_now())
    # The surge came with heavy trading: the last closed 15-minute bar and the current one.
    scenario.exchanges.market.surge_volume(scenario.surge.symbol, SURGE_VOLUME, now_ms - now_ms % 900_000 - 900_000)
    print("\n=== one reply of each command ===", flush=True)
    answered = []
    for text in TOUR:
        update = fake.updates.user_says(text, chat_id=int(scenario.telegram_target().chat_id))
        message_id = update["message"]["message_id"]
        deadline = time.monotonic() + REPLY_WAIT_S
        while time.monotonic() < deadline:
            if any(m.reply_to == message_id for m in fake.messages):
                answered.append(text)
                break
            time.sleep(0.05)
    return answered
