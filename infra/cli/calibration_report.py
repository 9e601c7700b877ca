"""What `crypto-alerts calibrate` prints: one table for people, one JSON document for scripts.

Each row is one symbol and one kind of alert: the threshold in force and how often it would have
fired over the history, the proposal and how often it would have fired, and the largest move seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptoalerts.telegram_format import usd
from cryptoalerts.timeutil import iso_ms
from infra.cli.calibration import CascadeRate, Coverage, LiquidationCalibration, OiCalibration, Rate, Spread

COLUMNS = ("symbol", "alert", "current", "alerts/day", "proposed", "alerts/day", "largest seen")


@dataclass
class Sources:
    """Where the figures come from, for the header lines and the JSON."""

    oi: str  # "exchange history" or the recordings' paths
    coverage: dict[str, dict[str, Coverage]] = field(default_factory=dict)  # symbol -> exchange -> coverage
    failures: dict[str, str] = field(default_factory=dict)  # exchange -> why it could not be read
    liquidations: str | None = None
    liquidation_span: tuple[int, int] | None = None
    liquidation_count: int = 0


def table(
    sources: Sources,
    oi_rows: Sequence[OiCalibration],
    liquidation_rows: Sequence[LiquidationCalibration],
    target: float,
    cascade_target: float,
) -> str:
    lines = [_target_line(target, cascade_target, bool(liquidation_rows))]
    lines += _source_lines(sources)
    rows: list[tuple[str, ...]] = [COLUMNS]
    notes = []
    by_symbol: dict[str, list[OiCalibration | LiquidationCalibration]] = {}
    ordered: list[OiCalibration | LiquidationCalibration] = [*oi_rows, *liquidation_rows]
    for row in ordered:
        by_symbol.setdefault(row.symbol, []).append(row)
    for symbol, found in by_symbol.items():
        for row in found:
            if isinstance(row, OiCalibration):
                rows.append(_oi_row(row))
                kind = "open interest"
            else:
                rows.append(_liquidation_row(row))
                kind = "cascades"
            if row.note:
                notes.append(f"  {symbol} {kind}: {row.note}")
    lines += ["", *_aligned(rows)]
    if notes:
        lines += ["", "notes:", *notes]
    spreads = _spread_rows(oi_rows)
    if len(spreads) > 1:
        window = {r.rule.window_min for r in oi_rows}
        over = f"{window.pop()} min" if len(window) == 1 else "each symbol's window"
        lines += ["", f"open-interest changes over {over}, per exchange (percent of positions held):"]
        lines += _aligned(spreads)
    return "\n".join(lines)


def _target_line(target: float, cascade_target: float, with_liquidations: bool) -> str:
    line = f"target: at most {target:g} open-interest alert(s) per symbol per day"
    if with_liquidations:
        line += f", {cascade_target:g} cascade(s) per symbol per day"
    return line


def _source_lines(sources: Sources) -> list[str]:
    lines = []
    spans: dict[str, tuple[int, int, int]] = {}
    for per_exchange in sources.coverage.values():
        for exchange, c in per_exchange.items():
            held = spans.get(exchange)
            spans[exchange] = (
                (c.points, c.first_ms, c.last_ms)
                if held is None
                else (held[0] + c.points, min(held[1], c.first_ms), max(held[2], c.last_ms))
            )
    described = "; ".join(
        f"{ex} {_when(first)} to {_when(last)} ({(last - first) / 86_400_000:.1f} days)"
        for ex, (_, first, last) in sorted(spans.items())
    )
    lines.append(f"open interest: {sources.oi}: {described or 'nothing'}")
    for exchange, why in sorted(sources.failures.items()):
        lines.append(f"  {exchange}: {why}")
    if sources.liquidations is not None:
        span = sources.liquidation_span
        when = f"{_when(span[0])} to {_when(span[1])}" if span else "no liquidation"
        lines.append(f"liquidations: {sources.liquidations}: {when}, {sources.liquidation_count:,} liquidations")
    return lines


def _oi_row(row: OiCalibration) -> tuple[str, ...]:
    kind = f"OI {row.rule.window_min} min, {row.rule.min_exchanges} exch."
    proposed = row.proposed
    largest = row.largest
    seen = f"{largest.largest:+.2f}% {largest.exchange} {_when(largest.largest_at_ms)}" if largest else "-"
    return (
        row.symbol,
        kind,
        f"{_pct(row.rule.change_pct)}%",
        _per_day(row.current.per_day) if row.days > 0 else "-",
        f"{_pct(proposed.change_pct)}%" if proposed else "-",
        _per_day(proposed.per_day) if proposed else "",
        seen,
    )


def _liquidation_row(row: LiquidationCalibration) -> tuple[str, ...]:
    proposed = row.proposed
    seen = f"{usd(row.largest_usd)} largest; {row.busiest} in {row.rule.window_s:g} s" if row.liquidations else "-"
    return (
        row.symbol,
        f"cascade {row.rule.window_s:g} s",
        _cascade(row.rule.cascade_count, row.rule.min_usd),
        _per_day(row.current.per_day) if row.days > 0 else "-",
        _cascade(proposed.cascade_count, proposed.min_usd) if proposed else "-",
        _per_day(proposed.per_day) if proposed else "",
        seen,
    )


def _spread_rows(oi_rows: Sequence[OiCalibration]) -> list[tuple[str, ...]]:
    if not any(r.spreads for r in oi_rows):
        return []
    percentiles = next(r.spreads[0].percentiles for r in oi_rows if r.spreads)
    header = ("symbol", "exchange", "windows", *(f"p{p:g}" for p, _ in percentiles), "largest")
    rows: list[tuple[str, ...]] = [header]
    for r in oi_rows:
        for s in r.spreads:
            values = (f"{v:+.2f}" for _, v in s.percentiles)
            rows.append((r.symbol, s.exchange, f"{s.windows:,}", *values, f"{s.largest:+.2f}"))
    return rows


def _aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _cascade(count: int, min_usd: float) -> str:
    return f"{count} x {usd(min_usd)}"


def _per_day(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


def _pct(value: float) -> str:
    return f"{value:g}"


def _when(epoch_ms: int) -> str:
    """`2026-06-08 12:10 UTC`: to the minute, which is what the history resolves."""
    return iso_ms(epoch_ms)[:16].replace("T", " ") + " UTC"


# ---------------------------------------------------------------- JSON
def document(
    sources: Sources,
    oi_rows: Sequence[OiCalibration],
    liquidation_rows: Sequence[LiquidationCalibration],
    target: float,
    cascade_target: float,
    applied: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    symbols: dict[str, dict[str, Any]] = {}
    for oi_row in oi_rows:
        symbols.setdefault(oi_row.symbol, {})["oi"] = _oi_json(oi_row, sources.coverage.get(oi_row.symbol, {}))
    for liq_row in liquidation_rows:
        symbols.setdefault(liq_row.symbol, {})["liquidation"] = _liquidation_json(liq_row)
    liquidations = None
    if sources.liquidations is not None:
        span = sources.liquidation_span
        liquidations = {
            "source": sources.liquidations,
            "from": iso_ms(span[0]) if span else None,
            "to": iso_ms(span[1]) if span else None,
            "liquidations": sources.liquidation_count,
        }
    return {
        "target_per_day": target,
        "cascade_target_per_day": cascade_target,
        "open_interest": {"source": sources.oi, "failures": dict(sorted(sources.failures.items()))},
        "liquidations": liquidations,
        "symbols": symbols,
        "applied": dict(applied) if applied is not None else None,
    }


def _rate(rate: Rate | None) -> dict[str, Any] | None:
    if rate is None:
        return None
    return {"change_pct": rate.change_pct, "alerts": rate.alerts, "per_day": round(rate.per_day, 4)}


def _oi_json(row: OiCalibration, coverage: Mapping[str, Coverage]) -> dict[str, Any]:
    largest = row.largest
    exchanges = {}
    for s in row.spreads:
        c = coverage.get(s.exchange)
        exchanges[s.exchange] = {
            "points": c.points if c else None,
            "from": iso_ms(c.first_ms) if c else None,
            "to": iso_ms(c.last_ms) if c else None,
            "oi_usd": c.last_usd if c else None,  # the newest point's
            "windows": s.windows,
            **{f"p{p:g}": round(v, 4) for p, v in s.percentiles},
            "largest": round(s.largest, 4),
            "largest_at": iso_ms(s.largest_at_ms),
        }
    return {
        "window_min": row.rule.window_min,
        "min_exchanges": row.rule.min_exchanges,
        "days": round(row.days, 4),
        "current": _rate(row.current),
        "proposed": _rate(row.proposed),
        "largest": _largest_json(largest),
        "note": row.note,
        "step": row.step,
        "exchanges": exchanges,
        "curve": [[r.change_pct, r.alerts, round(r.per_day, 4)] for r in row.curve],
    }


def _largest_json(spread: Spread | None) -> dict[str, Any] | None:
    if spread is None:
        return None
    return {"exchange": spread.exchange, "change_pct": round(spread.largest, 4), "at": iso_ms(spread.largest_at_ms)}


def _cascade_json(rate: CascadeRate | None) -> dict[str, Any] | None:
    if rate is None:
        return None
    return {"min_usd": rate.min_usd, "cascade_count": rate.cascade_count, "cascades": rate.cascades,
            "per_day": round(rate.per_day, 4)}  # fmt: skip


def _liquidation_json(row: LiquidationCalibration) -> dict[str, Any]:
    return {
        "window_s": row.rule.window_s,
        "days": round(row.days, 6),
        "liquidations": row.liquidations,
        "largest_usd": round(row.largest_usd, 2),
        "busiest": row.busiest,
        "current": _cascade_json(row.current),
        "proposed": _cascade_json(row.proposed),
        "by_count": [_cascade_json(r) for r in row.by_count],
        "note": row.note,
    }
