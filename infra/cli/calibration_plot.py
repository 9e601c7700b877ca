"""`crypto-alerts calibrate --plot`: one PNG per symbol, its open-interest changes against both thresholds.

Top: each exchange's change over the window at every minute of the history, with the threshold in
force and the proposal as horizontal lines. Bottom: alerts per day at every candidate threshold,
the target rate, and where the current and proposed thresholds sit on that curve.

matplotlib is imported here only, so the other commands (and the Lambda and listener images, which
never install it) do not need it: `pip install 'crypto-alerts[plot]'`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.cli.calibration import OiCalibration
from infra.cli.context import CliError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CURRENT_COLOR = "#c0392b"
PROPOSED_COLOR = "#27ae60"
EXCHANGE_COLORS = {"binance": "#f0b90b", "bybit": "#1f2937", "okx": "#2563eb"}


def write(directory: Path, rows: Iterable[OiCalibration]) -> list[Path]:
    """A PNG per symbol with a history; returns the files written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {directory}: {exc.strerror or exc}") from None
    written = []
    for row in rows:
        if not row.changes:
            continue
        figure = chart(row)
        path = directory / f"calibrate-{row.symbol}.png"
        try:
            figure.savefig(path, dpi=110)
        except OSError as exc:
            raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    return written


def chart(row: OiCalibration) -> Figure:
    """The figure of one symbol: its changes against both thresholds, and the rate curve."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install 'crypto-alerts[plot]'") from None
    figure = Figure(figsize=(11, 7), layout="constrained")
    FigureCanvasAgg(figure)
    changes_axes, rates_axes = figure.subplots(2, 1, height_ratios=(3, 2))
    _changes(changes_axes, row)
    _rates(rates_axes, row)
    figure.suptitle(
        f"{row.symbol}: open interest over {row.rule.window_min} min, "
        f"{row.rule.min_exchanges} exchange(s) must confirm; target at most {row.target_per_day:g}/day"
    )
    return figure


def _changes(ax: Axes, row: OiCalibration) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    for exchange, points in row.changes.items():
        # matplotlib's stubs take numbers only, yet it plots datetimes on a date axis.
        times: Any = [datetime.fromtimestamp(minute / 1000, tz=UTC) for minute, _ in points]
        values = [pct for _, pct in points]
        ax.plot(times, values, lw=0.7, label=exchange, color=EXCHANGE_COLORS.get(exchange))
    ax.axhline(row.rule.change_pct, color=CURRENT_COLOR, ls="--", label=f"current {row.rule.change_pct:g}%")
    if row.proposed is not None:
        ax.axhline(row.proposed.change_pct, color=PROPOSED_COLOR, label=f"proposed {row.proposed.change_pct:g}%")
    # Dates in full on 30 days overlap at the axis' end: the concise form writes the month once.
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"change over {row.rule.window_min} min (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")


def _rates(ax: Axes, row: OiCalibration) -> None:
    ax.plot([r.change_pct for r in row.curve], [r.per_day for r in row.curve], color="#444")
    ax.axhline(row.target_per_day, color="#888", ls=":", label=f"target {row.target_per_day:g}/day")
    ax.axvline(row.rule.change_pct, color=CURRENT_COLOR, ls="--",
               label=f"current: {row.current.per_day:.2f}/day")  # fmt: skip
    if row.proposed is not None:
        ax.axvline(row.proposed.change_pct, color=PROPOSED_COLOR,
                   label=f"proposed: {row.proposed.per_day:.2f}/day")  # fmt: skip
    ax.set_xlabel("change_pct threshold (%)")
    ax.set_ylabel("alerts per day")
    ax.set_yscale("symlog", linthresh=1)  # the rate spans 0 to hundreds a day
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
