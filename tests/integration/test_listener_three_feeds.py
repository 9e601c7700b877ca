"""Three feeds at once over real sockets: fake Binance, Bybit and OKX WebSocket servers (their real
formats), the REST fake for their instrument lists, moto's SQS. One detector counts a cascade over
all of them; a feed that is closed, silent, refusing or sending garbage never stops the others."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from listener_harness import (
    BYBIT_LISTED,
    FEEDS,
    T0,
    Exchanges,
    btc,
    eventually,
    fake_exchanges,
    ready,
    receive_alerts,
    running_listener,
    set_thresholds,
)

from infra.fakes import bybit_ws, okx_ws
from infra.fakes.ws_server import Drop, Garbage, Refuse, Silence


def server(exchanges: Exchanges, name: str) -> Any:
    return getattr(exchanges, name)


async def test_a_cascade_only_the_three_exchanges_together_reach_fires_once(stack) -> None:
    async with fake_exchanges() as ex, running_listener(ex.settings(stack)) as run:
        await eventually(lambda: ready(run), timeout=15, what="three feeds subscribed")
        # BTC needs 5 in 30 s: Binance 2, Bybit 2, OKX 1, interleaved in event time across feeds.
        ex.binance.feed(btc("binance", 2, T0, spacing_ms=2000))
        ex.bybit.feed(btc("bybit", 2, T0 + 500, spacing_ms=2000))
        ex.okx.feed(btc("okx", 1, T0 + 3000))
        bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
        status = run.listener.status()
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:BTC:{T0 + 3000}"]
    data = bodies[0]["data"]
    assert data["exchange"] == "multi" and data["count"] == 5
    assert {name: f["count"] for name, f in data["per_exchange"].items()} == {"binance": 2, "bybit": 2, "okx": 1}
    assert data["per_exchange"]["okx"]["usd"] == pytest.approx(150_000)  # contracts x ctVal x bkPx
    assert data["sampled"] == ["binance", "okx"]  # their totals are lower bounds
    assert {name: status["feeds"][name]["liquidations"] for name in FEEDS} == {"binance": 2, "bybit": 2, "okx": 1}
    assert status["healthy"] and all(status["feeds"][name]["healthy"] for name in FEEDS)


FAULTS = {
    "closed": lambda: [Drop(), Refuse(2.0)],
    "silent": lambda: [Silence(2.5)],
    "garbage": lambda: [Garbage("not json"), Garbage(b"\x00binary"), Garbage('{"topic":5}'), Garbage("[]")],
}


@pytest.mark.parametrize("broken", FEEDS)
@pytest.mark.parametrize("fault", [*FAULTS, "refusing"])
async def test_one_feed_broken_while_the_others_carry_a_cascade(stack, broken: str, fault: str) -> None:
    okx_options = {"refuse_subscriptions": True} if (broken, fault) == ("okx", "refusing") else {}
    async with fake_exchanges(**okx_options) as ex:
        nowhere = {"binance": "ws_url", "bybit": "bybit_ws_url"}
        refused = {nowhere[broken]: "ws://127.0.0.1:9/"} if fault == "refusing" and broken in nowhere else {}
        settings = ex.settings(stack, **refused)  # refusing: nothing listens there
        async with running_listener(settings) as run:
            others = tuple(name for name in FEEDS if name != broken)
            await eventually(lambda: ready(run, others), timeout=15, what="the other feeds subscribed")
            if fault in FAULTS:
                await eventually(lambda: ready(run, (broken,)), timeout=15, what="the broken feed subscribed")
                server(ex, broken).feed(FAULTS[fault]())
            # 5 liquidations over the two working feeds (3 + 2), each appearing once.
            first, second = others
            server(ex, first).feed(btc(first, 3, T0))
            server(ex, second).feed(btc(second, 2, T0 + 500))
            bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
            status = run.listener.status()
            assert not run.task.done()
    assert Counter(b["id"] for b in bodies) == Counter({f"liquidation_cascade:BTC:{T0 + 2000}": 1})
    counts = {name: f["count"] for name, f in bodies[0]["data"]["per_exchange"].items()}
    assert counts == {first: 3, second: 2, broken: 0}
    assert status["healthy"]  # at least one enabled feed is fresh
    if fault == "garbage":
        assert sum(status["feeds"][broken]["malformed"].values()) >= 3
    if (broken, fault) == ("okx", "refusing"):
        assert status["feeds"]["okx"]["errors"] and not status["feeds"]["okx"]["subscribed"]


async def test_a_feed_turned_off_and_on_through_the_thresholds(stack) -> None:
    async with fake_exchanges() as ex, running_listener(ex.settings(stack)) as run:
        await eventually(lambda: ready(run), timeout=15, what="three feeds subscribed")
        set_thresholds(stack, {"feeds": {"liquidations": ["binance", "okx"]}})
        await eventually(lambda: ex.bybit.open_connections == 0, timeout=10, what="bybit disconnected")
        assert run.listener.status()["feeds"]["bybit"]["enabled"] is False
        assert run.listener.stream.fresh()
        set_thresholds(stack, {"feeds": {"liquidations": ["bybit"]}})
        await eventually(lambda: ready(run, ("bybit",)), timeout=15, what="bybit back")
        await eventually(lambda: ex.okx.open_connections == 0 and ex.binance.open_connections == 0, what="others off")
        ex.bybit.feed(btc("bybit", 5, T0))
        bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:BTC:{T0 + 4000}"]
    data = bodies[0]["data"]
    assert (data["exchange"], data["sampled"], list(data["per_exchange"])) == ("bybit", [], ["bybit"])


async def test_bybit_instruments_refreshed_with_a_new_listing_and_a_refused_topic(stack) -> None:
    async with fake_exchanges() as ex:
        # GHOSTUSDT is listed by the REST API but unknown to the stream: Bybit refuses its whole batch.
        ex.rest.set_bybit_linear(["BTCUSDT", "ETHUSDT", "GHOSTUSDT"])
        settings = ex.settings(stack, instruments_refresh_s=0.5)
        set_thresholds(stack, {"symbols": ["NEW"], "liquidation": {"NEW": {"min_usd": 1000, "cascade_count": 3}}})
        async with running_listener(settings) as run:
            bybit = run.listener.feeds["bybit"]
            await eventually(lambda: "allLiquidation.GHOSTUSDT" in bybit.refused, timeout=15, what="refusal")
            await eventually(lambda: {"allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT"} <= bybit.confirmed,
                             what="the rest subscribed")  # fmt: skip
            ex.bybit.symbols.add("NEWUSDT")
            ex.rest.set_bybit_linear(["BTCUSDT", "ETHUSDT", "GHOSTUSDT", "NEWUSDT"])
            await eventually(lambda: "allLiquidation.NEWUSDT" in ex.bybit.subscribed(), timeout=10, what="new listing")
            ex.bybit.feed(bybit_ws.cascade_frames("NEWUSDT", "Sell", 3, 2_000, T0))
            bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
            async with httpx.AsyncClient(base_url=run.status_url, timeout=5) as http:
                topics = (await http.get("/status")).json()["feeds"]["bybit"]["topics"]
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:NEW:{T0 + 2000}"]
    assert topics["watched"] == 4 and topics["confirmed"] == 3
    assert list(topics["refused"]) == ["allLiquidation.GHOSTUSDT"]


async def test_bybit_subscriptions_never_answered_are_sent_again_and_not_kept_per_connection(stack) -> None:
    async with fake_exchanges() as ex, running_listener(ex.settings(stack)) as run:
        ex.bybit.answer_subscriptions = False  # Bybit takes the requests and never answers them
        bybit = run.listener.feeds["bybit"]
        topics = len(BYBIT_LISTED)
        for connections in (1, 2, 3):
            await eventually(lambda n=connections: len(ex.bybit.requests) == n, timeout=15, what="subscribed")
            assert bybit.status()["topics"]["awaiting_ack"] == topics  # those of the open connection only
            ex.bybit.feed(Drop())
            await eventually(lambda n=connections: bybit.streams[0].connections_opened > n, what="reconnected")
        ex.bybit.answer_subscriptions = True
        ex.bybit.feed(Drop())
        await eventually(lambda: ready(run, ("bybit",)), timeout=15, what="subscribed at last")
        status = bybit.status()["topics"]
        assert (status["watched"], status["confirmed"], status["awaiting_ack"]) == (topics, topics, 0)


async def test_okx_unknown_instrument_is_fetched_and_an_unlisted_one_skipped_and_counted(stack) -> None:
    async with fake_exchanges() as ex, running_listener(ex.settings(stack)) as run:
        await eventually(lambda: ready(run, ("okx",)), timeout=15, what="okx subscribed")
        # Listed after the feed read the table: its liquidations wait while the instrument is fetched.
        ex.rest.set_okx_swaps({**ex.rest.okx_swaps, "XRP-USDT-SWAP": 100})
        set_thresholds(stack, {"symbols": ["XRP"], "liquidation": {"XRP": {"min_usd": 1000, "cascade_count": 3}}})
        await eventually(lambda: run.listener.detector.thresholds.watches("XRP"), what="thresholds")
        ex.okx.feed(okx_ws.cascade_frames("XRP-USDT-SWAP", "buy", 3, 2_000, T0, contract_size=100, price=0.5))
        ex.okx.feed(okx_ws.cascade_frames("NOPE-USDT-SWAP", "buy", 2, 2_000, T0, contract_size=1))
        bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
        okx = run.listener.status()["feeds"]["okx"]
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:XRP:{T0 + 2000}"]
    assert bodies[0]["data"]["total_usd"] == pytest.approx(6_000)  # 3 x (0.5 x 40 contracts x 100)
    assert okx["malformed"] == {"unknown_instrument": 2}  # never guessed
    assert okx["instruments"]["waiting_liquidations"] == 0


async def test_keepalives_and_the_okx_upgrade_notice(stack) -> None:
    async with fake_exchanges() as ex:
        settings = ex.settings(stack, bybit_ping_s=0.2, okx_quiet_ping_s=0.3, overlap_s=0.2)
        async with running_listener(settings) as run:
            await eventually(lambda: ready(run), timeout=15, what="three feeds subscribed")
            await eventually(lambda: ex.bybit.pings >= 2 and ex.okx.pings >= 2, what="application pings")
            ex.okx.notice()
            await eventually(lambda: run.listener.feeds["okx"].streams[0].rotations == 1, what="moved on")
            await eventually(lambda: ready(run, ("okx",)), what="subscribed on the new connection")
            ex.okx.feed(btc("okx", 5, T0))
            bodies = await receive_alerts(stack.refs["AlertQueue"], expected=1)
            status = run.listener.status()
    assert [b["id"] for b in bodies] == [f"liquidation_cascade:BTC:{T0 + 4000}"]
    assert status["feeds"]["okx"]["upgrade_notices"] == 1
    okx = status["feeds"]["okx"]
    assert okx["liquidations"] == 5  # none missed, none counted twice...
    assert okx["duplicates"] == ex.okx.deliveries - ex.okx.messages_sent  # ...the overlap's copies dropped


async def test_okx_is_pinged_only_when_quiet(stack) -> None:
    # OKX pushes one frame every 100 ms while it has any.
    async with (
        fake_exchanges(rate_per_s=10) as ex,
        running_listener(ex.settings(stack, okx_quiet_ping_s=1.0)) as run,
    ):
        await eventually(lambda: ready(run, ("okx",)) and ex.okx.pings >= 1, timeout=15, what="a ping when quiet")
        ex.okx.feed(okx_ws.cascade_frames("DOGE-USDT-SWAP", "sell", 20, 100, T0, contract_size=1000))
        await eventually(lambda: ex.okx.messages_sent >= 3, what="frames flowing")
        pings = ex.okx.pings
        await ex.okx.drained()
        assert ex.okx.pings == pings  # 2 s of frames 100 ms apart: never quiet for 1 s
        await eventually(lambda: ex.okx.pings > pings, timeout=5, what="a ping once quiet again")
        assert run.listener.feeds["okx"].liquidations == 20
