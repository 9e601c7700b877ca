"""When a failed message comes back (SQS visibility), so a retry neither hammers nor lingers. Pure.

Lambda leaves a failed message invisible for the queue's whole visibility timeout (180 s, six times
the function's timeout). Alerts are worth most when fresh, so the dispatcher sets the delay itself:
Telegram's `retry_after` for a 429, otherwise a backoff doubling from BACKOFF_BASE_S with each
receive. With maxReceiveCount 5, an outage is retried for about 3.5 minutes before the message is
dead-lettered (and the dead-letter alarm wakes someone).
"""

from __future__ import annotations

BACKOFF_BASE_S = 15
BACKOFF_CAP_S = 120
# SQS's maximum visibility timeout.
MAX_VISIBILITY_S = 43_200


def backoff_s(receive_count: int) -> int:
    """Delay before the next attempt after the `receive_count`-th receive failed: 15, 30, 60, 120, 120..."""
    exponent = max(0, receive_count - 1)
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(exponent, 16))


def rate_limited_s(retry_after_s: int) -> int:
    """Telegram's `retry_after`, within what SQS accepts."""
    return min(MAX_VISIBILITY_S, max(1, retry_after_s))
