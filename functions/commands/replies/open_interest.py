"""`/oi SYM`: open interest per exchange and in total (coins, USD, share), its change over 15 m,
1 h, 4 h and 24 h, and how far the symbol is from its OI alert.

Changes come from the pipeline's minute snapshots (OiSnapshotTable) where it stored both ends,
else from the exchange's own open-interest history; the reply says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from commands.replies.text import (
    NOTHING,
    bold,
    clock,
    compact,
    escape,
    exchange_name,
    finish,
    share,
    table,
    unavailable,
)
from cryptoalerts import oi_changes
from cryptoalerts.exchanges.market import OpenInterest, PerExchange
from cryptoalerts.oi_changes import Change
from cryptoalerts.telegram_format import usd
from cryptoalerts.thresholds import OiRule

PIPELINE = "pipeline"
HISTORY = "history"


@dataclass
class Changes:
    """Each exchange's change per horizon (minutes), and where each figure came from."""

    by_exchange: dict[str, dict[int, Change | None]] = field(default_factory=dict)
    sources: dict[tuple[str, int], str] = field(default_factory=dict)  # (exchange, minutes) -> PIPELINE | HISTORY
    pipeline_minute_ms: int | None = None  # the newest stored minute the pipeline figures end at
    history_failures: dict[str, str] = field(default_factory=dict)  # exchange -> why its history is missing


def reply(
    symbol: str,
    live: PerExchange[OpenInterest],
    changes: Changes,
    rule: OiRule,
    exchanges: tuple[str, ...],
    now_ms: int,
) -> str:
    as_of = max((p.time_ms for p in live.results.values()), default=0) or now_ms
    lines = [bold(f"📈 {escape(symbol)} open interest") + f" · {clock(as_of)}"]
    if live.results:
        lines.append(table([["", escape(symbol), "USD", "share"], *_levels(live.results, exchanges)]))
    lines += [unavailable(n, live.failures[n]) for n in exchanges if n in live.failures]
    horizons = oi_changes.HORIZONS_MIN
    rows = [[exchange_name(n), *(_pct(changes.by_exchange.get(n, {}).get(h)) for h in horizons)] for n in exchanges]
    totals = [oi_changes.total({n: changes.by_exchange.get(n, {}).get(h) for n in exchanges}) for h in horizons]
    lines += [
        "Change in positions (coins), %:",
        table([["", *(_label(h) for h in horizons)], *rows, ["All", *(_signed(t) for t in totals)]]),
        _gap_line(changes, rule, exchanges),
        _sources_line(changes, exchanges),
    ]
    return finish(lines)


def _levels(results: Mapping[str, OpenInterest], exchanges: tuple[str, ...]) -> list[list[str]]:
    counted = [results[n] for n in exchanges if n in results]
    total_usd = sum(p.usd or 0.0 for p in counted)
    rows = [
        [exchange_name(p.exchange), compact(p.coins), _usd(p.usd), share(p.usd / total_usd if p.usd else None)]
        for p in counted
    ]
    if len(counted) > 1:
        rows.append(["All", compact(sum(p.coins for p in counted)), _usd(total_usd), ""])
    return rows


def _gap_line(changes: Changes, rule: OiRule, exchanges: tuple[str, ...]) -> str:
    window = {n: c.pct if (c := changes.by_exchange.get(n, {}).get(rule.window_min)) else None for n in exchanges}
    gap = oi_changes.gap(window, rule)
    head = (
        f"🎯 Alert at +{rule.change_pct:g}% in {_label(rule.window_min)} "
        f"on {rule.min_exchanges} of {len(exchanges)} exchanges:"
    )
    if gap.deciding_pct is None:
        return f"{head} not enough exchanges measured to tell."
    if gap.met:
        return f"{head} met now ({gap.confirming} exchanges at or above)."
    which = "largest" if rule.min_exchanges == 1 else f"{_ordinal(rule.min_exchanges)}-largest"
    return (
        f"{head} the {which} {_label(rule.window_min)} rise is {_signed(gap.deciding_pct)}%, "
        f"{gap.points_short:.1f} points short."
    )


def _sources_line(changes: Changes, exchanges: tuple[str, ...]) -> str:
    from_history = sorted({n for (n, _), source in changes.sources.items() if source == HISTORY}, key=exchanges.index)
    from_pipeline = any(source == PIPELINE for source in changes.sources.values())
    parts = []
    if from_pipeline and changes.pipeline_minute_ms is not None:
        parts.append(f"the pipeline's minute snapshots (to {clock(changes.pipeline_minute_ms)})")
    if from_history:
        parts.append(f"the open-interest history of {', '.join(exchange_name(n) for n in from_history)}")
    line = "From " + " and ".join(parts) + "." if parts else "No change measured."
    failed = [f"{exchange_name(n)} ({escape(r)})" for n, r in changes.history_failures.items()]
    return line + (f" History unavailable: {', '.join(failed)}." if failed else "")


def _label(minutes: int) -> str:
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _pct(change: Change | None) -> str:
    return NOTHING if change is None else _signed(change.pct)


def _signed(value: float | None) -> str:
    return NOTHING if value is None else f"{value:+.1f}"


def _usd(value: float | None) -> str:
    return NOTHING if value is None else usd(value).lstrip("$")


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")
