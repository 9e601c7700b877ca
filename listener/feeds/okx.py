"""OKX v5 `liquidation-orders` for `instType` SWAP (architecture.md §2.7).

- One subscription, `{"id":"1","op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"}]}`,
  acknowledged with `{"id":"1","event":"subscribe","arg":{...},"connId":...}` or refused with
  `{"id":"1","event":"error","code":"60012","msg":...}` (logged and counted; the connection is
  dropped and opened again with backoff).
- A data frame, `{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"instId":"BTC-USDT-SWAP",
  "details":[{"side":"sell","posSide":"long","sz":"12","bkPx":"64000.1","ts":"1692266434010",...}]}]}`:
  every element of every `details` counts (a well-known client reads only the first). `side` is the
  liquidation order's: `sell` means a long was liquidated. OKX sends at most one liquidation per
  instrument per second, and not always in time order.
- `sz` is in contracts: notional = `bkPx` x `sz` x `ctVal` x `ctMult`, the contract size from
  `/api/v5/public/instruments?instType=SWAP[&instId=]` (linear swaps: `ctType` linear, `ctValCcy`
  the coin; inverse ones have `ctVal` in USD and are not read), refreshed hourly. A
  liquidation of an instrument not in the table waits while that instrument is fetched; if OKX
  does not list it either, it is skipped and counted (`unknown_instrument`), never guessed. Inverse
  swaps (`BTC-USD-SWAP`) are not USD-margined: skipped and counted (`unsupported_symbol`).
- OKX closes a connection quiet for 30 s: after 25 s without a message the feed sends the text
  `ping` and expects `pong`. 60 s before a service upgrade OKX sends
  `{"event":"notice","code":"64008",...}`: the stream moves to a new connection at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cryptoalerts.cascade import Liquidation
from cryptoalerts.feeds import OKX
from cryptoalerts.symbols import normalise
from cryptoalerts.timeutil import iso_ms
from listener import rest
from listener.feed import Feed, number_repeats
from listener.log import logger
from listener.parse import (
    MAX_NOTIONAL_USD,
    MAX_TIME_MS,
    FrameError,
    check_size,
    check_time,
    decode_object,
    missing_or_wrong,
    notional,
    number,
    text_field,
)
from listener.stream import Link

CHANNEL = "liquidation-orders"
SUBSCRIBE = '{"id":"1","op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"}]}'
UPGRADE_NOTICE = "64008"
_INF = float("inf")
_SIDES = {"sell": True, "buy": False}  # the liquidation order's side: sell closes a long
INSTRUMENTS = "/api/v5/public/instruments"
# Liquidations waiting for their instrument's contract size, at most; beyond, skipped and counted.
MAX_PARKED = 1000
# An instrument OKX did not list is not asked for again sooner than this.
UNKNOWN_RETRY_S = 60.0


class _Detail(msgspec.Struct, gc=False):
    side: str
    sz: str
    bkPx: str
    ts: str
    posSide: str = ""


class _Item(msgspec.Struct, gc=False):
    instId: str
    details: list[_Detail]


class _Arg(msgspec.Struct, gc=False):
    channel: str


class _Message(msgspec.Struct, gc=False):
    arg: _Arg | None = None
    data: list[_Item] | None = None
    event: str | None = None


_decode = msgspec.json.Decoder(_Message).decode


@dataclass(frozen=True, slots=True)
class Detail:
    """One element of `details`, as sent, for an instrument whose contract size is not known yet."""

    inst_id: str
    side: Any
    sz: Any
    bk_px: Any
    ts: Any
    pos_side: Any


@dataclass(slots=True)
class Parsed:
    liquidations: list[Liquidation] = field(default_factory=list)
    errors: list[FrameError] = field(default_factory=list)
    unknown: list[Detail] = field(default_factory=list)  # their instrument's contract size is not known
    event: dict[str, Any] | None = None  # a reply: subscribe, error, notice


def parse(payload: str | bytes, sizes: Mapping[str, float]) -> Parsed:
    """One text frame (not `pong`), with the contract sizes known. Raises FrameError when the frame
    as a whole is unusable; an unusable element is one of `errors`."""
    check_size(payload)
    try:
        message = _decode(payload)
    except msgspec.MsgspecError:  # not exactly the documented shape: the exact, slower reading
        return _parse_object(decode_object(payload), sizes)
    if message.event is not None or message.arg is None or message.data is None:
        return _parse_object(decode_object(payload), sizes)
    if message.arg.channel != CHANNEL:
        raise FrameError("other_event", message.arg.channel[:60])
    parsed = Parsed()
    liquidations = parsed.liquidations
    for item in message.data:
        inst_id = item.instId
        size = sizes.get(inst_id)
        symbol = normalise(inst_id)
        for d in item.details:
            # Written out for the common case; anything else goes through resolve()'s exact checks.
            side, sz, bk_px, ts = d.side, d.sz, d.bkPx, d.ts
            is_long = _SIDES.get(side)
            try:
                price, contracts = float(bk_px), float(sz)
                time_ms = int(ts) if ts.isdigit() else 0
            except ValueError:
                price = contracts = -1.0
                time_ms = 0
            if (
                size is None
                or symbol is None
                or is_long is None
                or not (0.0 <= price < _INF and 0.0 <= contracts < _INF)
                or not 0 < time_ms < MAX_TIME_MS
                or price * contracts * size > MAX_NOTIONAL_USD
            ):
                resolve(Detail(inst_id, side, sz, bk_px, ts, d.posSide), sizes, parsed)
                continue
            identity = (inst_id, time_ms, side, d.posSide, sz, bk_px)
            liquidations.append(Liquidation(symbol, is_long, price * contracts * size, time_ms, identity, OKX))
    number_repeats(liquidations)
    return parsed


def _parse_object(frame: dict[str, Any], sizes: Mapping[str, float]) -> Parsed:
    if "event" in frame:
        return Parsed(event=frame)
    arg = frame.get("arg")
    if type(arg) is not dict:
        raise missing_or_wrong(arg, "arg")
    channel = arg.get("channel")
    if channel != CHANNEL:
        raise (
            missing_or_wrong(channel, "arg.channel")
            if type(channel) is not str
            else FrameError("other_event", channel[:60])
        )
    data = frame.get("data")
    if type(data) is not list:
        raise missing_or_wrong(data, "data")
    parsed = Parsed()
    for item in data:
        try:
            if type(item) is not dict:
                raise FrameError("not_object", "data element")
            inst_id = text_field(item, "instId")
            details = item.get("details")
            if type(details) is not list:
                raise missing_or_wrong(details, "details")
        except FrameError as exc:
            parsed.errors.append(exc)
            continue
        for d in details:
            if type(d) is not dict:
                parsed.errors.append(FrameError("not_object", "details element"))
                continue
            resolve(
                Detail(inst_id, d.get("side"), d.get("sz"), d.get("bkPx"), d.get("ts"), d.get("posSide")), sizes, parsed
            )
    number_repeats(parsed.liquidations)
    return parsed


def resolve(d: Detail, sizes: Mapping[str, float], into: Parsed) -> None:
    """One element to a Liquidation (or an error, or `unknown` while its contract size is not known)."""
    try:
        side = d.side
        if type(side) is not str:
            raise missing_or_wrong(side, "side")
        is_long = _SIDES.get(side)
        if is_long is None:
            raise FrameError("bad_value", "side")
        price = number(d.bk_px, "bkPx")
        contracts = number(d.sz, "sz")
        time_ms = _time(d.ts)
        symbol = normalise(d.inst_id)
        if symbol is None:
            raise FrameError("unsupported_symbol", d.inst_id[:40])
        size = sizes.get(d.inst_id)
        if size is None:
            into.unknown.append(d)
            return
        usd = notional(price * contracts * size, "bkPx x sz x ctVal x ctMult")
    except FrameError as exc:
        into.errors.append(exc)
        return
    identity = (d.inst_id, time_ms, side, d.pos_side, d.sz, d.bk_px)
    into.liquidations.append(Liquidation(symbol, is_long, usd, time_ms, identity, OKX))


def parse_swap_instruments(payload: Any) -> dict[str, float]:
    """instId -> coins per contract (ctVal x ctMult) of every linear swap in the answer."""
    if not isinstance(payload, dict):
        raise rest.RestError(f"instruments: expected an object, got {type(payload).__name__}")
    if payload.get("code") != "0":
        raise rest.RestError(f"instruments: code {payload.get('code')!r}: {str(payload.get('msg'))[:100]}")
    entries = payload.get("data")
    if not isinstance(entries, list):
        raise rest.RestError("instruments: data missing")
    sizes: dict[str, float] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("instId"), str):
            continue
        if entry.get("instType") != "SWAP" or entry.get("ctType") != "linear":
            continue
        try:
            size = float(entry.get("ctVal")) * float(entry.get("ctMult"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue  # never guessed: a liquidation of this instrument is skipped and counted
        if 0 < size < float("inf"):
            sizes[entry["instId"]] = size
    return sizes


async def fetch_swap_instruments(base_url: str, inst_id: str | None = None) -> dict[str, float]:
    """Coins per contract of every linear swap (or of `inst_id` only)."""
    params = {"instType": "SWAP", **({"instId": inst_id} if inst_id else {})}
    return parse_swap_instruments(await rest.get_json(base_url.rstrip("/") + INSTRUMENTS, params))


def _time(value: Any) -> int:
    """`ts`: epoch milliseconds as a string of digits (a JSON integer is accepted too)."""
    if type(value) is str and value.isdigit():
        return check_time(int(value), "ts")
    if type(value) is int:
        return check_time(value, "ts")
    raise FrameError("bad_value", "ts") if type(value) is str else missing_or_wrong(value, "ts")


# ---------------------------------------------------------------- the feed
class OkxFeed(Feed):
    name = OKX

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sizes: dict[str, float] = {}  # instId -> coins per contract
        self.sizes_at: float | None = None
        self.instrument_failures = 0
        self.instrument_error: str | None = None
        self.parked: dict[str, list[tuple[Detail, float]]] = {}
        self._parked_count = 0
        self._fetching: set[str] = set()
        self._not_listed: dict[str, float] = {}  # instId -> monotonic time OKX did not list it
        self._background: set[asyncio.Task[None]] = set()
        self._running = False  # instruments are fetched only while the feed runs (not in a replay)
        self.subscribed = False
        self.errors: Counter[str] = Counter()  # OKX's error events by code
        self.notices = 0
        self.stream(self.settings.okx_ws_url, self.on_frame, on_open=self.on_open, keepalive=self.keepalive)

    # ---------------------------------------------------------------- frames
    def on_frame(self, payload: bytes, text: bool, received_at: float) -> bool:
        if payload == b"pong":
            return False
        self.frames += 1
        try:
            if not text:
                raise FrameError("binary", f"{len(payload)} bytes")
            parsed = parse(payload, self.sizes)
        except FrameError as exc:
            self.malformed_frame(exc, payload)
            return True
        if parsed.event is not None:
            self.frames -= 1
            self._event(parsed.event)
            return False
        self._deliver(parsed, payload, received_at)
        return True

    def _deliver(self, parsed: Parsed, payload: bytes | str, received_at: float) -> None:
        for error in parsed.errors:
            self.malformed_frame(error, payload)
        self.deliver_all(parsed.liquidations, received_at)
        for detail in parsed.unknown:
            self._park(detail, received_at)

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "subscribe":
            self.subscribed = True
        elif kind == "notice" and str(event.get("code")) == UPGRADE_NOTICE:
            self.notices += 1
            logger.info(
                "okx announced a service upgrade; moving to a new connection",
                extra={"detail": str(event.get("msg"))[:200]},
            )
            self.streams[0].rotate()
        elif kind == "error":
            code = str(event.get("code"))
            first = code not in self.errors
            self.errors[code] += 1
            if first or event.get("id") == "1":
                logger.warning("okx refused a request", extra={"code": code, "detail": str(event.get("msg"))[:200]})
            if event.get("id") == "1":  # our subscription: this connection carries nothing
                self.subscribed = False
                for link in self.streams[0].links():
                    link.end_reason = f"subscription refused: {code}"
                    self._spawn(link.ws.close(code=1000, reason="subscription refused"))
        else:
            logger.info("okx event", extra={"event": str(kind)[:40], "detail": str(event.get("msg"))[:200]})

    # ---------------------------------------------------------------- contract sizes
    def _park(self, detail: Detail, received_at: float) -> None:
        inst_id = detail.inst_id
        recently_unlisted = time.monotonic() - self._not_listed.get(inst_id, -UNKNOWN_RETRY_S) < UNKNOWN_RETRY_S
        if recently_unlisted or self._parked_count >= MAX_PARKED:
            self.malformed_frame(FrameError("unknown_instrument", inst_id[:40]))
            return
        self.parked.setdefault(inst_id, []).append((detail, received_at))
        self._parked_count += 1
        if inst_id not in self._fetching and self._running:
            self._fetching.add(inst_id)
            self._spawn(self._fetch_one(inst_id))

    async def _fetch_one(self, inst_id: str) -> None:
        try:
            sizes = await self._fetch_sizes(inst_id)
        except Exception as exc:
            sizes = {}
            logger.warning(
                "okx instrument not read", extra={"instId": inst_id, "error": f"{type(exc).__name__}: {exc}"[:300]}
            )
        finally:
            self._fetching.discard(inst_id)
        if inst_id not in sizes:
            self._not_listed[inst_id] = time.monotonic()
        self.learn(sizes, settle=(inst_id,))

    def learn(self, sizes: Mapping[str, float], settle: tuple[str, ...] = ()) -> None:
        """New contract sizes; the liquidations parked for them (or for `settle`, now decided) go on."""
        changed = any(self.sizes.get(inst_id) != size for inst_id, size in sizes.items())
        self.sizes.update(sizes)
        if changed and self.recorder is not None:
            self.recorder.contracts(self.name, self.sizes)
        for inst_id in [i for i in self.parked if i in sizes or i in settle]:
            waiting = self.parked.pop(inst_id)
            self._parked_count -= len(waiting)
            for detail, received_at in waiting:
                parsed = Parsed()
                resolve(detail, self.sizes, parsed)
                for unknown in parsed.unknown:
                    self.malformed_frame(FrameError("unknown_instrument", unknown.inst_id[:40]))
                parsed.unknown.clear()
                number_repeats(parsed.liquidations)
                self._deliver(parsed, b"", received_at)

    async def _fetch_sizes(self, inst_id: str | None = None) -> dict[str, float]:
        return await fetch_swap_instruments(self.settings.okx_rest_url, inst_id)

    async def _refresh(self) -> bool:
        try:
            sizes = await self._fetch_sizes()
        except Exception as exc:
            self.instrument_failures += 1
            self.instrument_error = f"{type(exc).__name__}: {exc}"[:300]
            logger.warning(
                "okx instruments not read; keeping the contract sizes we have", extra={"error": self.instrument_error}
            )
            return False
        self.sizes_at, self.instrument_error = time.time(), None
        self.learn(sizes)
        return True

    # ---------------------------------------------------------------- the shell
    async def run(self, stop: asyncio.Event) -> None:
        self._running = True
        refresher = asyncio.create_task(self._refresh_every(stop), name="okx-instruments")
        try:
            await super().run(stop)
        finally:
            self._running = False
            refresher.cancel()
            for task in list(self._background):
                task.cancel()

    async def _refresh_every(self, stop: asyncio.Event) -> None:
        retry = self.settings.backoff_base_s
        while not stop.is_set():
            ok = await self._refresh()
            retry = self.settings.instruments_refresh_s if ok else min(retry * 2, self.settings.backoff_cap_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry)

    async def on_open(self, link: Link) -> None:
        self.subscribed = False
        await link.send(SUBSCRIBE)

    async def keepalive(self, link: Link) -> None:
        """`ping` after `okx_quiet_ping_s` without a message; no `pong` within as long ends the connection."""
        quiet = self.settings.okx_quiet_ping_s
        while True:
            wait = link.last_message + quiet - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            pinged = time.monotonic()
            await link.send("ping")
            await asyncio.sleep(quiet)
            if link.last_message < pinged:
                link.end_reason = f"no pong within {quiet:g} s"
                await link.ws.close(code=1000, reason="no pong")
                return

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def status(self) -> dict[str, Any]:
        return {
            **super().status(),
            "subscribed": self.subscribed,
            "instruments": {
                "swaps": len(self.sizes),
                "refreshed_at": iso_ms(int(self.sizes_at * 1000)) if self.sizes_at else None,
                "failures": self.instrument_failures,
                "error": self.instrument_error,
                "waiting_liquidations": self._parked_count,
            },
            "errors": dict(self.errors),
            "upgrade_notices": self.notices,
        }
