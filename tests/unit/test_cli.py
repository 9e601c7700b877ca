"""Pure parts of the operator CLI: value parsing, resource names, health rule, table formatting."""

from __future__ import annotations

import pytest

from infra.cli import context as cli_context
from infra.cli import history as cli_history
from infra.cli import status as cli_status
from infra.cli import thresholds as cli_thresholds
from infra.cli.context import CliError
from infra.cli.main import build_parser
from infra.local import template as tpl


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("0.5", 0.5),
        ("true", True),
        ('["BTC","币安人生"]', ["BTC", "币安人生"]),
        ('{"min_usd": 1}', {"min_usd": 1}),
        ("lots", "lots"),
        ("BTC", "BTC"),
        ("", ""),
    ],
)
def test_values_are_json_else_text(text: str, value: object) -> None:
    assert cli_thresholds.parse_value(text) == value


def test_default_parameter_names_match_the_template_for_its_default_stage() -> None:
    template = tpl.default()
    params = template["Parameters"]
    stage = params["Stage"]["Default"]
    assert stage == cli_context.DEFAULT_STAGE
    assert params["TelegramTokenParameterName"]["Default"] == cli_context.TOKEN_PARAMETER_NAME.format(stage=stage)
    assert params["TelegramChatIdParameterName"]["Default"] == cli_context.CHAT_ID_PARAMETER_NAME.format(stage=stage)
    sub = template["Resources"]["ThresholdsParameter"]["Properties"]["Name"]["Fn::Sub"]
    assert sub.replace("${Stage}", "x") == cli_context.THRESHOLDS_PARAMETER_NAME.format(stage="x")


def test_the_outputs_the_cli_reads_exist_in_the_template() -> None:
    outputs = tpl.default()["Outputs"]
    assert outputs[cli_context.OUTPUT_HISTORY_TABLE]["Value"] == {"Ref": "AlertHistoryTable"}
    assert outputs[cli_context.OUTPUT_ALERT_QUEUE_URL]["Value"] == {"Ref": "AlertQueue"}


@pytest.mark.parametrize(
    "argv",
    [
        ["thresholds", "show"],
        ["thresholds", "set", "oi.BTC.change_pct", "12"],
        ["thresholds", "edit"],
        ["thresholds", "validate", "f.json"],
        ["telegram", "setup"],
        ["telegram", "webhook"],
        ["telegram", "webhook", "--info"],
        ["telegram", "webhook", "--delete", "--drop-pending"],
        ["history"],
        ["status"],
        ["backtest", "--liquidations", "l.csv", "--oi", "o.csv"],
    ],
)
def test_every_operator_command_parses(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert callable(args.handler)


def test_listener_health_needs_a_running_task_and_a_recent_frame() -> None:
    assert cli_status.listener_healthy(1, 2.0)
    assert not cli_status.listener_healthy(0, 2.0)
    assert not cli_status.listener_healthy(1, None)
    assert not cli_status.listener_healthy(1, cli_status.SILENCE_LIMIT_S)


def test_cluster_is_read_from_a_long_service_arn() -> None:
    assert cli_status._cluster_of("arn:aws:ecs:us-east-1:123456789012:service/alerts-prod/listener") == "alerts-prod"
    with pytest.raises(CliError, match="--cluster"):
        cli_status._cluster_of("arn:aws:ecs:us-east-1:123456789012:service/listener")


def test_history_table_shows_errors_under_their_row() -> None:
    text = cli_history.format_table(
        [
            {
                "recorded_at": "2025-10-22T09:38:14.000Z",
                "status": "failed",
                "kind": "oi_explosion",
                "symbol": "BTC",
                "priority": "LOW",
                "telegram_message_id": None,
                "id": "oi_explosion:BTC:1",
                "error": "Forbidden",
            },
            {
                "recorded_at": "2025-10-22T09:38:13.000Z",
                "status": "delivered",
                "kind": "oi_explosion",
                "symbol": "ETH",
                "priority": "HIGH",
                "telegram_message_id": 7,
                "id": "oi_explosion:ETH:1",
            },
        ]
    )
    lines = text.splitlines()
    assert lines[1].split() == [
        "2025-10-22T09:38:14.000Z",
        "failed",
        "oi_explosion",
        "BTC",
        "LOW",
        "oi_explosion:BTC:1",
    ]
    assert lines[2] == "    error: Forbidden"
    assert lines[3].split()[-2:] == ["7", "oi_explosion:ETH:1"]


def test_without_a_name_anywhere_the_error_says_where_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "HISTORY_TABLE", "ALERT_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    ctx = cli_context.Context(stage="prod")
    ctx.__dict__["_stack_outputs"] = {}  # no deployed stack (skips the CloudFormation call)
    with pytest.raises(CliError, match=r"set HISTORY_TABLE .* deploy stack crypto-alerts-prod whose output"):
        ctx.history_table()
    with pytest.raises(CliError, match="set ALERT_QUEUE_URL"):
        ctx.alert_queue_url()
    ctx.__dict__["_stack_outputs"] = {cli_context.OUTPUT_HISTORY_TABLE: "crypto-alerts-prod-History-1A2B"}
    assert ctx.history_table() == "crypto-alerts-prod-History-1A2B"
    assert ctx.history_table("flagged") == "flagged"
