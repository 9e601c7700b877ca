"""What the benchmark server sends, per exchange: frames in the exchange's wire format, what each
kind of connection receives, the REST documents clients read first, and WebSocket framing.

Pure apart from reading the recording: the server, the orchestrator and the unit tests build the
very same frames from it. An exchange is a `Wire`; `WIRES` names the ones the benchmark can serve.

Three exchanges are served, each rebuilding the one real recording (data/, 1,426 Binance
liquidations) in its own frame format, one liquidation a frame: Binance `!forceOrder@arr`, Bybit
`allLiquidation.<SYMBOL>` (`BybitWire`), OKX `liquidation-orders` (`OkxWire`); `AllWires` serves
the three at once on one port, as the listener holds them in production.

Adding an exchange: write a `Wire` that rebuilds the recording's liquidations in that exchange's
frame format (`frames`), says which paths its clients connect to and what a connection on each
receives (`accept`), answers its subscribe messages (`on_message`), serves the REST documents its
clients read before subscribing (`rest`), names the listener's environment for it
(`listener_env`) and the notional a frame carries (`notional_usd`); then register it in `WIRES`.
The consumers name theirs in `consumers/bare.py` and `consumers/cryptofeed_feed.py`.
"""

from __future__ import annotations

import csv
import json
import struct
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, Protocol
from urllib.parse import parse_qs

from cryptoalerts.timeutil import parse_iso, to_epoch_ms
from infra.fakes import binance_ws, bybit_ws, okx_ws
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
    # The frame keys it receives, when the transform only filters on them (counted without it).
    keys: frozenset[str] | None = None
    inner: Any = None  # what a wrapping wire (AllWires) wraps


NOTHING = Subscription(frozenset(), lambda _text, _key: None, keys=frozenset())


class Wire(Protocol):
    name: str
    exchanges: tuple[str, ...]  # the listener's feeds it serves

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

    def notional_usd(self, frame: Frame) -> float: ...


# ---------------------------------------------------------------- the recording, row by row
@dataclass(frozen=True, slots=True)
class Row:
    contract: str  # Binance's name: BTCUSDT, 1000PEPEUSDT, BTCUSDC
    side: str  # Binance's order side: SELL = a long was liquidated
    price: str
    qty: str
    time_ms: int


@cache
def _recording() -> tuple[Row, ...]:
    with open(BINANCE_LIQUIDATIONS, encoding="utf-8", newline="") as fh:
        return tuple(
            Row(r["symbol"], r["side"], r["avg_price"], r["filled_qty"], to_epoch_ms(parse_iso(r["timestamp"])))
            for r in csv.DictReader(fh)
        )


def looped_rows(count: int, first_round: int, keep: Callable[[Row], bool]) -> list[Row]:
    """`count` kept rows of the recording, round after round from `first_round`, each round shifted
    by the recording's span (as `binance_ws.looped_recording_frames`): new liquidations, not repeats."""
    rows = [row for row in _recording() if keep(row)]
    out: list[Row] = []
    round_ = first_round
    while len(out) < count:
        shift = round_ * binance_ws.RECORDING_SPAN_MS
        out.extend(Row(r.contract, r.side, r.price, r.qty, r.time_ms + shift) for r in rows[: count - len(out)])
        round_ += 1
    return out


# ---------------------------------------------------------------- Binance USD-M
def _identity(text: str, _key: str) -> str:
    return text


class BinanceWire:
    """`!forceOrder@arr` as the listener reads it, and the combined `/stream?streams=` form that
    per-symbol clients (cryptofeed) read: `{"stream":"btcusdt@forceOrder","data":<frame>}`, only
    for the symbols in the URL, as Binance sends them."""

    name = "binance"
    exchanges: tuple[str, ...] = ("binance",)
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

    def notional_usd(self, frame: Frame) -> float:
        order = json.loads(frame[0])["o"]
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


# ---------------------------------------------------------------- Bybit v5 linear
def _usdt(row: Row) -> bool:
    return row.contract.endswith("USDT")


class _SubscribedByMessage:
    """A wire whose connections all open at one path and then subscribe by message (Bybit, OKX)."""

    PATH: str

    def stream_path(self) -> str:
        return self.PATH

    def accept(self, path: str) -> Subscription | None:
        return NOTHING if path.partition("?")[0] == self.PATH else None


class BybitWire(_SubscribedByMessage):
    """`allLiquidation.<SYMBOL>` at `/v5/public/linear`, as the listener and the bare client read it:
    `{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":T,"data":[{"T":T,"s":"BTCUSDT","S":"Buy",
    "v":qty,"p":price}]}` (`S` the position's side: a Binance SELL, a long liquidated, is `Buy`). Bybit
    batches a symbol's liquidations of 500 ms into one frame; the recording (Binance sends at most
    one a symbol a second) never has two within 500 ms but for its duplicated tail, so one a frame
    is how Bybit would have sent it. Only the recording's USDT contracts: Bybit's USDC perpetuals
    are other names (`BTCPERP`), which the listener does not watch.

    Also the legacy `liquidation.<SYMBOL>` topic that cryptofeed 2.4.1 subscribes to (Bybit has
    deprecated it for `allLiquidation`; on it Bybit pushes at most one liquidation a symbol a
    second): here the same liquidations, every one, one an object,
    `{"topic":"liquidation.BTCUSDT","type":"snapshot","ts":T,"data":{"updatedTime":T,"symbol":..,
    "side":..,"size":..,"price":..}}`. Subscriptions are answered as Bybit answers them; a request
    naming a topic it does not have is refused whole."""

    name = "bybit"
    exchanges: tuple[str, ...] = ("bybit",)
    PATH = bybit_ws.PATH
    INSTRUMENTS = "/v5/market/instruments-info"
    TOPICS = (bybit_ws.TOPIC_PREFIX, "liquidation.")

    def frames(self, count: int, first_round: int) -> list[Frame]:
        return [(self.frame(row), row.contract) for row in looped_rows(count, first_round, _usdt)]

    @staticmethod
    def frame(row: Row) -> str:
        side = "Buy" if row.side == "SELL" else "Sell"
        entry = bybit_ws.entry(row.contract, side, row.qty, row.price, row.time_ms)
        return str(bybit_ws.liquidation_frame(row.contract, [entry]).payload)

    def listener_env(self, base_url: str) -> dict[str, str]:
        return {"BYBIT_WS_URL": base_url + self.PATH, "BYBIT_REST_URL": _https(base_url)}

    def contracts(self) -> frozenset[str]:
        return frozenset(row.contract for row in _recording() if _usdt(row))

    def on_message(self, subscription: Subscription, message: str) -> tuple[Subscription, list[str]]:
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return subscription, [_compact({"success": False, "ret_msg": "Failed to decode incoming data", "op": ""})]
        op = request.get("op")
        # As Bybit answers: its req_id echoed, "" when it had none.
        reply = {"success": True, "ret_msg": "", "conn_id": "bench", "req_id": str(request.get("req_id", "")), "op": op}
        topics: frozenset[str] = subscription.key  # type: ignore[assignment]
        if op == "ping":
            reply["ret_msg"] = "pong"
            return subscription, [_compact(reply)]
        if op not in ("subscribe", "unsubscribe"):
            reply.update(success=False, ret_msg="error:invalid op")
            return subscription, [_compact(reply)]
        args = [str(t) for t in request.get("args") or []]
        listed = self.contracts()
        unknown = [t for t in args if not (t.startswith(self.TOPICS) and t.partition(".")[2] in listed)]
        if unknown:  # Bybit refuses the whole request, naming the topic
            reply.update(success=False, ret_msg=f"error:handler not found,topic:{unknown[0]}")
            return subscription, [_compact(reply)]
        topics = topics | set(args) if op == "subscribe" else topics - set(args)
        return self.subscription(topics), [_compact(reply)]

    def subscription(self, topics: frozenset[str]) -> Subscription:
        every = frozenset(t.partition(".")[2] for t in topics if t.startswith(bybit_ws.TOPIC_PREFIX))
        legacy = frozenset(t.partition(".")[2] for t in topics if t.startswith("liquidation.")) - every

        def transform(text: str, contract: str) -> str | None:
            if contract in every:
                return text
            return _legacy_bybit(text) if contract in legacy else None

        return Subscription(topics, transform, {"topics": len(topics)}, keys=every | legacy)

    def rest(self, path: str, frames: Iterable[Frame]) -> Any | None:
        route, _, query = path.partition("?")
        if route != self.INSTRUMENTS:
            return None
        category = (parse_qs(query).get("category") or [""])[0]
        if category not in ("linear", "spot"):  # cryptofeed reads the spot list too
            return {"retCode": 10001, "retMsg": "Illegal category", "result": {}, "retExtInfo": {}, "time": 0}
        listed = [] if category == "spot" else [bybit_instrument(c) for c in sorted({c for _, c in frames})]
        result = {"category": category, "list": listed, "nextPageCursor": ""}
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 0}

    def notional_usd(self, frame: Frame) -> float:
        return sum(float(e["p"]) * float(e["v"]) for e in json.loads(frame[0])["data"])


def bybit_instrument(contract: str) -> dict[str, Any]:
    """One linear USDT perpetual of `/v5/market/instruments-info`: the fields clients read."""
    base = contract.removesuffix("USDT")
    return {"symbol": contract, "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": base,
            "quoteCoin": "USDT", "settleCoin": "USDT", "priceFilter": {"tickSize": "0.0001"},
            "lotSizeFilter": {"qtyStep": "0.001"}}  # fmt: skip


def _legacy_bybit(text: str) -> str:
    frame = json.loads(text)
    e = frame["data"][0]
    data = {"updatedTime": e["T"], "symbol": e["s"], "side": e["S"], "size": e["v"], "price": e["p"]}
    return _compact({"topic": "liquidation." + e["s"], "type": "snapshot", "ts": frame["ts"], "data": data})


# ---------------------------------------------------------------- OKX v5 public
OKX_CONTRACT_SIZES = {"BTC": Decimal("0.01"), "ETH": Decimal("0.1")}  # OKX's ctVal: coins a contract


class OkxWire(_SubscribedByMessage):
    """`liquidation-orders` of `instType` SWAP at `/ws/v5/public`: one subscription for every swap,
    `{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0",
    "bkPx":price,"ccy":"","posSide":"long","side":"sell","sz":contracts,"ts":"T"}],"instFamily":..,
    "instId":"BTC-USDT-SWAP","instType":"SWAP","uly":..}]}` (`side` the liquidation order's, as
    Binance's). Instrument ids keep the recording's base names (`1000PEPE-USDT-SWAP`, so every
    symbol normalises as on Binance); `sz` is in contracts of OKX's real size for BTC (0.01) and
    ETH (0.1), of one coin for the rest, read from `/api/v5/public/instruments?instType=SWAP`."""

    name = "okx"
    exchanges: tuple[str, ...] = ("okx",)
    PATH = okx_ws.PATH
    INSTRUMENTS = "/api/v5/public/instruments"

    def frames(self, count: int, first_round: int) -> list[Frame]:
        return [(self.frame(row), okx_inst(row.contract)) for row in looped_rows(count, first_round, _any)]

    def frame(self, row: Row) -> str:
        inst_id = okx_inst(row.contract)
        contracts = Decimal(row.qty) / self.contract_size(inst_id)
        side = row.side.lower()
        pos_side = "long" if side == "sell" else "short"
        detail = okx_ws.detail(side, _plain(contracts), row.price, row.time_ms, pos_side)
        return str(okx_ws.liquidation_frame([(inst_id, [detail])]).payload)

    def contract_size(self, inst_id: str) -> Decimal:
        return OKX_CONTRACT_SIZES.get(inst_id.split("-", 1)[0], Decimal(1))

    def listener_env(self, base_url: str) -> dict[str, str]:
        return {"OKX_WS_URL": base_url + self.PATH, "OKX_REST_URL": _https(base_url)}

    def on_message(self, subscription: Subscription, message: str) -> tuple[Subscription, list[str]]:
        if message == "ping":
            return subscription, ["pong"]
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("op") not in ("subscribe", "unsubscribe"):
            error = {"event": "error", "code": "60012", "msg": f"Invalid request: {message[:100]}", "connId": "bench"}
            return subscription, [_compact(error)]
        ident = {"id": request["id"]} if "id" in request else {}
        if request.get("args") != [okx_ws.ARG]:
            msg = f"Wrong URL or channel:{request.get('args')}, doesn't exist"
            return subscription, [_compact({**ident, "event": "error", "code": "60018", "msg": msg, "connId": "bench"})]
        reply = _compact({**ident, "event": request["op"], "arg": okx_ws.ARG, "connId": "bench"})
        if request["op"] == "unsubscribe":
            return NOTHING, [reply]
        return Subscription("swaps", _identity, {"channel": okx_ws.CHANNEL}), [reply]

    def rest(self, path: str, frames: Iterable[Frame]) -> Any | None:
        route, _, query = path.partition("?")
        if route != self.INSTRUMENTS:
            return None
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if params.get("instType") not in ("SWAP", "SPOT", "FUTURES", "OPTION"):  # cryptofeed reads all four
            return {"code": "51000", "msg": "Parameter instType error", "data": []}
        listed = sorted({inst for _, inst in frames}) if params["instType"] == "SWAP" else []
        if "instId" in params:
            listed = [i for i in listed if i == params["instId"]]
            if not listed:
                return {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
        return {"code": "0", "msg": "", "data": [self.instrument(i) for i in listed]}

    def instrument(self, inst_id: str) -> dict[str, Any]:
        """One linear swap of `/api/v5/public/instruments`: the fields clients read."""
        base, quote, _ = inst_id.split("-")
        return {"instType": "SWAP", "instId": inst_id, "uly": f"{base}-{quote}", "instFamily": f"{base}-{quote}",
                "settleCcy": quote, "ctVal": _plain(self.contract_size(inst_id)), "ctMult": "1", "ctValCcy": base,
                "ctType": "linear", "state": "live", "tickSz": "0.0001", "lotSz": "0.001", "minSz": "0.001",
                "baseCcy": "", "quoteCcy": ""}  # fmt: skip

    def notional_usd(self, frame: Frame) -> float:
        total = 0.0
        for item in json.loads(frame[0])["data"]:
            size = float(self.contract_size(item["instId"]))
            total += sum(float(d["bkPx"]) * float(d["sz"]) * size for d in item["details"])
        return total


def okx_inst(contract: str) -> str:
    """OKX's id of a swap: BTCUSDT -> BTC-USDT-SWAP."""
    base, quote, _ = _split_contract(contract)
    return f"{base}-{quote}-SWAP"


def _any(_row: Row) -> bool:
    return True


def _plain(value: Decimal) -> str:
    """A decimal as OKX writes numbers: no exponent, no trailing zeros (0.5, 12, 0.003)."""
    return format(value.normalize(), "f")


def _https(ws_base: str) -> str:
    return ws_base.replace("wss://", "https://", 1).replace("ws://", "http://", 1)


def _compact(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- the three at once
class AllWires:
    """Binance, Bybit and OKX on one port, as the listener holds them in production: their frames
    interleaved (one of each in turn), each connection served by the wire its path belongs to.
    A frame's key is `<exchange> <key>`, so each wire's subscriptions see only their own."""

    name = "all"

    def __init__(self, wires: Iterable[Wire]) -> None:
        self.wires = {w.name: w for w in wires}
        self.exchanges = tuple(self.wires)

    def frames(self, count: int, first_round: int) -> list[Frame]:
        share = -(-count // len(self.wires))
        lists = [[(t, f"{name} {k}") for t, k in w.frames(share, first_round)] for name, w in self.wires.items()]
        return [frame for group in zip(*lists, strict=True) for frame in group][:count]

    def stream_path(self) -> str:
        return next(iter(self.wires.values())).stream_path()

    def listener_env(self, base_url: str) -> dict[str, str]:
        return {k: v for w in self.wires.values() for k, v in w.listener_env(base_url).items()}

    def accept(self, path: str) -> Subscription | None:
        for name, wire in self.wires.items():
            inner = wire.accept(path)
            if inner is not None:
                return self._wrap(name, inner)
        return None

    def on_message(self, subscription: Subscription, message: str) -> tuple[Subscription, list[str]]:
        name, inner = subscription.inner
        changed, replies = self.wires[name].on_message(inner, message)
        return (subscription if changed is inner else self._wrap(name, changed)), replies

    @staticmethod
    def _wrap(name: str, inner: Subscription) -> Subscription:
        prefix = name + " "

        def transform(text: str, key: str) -> str | None:
            return inner.transform(text, key[len(prefix) :]) if key.startswith(prefix) else None

        keys = None if inner.keys is None else frozenset(prefix + k for k in inner.keys)
        return Subscription((name, inner.key), transform, {"exchange": name, **inner.detail}, keys, (name, inner))

    def rest(self, path: str, frames: Iterable[Frame]) -> Any | None:
        everything = list(frames)
        for name, wire in self.wires.items():
            prefix = name + " "
            mine = [(t, k[len(prefix) :]) for t, k in everything if k.startswith(prefix)]
            document = wire.rest(path, mine)
            if document is not None:
                return document
        return None

    def notional_usd(self, frame: Frame) -> float:
        name, _, key = frame[1].partition(" ")
        return self.wires[name].notional_usd((frame[0], key))


_SINGLE: tuple[Wire, ...] = (BinanceWire(), BybitWire(), OkxWire())
WIRES: dict[str, Wire] = {w.name: w for w in (*_SINGLE, AllWires(_SINGLE))}


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
        notional_usd=sum(wire.notional_usd(frame) for frame in frames),
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
