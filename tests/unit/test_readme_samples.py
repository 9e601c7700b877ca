"""The alert samples in README.md are what the formatter writes for those figures: a reader's first
look at the product must not drift from it, as the cascade sample once did when the feeds grew."""

from __future__ import annotations

import re

from sample_alerts import cascade_data, oi_data

from cryptoalerts.alert import Alert, liquidation_cascade, oi_explosion
from cryptoalerts.telegram_format import format_alert
from infra.fakes.telegram import render_html
from infra.repo import REPO_ROOT


def readme_sample(title: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```\w*\n(.*?)\n```$", readme, re.MULTILINE | re.DOTALL)
    [block] = [b for b in blocks if b.startswith(f"🚨 {title}")]
    return block


def side(count: int, usd: float) -> dict[str, float]:
    return {"count": count, "usd": usd, "long_usd": usd, "short_usd": 0.0}


def test_the_cascade_sample() -> None:
    data = cascade_data(
        exchange="multi",
        count=6,
        total_usd=1_140_000.0,
        long_count=6,
        short_count=0,
        long_usd=1_140_000.0,
        short_usd=0.0,
        largest_usd=260_000.0,
        first_at="2026-11-30T09:56:40.120Z",
        last_at="2026-11-30T09:56:52.870Z",
        per_exchange={"binance": side(2, 390_000.0), "bybit": side(4, 750_000.0), "okx": side(0, 0.0)},
        sampled=["binance"],
    )
    alert: Alert = liquidation_cascade("BTC", 1764496612870, "long", "LOW", data)
    assert render_html(format_alert(alert)) == readme_sample("BTC LIQUIDATION CASCADE")


def test_the_open_interest_sample() -> None:
    def figures(before: float, after: float) -> dict[str, float]:
        return {
            "before": before / 65_000,
            "after": after / 65_000,
            "change_pct": (after / before - 1) * 100,
            "before_usd": before,
            "after_usd": after,
        }

    data = oi_data(
        change_pct=20.0,
        before_usd=15.6e9,
        after_usd=18.72e9,
        confirming=2,
        per_exchange={"binance": figures(5.2e9, 6.76e9), "bybit": figures(5.2e9, 6.76e9), "okx": figures(5.2e9, 5.2e9)},
    )
    alert = oi_explosion("BTC", 1764497820000, "MEDIUM", data)  # evaluated 10:17 UTC
    assert render_html(format_alert(alert)) == readme_sample("BTC OI EXPLOSION")
