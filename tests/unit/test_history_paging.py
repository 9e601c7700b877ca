"""The pieces under the history fetch: pacing to a rate limit, the page cache on disk, the progress line."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from infra.cli.history_cache import SETTLE_MS, HistoryCache, PageKey
from infra.cli.pacing import Pace
from infra.cli.progress import Progress

PERIOD_MS = 300_000


def test_pace_keeps_every_window_under_the_limit_from_answer_to_the_next_send() -> None:
    """Ten requests per 0.2 s: when one is sent, fewer than ten others were in flight or answered within 0.2 s."""
    events: list[tuple[float, float]] = []  # (sent, answered)

    async def run() -> float:
        pace = Pace(10, 0.2, margin=1.0)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def one(k: int) -> None:
            async with pace:
                sent = loop.time()
                await asyncio.sleep(0.01 * (k % 3))  # answers take a while, some longer than others
                events.append((sent, loop.time()))

        await asyncio.gather(*(one(k) for k in range(25)))
        return loop.time() - started

    elapsed = asyncio.run(run())
    for sent, _ in events:
        # What the exchange may have counted before this one: sent earlier, answered within 0.2 s of it.
        assert sum(1 for s, a in events if s < sent and a > sent - 0.2 + 1e-6) <= 9
    # 25 at 10 per 0.2 s: two full windows and the answers (about 0.45 s). The bound only tells a pace
    # that waits a window per request (5 s) from one that fills each window; a loaded machine needs room.
    assert 0.4 <= elapsed < 2.5


def test_pace_keeps_a_margin_and_honours_a_hold() -> None:
    async def run() -> float:
        pace = Pace(10, 2.0)
        assert pace.requests == 8  # 80 % of the documented limit
        loop = asyncio.get_running_loop()
        async with pace:
            pace.hold(0.3)  # the exchange said Retry-After
        started = loop.time()
        async with pace:
            return loop.time() - started

    assert asyncio.run(run()) >= 0.29


def cache_at(root: Path | None, now_ms: int) -> HistoryCache:
    return HistoryCache(root, clock=lambda: now_ms / 1000)


def test_a_page_fetched_after_it_settled_is_final(tmp_path: Path) -> None:
    key = PageKey("binance", "BTCUSDT", "5m", 0, 150_000_000)
    rows = [(0, 80_000.5, 5.2e9), (300_000, 80_001.0, None)]
    cache_at(tmp_path, key.end_ms + SETTLE_MS).put_page(key, rows)
    assert cache_at(tmp_path, key.end_ms + 30 * 86_400_000).page(key, PERIOD_MS) == rows


def test_a_page_reaching_up_to_now_is_reused_for_one_period_only(tmp_path: Path) -> None:
    key = PageKey("okx", "BTC-USDT-SWAP", "5m", 0, 30_000_000)
    fetched = key.end_ms + 10_000
    cache_at(tmp_path, fetched).put_page(key, [(0, 1.0, 2.0)])
    assert cache_at(tmp_path, fetched + PERIOD_MS - 1).page(key, PERIOD_MS) == [(0, 1.0, 2.0)]
    assert cache_at(tmp_path, fetched + PERIOD_MS).page(key, PERIOD_MS) is None


def test_an_unreadable_page_is_a_miss_and_an_unwritable_cache_says_so(tmp_path: Path) -> None:
    key = PageKey("bybit", "BTCUSDT", "5m", 0, 60_000_000)
    cache = cache_at(tmp_path, 10**13)
    cache.put_page(key, [(0, 1.0, None)])
    path = tmp_path.joinpath(*key.parts())
    path.write_text('{"fetched_at": 1, "rows": [[0, "x"', encoding="utf-8")
    assert cache.page(key, PERIOD_MS) is None
    blocked = tmp_path / "file"
    blocked.write_text("")
    unwritable = cache_at(blocked / "below", 10**13)
    unwritable.put_page(key, [(0, 1.0, None)])
    assert unwritable.write_error is not None and "cannot write" in unwritable.write_error
    assert cache_at(None, 10**13).page(key, PERIOD_MS) is None  # --no-cache


def test_contracts_are_reused_for_a_day(tmp_path: Path) -> None:
    cache_at(tmp_path, 0).put_contracts("binance", {"PEPE": "1000PEPEUSDT"})
    assert cache_at(tmp_path, 86_399_999).contracts("binance") == {"PEPE": "1000PEPEUSDT"}
    assert cache_at(tmp_path, 86_400_000).contracts("binance") is None


def test_progress_is_one_summary_line_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress("history", {"binance": 3, "okx": 2}, stream=stream)
    for _ in range(3):
        progress.advance("binance", cached=True)
    progress.advance("okx")
    progress.skip("okx")
    assert stream.getvalue() == ""
    summary = progress.close()
    assert summary.startswith("history: 4 page(s), 3 from the cache, 1 fetched in ") and summary.endswith(" s")
    assert stream.getvalue() == summary + "\n"


def test_progress_redraws_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress("history", {"binance": 2}, stream=stream)
    progress.advance("binance")
    progress.advance("binance")
    assert "[" + "#" * 24 + "] 2/2 pages  binance 2/2" in stream.getvalue()
