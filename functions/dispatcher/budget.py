"""The hourly alert budget with priority reserves (architecture.md §2.3 `dispatch`). Pure.

Definition: every delivered alert uses one unit of the hour it is sent in (UTC clock hour). An
alert of priority P is admitted only while the units already used this hour, by alerts of any
priority, are fewer than P's cap, `floor(priority_share[P] x rate_limit_per_hour)`. With the
defaults (10 per hour, LOW 0.5, MEDIUM 0.8, HIGH 1.0) LOW stops at 5 used, MEDIUM at 8, HIGH at 10:
the last 5 units are out of LOW's reach and the last 2 are HIGH's alone, so high-priority alerts
always find room. A share that rounds down to zero units admits nothing of that priority.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptoalerts.thresholds import DispatchRule

# Budget counters outlive their hour by a day, for anyone looking back; TTL then removes them.
COUNTER_RETENTION = timedelta(days=1)


def cap(rule: DispatchRule, priority: str) -> int:
    """Units of the hourly budget that alerts of `priority` may see used before they are refused."""
    share = rule.priority_share[priority]
    # Decimal from the written value: 0.29 x 100 is 28.999... in binary floating point, 29 here.
    return math.floor(Decimal(str(share)) * rule.rate_limit_per_hour)


def admits(used: int, rule: DispatchRule, priority: str) -> bool:
    return used < cap(rule, priority)


def bucket(now: datetime) -> str:
    """The hour an alert is charged to: `2025-10-22T09` (UTC)."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H")


def counter_expiry(now: datetime) -> int:
    """Epoch seconds at which the hour's counter may be deleted."""
    hour_end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return int((hour_end + COUNTER_RETENTION).timestamp())
