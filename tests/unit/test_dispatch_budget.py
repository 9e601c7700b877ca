"""Hourly budget and priority-share math (architecture.md §2.3 dispatch), and the retry delays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cryptoalerts.thresholds import DispatchRule, defaults
from dispatcher import budget, retry_policy

DEFAULT = defaults().dispatch


def rule(limit: int, **shares: float) -> DispatchRule:
    return DispatchRule(limit, 300, {"LOW": 0.5, "MEDIUM": 0.8, "HIGH": 1.0, **shares})


def test_default_caps_are_five_eight_ten() -> None:
    assert [budget.cap(DEFAULT, p) for p in ("LOW", "MEDIUM", "HIGH")] == [5, 8, 10]


def test_caps_round_down_exactly() -> None:
    # 0.29 x 100 is 28.999... in binary floating point; the cap is 29.
    assert budget.cap(rule(100, LOW=0.29), "LOW") == 29
    assert budget.cap(rule(10, LOW=0.35), "LOW") == 3
    assert budget.cap(rule(3, MEDIUM=0.8), "MEDIUM") == 2
    assert budget.cap(rule(1, LOW=0.5), "LOW") == 0  # never admitted


def admitted(sequence: list[str], r: DispatchRule) -> list[str]:
    """Replays the counter: each admitted alert uses one unit of the hour."""
    used, out = 0, []
    for priority in sequence:
        if budget.admits(used, r, priority):
            used += 1
            out.append(priority)
    return out


def test_ten_low_then_ten_high_admits_five_and_five() -> None:
    assert admitted(["LOW"] * 10 + ["HIGH"] * 10, DEFAULT) == ["LOW"] * 5 + ["HIGH"] * 5


def test_high_always_finds_the_reserve() -> None:
    got = admitted(["MEDIUM"] * 20 + ["LOW"] * 5 + ["HIGH"] * 5, DEFAULT)
    assert got == ["MEDIUM"] * 8 + ["HIGH"] * 2
    assert admitted(["HIGH"] * 15, DEFAULT) == ["HIGH"] * 10


@pytest.mark.parametrize(
    ("used", "low", "medium", "high"),
    [
        (0, True, True, True),
        (4, True, True, True),
        (5, False, True, True),
        (7, False, True, True),
        (8, False, False, True),
        (9, False, False, True),
        (10, False, False, False),
    ],
)
def test_admission_boundaries(used: int, low: bool, medium: bool, high: bool) -> None:
    assert [budget.admits(used, DEFAULT, p) for p in ("LOW", "MEDIUM", "HIGH")] == [low, medium, high]


def test_hour_bucket_is_the_utc_clock_hour() -> None:
    moment = datetime(2025, 10, 22, 9, 59, 59, 999000, tzinfo=UTC)
    assert budget.bucket(moment) == "2025-10-22T09"
    assert budget.bucket(moment + timedelta(milliseconds=1)) == "2025-10-22T10"
    cest = moment.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert budget.bucket(cest) == "2025-10-22T09"


def test_counter_expires_a_day_after_its_hour() -> None:
    moment = datetime(2025, 10, 22, 9, 15, tzinfo=UTC)
    assert budget.counter_expiry(moment) == int(datetime(2025, 10, 23, 10, tzinfo=UTC).timestamp())


def test_backoff_doubles_then_caps() -> None:
    assert [retry_policy.backoff_s(n) for n in range(1, 7)] == [15, 30, 60, 120, 120, 120]
    assert retry_policy.backoff_s(0) == 15
    assert retry_policy.backoff_s(10_000) == 120


def test_rate_limit_delay_is_within_what_sqs_accepts() -> None:
    assert retry_policy.rate_limited_s(7) == 7
    assert retry_policy.rate_limited_s(0) == 1
    assert retry_policy.rate_limited_s(10**6) == 43_200
