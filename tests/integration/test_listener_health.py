"""GET /health and GET /status over a real socket, following the stream's state."""

from __future__ import annotations

import asyncio

import httpx
from listener_harness import T0, eventually, fake_binance, running_listener, settings_for

from infra.fakes.binance_ws import Refuse, cascade_frames


async def test_health_follows_the_connection_and_status_reports_the_stream(stack) -> None:
    async with (
        fake_binance() as server,
        running_listener(settings_for(stack, server.url, backoff_base_s=0.2)) as run,
        httpx.AsyncClient(base_url=run.status_url, timeout=5) as http,
    ):
        await server.wait_for_clients()
        assert (await http.get("/health")).status_code == 200

        server.feed(cascade_frames("BTCUSDT", "SELL", 5, 150_000, T0), cascade_frames("DOGEUSDT", "BUY", 2, 40_000, T0))
        await server.drained()
        await eventually(lambda: run.listener.outbox.sent == 1, what="alert sent")
        status = (await http.get("/status")).json()
        assert status["connection"]["state"] == "connected"
        assert status["connection"]["since"].endswith("Z")
        assert status["frames"] == 7 and status["qualifying"] == 7 and status["cascades"] == 1
        assert 0 <= status["last_frame_age_s"] < 5
        assert status["outbox"] == {
            "depth": 0,
            "capacity": 1000,
            "sent": 1,
            "dropped": 0,
            "send_failures": 0,
            "last_send_latency_ms": status["outbox"]["last_send_latency_ms"],
        }
        btc = status["history"]["symbols"]["BTC"]
        assert btc["1m"] == {"long_count": 5, "long_usd": 750_000.0, "short_count": 0, "short_usd": 0.0}
        assert status["history"]["symbols"]["DOGE"]["24h"]["short_count"] == 2
        assert status["watched_symbols"] == ["BTC", "ETH", "SOL"]

        server.feed(Refuse(3.0))  # the connection goes and new ones are refused
        await eventually(lambda: not run.listener.stream.connected, what="disconnected")
        response = await http.get("/health")
        assert response.status_code == 503
        assert response.json() == {"status": "unhealthy"}
        assert (await http.get("/status")).json()["connection"]["state"] in ("waiting", "connecting")
        await server.wait_for_clients(timeout=10)
        await eventually(lambda: run.listener.stream.fresh(), what="fresh again")
        assert (await http.get("/health")).status_code == 200


async def test_health_server_answers_bad_requests_without_falling_over(stack) -> None:
    async with fake_binance() as server, running_listener(settings_for(stack, server.url)) as run:
        async with httpx.AsyncClient(base_url=run.status_url, timeout=5) as http:
            assert (await http.get("/nope")).status_code == 404
            assert (await http.post("/health")).status_code == 405
            assert (await http.head("/status")).status_code == 200
        port = run.listener.health.port
        for raw in (b"garbage\r\n\r\n", b"GET /health\r\n\r\n", b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 400"), answer[:40]
        # A client that connects and says nothing is dropped after the timeout, not waited on forever.
        _idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        async with httpx.AsyncClient(base_url=run.status_url, timeout=5) as http:
            assert (await http.get("/status")).status_code == 200
        idle_writer.close()
        assert not run.task.done()


async def test_metrics_in_prometheus_text_format_per_exchange(stack) -> None:
    import re

    async with (
        fake_binance() as server,
        running_listener(settings_for(stack, server.url)) as run,
        httpx.AsyncClient(base_url=run.status_url, timeout=5) as http,
    ):
        await server.wait_for_clients()
        server.feed(cascade_frames("BTCUSDT", "SELL", 5, 150_000, T0), "not json")
        await server.drained()
        await eventually(lambda: run.listener.outbox.sent == 1, what="alert sent")
        feeds = run.listener.feeds
        # Bybit's and OKX's instrument lists are pointed at nothing here: their failures show too.
        await eventually(lambda: all(feeds[name].instrument_failures for name in ("bybit", "okx")), what="failures")
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')
    lines = response.text.splitlines()
    assert all(line.startswith("# ") or sample.match(line) for line in lines), response.text
    values = {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in lines if not line.startswith("#")}
    assert values['crypto_alerts_listener_frames_total{exchange="binance"}'] == "6"
    assert values['crypto_alerts_listener_malformed_frames_total{exchange="binance",kind="not_json"}'] == "1"
    assert values['crypto_alerts_listener_qualifying_liquidations_total{exchange="binance"}'] == "5"
    assert values["crypto_alerts_listener_cascades_total"] == "1"
    assert values["crypto_alerts_listener_alerts_sent_total"] == "1"
    assert values['crypto_alerts_listener_feed_healthy{exchange="binance"}'] == "1"
    assert values['crypto_alerts_listener_feed_healthy{exchange="bybit"}'] == "0"  # nothing to connect to here
    assert "# TYPE crypto_alerts_listener_frames_total counter" in lines
    # The feed-specific figures of /status, too.
    assert values['crypto_alerts_listener_connections_opened_total{exchange="binance"}'] == "1"
    assert int(values['crypto_alerts_listener_instrument_refresh_failures_total{exchange="bybit"}']) >= 1
    assert int(values['crypto_alerts_listener_instrument_refresh_failures_total{exchange="okx"}']) >= 1
    assert values['crypto_alerts_listener_bybit_topics{state="watched"}'] == "0"
    assert values['crypto_alerts_listener_bybit_topics{state="refused"}'] == "0"
    assert values["crypto_alerts_listener_okx_waiting_liquidations"] == "0"
    assert values["crypto_alerts_listener_okx_swaps"] == "0"
    assert int(values["crypto_alerts_listener_history_bytes"]) > 0
