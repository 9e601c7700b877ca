"""template.yaml gives CommandsFunction a public URL, the secret's parameter, and only the
permissions its code uses (architecture.md §2.1, §2.9)."""

from __future__ import annotations

from typing import Any

import pytest

from commands import answer, market_data
from commands.app import COMMAND_DEADLINE_S
from infra.cli import context as cli_context
from infra.local import template as tpl

TEMPLATE = tpl.default()
FUNCTION = TEMPLATE["Resources"]["CommandsFunction"]["Properties"]


def statements() -> list[dict[str, Any]]:
    return [s for policy in FUNCTION["Policies"] for s in policy["Statement"]]


def test_the_function_sits_behind_a_public_url_whose_address_is_an_output() -> None:
    assert FUNCTION["Handler"] == "commands.app.handler"
    assert FUNCTION["FunctionUrlConfig"] == {"AuthType": "NONE"}
    assert TEMPLATE["Outputs"]["CommandsWebhookUrl"]["Value"] == {"Fn::GetAtt": ["CommandsFunctionUrl", "FunctionUrl"]}
    assert TEMPLATE["Outputs"][cli_context.OUTPUT_COMMANDS_WEBHOOK_URL]  # what `telegram webhook` reads


def test_the_secret_parameter_is_a_template_parameter_the_cli_writes() -> None:
    parameter = TEMPLATE["Parameters"]["TelegramWebhookSecretParameterName"]
    stage = TEMPLATE["Parameters"]["Stage"]["Default"]
    assert parameter["Default"] == cli_context.WEBHOOK_SECRET_PARAMETER_NAME.format(stage=stage)
    env = FUNCTION["Environment"]["Variables"]
    assert env["TELEGRAM_WEBHOOK_SECRET_PARAMETER"] == {"Ref": "TelegramWebhookSecretParameterName"}


def test_the_answer_fits_in_the_function_timeout() -> None:
    assert market_data.REQUEST_TIMEOUT_S < market_data.EXCHANGE_DEADLINE_S < COMMAND_DEADLINE_S < FUNCTION["Timeout"]
    assert answer.ALERTS_SHOWN <= 10


def test_permissions_name_each_action_and_resource() -> None:
    allowed = {action for s in statements() for action in s["Action"]}
    assert allowed == {
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "sqs:GetQueueAttributes",
        "ssm:GetParameter",
        "kms:Decrypt",
    }
    for statement in statements():
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])
    put = next(s for s in statements() if s["Action"] == ["dynamodb:PutItem"])
    assert put["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    assert put["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["update#*", "refused#*"]


def test_decrypt_only_its_two_secrets_through_ssm() -> None:
    [decrypt] = [s for s in statements() if s["Action"] == ["kms:Decrypt"]]
    condition = decrypt["Condition"]["StringEquals"]
    assert condition["kms:ViaService"] == {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
    arns = [a["Fn::Sub"] for a in condition["kms:EncryptionContext:PARAMETER_ARN"]]
    assert sorted(a.rsplit("parameter", 1)[1] for a in arns) == [
        "${TelegramTokenParameterName}",
        "${TelegramWebhookSecretParameterName}",
    ]


@pytest.mark.parametrize(
    "name", ["OI_TABLE", "STATE_TABLE", "HISTORY_TABLE", "ALERT_QUEUE_URL", "ALERT_DEAD_LETTER_QUEUE_URL"]
)
def test_every_table_and_queue_reaches_the_code_through_a_variable(name: str) -> None:
    assert "Ref" in FUNCTION["Environment"]["Variables"][name]
