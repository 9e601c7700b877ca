"""Reconnect backoff: exponential, full jitter, first retry within 1 s, cap 60 s, reset when stable."""

from __future__ import annotations

from listener.stream import Backoff


def test_ceilings_double_up_to_the_cap() -> None:
    backoff = Backoff(base_s=1, cap_s=60, rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_full_jitter_spreads_over_zero_to_the_ceiling() -> None:
    draws = iter([0.0, 0.5, 0.25])
    backoff = Backoff(base_s=1, cap_s=60, rand=lambda: next(draws))
    assert [backoff.next_delay() for _ in range(3)] == [0.0, 1.0, 1.0]


def test_first_retry_within_one_second_with_the_real_random_source() -> None:
    assert all(0 <= Backoff().next_delay() < 1 for _ in range(1000))


def test_a_stable_connection_resets_the_sequence_and_a_short_one_does_not() -> None:
    backoff = Backoff(base_s=1, cap_s=60, stable_s=60, rand=lambda: 1.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.connection_ended(uptime_s=59.9)
    assert backoff.next_delay() == 32
    backoff.connection_ended(uptime_s=60)
    assert backoff.next_delay() == 1
