"""Bybit v5 `allLiquidation.<SYMBOL>`: every liquidation of every linear USDT perpetual (architecture.md §2.7).

- The symbols come from `/v5/market/instruments-info?category=linear`: 500 a page by default, at
  most `limit=1000`, more pages while `result.nextPageCursor` is not empty (passed back as
  `cursor`, as received); only `Trading` instruments unless `status` asks otherwise; USDC
  perpetuals (`BTCPERP`) and dated futures (`BTCUSDT-26DEC25`) are listed too and are not watched.
  Refreshed hourly: a new listing is subscribed on the open connections, a delisted one unsubscribed.
- Subscriptions go out in batches, `{"op":"subscribe","req_id":"7","args":["allLiquidation.BTCUSDT",...]}`,
  and every acknowledgement is checked. Bybit refuses the whole request when one topic is unknown
  (`"success":false,"ret_msg":"error:handler not found,topic:allLiquidation.XUSDT"`): the named
  topic is logged and counted as refused and the rest are sent again (a refusal that names no topic
  splits the batch in two until it does); `error:already subscribed` is a success.
- One connection carries at most `MAX_ARGS_CHARS` of topic names (Bybit's limit per public
  connection is 21,000 characters of "args"); beyond that the topics spread over more connections.
- `{"op":"ping"}` every 20 s; the answer, `{"success":true,"ret_msg":"pong",...,"op":"ping"}`, is no data.
- A data frame, `{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":ms,"data":[{"T":ms,
  "s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}`, batches the liquidations of 500 ms:
  every element counts. `S` is the side of the position: `Buy` means a long was liquidated (the
  opposite of Binance's order side). Notional: `p` (bankruptcy price) x `v` (size).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from websockets.exceptions import ConnectionClosed

from cryptoalerts.cascade import Liquidation
from cryptoalerts.feeds import BYBIT
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
    event_time,
    missing_or_wrong,
    notional,
    number,
    text_field,
)
from listener.stream import Backoff, Link

TOPIC_PREFIX = "allLiquidation."
SUBSCRIBE_BATCH = 100
# Bybit: "for one public connection, you cannot have length of args array over 21,000 characters".
MAX_ARGS_CHARS = 20_000
_INF = float("inf")
_SIDES = {"Buy": True, "Sell": False}  # the position's side: Buy = a long was liquidated
INSTRUMENTS = "/v5/market/instruments-info"
INSTRUMENTS_PAGE_LIMIT = 1000
# Far beyond any real listing (a few pages); a cursor that never ends is the exchange's bug, not ours.
MAX_INSTRUMENT_PAGES = 50


class _Entry(msgspec.Struct, gc=False):
    T: int
    s: str
    S: str
    v: str
    p: str


class _Message(msgspec.Struct, gc=False):
    topic: str | None = None
    data: list[_Entry] | None = None
    op: str | None = None
    success: bool | None = None
    ret_msg: str | None = None
    req_id: str | None = None


_decode = msgspec.json.Decoder(_Message).decode


@dataclass(slots=True)
class Parsed:
    """What one frame holds: liquidations (and the elements that were not usable), or a reply."""

    liquidations: list[Liquidation] = field(default_factory=list)
    errors: list[FrameError] = field(default_factory=list)
    op: str | None = None  # a reply: "ping" (the pong), "subscribe", "unsubscribe"
    success: bool | None = None
    ret_msg: str = ""
    req_id: str = ""


def parse(payload: str | bytes) -> Parsed:
    """One text frame. Raises FrameError when the frame as a whole is unusable."""
    check_size(payload)
    try:
        message = _decode(payload)
    except msgspec.MsgspecError:  # not exactly the documented shape: the exact, slower reading
        return _parse_object(decode_object(payload))
    if message.op is not None:
        return Parsed(
            op=message.op, success=message.success, ret_msg=message.ret_msg or "", req_id=message.req_id or ""
        )
    topic, data = message.topic, message.data
    if topic is None or data is None:
        return _parse_object(decode_object(payload))
    if not topic.startswith(TOPIC_PREFIX):
        raise FrameError("other_event", topic[:60])
    parsed = Parsed()
    liquidations = parsed.liquidations
    for entry in data:
        # Written out for the common case; any doubt goes through the exact checks of _liquidation.
        contract, side, v_raw, p_raw, time_ms = entry.s, entry.S, entry.v, entry.p, entry.T
        is_long = _SIDES.get(side)
        try:
            price, size = float(p_raw), float(v_raw)
        except ValueError:
            price = size = -1.0
        usd = price * size
        symbol = normalise(contract) if contract else None
        if (
            is_long is None
            or symbol is None
            or not (0.0 <= price < _INF and 0.0 <= size < _INF and usd <= MAX_NOTIONAL_USD)
            or not 0 < time_ms < MAX_TIME_MS
        ):
            try:
                liquidations.append(_liquidation(contract, side, v_raw, p_raw, check_time(time_ms, "T")))
            except FrameError as exc:
                parsed.errors.append(exc)
            continue
        liquidations.append(Liquidation(symbol, is_long, usd, time_ms, (contract, time_ms, side, v_raw, p_raw), BYBIT))
    number_repeats(liquidations)
    return parsed


def _parse_object(frame: dict[str, Any]) -> Parsed:
    op = frame.get("op")
    if op is not None:
        if type(op) is not str:
            raise FrameError("wrong_type", "op")
        success = frame.get("success")
        return Parsed(
            op=op,
            success=success if type(success) is bool else None,
            ret_msg=str(frame.get("ret_msg") or ""),
            req_id=str(frame.get("req_id") or ""),
        )
    topic = frame.get("topic")
    if type(topic) is not str:
        raise missing_or_wrong(topic, "topic")
    if not topic.startswith(TOPIC_PREFIX):
        raise FrameError("other_event", topic[:60])
    data = frame.get("data")
    if type(data) is not list:
        raise missing_or_wrong(data, "data")
    parsed = Parsed()
    for entry in data:
        try:
            if type(entry) is not dict:
                raise FrameError("not_object", "data element")
            contract = text_field(entry, "s")
            side = text_field(entry, "S")
            time_ms = event_time(entry.get("T"), "T")
            parsed.liquidations.append(_liquidation(contract, side, entry.get("v"), entry.get("p"), time_ms))
        except FrameError as exc:
            parsed.errors.append(exc)
    number_repeats(parsed.liquidations)
    return parsed


def _liquidation(contract: str, side: str, v_raw: Any, p_raw: Any, time_ms: int) -> Liquidation:
    if not contract:
        raise FrameError("bad_value", "s")
    is_long = _SIDES.get(side)
    if is_long is None:
        raise FrameError("bad_value", "S")
    usd = notional(number(p_raw, "p") * number(v_raw, "v"), "p x v")
    symbol = normalise(contract)
    if symbol is None:
        raise FrameError("unsupported_symbol", contract[:40])
    return Liquidation(symbol, is_long, usd, time_ms, (contract, time_ms, side, v_raw, p_raw), BYBIT)


def parse_instruments_page(payload: Any) -> tuple[list[str], str]:
    """The linear USDT perpetuals on one page (`BTCUSDT`, `1000PEPEUSDT`) and the next page's cursor."""
    if not isinstance(payload, dict):
        raise rest.RestError(f"instruments-info: expected an object, got {type(payload).__name__}")
    if payload.get("retCode") != 0:
        raise rest.RestError(
            f"instruments-info: retCode {payload.get('retCode')!r}: {str(payload.get('retMsg'))[:100]}"
        )
    body = payload.get("result")
    entries = body.get("list") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(entries, list):
        raise rest.RestError("instruments-info: result.list missing")
    cursor = body.get("nextPageCursor")
    perpetuals = [
        entry["symbol"]
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("symbol"), str)
        and entry["symbol"]
        and entry.get("contractType") == "LinearPerpetual"
        and entry.get("quoteCoin") == "USDT"
        and entry.get("status", "Trading") == "Trading"
    ]
    return perpetuals, cursor if isinstance(cursor, str) else ""


async def fetch_linear_perpetuals(base_url: str) -> list[str]:
    """Every linear USDT perpetual Bybit trades, all pages, sorted."""
    found: set[str] = set()
    cursor = ""
    for _page in range(MAX_INSTRUMENT_PAGES):
        params = {"category": "linear", "limit": str(INSTRUMENTS_PAGE_LIMIT)}
        if cursor:
            params["cursor"] = cursor
        symbols, cursor = parse_instruments_page(await rest.get_json(base_url.rstrip("/") + INSTRUMENTS, params))
        found.update(symbols)
        if not cursor:
            return sorted(found)
    raise rest.RestError(f"instruments-info: still more pages after {MAX_INSTRUMENT_PAGES}")


def refused_topics(ret_msg: str) -> list[str]:
    """The topics a refusal names: `error:handler not found,topic:allLiquidation.XUSDT`."""
    _, found, named = ret_msg.partition("topic:")
    return [t.strip() for t in named.split(",") if t.strip()] if found else []


# ---------------------------------------------------------------- the feed
class _Shard:
    """The topics one connection carries, and its subscriptions awaiting acknowledgement."""

    def __init__(self, feed: BybitFeed, number: int) -> None:
        self.feed = feed
        self.topics: list[str] = []
        self.stream = feed.stream(feed.settings.bybit_ws_url, self.on_frame, name=f"{BYBIT}-{number}",
                                  on_open=self.on_open, keepalive=self.keepalive)  # fmt: skip

    @property
    def chars(self) -> int:
        return sum(len(t) + 3 for t in self.topics)  # quotes and comma of each arg

    def on_frame(self, payload: bytes, text: bool, received_at: float) -> bool:
        return self.feed.on_frame(payload, text, received_at)

    async def on_open(self, link: Link) -> None:
        self.feed.forget_closed_requests()
        for batch in _batches(self.topics, SUBSCRIBE_BATCH):
            await self.feed.subscribe(link, batch)

    async def keepalive(self, link: Link) -> None:
        while True:
            await asyncio.sleep(self.feed.settings.bybit_ping_s)
            await link.send('{"op":"ping"}')


class BybitFeed(Feed):
    name = BYBIT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shards: list[_Shard] = []
        self.confirmed: set[str] = set()
        self.refused: dict[str, str] = {}  # topic -> Bybit's reason
        self._requests: dict[str, tuple[Link, list[str], str]] = {}  # req_id -> (link, topics, op)
        self._req_ids = itertools.count(1)
        self._background: set[asyncio.Task[None]] = set()
        self._stop: asyncio.Event | None = None
        self._tasks: dict[_Shard, asyncio.Task[None]] = {}  # each shard's running stream
        self.instruments = 0
        self.instruments_at: float | None = None
        self.instrument_failures = 0
        self.instrument_error: str | None = None

    # ---------------------------------------------------------------- frames
    def on_frame(self, payload: bytes, text: bool, received_at: float) -> bool:
        try:
            if not text:
                raise FrameError("binary", f"{len(payload)} bytes")
            parsed = parse(payload)
        except FrameError as exc:
            self.frames += 1
            self.malformed_frame(exc, payload)
            return True
        if parsed.op is not None:
            self._reply(parsed)
            return False
        self.frames += 1
        for error in parsed.errors:
            self.malformed_frame(error, payload)
        self.deliver_all(parsed.liquidations, received_at)
        return True

    def _reply(self, reply: Parsed) -> None:
        if reply.op in ("ping", "pong"):
            return
        request = self._requests.pop(reply.req_id, None)
        if request is None:
            logger.debug("bybit reply to no request of ours", extra={"op": reply.op, "ret_msg": reply.ret_msg[:200]})
            return
        link, topics, op = request
        if op == "unsubscribe":
            return
        if reply.success or "already subscribed" in reply.ret_msg:
            self.confirmed.update(topics)
            return
        named = set(refused_topics(reply.ret_msg))
        refused = [t for t in topics if t in named] or (topics if len(topics) == 1 else [])
        for topic in refused:
            self.refused[topic] = reply.ret_msg[:200]
            logger.warning(
                "bybit refused a subscription; the other topics go on",
                extra={"topic": topic, "reason": reply.ret_msg[:200]},
            )
        rest = [t for t in topics if t not in refused]
        if rest:  # send the others again; a refusal naming none of them splits the batch
            halves = [rest] if refused else [rest[: len(rest) // 2], rest[len(rest) // 2 :]]
            for half in halves:
                self._spawn(self._subscribe_while_open(link, half))

    async def subscribe(self, link: Link, topics: list[str], op: str = "subscribe") -> None:
        req_id = str(next(self._req_ids))
        self._requests[req_id] = (link, topics, op)
        await link.send(json.dumps({"req_id": req_id, "op": op, "args": topics}, separators=(",", ":")))

    async def _subscribe_while_open(self, link: Link, topics: list[str], op: str = "subscribe") -> None:
        """`subscribe` on a connection that may be closing under us: then there is nothing to do, the
        next connection subscribes every topic of its shard when it opens."""
        with contextlib.suppress(ConnectionClosed):
            await self.subscribe(link, topics, op)

    def forget_closed_requests(self) -> None:
        """Requests sent on a connection that closed before answering will never be answered (their
        topics go again on the new connection). Dropped, or each would keep its closed connection, and
        with it that connection's read buffer, for the life of the process."""
        open_links = {link for shard in self.shards for link in shard.stream.links()}
        self._requests = {req_id: r for req_id, r in self._requests.items() if r[0] in open_links}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- the shell
    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._requests.clear()
        # Turned on again: the topics it had go back on at once; the list is read again beside them.
        await self.watch([t for shard in self.shards for t in shard.topics])
        backoff = Backoff(self.settings.backoff_base_s, self.settings.backoff_cap_s)
        while not stop.is_set() and not await self._refresh():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next_delay())
        refresher = asyncio.create_task(self._refresh_every(stop), name="bybit-instruments")
        try:
            await stop.wait()
        finally:
            refresher.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self._tasks.clear()
            for task in list(self._background):
                task.cancel()

    async def _refresh_every(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.settings.instruments_refresh_s)
            try:
                await self._refresh()
            except Exception:  # a bug in one refresh must not end the hourly refreshes
                logger.exception("bybit instruments refresh failed; trying again in an hour")

    async def _refresh(self) -> bool:
        """Fetch the list; watch new listings, drop delisted ones. False when it could not be read."""
        try:
            contracts = await fetch_linear_perpetuals(self.settings.bybit_rest_url)
            if not contracts:
                raise rest.RestError("instruments-info: no linear USDT perpetual listed")
        except Exception as exc:  # RestError, or a bug: keep the topics we have
            self.instrument_failures += 1
            self.instrument_error = f"{type(exc).__name__}: {exc}"[:300]
            logger.warning(
                "bybit instruments not read; keeping the topics we have", extra={"error": self.instrument_error}
            )
            return False
        self.instruments, self.instruments_at, self.instrument_error = len(contracts), time.time(), None
        await self.watch([TOPIC_PREFIX + c for c in contracts])
        return True

    async def watch(self, topics: Iterable[str]) -> None:
        """Subscribe what is new (on open connections, or new ones), unsubscribe what is gone."""
        wanted = set(topics)
        held = {t for shard in self.shards for t in shard.topics}
        added = sorted(wanted - held)
        for shard in self.shards:
            gone = [t for t in shard.topics if t not in wanted]
            if gone:
                shard.topics = [t for t in shard.topics if t in wanted]
                self.confirmed.difference_update(gone)
                for link in shard.stream.links():
                    for batch in _batches(gone, SUBSCRIBE_BATCH):
                        await self._subscribe_while_open(link, batch, "unsubscribe")
        if added:
            logger.info("bybit topics to watch", extra={"new": len(added), "total": len(wanted)})
        for topic in added:
            room = next((s for s in self.shards if s.chars + len(topic) + 3 <= MAX_ARGS_CHARS), None)
            if room is None:
                room = _Shard(self, len(self.shards) + 1)
                self.shards.append(room)
            room.topics.append(topic)
        new = set(added)
        for shard in self.shards:
            fresh = [t for t in shard.topics if t in new]
            if shard not in self._tasks and self._stop is not None:  # its connection subscribes them all
                self._tasks[shard] = asyncio.create_task(shard.stream.run(self._stop), name=shard.stream.name)
            elif fresh:
                for link in shard.stream.links():
                    for batch in _batches(fresh, SUBSCRIBE_BATCH):
                        await self._subscribe_while_open(link, batch)

    def status(self) -> dict[str, Any]:
        topics = sum(len(s.topics) for s in self.shards)
        return {
            **super().status(),
            "instruments": {
                "linear_perpetuals": self.instruments,
                "refreshed_at": iso_ms(int(self.instruments_at * 1000)) if self.instruments_at else None,
                "failures": self.instrument_failures,
                "error": self.instrument_error,
            },
            "topics": {
                "watched": topics,
                "confirmed": len(self.confirmed),
                "awaiting_ack": sum(len(t) for _link, t, op in self._requests.values() if op == "subscribe"),
                "refused": dict(self.refused),
            },
        }


def _batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
