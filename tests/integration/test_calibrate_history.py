"""`crypto-alerts calibrate` fetching history from the fake exchanges over real sockets: each
exchange's own history endpoint, wire format, paging, horizon and rate limit (enforced by the fake),
a synthetic series with a known answer, the disk cache, and exchanges failing midway."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from calibration_series import BAR_MS, spikes

from cryptoalerts.exchanges import MARKETS, binance, bybit, okx
from infra.cli import oi_history
from infra.cli.history_cache import HistoryCache
from infra.cli.main import main
from infra.fakes.exchanges_rest import FakeExchanges

DAY_MS = 86_400_000


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeExchanges]:
    with FakeExchanges(enforce_rate_limits=True) as exchanges:
        exchanges.seed_calm_market()
        for name, value in exchanges.env().items():
            monkeypatch.setenv(name, value)
        yield exchanges


@pytest.fixture
def synthetic(fake: FakeExchanges) -> Any:
    """BTC's 30 days of 5-minute history on all three exchanges: spikes of known sizes (calibration_series)."""
    series = spikes(int(time.time() * 1000), days=30)
    for exchange, points in series.points.items():
        fake.market.set_open_interest_history(exchange, "BTC", points)
    return series


def calibrate(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    thresholds = tmp_path / "thresholds.json"
    if not thresholds.exists():
        thresholds.write_text("{}", encoding="utf-8")
    command = ["calibrate", "--json", "--symbols", "BTC", "--thresholds", str(thresholds)]
    assert main([*command, "--cache-dir", str(tmp_path / "cache"), *args]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def last_bar(series: Any) -> str:
    return str(max(t for t, _, _ in series.points["binance"]))


def test_the_proposal_reproduces_a_known_quantile_from_the_exchanges_history(
    fake: FakeExchanges, synthetic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found, err = calibrate(tmp_path, capsys, "--until", last_bar(synthetic))
    row = found["symbols"]["BTC"]["oi"]
    assert abs(row["proposed"]["change_pct"] - synthetic.threshold_for(1.0)) <= row["step"]
    assert row["proposed"]["per_day"] <= 1.0
    # Each exchange served what it keeps: Binance and Bybit the 30 days, OKX its newest 1,440 periods.
    points = {ex: v["points"] for ex, v in row["exchanges"].items()}
    assert points["bybit"] == 30 * 288
    assert 30 * 288 - 14 <= points["binance"] <= 30 * 288 - 12  # an hour inside its 30 days from now
    assert 1438 <= points["okx"] <= 1440
    # Paged at each exchange's page size, and never refused for going too fast.
    assert fake.rate_limited == {}
    requests = fake.path_requests
    assert requests[("okx", okx.OI_HISTORY)] in (15, 16)  # 1,440 periods of 100, on the page grid
    assert requests[("binance", binance.OI_HISTORY)] in (18, 19)  # 8,640 of 500, on the page grid
    assert requests[("bybit", bybit.OI_HISTORY)] in (44, 45)  # 8,640 of 200
    assert requests[("bybit", bybit.KLINE)] in (9, 10)  # Bybit gives coins only: prices from its bars
    assert re.search(r"history: \d+ page\(s\), 0 from the cache, \d+ fetched in [0-9.]+ s", err), err


def test_usd_figures_come_from_the_exchange_or_from_its_bars(
    fake: FakeExchanges, synthetic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found, _ = calibrate(tmp_path, capsys, "--until", last_bar(synthetic), "--days", "2")
    usd = {ex: v["oi_usd"] for ex, v in found["symbols"]["BTC"]["oi"]["exchanges"].items()}
    assert usd["binance"] == pytest.approx(100_000 * 50_000)  # sumOpenInterestValue
    assert usd["okx"] == pytest.approx(100_000 * 50_000)  # oiUsd
    assert usd["bybit"] == pytest.approx(100_000 * 50_000)  # coins x the close of Bybit's own 5-minute bar


def test_a_second_run_gives_the_same_answer_from_the_cache(
    fake: FakeExchanges, synthetic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Four days: inside every exchange's horizon, so the pages asked do not depend on the clock.
    window = ("--until", last_bar(synthetic), "--days", "4")
    first, _ = calibrate(tmp_path, capsys, *window)
    fake.reset_counts()
    fake.path_requests.clear()
    second, err = calibrate(tmp_path, capsys, *window)
    assert sum(fake.requests.values()) == 0  # not one request: pages and contract lists from disk
    assert second == first
    assert re.search(r"history: (\d+) page\(s\), \1 from the cache, 0 fetched", err), err
    # Without the cache everything is asked again, and the answer is still the same (even when a
    # 5-minute period has closed since: the fake's scripted history and its bars stay what they were).
    third, _ = calibrate(tmp_path, capsys, *window, "--no-cache")
    assert third == first and fake.path_requests[("okx", okx.OI_HISTORY)] >= 12  # 4 days of 100 periods a page


def test_an_exchange_failing_midway_through_paging_is_named_and_the_others_are_used(
    fake: FakeExchanges, synthetic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.set_fault("okx", "500", path=okx.OI_HISTORY, after=6)
    found, _ = calibrate(tmp_path, capsys, "--until", last_bar(synthetic))
    # The fake counts a request it refuses for pacing among the 6 it lets through before failing.
    cached = 6 - fake.rate_limited["okx"]
    why = found["open_interest"]["failures"]["okx"]
    assert re.fullmatch(r"BTC not used: HTTP 500 on /api/v5/rubik/stat/contracts/open-interest-history: .* "
                        r"\(after \d+ of 1[56] pages\)", why), why  # fmt: skip
    row = found["symbols"]["BTC"]["oi"]
    assert set(row["exchanges"]) == {"binance", "bybit"}  # the others stand, and so does the answer
    assert abs(row["proposed"]["change_pct"] - synthetic.threshold_for(1.0)) <= row["step"]
    assert fake.path_requests[("okx", okx.OI_HISTORY)] <= 6 + 4 * 3  # stopped asking: in-flight pages x attempts

    # The table names it too.
    assert main(["calibrate", "--symbols", "BTC", "--thresholds", str(tmp_path / "thresholds.json"),
                 "--cache-dir", str(tmp_path / "cache"), "--until", last_bar(synthetic)]) == 0  # fmt: skip
    assert (
        "  okx: BTC not used: HTTP 500 on /api/v5/rubik/stat/contracts/open-interest-history" in capsys.readouterr().out
    )

    # Once the exchange is back, the pages it did answer come from the cache: only the rest is asked.
    fake.clear_faults()
    fake.path_requests.clear()
    fake.rate_limited.clear()
    again, _ = calibrate(tmp_path, capsys, "--until", last_bar(synthetic))
    assert set(again["symbols"]["BTC"]["oi"]["exchanges"]) == {"binance", "bybit", "okx"}
    # (The runs before sent their last requests moments ago: a page may be refused once and asked again.)
    answered = fake.path_requests[("okx", okx.OI_HISTORY)] - fake.rate_limited["okx"]
    assert 0 < answered <= 16 - cached


def test_a_rate_limited_exchange_is_named_with_its_wait(
    fake: FakeExchanges, synthetic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.set_fault("binance", "429", path=binance.OI_HISTORY, retry_after_s=600)
    found, _ = calibrate(tmp_path, capsys, "--until", last_bar(synthetic), "--days", "10")
    why = found["open_interest"]["failures"]["binance"]
    assert why.startswith("BTC not used: HTTP 429 on /futures/data/openInterestHist; retry after 600 s")
    assert set(found["symbols"]["BTC"]["oi"]["exchanges"]) == {"bybit", "okx"}


def test_an_unreachable_exchange_is_named_and_the_others_are_used(
    fake: FakeExchanges, synthetic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("BYBIT_REST_URL", "http://127.0.0.1:9")  # nothing listens there
    found, _ = calibrate(tmp_path, capsys, "--until", last_bar(synthetic), "--days", "10")
    assert found["open_interest"]["failures"]["bybit"].startswith("not used: cannot list its contracts: ConnectError")
    row = found["symbols"]["BTC"]["oi"]
    assert set(row["exchanges"]) == {"binance", "okx"}
    assert row["proposed"] is not None and row["days"] == pytest.approx(5, abs=0.05)  # 2 of 3 where OKX has data


def test_the_fake_refuses_a_client_that_does_not_pace(fake: FakeExchanges) -> None:
    """The rate limit the calibration stays under is real in the fake: a burst trips it."""
    end = int(time.time() * 1000) // BAR_MS * BAR_MS

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=fake.url) as client:
            answers = await asyncio.gather(*(
                client.get(okx.OI_HISTORY, params={"instId": "BTC-USDT-SWAP", "period": "5m",
                                                   "end": str(end - k * 100 * BAR_MS), "limit": "100"})
                for k in range(14)
            ))  # fmt: skip
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())
    assert statuses.count(429) == 4 and fake.rate_limited["okx"] == 4


def test_binance_still_serves_the_oldest_page_of_a_run_that_lasts(fake: FakeExchanges, synthetic: Any) -> None:
    """Binance refuses a startTime beyond its 30 days, and that horizon moves on while a long run
    waits for its rate limit (a hundred symbols take about twelve minutes): here the oldest page is
    asked ten minutes after the run read the clock."""
    started = time.time() - 600
    source = next(s for s in MARKETS if s.name == "binance")
    found = oi_history.fetch_history(
        ["BTC"], 30, int(started * 1000), HistoryCache(None), sources=[source], clock=lambda: started
    )
    assert found.failures == {}
    coverage = found.coverage["BTC"]["binance"]
    assert 30 * 288 - 14 <= coverage.points <= 30 * 288 - 12  # an hour inside the horizon, no more


def test_an_exchange_that_keeps_no_history_that_old_is_named(
    fake: FakeExchanges, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forty_days_ago = int(time.time() * 1000) - 40 * DAY_MS
    found, _ = calibrate(tmp_path, capsys, "--until", str(forty_days_ago), "--days", "5")
    failures = found["open_interest"]["failures"]
    # Binance keeps 30 days, OKX 5: neither is asked, and the reason is given rather than a silent gap.
    assert set(failures) == {"binance", "okx"}
    assert all(re.fullmatch(r"not used: it serves history from .* UTC on, after the span asked", why) for why in
               failures.values()), failures  # fmt: skip
    assert set(found["symbols"]["BTC"]["oi"]["exchanges"]) == {"bybit"}  # back to the listing
    assert fake.path_requests[("binance", binance.OI_HISTORY)] == fake.path_requests[("okx", okx.OI_HISTORY)] == 0


def test_the_cache_keeps_each_server_apart(
    fake: FakeExchanges, synthetic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """Pages from the fakes (or any other server) never answer for another server's history."""
    window = ("--until", last_bar(synthetic), "--days", "2")
    first, _ = calibrate(tmp_path, capsys, *window)
    with FakeExchanges() as other:  # serves the tape, not the synthetic spikes
        other.seed_calm_market()
        for name, value in other.env().items():
            monkeypatch.setenv(name, value)
        second, _ = calibrate(tmp_path, capsys, *window)
    assert other.path_requests[("binance", binance.OI_HISTORY)] > 0
    assert second["symbols"]["BTC"]["oi"]["largest"] != first["symbols"]["BTC"]["oi"]["largest"]
