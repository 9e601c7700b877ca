"""`GET /metrics`: the listener's counters and gauges (those of `/status`) in Prometheus' text format.

For anyone running the listener outside AWS, where the EMF metrics on stdout have no CloudWatch to
read them: every count and level of `/status`, Bybit's topics and OKX's waiting liquidations
included. Names follow Prometheus' conventions: `crypto_alerts_listener_` prefix, `_total` for
counters, a label `exchange` on what is per feed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "crypto_alerts_listener_"
Sample = tuple[Mapping[str, str], float]


def render(status: Mapping[str, Any]) -> str:
    """Text exposition format 0.0.4 of a `/status` document."""
    feeds: Mapping[str, Mapping[str, Any]] = status.get("feeds", {})
    outbox = status["outbox"]
    bybit, okx = feeds.get("bybit"), feeds.get("okx")
    recording = status.get("recording")

    def per_feed(field: str) -> list[Sample]:
        return [({"exchange": name}, float(feed[field])) for name, feed in feeds.items()]

    def per_stream(counter: str) -> list[Sample]:
        return [
            ({"exchange": name}, float(sum(c[counter] for c in feed["connections"]))) for name, feed in feeds.items()
        ]

    families: list[tuple[str, str, str, Iterable[Sample]]] = [
        ("healthy", "gauge", "1 while at least one enabled feed is fresh", [({}, float(status["healthy"]))]),
        ("feed_enabled", "gauge", "1 when the thresholds enable the feed", per_feed("enabled")),
        ("feed_healthy", "gauge", "1 while the feed is connected and heard from", per_feed("healthy")),
        ("frames_total", "counter", "data frames received", per_feed("frames")),
        ("liquidations_total", "counter", "liquidations parsed (repeats excluded)", per_feed("liquidations")),
        ("duplicate_liquidations_total", "counter", "repeats dropped (connection overlap)", per_feed("duplicates")),
        ("qualifying_liquidations_total", "counter", "liquidations at or above their floor", per_feed("qualifying")),
        (
            "malformed_frames_total",
            "counter",
            "frames or elements skipped, by kind",
            [
                ({"exchange": name, "kind": kind}, float(n))
                for name, feed in feeds.items()
                for kind, n in sorted(feed["malformed"].items())
            ],
        ),
        ("reconnects_total", "counter", "connections opened again after one was lost", per_stream("reconnects")),
        ("rotations_total", "counter", "proactive moves to a new connection", per_stream("rotations")),
        ("silences_total", "counter", "connections closed for data silence", per_stream("silences")),
        ("connect_failures_total", "counter", "connection attempts that failed", per_stream("connect_failures")),
        (
            "seconds_since_last_frame",
            "gauge",
            "age of the newest data frame",
            [
                ({"exchange": n}, float(f["last_frame_age_s"]))
                for n, f in feeds.items()
                if f["last_frame_age_s"] is not None
            ],
        ),
        ("connections_opened_total", "counter", "connections opened", per_stream("connections_opened")),
        (
            "instrument_refresh_failures_total",
            "counter",
            "instrument lists that could not be read",
            [
                ({"exchange": name}, float(feed["instruments"]["failures"]))
                for name, feed in feeds.items()
                if "instruments" in feed
            ],
        ),
        (
            "bybit_perpetuals",
            "gauge",
            "linear USDT perpetuals Bybit lists",
            [({}, float(bybit["instruments"]["linear_perpetuals"]))] if bybit else [],
        ),
        (
            "bybit_topics",
            "gauge",
            "allLiquidation topics by state (refused: Bybit does not have them)",
            [({"state": state}, float(n if isinstance(n, int) else len(n))) for state, n in bybit["topics"].items()]
            if bybit
            else [],
        ),
        (
            "okx_swaps",
            "gauge",
            "linear swaps whose contract size OKX lists",
            [({}, float(okx["instruments"]["swaps"]))] if okx else [],
        ),
        (
            "okx_waiting_liquidations",
            "gauge",
            "liquidations waiting for their instrument's contract size",
            [({}, float(okx["instruments"]["waiting_liquidations"]))] if okx else [],
        ),
        (
            "okx_errors_total",
            "counter",
            "error events OKX sent, by its code",
            [({"code": c}, float(n)) for c, n in sorted(okx["errors"].items())] if okx else [],
        ),
        ("cascades_total", "counter", "cascade alerts produced", [({}, float(status["cascades"]))]),
        ("outbox_depth", "gauge", "alerts waiting for SQS", [({}, float(outbox["depth"]))]),
        ("outbox_capacity", "gauge", "alerts the outbox holds at most", [({}, float(outbox["capacity"]))]),
        ("alerts_sent_total", "counter", "alerts SQS accepted", [({}, float(outbox["sent"]))]),
        ("alerts_dropped_total", "counter", "alerts dropped from a full outbox", [({}, float(outbox["dropped"]))]),
        ("alert_send_failures_total", "counter", "SQS calls that failed", [({}, float(outbox["send_failures"]))]),
        ("history_retained", "gauge", "qualifying liquidations retained", [({}, float(status["history"]["retained"]))]),
        ("history_bytes", "gauge", "memory the retained history takes", [({}, float(status["history"]["bytes"]))]),
        (
            "recorded_lines_total",
            "counter",
            "lines recorded: frames, and OKX's contract sizes as they change",
            [({}, float(recording["lines"]))] if recording else [],
        ),
        (
            "recording_errors_total",
            "counter",
            "recording writes that failed",
            [({}, float(recording["errors"]))] if recording else [],
        ),
    ]
    lines: list[str] = []
    for name, kind, help_text, samples in families:
        lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]
        lines += [f"{PREFIX}{name}{_labels(labels)} {_value(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + ",".join(escaped) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
