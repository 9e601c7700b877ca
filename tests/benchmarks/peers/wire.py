"""What the benchmark server sends, per exchange: frames in the exchange's wire format, what each
kind of connection receives, the REST documents clients read first, and WebSocket framing.

Pure apart from reading the recording: the server, the orchestrator and the unit tests build the
very same frames from it. An exchange is a `Wire`; `WIRES` names the ones the benchmark can serve.

Adding an exchange (Bybit `allLiquidation.*`, OKX `liquidation-orders`): write a `Wire` that
rebuilds the recording's liquidations in that exchange's frame format (`frames`), says which paths
its clients connect to and what a connection on each receives (`accept`), answers its subscribe
messages (`on_message`, e.g. Bybit's `{"op":"subscribe"}` acknowledgement and `{"op":"ping"}`),
serves the REST documents its clients read before subscribing (`rest`: Bybit's and OKX's
instruments), names the listener's environment for it (`listener_env`) and the notional its
frames carry (`notional_usd`); then register it in `WIRES`. The consumers name theirs in
`consumers/bare.py` and `consumers/cryptofeed_feed.py`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

from infra.fakes import binance_ws
from infra.repo import BINANCE_LIQUIDATIONS

# A frame as the server keeps it: its text and the key a subscription filters on (the contract).
Frame = tuple[str, str]
# What one connection receives: each frame's text as sent (maybe wrapped), or None to skip it.
Transform = Callable[[str, str], str | None]


@dataclass(frozen=True)
class Subscription:
    """What one connection has asked for. `key` names it, so its encoded frames can be reused."""

    key: Hashable
    transform: Transform
    detail: dict[str, Any] = field(default_factory=dict)


class Wire(Protocol):
    name: str

    def frames(self, count: int, first_round: int) -> list[Frame]: ...

    def stream_path(self) -> str:
        """The path the listener and the bare client read (the exchange's all-market stream)."""
        ...

    def listener_env(self, base_url: str) -> dict[str, str]: ...

    def accept(self, path: str) -> Subscription | None:
        """The subscription a connection to `path` (with its query) starts with; None: 404."""
        ...

    def on_message(self, subscription: Subscription, message: str) -> tuple[Subscription, list[str]]:
        """A client's message: the subscription it leads to and the replies to send."""
        ...

    def rest(self, path: str, frames: Iterable[Frame]) -> Any | None:
        """The JSON document a GET of `path` answers (instrument lists), or None: 404."""
        ...

    def notional_usd(self, frame_text: str) -> float: ...


# ---------------------------------------------------------------- Binance USD-M
def _identity(text: str, _key: str) -> str:
    return text


class BinanceWire:
    """`!forceOrder@arr` as the listener reads it, and the combined `/stream?streams=` form that
    per-symbol clients (cryptofeed) read: `{"stream":"btcusdt@forceOrder","data":<frame>}`, only
    for the symbols in the URL, as Binance sends them."""

    name = "binance"
    RAW_PATHS = (binance_ws.PATH, "/ws/!forceOrder@arr")
    COMBINED_PATHS = ("/stream", "/market/stream")
    EXCHANGE_INFO = "/fapi/v1/exchangeInfo"

    def frames(self, count: int, first_round: int) -> list[Frame]:
        texts = binance_ws.looped_recording_frames(BINANCE_LIQUIDATIONS, count, first_round=first_round)
        return [(text, json.loads(text)["o"]["s"]) for text in texts]

    def stream_path(self) -> str:
        return binance_ws.PATH

    def listener_env(self, base_url: str) -> dict[str, str]:
        return {"BINANCE_FUTURES_WS_URL": base_url + self.stream_path()}

    def accept(self, path: str) -> Subscription | None:
        route, _, query = path.partition("?")
        if route in self.RAW_PATHS:
            return Subscription("raw", _identity)
        if route not in self.COMBINED_PATHS:
            return None
        streams = {s for value in parse_qs(query).get("streams", []) for s in value.split("/") if s}
        if not streams:
            return None
        if binance_ws.STREAM in streams:
            return Subscription(("all", binance_ws.STREAM), _wrap_all, {"streams": len(streams)})
        wanted = {s.lower() for s in streams}

        def per_symbol(text: str, contract: str) -> str | None:
            stream = contract.lower() + "@forceOrder"  # as Binance names it: btcusdt@forceOrder
            return _envelope(stream, text) if stream.lower() in wanted else None

        return Subscription(frozenset(wanted), per_symbol, {"streams": len(streams)})

    def on_message(self, subscription: Subscription, message: str) -> tuple[Subscription, list[str]]:
        return subscription, []  # Binance streams are chosen by URL; nothing to answer

    def rest(self, path: str, frames: Iterable[Frame]) -> Any | None:
        if path.partition("?")[0] != self.EXCHANGE_INFO:
            return None
        return exchange_info(sorted({contract for _, contract in frames}))

    def notional_usd(self, frame_text: str) -> float:
        order = json.loads(frame_text)["o"]
        return float(order["ap"]) * float(order["z"])


def _envelope(stream: str, text: str) -> str:
    return '{"stream":' + json.dumps(stream, ensure_ascii=False) + ',"data":' + text + "}"


def _wrap_all(text: str, _key: str) -> str:
    return _envelope(binance_ws.STREAM, text)


def exchange_info(contracts: Iterable[str]) -> dict[str, Any]:
    """`GET /fapi/v1/exchangeInfo` for these contracts: the fields clients read to list symbols."""
    symbols = []
    for contract in contracts:
        base, quote, kind = _split_contract(contract)
        symbols.append(
            {
                "symbol": contract,
                "pair": contract.split("_", 1)[0],
                "contractType": kind,
                "status": "TRADING",
                "baseAsset": base,
                "quoteAsset": quote,
                "marginAsset": quote,
                "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.0001"}],
            }
        )
    return {"timezone": "UTC", "serverTime": 0, "symbols": symbols}


def _split_contract(contract: str) -> tuple[str, str, str]:
    pair, _, expiry = contract.partition("_")
    for quote in ("USDT", "USDC"):
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)], quote, "CURRENT_QUARTER" if expiry else "PERPETUAL"
    raise ValueError(f"not a USD-margined contract: {contract}")


WIRES: dict[str, Wire] = {BinanceWire.name: BinanceWire()}


# ---------------------------------------------------------------- the frames of one run
# Warm-up frames replay the recording this many rounds (two weeks of event time) before the timed
# ones: the same code paths, but never a repeat the listener's duplicate filter would drop.
WARMUP_ROUNDS_BACK = 1000


@dataclass(frozen=True)
class Phases:
    """The warm-up frames, then the timed ones: the same for every consumer and repetition."""

    warmup: list[Frame]
    timed: list[Frame]

    @classmethod
    def build(cls, wire: Wire, timed: int, warmup: int) -> Phases:
        return cls(warmup=wire.frames(warmup, -WARMUP_ROUNDS_BACK), timed=wire.frames(timed, 0))

    @property
    def total(self) -> int:
        return len(self.warmup) + len(self.timed)


@dataclass(frozen=True)
class Expected:
    """What a consumer that handled every frame must report: checked after every run."""

    frames: int
    notional_usd: float
    repeats: int  # frames identical to an earlier one (the recording's duplicated tail)
    wire_bytes: int  # WebSocket bytes of the all-market stream (what the null consumer counts)


def expected(wire: Wire, frames: list[Frame]) -> Expected:
    seen: set[str] = set()
    repeats = 0
    for text, _ in frames:
        if text in seen:
            repeats += 1
        seen.add(text)
    return Expected(
        frames=len(frames),
        notional_usd=sum(wire.notional_usd(text) for text, _ in frames),
        repeats=repeats,
        wire_bytes=sum(len(ws_frame(text.encode())) for text, _ in frames),
    )


# ---------------------------------------------------------------- WebSocket framing (RFC 6455 §5.2)
def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked, unfragmented frame as a server sends it (FIN set; text by default)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def chunks(texts: Iterable[str], max_bytes: int = 64 * 1024) -> list[tuple[bytes, int]]:
    """Encoded frames joined into writes of at most `max_bytes` (or one frame if larger), each with
    its frame count. A write holds whole frames only, so a pong the library writes in between lands
    between two frames, never inside one."""
    out: list[tuple[bytes, int]] = []
    buf: list[bytes] = []
    size = 0
    for text in texts:
        encoded = ws_frame(text.encode())
        if buf and size + len(encoded) > max_bytes:
            out.append((b"".join(buf), len(buf)))
            buf, size = [], 0
        buf.append(encoded)
        size += len(encoded)
    if buf:
        out.append((b"".join(buf), len(buf)))
    return out
