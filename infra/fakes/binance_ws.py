"""A local WebSocket server speaking Binance USD-M's liquidation stream (`!forceOrder@arr`).

Real wire format (frames as Binance sends them, plain or in the combined-stream envelope), served
at the routed path `/market/ws/!forceOrder@arr`. A feed of steps drives it: frames (the real
recording, scripted cascades, garbage) and faults (drop every connection, go silent, refuse
connections for a while). Like the exchange, it broadcasts each frame to every open connection,
so two overlapping connections both see it; unlike the exchange, it holds the feed while no client
is connected, so a test can assert that every frame was delivered and every alert arrived once.
`max_connection_age_s` cuts each connection at a (time-compressed) 24 h mark.

    server = await FakeBinanceWS(max_connection_age_s=2).start()
    server.feed(*cascade_frames("BTCUSDT", ...), Drop(), Garbage("not json"), Silence(1.5))
    await server.drained()
    await server.stop()

`python -m infra.fakes.binance_ws --replay data/binance_liquidations_2025-10-22.csv`
serves the recording for the local stack and the benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
from pathlib import Path

from cryptoalerts.timeutil import parse_iso, to_epoch_ms
from infra.fakes.ws_server import Drop, FakeExchangeWS, Garbage, Refuse, Send, Silence, Step

__all__ = ["Drop", "FakeBinanceWS", "Garbage", "Refuse", "Send", "Silence", "Step", "cascade_frames", "frame"]

PATH = "/market/ws/!forceOrder@arr"
STREAM = "!forceOrder@arr"
# The recording spans about 18.5 minutes; a looped replay moves on by 20 each round.
RECORDING_SPAN_MS = 20 * 60_000


# ---------------------------------------------------------------- frames in Binance's format
def frame(contract: str, side: str, price: str | float, qty: str | float, time_ms: int, *, wrap: bool = False) -> str:
    """A forceOrder frame; prices and quantities as strings, as Binance sends them."""
    p, q = str(price), str(qty)
    payload = {
        "e": "forceOrder",
        "E": time_ms,
        "o": {
            "s": contract,
            "S": side,
            "o": "LIMIT",
            "f": "IOC",
            "q": q,
            "p": p,
            "ap": p,
            "X": "FILLED",
            "l": q,
            "z": q,
            "T": time_ms,
        },
    }
    if wrap:
        return json.dumps({"stream": STREAM, "data": payload}, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def recording_frames(csv_path: Path | str, *, wrap: bool = False, shift_ms: int = 0) -> list[str]:
    """The recording's rows rebuilt as frames (its README says how), in recorded order."""
    with open(csv_path, encoding="utf-8", newline="") as fh:
        return [
            frame(
                row["symbol"],
                row["side"],
                row["avg_price"],
                row["filled_qty"],
                to_epoch_ms(parse_iso(row["timestamp"])) + shift_ms,
                wrap=wrap,
            )
            for row in csv.DictReader(fh)
        ]


def looped_recording_frames(csv_path: Path | str, count: int, *, first_round: int = 0, wrap: bool = False) -> list[str]:
    """`count` frames of the recording replayed round after round, from round `first_round` on.

    Each round is shifted by the recording's span (`first_round` may be negative: earlier), so a
    looped replay is new liquidations, not repeats that the listener's duplicate filter would drop.
    """
    frames: list[str] = []
    round_ = first_round
    while len(frames) < count:
        frames.extend(recording_frames(csv_path, wrap=wrap, shift_ms=round_ * RECORDING_SPAN_MS))
        round_ += 1
    return frames[:count]


def cascade_frames(
    contract: str,
    side: str,
    count: int,
    usd_each: float,
    start_ms: int,
    spacing_ms: int = 1000,
    price: float = 100.0,
    *,
    wrap: bool = False,
) -> list[str]:
    """`count` liquidations of `usd_each` USD, `spacing_ms` apart."""
    qty = round(usd_each / price, 8)
    return [frame(contract, side, price, qty, start_ms + i * spacing_ms, wrap=wrap) for i in range(count)]


class FakeBinanceWS(FakeExchangeWS):
    """Binance's all-market stream: no subscription, every connection gets every frame."""

    path = PATH
    other_paths = ("/ws/!forceOrder@arr", "/market/stream", "/stream")


# ---------------------------------------------------------------- command line
async def _serve_cli(args: argparse.Namespace) -> None:
    server = await FakeBinanceWS(args.host, args.port, rate_per_s=args.rate).start()
    print(json.dumps({"url": server.url}), flush=True)
    rounds = 0
    while True:
        if args.frames:
            with open(args.frames, encoding="utf-8") as fh:
                frames = [line.rstrip("\n") for line in fh if line.strip()]
        elif args.synthetic:
            frames = synthetic_frames(args.synthetic, wrap=args.wrap, start_ms=_SYNTHETIC_START_MS + rounds * 10**9)
        elif args.replay:
            # Each round is shifted past the previous one, so a looped replay is new liquidations,
            # not repeats that the listener's duplicate filter would drop.
            frames = recording_frames(args.replay, wrap=args.wrap, shift_ms=rounds * RECORDING_SPAN_MS)
        else:
            frames = []
        server.feed(frames)
        await server.drained(timeout=10**9)
        rounds += 1
        if not args.loop or not frames or args.frames:
            break
    await asyncio.Event().wait()  # keep serving (pings, reconnects) until killed


_SYNTHETIC_START_MS = 1_761_125_800_000


def synthetic_frames(count: int, *, wrap: bool = False, start_ms: int = _SYNTHETIC_START_MS) -> list[str]:
    """`count` distinct frames cycling over the recording's mix of symbols and sizes (benchmarks)."""
    contracts = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "1000PEPEUSDT", "XRPUSDC", "币安人生USDT", "DOGEUSDT", "KDAUSDT"]
    sizes = [12.5, 480.0, 2_600.0, 27_000.0, 60_000.0, 150_000.0]
    return [
        frame(
            contracts[i % len(contracts)],
            "SELL" if i % 3 else "BUY",
            "100.0",
            f"{sizes[i % len(sizes)] / 100:.4f}",
            start_ms + i * 7,
            wrap=wrap,
        )
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--replay", help="CSV recording to serve (data/binance_liquidations_*.csv)")
    parser.add_argument("--frames", help="file of ready-made messages, one per line, served as they are")
    parser.add_argument("--synthetic", type=int, default=0, help="serve this many synthetic frames instead")
    parser.add_argument("--rate", type=float, default=None, help="frames per second (default: as fast as possible)")
    parser.add_argument("--wrap", action="store_true", help="combined-stream envelope {stream, data}")
    parser.add_argument("--loop", action="store_true", help="serve the frames again and again")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_cli(args))


if __name__ == "__main__":
    main()
