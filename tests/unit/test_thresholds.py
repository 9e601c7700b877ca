"""The thresholds document (architecture.md §2.3): defaults, partial documents, strict validation naming the
field, and the live source over SSM (moto server): last known good and the 60 s cache."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics import Metrics
from aws_lambda_powertools.utilities.parameters import SSMProvider

from cryptoalerts import thresholds, thresholds_source
from cryptoalerts.metrics import INVALID_THRESHOLDS
from cryptoalerts.thresholds import DEFAULTS, InvalidThresholds, deep_merge, parse, set_path
from cryptoalerts.thresholds_source import MAX_AGE_S, ThresholdsSource
from infra.local import template as tpl
from infra.local.moto_server import MotoServer


# ---------------------------------------------------------------- defaults and merging
def test_the_template_seeds_the_parameter_with_exactly_the_built_in_defaults() -> None:
    value = tpl.default()["Resources"]["ThresholdsParameter"]["Properties"]["Value"]
    assert json.loads(value) == DEFAULTS


@pytest.mark.parametrize("stored", [None, "", "  \n", b""])
def test_no_stored_document_means_the_defaults(stored: str | bytes | None) -> None:
    assert parse(stored) == thresholds.defaults()


def test_the_defaults_are_the_seeds_figures() -> None:
    t = thresholds.defaults()
    assert t.symbols == ("BTC", "ETH", "SOL")
    assert t.liquidation("BTC") == thresholds.LiquidationRule(min_usd=100000, cascade_count=5, window_s=30)
    assert t.oi("SOL") == thresholds.OiRule(change_pct=25, window_min=15, min_exchanges=2)
    assert t.dispatch.rate_limit_per_hour == 10 and t.dispatch.priority_share["MEDIUM"] == 0.8


def test_a_partial_document_changes_only_what_it_names() -> None:
    t = parse(json.dumps({"oi": {"BTC": {"change_pct": 12}}}))
    assert t.oi("BTC") == thresholds.OiRule(change_pct=12, window_min=15, min_exchanges=2)
    assert t.oi("ETH").change_pct == 18
    assert t.liquidation("ETH").min_usd == 50000
    assert t.symbols == ("BTC", "ETH", "SOL")


def test_a_symbol_without_an_entry_uses_the_section_default() -> None:
    t = parse(json.dumps({"symbols": ["BTC", "DOGE", "币安人生"], "oi": {"default": {"window_min": 30}}}))
    assert t.symbols == ("BTC", "DOGE", "币安人生")
    assert t.watches("币安人生") and t.watches("DOGE") and not t.watches("ETH")
    assert t.oi("DOGE") == thresholds.OiRule(change_pct=20, window_min=30, min_exchanges=2)
    assert t.oi("BTC") == thresholds.OiRule(change_pct=15, window_min=30, min_exchanges=2)
    assert t.liquidation("币安人生").min_usd == 25000


def test_feeds_default_to_all_three_and_a_choice_keeps_their_canonical_order() -> None:
    assert thresholds.defaults().feeds == ("binance", "bybit", "okx")
    assert parse(json.dumps({"feeds": {"liquidations": ["okx", "binance"]}})).feeds == ("binance", "okx")


def test_deep_merge_replaces_lists_whole_merges_objects_and_leaves_its_inputs_alone() -> None:
    base = {"symbols": ["A", "B"], "s": {"x": 1, "y": {"z": 2}}}
    merged = deep_merge(base, {"symbols": ["C"], "s": {"y": {"w": 3}}})
    assert merged == {"symbols": ["C"], "s": {"x": 1, "y": {"z": 2, "w": 3}}}
    assert base == {"symbols": ["A", "B"], "s": {"x": 1, "y": {"z": 2}}}


# ---------------------------------------------------------------- invalid documents
INVALID: list[tuple[str, str]] = [
    # bad JSON / not an object
    ("{", "(document)"),
    ("[]", "(document)"),
    ('"BTC"', "(document)"),
    ("null", "(document)"),
    # wrong type
    ('{"oi": []}', "oi"),
    ('{"liquidation": "strict"}', "liquidation"),
    ('{"oi": {"BTC": {"change_pct": "15"}}}', "oi.BTC.change_pct"),
    ('{"oi": {"BTC": 15}}', "oi.BTC"),
    ('{"oi": {"default": null}}', "oi.default"),
    ('{"dispatch": {"priority_share": []}}', "dispatch.priority_share"),
    # booleans are not numbers
    ('{"dispatch": {"rate_limit_per_hour": true}}', "dispatch.rate_limit_per_hour"),
    ('{"liquidation": {"ETH": {"cascade_count": false}}}', "liquidation.ETH.cascade_count"),
    # negative, zero where it must be positive, not whole
    ('{"liquidation": {"default": {"min_usd": -1}}}', "liquidation.default.min_usd"),
    ('{"oi": {"SOL": {"change_pct": 0}}}', "oi.SOL.change_pct"),
    ('{"liquidation": {"BTC": {"window_s": -30}}}', "liquidation.BTC.window_s"),
    ('{"liquidation": {"default": {"cascade_count": 2.5}}}', "liquidation.default.cascade_count"),
    ('{"dispatch": {"dedup_window_s": -1}}', "dispatch.dedup_window_s"),
    # absurd
    ('{"oi": {"default": {"window_min": 100000}}}', "oi.default.window_min"),
    ('{"oi": {"default": {"min_exchanges": 4}}}', "oi.default.min_exchanges"),
    ('{"liquidation": {"BTC": {"min_usd": 1e15}}}', "liquidation.BTC.min_usd"),
    ('{"dispatch": {"rate_limit_per_hour": 10000000}}', "dispatch.rate_limit_per_hour"),
    # not finite (Python's json accepts these literals, so the validator must not)
    ('{"oi": {"BTC": {"change_pct": NaN}}}', "oi.BTC.change_pct"),
    ('{"liquidation": {"default": {"min_usd": Infinity}}}', "liquidation.default.min_usd"),
    # unknown keys, at every level
    ('{"alerts": {}}', "alerts"),
    ('{"oi": {"BTC": {"chnge_pct": 12}}}', "oi.BTC.chnge_pct"),
    ('{"dispatch": {"rate": 5}}', "dispatch.rate"),
    ('{"dispatch": {"priority_share": {"URGENT": 1}}}', "dispatch.priority_share.URGENT"),
    # bad symbol names
    ('{"symbols": ["BTC-USDT"]}', "symbols[0]"),
    ('{"symbols": ["BTC", ""]}', "symbols[1]"),
    ('{"symbols": ["ETH", 1]}', "symbols[1]"),
    ('{"symbols": ["BTC", "BTC"]}', "symbols"),
    ('{"symbols": []}', "symbols"),
    ('{"symbols": "BTC"}', "symbols"),
    ('{"oi": {"BTC/USD": {"change_pct": 5}}}', "oi.BTC/USD"),
    # priority_share
    ('{"dispatch": {"priority_share": {"LOW": 1.5}}}', "dispatch.priority_share.LOW"),
    ('{"dispatch": {"priority_share": {"MEDIUM": 0}}}', "dispatch.priority_share.MEDIUM"),
    ('{"dispatch": {"priority_share": {"HIGH": "all"}}}', "dispatch.priority_share.HIGH"),
    # feeds.liquidations: a non-empty list of known feeds, each once
    ('{"feeds": []}', "feeds"),
    ('{"feeds": {"trades": ["binance"]}}', "feeds.trades"),
    ('{"feeds": {"liquidations": []}}', "feeds.liquidations"),
    ('{"feeds": {"liquidations": "bybit"}}', "feeds.liquidations"),
    ('{"feeds": {"liquidations": ["bybit", "kraken"]}}', "feeds.liquidations[1]"),
    ('{"feeds": {"liquidations": ["Binance"]}}', "feeds.liquidations[0]"),
    ('{"feeds": {"liquidations": ["okx", "okx"]}}', "feeds.liquidations"),
]


@pytest.mark.parametrize(("document", "field"), INVALID)
def test_an_invalid_document_is_rejected_naming_the_field(document: str, field: str) -> None:
    with pytest.raises(InvalidThresholds) as caught:
        parse(document)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_set_path_builds_the_stored_document_for_the_cli() -> None:
    stored = set_path({}, "oi.BTC.change_pct", 12)
    assert stored == {"oi": {"BTC": {"change_pct": 12}}}
    assert set_path(stored, "oi.BTC.window_min", 30) == {"oi": {"BTC": {"change_pct": 12, "window_min": 30}}}
    assert stored == {"oi": {"BTC": {"change_pct": 12}}}  # unchanged


@pytest.mark.parametrize("path", ["", "oi..change_pct", ".oi", "oi."])
def test_set_path_rejects_paths_that_are_not_dotted(path: str) -> None:
    with pytest.raises(InvalidThresholds):
        set_path({}, path, 1)


def test_set_path_does_not_descend_into_a_value() -> None:
    with pytest.raises(InvalidThresholds, match=r"oi\.BTC\.change_pct"):
        set_path({"oi": {"BTC": 5}}, "oi.BTC.change_pct", 1)


# ---------------------------------------------------------------- the live source (SSM on moto)
NAME = "/crypto-alerts/test/thresholds"


@pytest.fixture
def ssm(aws_env: MotoServer) -> Any:
    return boto3.client("ssm")


@pytest.fixture
def provider(aws_env: MotoServer) -> SSMProvider:
    return SSMProvider()


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics(namespace="Test")
    m.clear_metrics()
    return m


@pytest.fixture
def source_log() -> Iterator[list[str]]:
    """Messages thresholds_source logs, however Powertools has wired its logger's propagation."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    target = logging.getLogger(thresholds_source.logger.name)
    handler = Collect()
    target.addHandler(handler)
    yield lines
    target.removeHandler(handler)


def store(ssm: Any, document: str) -> None:
    ssm.put_parameter(Name=NAME, Value=document, Type="String", Overwrite=True)


def invalid_count(metrics: Metrics) -> float:
    entry = metrics.metric_set.get(INVALID_THRESHOLDS)
    return float(sum(entry["Value"])) if entry else 0.0


def test_the_source_reads_the_stored_document(ssm: Any, provider: SSMProvider) -> None:
    store(ssm, '{"oi": {"BTC": {"change_pct": 12}}}')
    assert ThresholdsSource(NAME, provider=provider).get().oi("BTC").change_pct == 12


def test_the_parameter_name_comes_from_the_environment(
    ssm: Any, provider: SSMProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THRESHOLDS_PARAMETER", NAME)
    store(ssm, '{"symbols": ["BTC"]}')
    assert ThresholdsSource(provider=provider).get().symbols == ("BTC",)


def test_an_unreachable_or_missing_parameter_keeps_the_defaults(provider: SSMProvider) -> None:
    assert ThresholdsSource(NAME, provider=provider).get() == thresholds.defaults()


def test_an_invalid_edit_keeps_the_last_valid_document_logs_the_field_and_counts(
    ssm: Any, provider: SSMProvider, metrics: Metrics, source_log: list[str]
) -> None:
    source = ThresholdsSource(NAME, metrics=metrics, provider=provider)
    store(ssm, '{"oi": {"BTC": {"change_pct": 12}}}')
    good = source.get()
    store(ssm, '{"oi": {"BTC": {"change_pct": -3}}}')
    provider.clear_cache()  # as if the 60 s had passed
    assert source.get() == good
    rejected = [line for line in source_log if "invalid thresholds edit rejected" in line]
    assert len(rejected) == 1 and "oi.BTC.change_pct" in rejected[0]
    assert invalid_count(metrics) == 1
    # Still invalid a minute later: still counted (the alarm stays up), logged once.
    provider.clear_cache()
    assert source.get() == good
    assert invalid_count(metrics) == 2
    assert sum("invalid thresholds edit rejected" in line for line in source_log) == 1
    # Fixed: the new document takes effect.
    store(ssm, '{"oi": {"BTC": {"change_pct": 10}}}')
    provider.clear_cache()
    assert source.get().oi("BTC").change_pct == 10


def test_an_invalid_document_before_any_valid_one_means_the_defaults(
    ssm: Any, provider: SSMProvider, metrics: Metrics
) -> None:
    store(ssm, "{not json")
    assert ThresholdsSource(NAME, metrics=metrics, provider=provider).get() == thresholds.defaults()
    assert invalid_count(metrics) == 1


def test_edits_are_cached_for_at_most_60_seconds(ssm: Any, provider: SSMProvider) -> None:
    assert MAX_AGE_S == 60
    source = ThresholdsSource(NAME, provider=provider)
    store(ssm, '{"oi": {"BTC": {"change_pct": 12}}}')
    assert source.get().oi("BTC").change_pct == 12
    store(ssm, '{"oi": {"BTC": {"change_pct": 11}}}')
    assert source.get().oi("BTC").change_pct == 12  # within the cache's 60 s: not fetched again
    provider.clear_cache()  # the 60 s are over
    assert source.get().oi("BTC").change_pct == 11


def test_the_cache_age_passed_to_the_provider_is_60_seconds(ssm: Any, provider: SSMProvider) -> None:
    seen: list[Any] = []
    real_get = provider.get

    def spy(name: str, **kwargs: Any) -> Any:
        seen.append(kwargs.get("max_age"))
        return real_get(name, **kwargs)

    store(ssm, "{}")
    provider.get = spy  # type: ignore[method-assign]
    ThresholdsSource(NAME, provider=provider).get()
    assert seen == [60]
