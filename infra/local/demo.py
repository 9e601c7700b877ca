"""`make demo`: the local stack against the offline scenario; ends by itself with a summary."""

from __future__ import annotations

import time
from collections import Counter

from infra.local.scenario import Scenario, message_kinds
from infra.local.stack import LocalStack

DEADLINE_S = 90.0  # both kinds normally appear within about 30 s


def run_demo() -> int:
    started = time.monotonic()
    scenario = Scenario(print_messages=True).start()
    stack = LocalStack(scenario.markets(), scenario.telegram_target(), clock=scenario.clock())
    stack.before_tick = scenario.before_tick
    print(
        "crypto-alerts demo (offline): fake Binance/Bybit/OKX replaying data/, a scripted BTC cascade,\n"
        f"a BTC open-interest surge on binance+bybit at scheduler minute {scenario.surge.minute}; "
        f"one scheduler minute every {scenario.minute_s} s.",
        flush=True,
    )
    try:
        stack.start()
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
        statuses = Counter(str(item.get("status")) for item in stack.history())
        kinds = message_kinds([m.rendered for m in scenario.telegram.messages])
    finally:
        stack.stop()
        scenario.stop()
    elapsed = time.monotonic() - started
    ok = all(kinds.values())
    print("\n=== demo summary ===")
    print(f"elapsed: {elapsed:.1f} s")
    print(f"Telegram messages: {sum(kinds.values())} ({', '.join(f'{k}: {v}' for k, v in kinds.items())})")
    print(f"alert history: {dict(statuses) or 'empty'}")
    print("result: both alert kinds delivered" if ok else "result: FAILED, an alert kind is missing (see .local/logs)")
    return 0 if ok else 1
